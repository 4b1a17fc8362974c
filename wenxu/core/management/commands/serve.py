"""`wenxu serve`: the web server (gunicorn) and, unless --no-worker, one background worker
(`wenxu worker`: the task queue and the sweep every `WENXU_SWEEP_SECONDS`)."""

import gc
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger as GunicornLogger

from wenxu.lib.jsonlog import JsonFormatter
from wenxu.lib.logfilter import MaskPersonalData, mask_text

ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'
# gunicorn's request atoms written as the `http` field of a JSON access line: the path without
# its query string, as in the text line (query strings carry search words and Open311 keys).
ACCESS_FIELDS = {
    "h": "remote_addr",
    "m": "method",
    "U": "path",
    "H": "protocol",
    "s": "status",
    "B": "bytes",
    "M": "duration_ms",
    "a": "user_agent",
}
MAX_DEFAULT_WORKERS = 12
SQLITE_DEFAULT_WORKERS = 2
DEFAULT_THREADS = 4
# Seconds an idle client connection stays open. 0: one request per connection. gunicorn's
# gthread workers each accept connections for themselves and keep a kept-alive connection for
# good, so a few busy clients (nginx's upstream pool, an API client) end up on one process
# while the others idle; a new connection per request goes to whichever process is free.
DEFAULT_KEEPALIVE = 0

logger = logging.getLogger("wenxu.serve")


def default_workers(*, cpus: int, sqlite: bool) -> int:
    """gunicorn processes when WENXU_WEB_WORKERS is not set.

    PostgreSQL: 2 × cores + 1 (gunicorn's advice: one process computes while another waits on
    the database), at most MAX_DEFAULT_WORKERS, since each process keeps up to `--threads`
    database connections and a few servers behind nginx must stay within PostgreSQL's
    max_connections (100 by default). SQLite: 2, whatever the cores: the database takes one
    writer at a time, so more processes only queue for its lock; the threads serve the rest.
    """
    if sqlite:
        return SQLITE_DEFAULT_WORKERS
    return max(2, min(2 * cpus + 1, MAX_DEFAULT_WORKERS))


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _on_sqlite() -> bool:
    return bool(settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3")


class _AccessFields(logging.Filter):
    """Copies the request's atoms, masked, into the record's `http` field (before the
    personal-data filter formats the message and drops the atoms)."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args
        if isinstance(atoms, Mapping):  # gunicorn's SafeAtoms, a dict
            fields: dict[str, object] = {}
            for atom, field in ACCESS_FIELDS.items():
                value: Any = atoms.get(atom)
                if field in {"status", "bytes", "duration_ms"}:
                    try:
                        fields[field] = int(value)
                    except (TypeError, ValueError):
                        fields[field] = None
                else:
                    fields[field] = mask_text(str(value))
            record.http = fields
        return True


class JsonGunicornLogger(GunicornLogger):  # type: ignore[misc]
    """gunicorn's logger with JSON lines (WENXU_LOG_FORMAT=json), masked like wenxu's own."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.setFormatter(JsonFormatter())
                if log is self.access_log:
                    handler.addFilter(_AccessFields())
                handler.addFilter(MaskPersonalData())


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from wenxu.wsgi import application

        settle()
        return application


def settle() -> None:
    """Load what a web process keeps for good, then leave it out of the garbage collector's
    full passes (ADR 0033).

    A full pass of CPython's cyclic collector walks every container object and stops every
    thread of the process meanwhile: ~250 ms in a web process that has served a few pages
    (~500,000 objects, three fifths of them pypinyin's dictionaries, imported with the views).
    A request that waited on it waited that long, and so did every intake holding the
    ledger counter's row lock in that process. Loading the views here, before the first
    request, and freezing what is alive then (`gc.freeze`) leaves the full passes the objects
    made later."""
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - imports every view, and what they import
    gc.collect()
    gc.freeze()


class Command(BaseCommand):
    help = (
        "运行问需：Web 服务（gunicorn）和一个后台任务进程（处理通知和消息发送，"
        "并每分钟巡检台账：时限提醒、超期督办、每日汇总）。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("WENXU_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WENXU_PORT", "8000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=None,
            help=(
                "Web 进程数；默认取环境变量 WENXU_WEB_WORKERS，未设置时 PostgreSQL 为 "
                f"2×CPU 核数+1（最多 {MAX_DEFAULT_WORKERS}），SQLite 为 {SQLITE_DEFAULT_WORKERS}。"
            ),
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help=(
                "每个 Web 进程的线程数；默认取环境变量 WENXU_WEB_THREADS，"
                f"未设置时为 {DEFAULT_THREADS}。"
            ),
        )
        parser.add_argument(
            "--no-migrate",
            action="store_true",
            help="启动时不执行数据库迁移（多个进程同时启动时，先单独运行 wenxu migrate）。",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help=(
                "只运行 Web 服务，不启动后台任务进程（城市级部署时单独运行 wenxu worker，"
                "它同时负责台账巡检）。"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"端口号无效：{port}")
        workers = self._count(options["workers"], "WENXU_WEB_WORKERS", "--workers")
        if workers is None:
            workers = default_workers(cpus=_cpu_count(), sqlite=_on_sqlite())
        threads = self._count(options["threads"], "WENXU_WEB_THREADS", "--threads")
        keepalive = self._seconds("WENXU_WEB_KEEPALIVE", DEFAULT_KEEPALIVE)
        json_logs = settings.WENXU_LOG_FORMAT == "json"
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        helpers = [] if options["no_worker"] else self._start_helpers()
        address = f"{options['host']}:{port}"
        self._say(f"问需已启动：http://{address}/  （按 Ctrl+C 停止）", json_logs=json_logs)
        extra: dict[str, Any] = {"logger_class": JsonGunicornLogger} if json_logs else {}
        try:
            _Gunicorn(
                {
                    "bind": address,
                    "workers": workers,
                    "worker_class": "gthread",
                    "threads": threads or DEFAULT_THREADS,
                    "keepalive": keepalive,
                    "timeout": 60,
                    "graceful_timeout": 20,
                    "accesslog": "-",
                    # The path without its query string: query strings carry search words
                    # (often names) and Open311 api_key values, which must not reach logs.
                    "access_log_format": ACCESS_LOG_FORMAT,
                    "errorlog": "-",
                    "loglevel": "info",
                    "proc_name": "wenxu",
                    **extra,
                }
            ).run()
        finally:
            for process in helpers:
                process.send_signal(signal.SIGTERM)
            for process in helpers:
                try:
                    process.wait(timeout=25)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _count(self, given: int | None, variable: str, option: str) -> int | None:
        """A positive count from the option, else from the environment, else None."""
        if given is None:
            raw = os.environ.get(variable, "").strip()
            if not raw:
                return None
            try:
                given = int(raw)
            except ValueError:
                raise CommandError(f"{variable} 必须是正整数，现在是 {raw!r}。") from None
            option = variable
        if given < 1:
            raise CommandError(f"{option} 必须是正整数，现在是 {given}。")
        return given

    def _seconds(self, variable: str, default: int) -> int:
        """A count of seconds (0 or more) from the environment, else `default`."""
        raw = os.environ.get(variable, "").strip()
        if not raw:
            return default
        try:
            value = int(raw)
        except ValueError:
            value = -1
        if value < 0:
            raise CommandError(f"{variable} 必须是不小于 0 的整数（秒），现在是 {raw!r}。")
        return value

    def _say(self, message: str, *, json_logs: bool) -> None:
        # With JSON logs every line of output is a JSON object: the banner becomes a log line.
        if json_logs:
            logger.info(message)
        else:
            self.stdout.write(message)

    def _start_helpers(self) -> list[subprocess.Popen[bytes]]:
        """One `wenxu worker` beside the web server: it runs the tasks and the sweep."""
        env = {**os.environ, "WENXU_DATA_DIR": str(settings.DATA_DIR)}
        process = subprocess.Popen([sys.executable, "-m", "wenxu", "worker"], env=env)
        self._say(
            "后台任务进程已启动（含每分钟台账巡检）。",
            json_logs=settings.WENXU_LOG_FORMAT == "json",
        )
        return [process]
