"""Backups and restores (issue #9 item 6): the drill on the suite's database engine (SQLite or
PostgreSQL, whichever the run uses), and the refusals that must change nothing."""

import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from wenxu.audit import actions
from wenxu.audit.models import AuditEntry
from wenxu.audit.services import audit_record
from wenxu.audit.verify import audit_verify
from wenxu.core import backup
from wenxu.core.backup import BackupError, read_manifest, table_counts
from wenxu.needs import services
from wenxu.residents.models import ANONYMISED_NAME, Requester

sqlite_only = pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite")
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")


@pytest.fixture
def places(settings: Any, tmp_path: Path) -> Path:
    """Backups, the erasure journal and the media files in the test's own folder."""
    settings.WENXU_BACKUP_DIR = tmp_path / "backups"
    settings.WENXU_ERASURE_JOURNAL = tmp_path / "erasures.jsonl"
    settings.MEDIA_ROOT = tmp_path / "media"
    return tmp_path


@contextmanager
def drill_database(tmp_path: Path) -> Iterator[None]:
    """The configured database becomes a new, empty one (the machine that lost its data);
    on PostgreSQL a database of its own, never the suite's test database."""
    settings_dict = connection.settings_dict
    original = settings_dict["NAME"]
    connection.close()
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = tmp_path / "drill.sqlite3"
        try:
            yield
        finally:
            connection.close()
            settings_dict["NAME"] = original
        return
    name = f"test_wenxu_drill_{os.getpid()}"
    with connection._nodb_cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        settings_dict["NAME"] = original
        with connection._nodb_cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def closed_need(world: Any, name: str, phone: str) -> Any:
    need = world.replied(requester=services.RequesterInput(name=name, phone=phone))
    return services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="yes",
        satisfaction="satisfied",
        channel="phone",
    )


def command(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


@pytest.mark.django_db(transaction=True)
def test_backup_wipe_restore_drill(world, places):
    # Given a ledger: needs with their events, requesters, audit entries and a photo
    erased = closed_need(world, "张三丰", "13812345678")
    kept = closed_need(world, "李四", "13900001111")
    world.in_progress()
    audit_record(action=actions.LOGIN, actor=world.officer, target="user")
    audit_record(action=actions.EXPORT, actor=world.leader, detail={"rows": 3})
    photo = places / "media" / "attachments" / "2026" / "01" / "a.jpg"
    photo.parent.mkdir(parents=True)
    photo.write_bytes(b"\xff\xd8 photo")
    counts = table_counts()
    assert counts["needs_need"] == 3
    assert counts["audit_auditentry"] == 2

    # When it is backed up, and a requester is erased after the backup
    out = command("backup", "--media")
    (path,) = (places / "backups").glob("wenxu-*.tar")
    assert str(path) in out
    assert "诉求 3 件" in out
    assert path.stat().st_mode & 0o077 == 0
    manifest = read_manifest(path)
    assert manifest["engine"] == connection.vendor
    assert manifest["tables"] == counts
    assert manifest["audit"]["last_seq"] == 2
    assert AuditEntry.objects.filter(action=actions.BACKUP).count() == 1
    command("erase_requester", "--need", erased.number, "--reason", "本人申请")

    with drill_database(places):
        # ... and everything is lost (a new, empty database; the photo deleted)
        photo.unlink()
        out = command("restore", str(path), "--yes")

        # Then the counts are those of the backup, plus the re-applied erasure and the restore
        assert "重新执行个人信息删除 1 条" in out
        assert table_counts() == {**counts, "audit_auditentry": counts["audit_auditentry"] + 2}
        result = audit_verify()
        assert result.ok, result.message
        assert list(AuditEntry.objects.order_by("-seq").values_list("action", flat=True)[:2]) == [
            actions.RESTORE,
            actions.ERASURE,
        ]
        # The person erased after the backup did not come back; the other one is there.
        assert Requester.objects.get(pk=erased.requester_id).name == ANONYMISED_NAME
        assert Requester.objects.get(pk=kept.requester_id).phone == "13900001111"
        assert photo.read_bytes() == b"\xff\xd8 photo"

        # When the restored database is used and damaged, and restored again over itself
        world.register(title="恢复后新登记")
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM audit_auditentry WHERE seq = 1")
        assert not audit_verify().ok
        command("restore", str(path), "--yes")

        # Then it is the backup again, erasure re-applied, chain whole
        assert table_counts() == {**counts, "audit_auditentry": counts["audit_auditentry"] + 2}
        assert audit_verify().ok
        assert Requester.objects.get(pk=erased.requester_id).name == ANONYMISED_NAME

        # When a backup made before an upgrade (here: before axes' tables existed) is restored
        # after it: the upgrade's tables must go, for migrate to make them again
        call_command("migrate", "axes", "zero", verbosity=0)
        older = backup.backup_create().path
        call_command("migrate", verbosity=0)
        assert "axes_accessattempt" in connection.introspection.table_names()
        before_restore = table_counts()
        restored = backup.backup_restore(path=older)

        # Then it restores, the schema is brought up to date, and nothing else changed
        assert restored.ok
        assert restored.migrated
        assert "axes_accessattempt" in connection.introspection.table_names()
        # (the BACKUP entry, written after its snapshot, gives way to the RESTORE entry)
        assert table_counts() == before_restore
        assert audit_verify().ok


def write_backup(path: Path, manifest: dict[str, Any], database: bytes = b"data") -> Path:
    member = backup.MEMBERS.get(str(manifest.get("engine")), "database.sqlite3")
    manifest = {
        "format": backup.FORMAT,
        "version": 1,
        "started_at": "2026-01-01T00:00:00+00:00",
        "migrations": [],
        "database": {"member": member, "sha256": hashlib.sha256(database).hexdigest()},
        **manifest,
    }
    with tarfile.open(path, "w") as tar:
        for name, body in (("manifest.json", json.dumps(manifest).encode()), (member, database)):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return path


def restore_fails(path: Path, *extra: str) -> str:
    with pytest.raises(CommandError) as failure:
        command("restore", str(path), *extra)
    return str(failure.value)


def test_restore_refuses_without_yes(world, tmp_path):
    path = write_backup(tmp_path / "b.tar", {"engine": connection.vendor})

    assert "--yes" in restore_fails(path)


@pytest.mark.parametrize(
    ("manifest", "database", "message"),
    [
        ({"engine": "other"}, b"data", "的备份，当前配置的是"),
        ({"format": "something"}, b"data", "不是问需的备份文件"),
        ({"version": 99}, b"data", "格式比当前版本的问需新"),
        ({"migrations": [["needs", "9999_future"]]}, b"data", "更新版本的问需"),
        ({"database": {"member": "database.sqlite3", "sha256": "0" * 64}}, b"x", "校验值"),
    ],
)
def test_restore_refuses_a_wrong_or_damaged_file_and_changes_nothing(
    world, tmp_path, manifest, database, message
):
    manifest = {"engine": connection.vendor, **manifest}
    if "database" in manifest:
        manifest["database"]["member"] = backup.MEMBERS[connection.vendor]
    path = write_backup(tmp_path / "b.tar", manifest, database)
    counts = table_counts()

    assert message in restore_fails(path, "--yes")

    assert table_counts() == counts
    assert not AuditEntry.objects.filter(action=actions.RESTORE).exists()


def test_restore_refuses_a_file_that_is_not_a_backup(tmp_path):
    path = tmp_path / "notes.tar"
    path.write_text("hello")

    assert "不是问需的备份文件" in restore_fails(path, "--yes")
    assert "找不到备份文件" in restore_fails(tmp_path / "missing.tar", "--yes")


def test_backup_refuses_an_existing_output_file_and_names_one_in_a_folder(world, places):
    taken = places / "taken.tar"
    taken.write_text("keep me")

    with pytest.raises(CommandError, match="已存在"):
        command("backup", "--output", str(taken))

    assert taken.read_text() == "keep me"
    command("backup", "--output", str(places))
    (made,) = places.glob("wenxu-*.tar")
    assert read_manifest(made)["engine"] == connection.vendor


def test_missing_postgresql_tools_are_named(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")

    with pytest.raises(BackupError, match=r"找不到 pg_dump.*postgresql-client"):
        backup._pg_tool("pg_dump")


# --------------------------------------------------------------------------- a database in use


def backup_of_a_small_database(places: Path) -> Path:
    """A valid SQLite backup file of a tiny database (the refusals below never get to load it)."""
    source = places / "small.sqlite3"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (x)")
    source_bytes = source.read_bytes()
    return write_backup(places / "small.tar", {"engine": "sqlite"}, source_bytes)


def old(path: Path, content: bytes | None = None) -> Path:
    """`path` (written with `content` first, if given) as last changed two days ago."""
    if content is not None:
        path.write_bytes(content)
    moment = time.time() - 2 * 24 * 3600
    os.utime(path, (moment, moment))
    return path


@sqlite_only
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("reading", [False, True], ids=["idle", "reading"])
def test_sqlite_restore_is_refused_while_another_process_has_the_database_open(
    places, monkeypatch, reading
):
    monkeypatch.setattr(backup, "SQLITE_LOCK_WAIT", 0.1)
    made = backup_of_a_small_database(places)
    with drill_database(places):
        # Given the database open in `wenxu serve` (WAL mode, as wenxu runs it), maybe reading
        path = Path(connection.settings_dict["NAME"])
        server = sqlite3.connect(path, isolation_level=None)
        server.execute("PRAGMA journal_mode=WAL")
        server.execute("CREATE TABLE needs (title)")
        server.execute("INSERT INTO needs VALUES ('登记于备份之后')")
        if reading:
            server.execute("BEGIN")
            server.execute("SELECT count(*) FROM needs").fetchone()
        leftover = old(path.parent / f".{path.name}.restore-0123456789ab", b"half")
        try:
            # When it is restored, then that is refused, and nothing changed
            with pytest.raises(BackupError, match="正被 wenxu serve 或 worker 使用"):
                backup.backup_restore(path=made)
            if reading:
                server.execute("COMMIT")
            server.execute("INSERT INTO needs VALUES ('之后又登记一件')")
            fresh = sqlite3.connect(path)
            assert fresh.execute("SELECT count(*) FROM needs").fetchone() == (2,)
            fresh.close()
        finally:
            server.close()
        assert not list(path.parent.glob(f".{path.name}.restore-*"))  # the left-over swept too
        assert not leftover.exists()
    assert not AuditEntry.objects.filter(action=actions.RESTORE).exists()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_postgresql_restore_is_refused_while_another_session_uses_the_database(places):
    with drill_database(places):
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE keep (x int)")
            cursor.execute("INSERT INTO keep VALUES (1)")
        server = connection.copy()  # `wenxu serve`'s session
        server.ensure_connection()
        made = write_backup(places / "b.tar", {"engine": "postgresql"}, b"not reached")
        try:
            with pytest.raises(BackupError, match="正被 wenxu serve 或 worker 使用"):
                backup.backup_restore(path=made)
        finally:
            server.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT x FROM keep")
            assert cursor.fetchall() == [(1,)]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_a_postgresql_restore_that_fails_midway_changes_nothing(places):
    with drill_database(places):
        # Given a dump that cannot be loaded whole here: its schema `extra` exists already
        with connection.cursor() as cursor:
            cursor.execute("CREATE SCHEMA extra")
            cursor.execute("CREATE TABLE keep (x int)")
            cursor.execute("INSERT INTO keep VALUES (1)")
        dump = places / "database.pgdump"
        subprocess.run(  # noqa: S603 (a fixed tool)
            [str(shutil.which("pg_dump")), "--format=custom", f"--file={dump}"],
            env=backup._pg_env(connection),
            check=True,
        )
        made = write_backup(places / "b.tar", {"engine": "postgresql"}, dump.read_bytes())
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO keep VALUES (2)")
        connection.close()

        # When it is restored, it fails, naming psql's error
        with pytest.raises(BackupError, match=r"psql.*extra"):
            backup.backup_restore(path=made)

        # Then the schema was not dropped: the data is as it was before the attempt
        with connection.cursor() as cursor:
            cursor.execute("SELECT x FROM keep ORDER BY x")
            assert cursor.fetchall() == [(1,), (2,)]


# --------------------------------------------------------------------------- files


@sqlite_only
def test_a_relative_sqlite_path_is_backed_up(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with sqlite3.connect(tmp_path / "relative.sqlite3") as db:
        db.execute("CREATE TABLE django_migrations (app, name)")
        db.execute("INSERT INTO django_migrations VALUES ('needs', '0001_initial')")
    monkeypatch.setitem(connection.settings_dict, "NAME", "relative.sqlite3")

    snapshot = backup._sqlite_snapshot(tmp_path / "copy.sqlite3")

    assert snapshot.migrations == [["needs", "0001_initial"]]


def test_a_backup_removes_what_runs_killed_midway_left_a_day_ago(world, places):
    backups = places / "backups"
    backups.mkdir()
    stale_work = backups / ".wenxu-backup-abc123"
    stale_work.mkdir()
    (stale_work / "database.pgdump").write_bytes(b"half")
    old(stale_work)
    stale_partial = old(backups / ".wenxu-20260101-000000.tar.partial", b"half")
    running_work = backups / ".wenxu-backup-def456"  # another run, now
    running_work.mkdir()
    running_partial = backups / ".wenxu-20260102-000000.tar.partial"
    running_partial.write_bytes(b"half")
    unrelated = old(backups / "notes.partial.txt", b"mine")

    command("backup")

    assert not stale_work.exists()
    assert not stale_partial.exists()
    assert running_work.exists()
    assert running_partial.exists()
    assert unrelated.exists()
    assert len(list(backups.glob("wenxu-*.tar"))) == 1
