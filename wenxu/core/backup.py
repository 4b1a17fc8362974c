"""Backups and restores (issue #9): `wenxu backup` and `wenxu restore`.

A backup is one tar file, made private (0600) and given its final name only when complete:

    manifest.json        what it is: engine, wenxu version, time, row counts of the main tables,
                         the audit log's head, the applied migrations, the database's sha256
    database.sqlite3     SQLite: a consistent copy made with SQLite's online backup API while
                         the server goes on writing (WAL readers do not block writers)
    database.pgdump      PostgreSQL: `pg_dump --format=custom` of an exported snapshot, the
                         same one the counts in the manifest were read from
    media/…              the uploaded files (photos, proof), by default with SQLite only:
                         a city deployment copies its media storage by its own means

A restore checks the manifest (format, engine, no migration unknown to this version, the
sha256), refuses while `wenxu serve` or a worker still uses the database, replaces the database
(SQLite: a checked temporary file renamed over the old one, under an exclusive lock; PostgreSQL:
the whole `public` schema dropped and the dump loaded in one transaction, so that tables added by
later versions go too and a failure changes nothing), brings the schema up to date, checks the
row counts, puts the media files back, re-applies the erasures journalled since the backup
(`wenxu.residents.erasure.erasures_reapply`) and writes a RESTORE entry to the security log.

Work files go to hidden names in WENXU_BACKUP_DIR (and the database's folder), never to /tmp;
those that a run killed midway left behind are removed by the next run, a day later.

The keys (secret_key, audit_key, the personal-data keys) are not in the backup, on purpose: a
stolen backup must not carry the key to its own personal data. Keep them apart (operations.md).
"""

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path, PurePosixPath
from typing import IO, Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone
from django.utils.translation import gettext as _

import wenxu
from wenxu.audit import actions
from wenxu.audit.services import audit_record
from wenxu.lib import clock
from wenxu.residents.erasure import ReapplyResult, erasures_reapply

FORMAT = "wenxu-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MEMBERS = {"sqlite": "database.sqlite3", "postgresql": "database.pgdump"}
MEDIA = "media"
ENGINE_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# Erasures journalled this long before the backup began are re-applied too: one made while the
# snapshot was being taken may or may not be in it, and the machines' clocks may differ a little.
# Re-applying one already in the backup changes nothing.
REAPPLY_MARGIN = timedelta(hours=1)
# The tables whose row counts the manifest records and a restore checks.
MAIN_TABLES = (
    "accounts_user",
    "accounts_membership",
    "organisations_area",
    "organisations_unit",
    "residents_requester",
    "needs_need",
    "needs_needevent",
    "needs_attachment",
    "needs_reopenrequest",
    "visits_visit",
    "topics_topic",
    "notify_message",
    "audit_auditentry",
)
CHUNK = 1 << 20
# Work files: a folder per run, the tar being written, the database being put in place.
WORK_PREFIX = ".wenxu-backup-"
PARTIAL_SUFFIX = ".partial"
RESTORE_MARK = ".restore-"
# Left-overs of runs killed midway are removed when older than this (a run in progress is not).
STALE_AFTER = timedelta(days=1)
# How long a restore waits for the SQLite database to be free before refusing.
SQLITE_LOCK_WAIT = 2.0
# The PostgreSQL restore: everything in `public` goes, in the transaction that loads the dump.
PG_RESTORE_PREAMBLE = """
SET client_min_messages = warning;
SET lock_timeout = '30s';
DROP SCHEMA IF EXISTS public CASCADE;
CREATE SCHEMA public;
GRANT USAGE ON SCHEMA public TO PUBLIC;
"""


class BackupError(Exception):
    """Backup or restore refused or failed; the message says what to do (in Chinese)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --------------------------------------------------------------------------- helpers


def engine(db: BaseDatabaseWrapper | None = None) -> str:
    vendor = (db or connection).vendor
    if vendor not in MEMBERS:
        raise BackupError(_("不支持备份 %(vendor)s 数据库。") % {"vendor": vendor})
    return vendor


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fp:
        while chunk := fp.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_path(db: BaseDatabaseWrapper) -> Path:
    name = str(db.settings_dict["NAME"] or "")
    if not name or name == ":memory:" or "mode=memory" in name:
        raise BackupError(_("内存中的 SQLite 数据库无法备份或恢复。"))
    return Path(name).resolve()  # a relative name has no file: URI


def _in_use() -> BackupError:
    return BackupError(_("数据库正被 wenxu serve 或 worker 使用，请先停止后再恢复。"))


def _sweep(*folders: Path) -> None:
    """Remove what a backup or restore killed midway left in `folders`: work folders, partial
    tar files, databases not yet put in place, all older than STALE_AFTER."""
    limit = time.time() - STALE_AFTER.total_seconds()
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.glob(".*"):
            try:
                if path.is_symlink() or path.stat().st_mtime > limit:
                    continue
                if path.name.startswith(WORK_PREFIX) and path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                elif path.is_file() and (
                    path.name.endswith(PARTIAL_SUFFIX) or RESTORE_MARK in path.name
                ):
                    path.unlink(missing_ok=True)
            except OSError:
                continue  # gone meanwhile, or not ours to remove: never a reason to fail


def _pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            _(
                "找不到 %(tool)s：请安装与 PostgreSQL 服务器同一大版本的客户端工具"
                "（如 Debian 的 postgresql-client-15），并确保它在 PATH 中。"
            )
            % {"tool": name}
        )
    return found


def _pg_env(db: BaseDatabaseWrapper) -> dict[str, str]:
    """libpq environment for pg_dump / pg_restore: the password never goes on a command line."""
    s = db.settings_dict
    env = dict(os.environ)
    for var, value in (
        ("PGHOST", s.get("HOST")),
        ("PGPORT", s.get("PORT")),
        ("PGUSER", s.get("USER")),
        ("PGPASSWORD", s.get("PASSWORD")),
        ("PGDATABASE", s.get("NAME")),
    ):
        if value:
            env[var] = str(value)
    options = s.get("OPTIONS") or {}
    for option, var in (
        ("sslmode", "PGSSLMODE"),
        ("sslrootcert", "PGSSLROOTCERT"),
        ("sslcert", "PGSSLCERT"),
        ("sslkey", "PGSSLKEY"),
        ("passfile", "PGPASSFILE"),
        ("service", "PGSERVICE"),
    ):
        if options.get(option):
            env[var] = str(options[option])
    return env


def _run(command: list[str], env: dict[str, str], what: str) -> None:
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)  # noqa: S603 (a fixed tool, no shell)
    if done.returncode != 0:
        detail = (done.stderr or done.stdout or "").strip()[-2000:]
        raise BackupError(
            _("%(what)s 失败（退出码 %(code)s）：%(detail)s")
            % {"what": what, "code": done.returncode, "detail": detail}
        )


def _counts(cursor: Any, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in MAIN_TABLES:
        if table in tables:
            cursor.execute(f'SELECT COUNT(*) FROM "{table}"')  # noqa: S608 (names from MAIN_TABLES)
            counts[table] = int(cursor.fetchone()[0])
    return counts


def _audit_head(cursor: Any, tables: list[str]) -> dict[str, object]:
    if "audit_audithead" not in tables:
        return {"last_seq": 0, "last_hash": ""}
    cursor.execute("SELECT last_seq, last_hash FROM audit_audithead WHERE id = 1")
    row = cursor.fetchone()
    return (
        {"last_seq": int(row[0]), "last_hash": row[1]} if row else {"last_seq": 0, "last_hash": ""}
    )


def _migrations(cursor: Any) -> list[list[str]]:
    cursor.execute("SELECT app, name FROM django_migrations ORDER BY app, name")
    return [[app, name] for app, name in cursor.fetchall()]


def table_counts() -> dict[str, int]:
    """Row counts of the main tables in the configured database now."""
    with connection.cursor() as cursor:
        return _counts(cursor, connection.introspection.table_names(cursor))


# --------------------------------------------------------------------------- snapshots


@dataclass
class _Snapshot:
    counts: dict[str, int]
    audit: dict[str, object]
    migrations: list[list[str]]


def _sqlite_snapshot(target: Path) -> _Snapshot:
    """A consistent copy of the live database, read back for its counts."""
    path = _sqlite_path(connection)
    if not path.is_file():
        raise BackupError(_("数据库文件 %(path)s 不存在，没有可备份的数据。") % {"path": path})
    source = sqlite3.connect(f"{path.as_uri()}?mode=rw", uri=True, timeout=20)
    copy = sqlite3.connect(target)
    try:
        source.backup(copy)  # one step: the copy is one snapshot of the database
    finally:
        source.close()
    try:
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        check = copy.execute("PRAGMA quick_check").fetchone()
        if not check or check[0] != "ok":
            raise BackupError(_("数据库自检未通过（%(result)s），备份未完成。") % {"result": check})
        cursor = copy.cursor()
        tables = [r[0] for r in cursor.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        return _Snapshot(_counts(cursor, tables), _audit_head(cursor, tables), _migrations(cursor))
    finally:
        copy.close()


def _postgres_snapshot(target: Path) -> _Snapshot:
    """pg_dump of an exported snapshot, counted in that same snapshot."""
    pg_dump = _pg_tool("pg_dump")
    db = connection.copy()  # its own transaction, whatever the caller's connection is doing
    try:
        db.set_autocommit(False)
        with db.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            cursor.execute("SELECT pg_export_snapshot()")
            snapshot_id = cursor.fetchone()[0]
            tables = db.introspection.table_names(cursor)
            snapshot = _Snapshot(
                _counts(cursor, tables), _audit_head(cursor, tables), _migrations(cursor)
            )
            _run(
                [
                    pg_dump,
                    "--format=custom",
                    "--no-password",
                    f"--snapshot={snapshot_id}",
                    f"--file={target}",
                ],
                _pg_env(db),
                "pg_dump",
            )
        db.rollback()
    finally:
        db.close()
    return snapshot


# --------------------------------------------------------------------------- backup


@dataclass(frozen=True)
class BackupResult:
    path: Path
    manifest: dict[str, Any]
    size: int


def _default_name(directory: Path) -> Path:
    stamp = timezone.localtime(clock.now()).strftime("%Y%m%d-%H%M%S")
    path = directory / f"wenxu-{stamp}.tar"
    n = 2
    while path.exists():
        path = directory / f"wenxu-{stamp}-{n}.tar"
        n += 1
    return path


def _media_files(root: Path) -> Iterator[Path]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path


def backup_create(*, output: Path | None = None, media: bool | None = None) -> BackupResult:
    """Write a backup (module doc) to the file `output`, or to a new file in the folder
    `output` or in WENXU_BACKUP_DIR.

    `media`: include the uploaded files (default: with SQLite, not with PostgreSQL).
    """
    kind = engine()
    media = kind == "sqlite" if media is None else media
    if output is not None and Path(output).expanduser().is_dir():
        directory, output = Path(output).expanduser().resolve(), None
    elif output is not None:
        output = Path(output).expanduser().resolve()
        if output.exists():
            raise BackupError(_("文件 %(path)s 已存在，请换一个文件名。") % {"path": output})
        directory = output.parent
    else:
        directory = Path(settings.WENXU_BACKUP_DIR)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    _sweep(directory)
    final = output or _default_name(directory)
    started = clock.now().astimezone(UTC)
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=directory))
    partial = directory / f".{final.name}{PARTIAL_SUFFIX}"
    try:
        database = work / MEMBERS[kind]
        snapshot = _sqlite_snapshot(database) if kind == "sqlite" else _postgres_snapshot(database)
        media_root = Path(settings.MEDIA_ROOT)
        files = list(_media_files(media_root)) if media else []
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "engine": kind,
            "wenxu_version": wenxu.__version__,
            "started_at": started.isoformat(timespec="microseconds"),
            "created_at": clock.now().astimezone(UTC).isoformat(timespec="microseconds"),
            "database": {
                "member": database.name,
                "bytes": database.stat().st_size,
                "sha256": _sha256(database),
            },
            "tables": snapshot.counts,
            "audit": snapshot.audit,
            "migrations": snapshot.migrations,
            "media": (
                {"files": len(files), "bytes": sum(f.stat().st_size for f in files)}
                if media
                else None
            ),
        }
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as tar:
            body = json.dumps(manifest, ensure_ascii=False, indent=2).encode()
            info = tarfile.TarInfo(MANIFEST)
            info.size, info.mode, info.mtime = len(body), 0o600, int(started.timestamp())
            tar.addfile(info, BytesIO(body))
            tar.add(database, arcname=database.name, recursive=False)
            for path in files:
                arcname = f"{MEDIA}/{path.relative_to(media_root).as_posix()}"
                tar.add(path, arcname=arcname, recursive=False)
            tar.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(partial, final)
        _fsync_dir(directory)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(work, ignore_errors=True)
    size = final.stat().st_size
    audit_record(
        action=actions.BACKUP,
        actor=None,
        target=final.name,
        detail={
            "engine": kind,
            "bytes": size,
            "sha256": manifest["database"]["sha256"],
            "audit_seq": snapshot.audit["last_seq"],
            "media_files": len(files),
        },
    )
    return BackupResult(final, manifest, size)


# --------------------------------------------------------------------------- reading a backup


@contextmanager
def _open(path: Path) -> Iterator[tuple[tarfile.TarFile, dict[str, Any]]]:
    if not path.is_file():
        raise BackupError(_("找不到备份文件 %(path)s。") % {"path": path})
    try:
        tar = tarfile.open(path, mode="r:")  # noqa: SIM115 (closed by the `with` below)
    except (tarfile.TarError, OSError) as exc:
        raise BackupError(
            _("%(path)s 不是问需的备份文件（%(error)s）。") % {"path": path, "error": exc}
        ) from exc
    with tar:
        try:
            member = tar.getmember(MANIFEST)
            fp = tar.extractfile(member)
            manifest = json.loads(fp.read().decode()) if fp else None
        except (KeyError, tarfile.TarError, ValueError) as exc:
            raise BackupError(
                _("%(path)s 不是问需的备份文件（缺少说明文件）。") % {"path": path}
            ) from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BackupError(_("%(path)s 不是问需的备份文件。") % {"path": path})
        yield tar, manifest


def read_manifest(path: Path) -> dict[str, Any]:
    with _open(Path(path)) as (_tar, manifest):
        return manifest


def _check_manifest(manifest: dict[str, Any], kind: str) -> None:
    version = manifest.get("version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise BackupError(_("这个备份的格式比当前版本的问需新，请先升级问需再恢复。"))
    if manifest.get("engine") != kind:
        raise BackupError(
            _("这是 %(theirs)s 数据库的备份，当前配置的是 %(ours)s 数据库，不能恢复。")
            % {
                "theirs": ENGINE_NAMES.get(
                    str(manifest.get("engine")), str(manifest.get("engine"))
                ),
                "ours": ENGINE_NAMES[kind],
            }
        )
    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    unknown = [f"{a}.{n}" for a, n in manifest.get("migrations", []) if (a, n) not in known]
    if unknown:
        raise BackupError(
            _(
                "这个备份来自更新版本的问需（本版本不认识其数据库迁移 %(names)s），"
                "请先升级问需再恢复。"
            )
            % {"names": "、".join(unknown[:5])}
        )


def _extract_database(tar: tarfile.TarFile, manifest: dict[str, Any], target: Path) -> None:
    """The database member to `target` (made private), checked against the manifest's sha256."""
    info = manifest.get("database") or {}
    try:
        member = tar.getmember(str(info.get("member")))
    except KeyError as exc:
        raise BackupError(_("备份文件不完整：缺少数据库文件。")) from exc
    source = tar.extractfile(member)
    if source is None:
        raise BackupError(_("备份文件不完整：缺少数据库文件。"))
    digest = hashlib.sha256()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    if digest.hexdigest() != info.get("sha256"):
        raise BackupError(_("备份文件已损坏：数据库文件的校验值与说明不符，未作任何修改。"))


# --------------------------------------------------------------------------- restore


@dataclass
class RestoreResult:
    manifest: dict[str, Any]
    migrated: bool
    media_files: int
    count_mismatches: dict[str, tuple[int, int]]  # table: (in the backup, after restoring)
    reapplied: ReapplyResult = field(default_factory=ReapplyResult)

    @property
    def ok(self) -> bool:
        return not self.count_mismatches


def _release_connections() -> None:
    """Close this process's connections before the database is replaced under them."""
    if connection.in_atomic_block:
        raise BackupError(_("不能在事务中恢复数据库。"))
    connections.close_all()


def _sqlite_lock(target: Path) -> sqlite3.Connection:
    """An exclusive lock on the database at `target`, once nobody else has it open.

    A process that keeps the database open (`wenxu serve`, a worker) would go on writing to the
    replaced file, and its writes would be lost without a word: refused instead, changing
    nothing. wenxu's databases are in WAL mode, and leaving it needs every other connection
    closed, so that switch is the test; it also folds the write-ahead log into the file.
    """
    lock = sqlite3.connect(target, timeout=SQLITE_LOCK_WAIT, isolation_level=None)
    try:
        busy = lock.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy and busy[0]:
            raise _in_use()
        lock.execute("PRAGMA journal_mode=DELETE")
        lock.execute("BEGIN EXCLUSIVE")
    except sqlite3.OperationalError as exc:
        lock.close()
        if "locked" in str(exc) or "busy" in str(exc):
            raise _in_use() from exc
        raise BackupError(
            _("无法打开要替换的数据库 %(path)s：%(error)s") % {"path": target, "error": exc}
        ) from exc
    except BaseException:
        lock.close()
        raise
    return lock


def _restore_sqlite(tar: tarfile.TarFile, manifest: dict[str, Any]) -> None:
    target = _sqlite_path(connection)
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target.parent)
    temporary = target.parent / f".{target.name}{RESTORE_MARK}{secrets.token_hex(6)}"
    lock: sqlite3.Connection | None = None
    try:
        _extract_database(tar, manifest, temporary)
        check = sqlite3.connect(temporary)
        try:
            rows = check.execute("PRAGMA integrity_check").fetchall()
        finally:
            check.close()
        if rows != [("ok",)]:
            raise BackupError(
                _("备份中的数据库未通过完整性检查（%(result)s），未作任何修改。")
                % {"result": "; ".join(str(r[0]) for r in rows[:3])}
            )
        _release_connections()
        if target.exists():
            os.chmod(temporary, target.stat().st_mode & 0o777)
            # Held until the new file is in place: nobody reads or writes the old one meanwhile.
            lock = _sqlite_lock(target)
        for suffix in ("-wal", "-shm", "-journal"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(temporary, target)
        _fsync_dir(target.parent)
    finally:
        if lock is not None:
            lock.close()  # the old file's lock; its transaction wrote nothing
        temporary.unlink(missing_ok=True)


def _postgres_refuse_if_in_use() -> None:
    """Other sessions on the database (`wenxu serve`, a worker, someone's psql): refused."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        others = int(cursor.fetchone()[0])
    connection.close()
    if others:
        raise _in_use()


def _restore_postgres(tar: tarfile.TarFile, manifest: dict[str, Any]) -> None:
    """Replace the whole `public` schema with the dump's, all or nothing.

    `pg_restore --clean` would drop only the tables in the dump: those a later version added
    (and that `migrate` then creates) would stay. So `pg_restore` writes the dump as SQL to a
    file, complete before anything is touched, and psql runs it in one transaction after
    dropping the schema: any error rolls everything back. (Not through a pipe: had pg_restore
    died midway, psql would have read a short script to its end and committed it.)
    """
    pg_restore, psql = _pg_tool("pg_restore"), _pg_tool("psql")
    backups = Path(settings.WENXU_BACKUP_DIR)
    backups.mkdir(mode=0o700, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=WORK_PREFIX, dir=backups))
    env = _pg_env(connection)
    try:
        dump, script = work / MEMBERS["postgresql"], work / "restore.sql"
        _extract_database(tar, manifest, dump)
        _release_connections()
        _postgres_refuse_if_in_use()
        _run(
            [
                pg_restore,
                "--no-owner",
                "--no-privileges",  # roles of the old server need not exist on this one
                f"--file={script}",
                str(dump),
            ],
            env,
            "pg_restore",
        )
        _run(
            [
                psql,
                "--no-psqlrc",
                "--quiet",
                "--no-password",
                "--set=ON_ERROR_STOP=1",
                "--single-transaction",
                f"--command={PG_RESTORE_PREAMBLE}",
                f"--file={script}",
            ],
            env,
            "psql",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _media_member_path(name: str) -> PurePosixPath | None:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or len(path.parts) < 2 or path.parts[0] != MEDIA:
        return None
    return PurePosixPath(*path.parts[1:])


def _restore_media(tar: tarfile.TarFile) -> int:
    """Put the backup's media files back (files added since the backup stay, unreferenced)."""
    root = Path(settings.MEDIA_ROOT)
    restored = 0
    for member in tar:
        relative = _media_member_path(member.name)
        if relative is None or not member.isfile():
            continue
        source: IO[bytes] | None = tar.extractfile(member)
        if source is None:
            continue
        target = root.joinpath(*relative.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.parent / f".{target.name}.restore-{secrets.token_hex(4)}"
        with temporary.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        os.replace(temporary, target)
        restored += 1
    return restored


def _migrate_if_needed() -> bool:
    executor = MigrationExecutor(connection)
    if not executor.migration_plan(executor.loader.graph.leaf_nodes()):
        return False
    call_command("migrate", interactive=False, verbosity=0)
    return True


def backup_restore(*, path: Path) -> RestoreResult:
    """Replace the configured database with the backup at `path` (module doc).

    Stop the web server and the workers first. Refused, changing nothing, for a file that is
    not a wenxu backup, is damaged, was made from the other engine or by a newer version, and
    while another process still uses the database.
    """
    kind = engine()
    _sweep(Path(settings.WENXU_BACKUP_DIR))
    with _open(Path(path)) as (tar, manifest):
        _check_manifest(manifest, kind)
        if kind == "sqlite":
            _restore_sqlite(tar, manifest)
        else:
            _restore_postgres(tar, manifest)
        media_files = _restore_media(tar) if manifest.get("media") else 0
    migrated = _migrate_if_needed()
    after = table_counts()
    expected = {str(k): int(v) for k, v in (manifest.get("tables") or {}).items()}
    mismatches = {
        table: (count, after.get(table, 0))
        for table, count in expected.items()
        if after.get(table, 0) != count
    }
    started = datetime.fromisoformat(str(manifest["started_at"]))
    reapplied = erasures_reapply(since=started - REAPPLY_MARGIN)
    audit = manifest.get("audit") or {}
    audit_record(
        action=actions.RESTORE,
        actor=None,
        target=Path(path).name,
        detail={
            "engine": kind,
            "backup_at": str(manifest.get("created_at", "")),
            "backup_audit_seq": audit.get("last_seq", 0),
            "erasures_reapplied": len(reapplied.applied),
            "counts_match": not mismatches,
            "migrated": migrated,
        },
    )
    return RestoreResult(
        manifest=manifest,
        migrated=migrated,
        media_files=media_files,
        count_mismatches=mismatches,
        reapplied=reapplied,
    )
