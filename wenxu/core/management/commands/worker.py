"""`wenxu worker`: runs background tasks from the database queue (django-tasks-db) and, in
threads beside them, the delivery of need events' notifications (`wenxu.notify.queue`) and the
sweep every `WENXU_SWEEP_SECONDS` (reminders, 督办, digests, message retries…). Any number of
workers may run: the deliveries and the sweep are safe to run on several at once.

Each job runs once: django-tasks-db claims it in a transaction that locks its row
(`SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, an EXCLUSIVE transaction on SQLite) and marks
it RUNNING with this worker's id before running it (tests/test_two_workers.py).

A worker that dies mid-job (killed, out of memory, machine lost) leaves its job RUNNING, and
django-tasks-db never looks at it again. So every worker also recovers such jobs, every
`--recover-every` seconds: a RUNNING job whose worker is dead goes back to READY, and the next
free worker runs it again (task handlers are idempotent, ADR 0007). Whether a worker is dead:

- PostgreSQL: each worker holds a session advisory lock named after its id, on a connection of
  its own, for as long as it lives. PostgreSQL releases it the moment the process or its
  connection dies; a lock that can be taken is a dead worker's. (Workers must therefore reach
  PostgreSQL directly or through a session-pooling proxy, not a transaction-pooling one.)
- SQLite (one machine): the worker's process id on this machine no longer exists.
"""

import hashlib
import logging
import os
import re
import secrets
import socket
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper

logger = logging.getLogger("wenxu.sweep")
task_logger = logging.getLogger("wenxu.worker")

RECOVER_EVERY = 30.0
# The first key of the two-key advisory locks of workers: "wenx" (other locks use other keys).
LOCK_NAMESPACE = 0x77656E78


WORKER_ID = re.compile(r"[^:]{1,40}:[0-9]+:[0-9a-f]{8}")


def new_worker_id() -> str:
    """host:pid:random, at most 64 characters (django-tasks-db's limit)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def _lock_key(worker_id: str) -> int:
    return int.from_bytes(hashlib.sha256(worker_id.encode()).digest()[:4], "big", signed=True)


class Liveness:
    """Says whether the worker with a given id is alive; see the module's docstring."""

    def __init__(self, worker_id: str) -> None:
        self.worker_id = worker_id
        self.postgresql = connection.vendor == "postgresql"
        self._lock_connection: BaseDatabaseWrapper | None = None
        if self.postgresql:
            self._take_lock()

    def _take_lock(self) -> None:
        # A connection of our own: Django closes its per-thread connections now and then
        # (close_old_connections), and the lock must live exactly as long as this process.
        own = connections.create_connection(DEFAULT_DB_ALIAS)
        own.inc_thread_sharing()  # taken here, checked by the recovery thread
        with own.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_lock(%s, %s)", [LOCK_NAMESPACE, _lock_key(self.worker_id)]
            )
        self._lock_connection = own

    def keep(self) -> None:
        """Checks that our lock's connection is still up; takes the lock again if not."""
        if not self.postgresql:
            return
        try:
            assert self._lock_connection is not None
            with self._lock_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception:
            task_logger.exception(
                "worker %s lost its database lock; taking it again", self.worker_id
            )
            self.close()
            self._take_lock()

    def alive(self, worker_id: str) -> bool | None:
        """True or False; None when this worker cannot tell (another machine, on SQLite)."""
        if worker_id == self.worker_id:
            return True
        if not WORKER_ID.fullmatch(worker_id):
            return None  # not a `wenxu worker` (a bare db_worker holds no lock): leave it be
        if self.postgresql:
            key = [LOCK_NAMESPACE, _lock_key(worker_id)]
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", key)
                row = cursor.fetchone()
                taken = bool(row and row[0])
                if taken:
                    cursor.execute("SELECT pg_advisory_unlock(%s, %s)", key)
            return not taken
        host, _, rest = worker_id.partition(":")
        pid, _, _random = rest.partition(":")
        if host != socket.gethostname()[:40] or not pid.isdigit():
            return None
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # someone else's process: alive
            return True
        return True

    def close(self) -> None:
        if self._lock_connection is not None:
            try:
                self._lock_connection.close()
            except Exception:  # already broken
                task_logger.debug("closing the lock connection failed", exc_info=True)
            self._lock_connection = None


def recover_orphaned_tasks(*, alive: Callable[[str], bool | None]) -> int:
    """Put back to READY the RUNNING jobs whose worker is dead; returns how many."""
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    recovered = 0
    running = DBTaskResult.objects.filter(status=TaskResultStatus.RUNNING).values_list(
        "id", "worker_ids", "started_at"
    )
    for task_id, worker_ids, started_at in running:
        if not worker_ids or alive(worker_ids[-1]) is not False:
            continue
        # Only if nobody claimed it since we looked: a claim changes started_at.
        recovered += DBTaskResult.objects.filter(
            id=task_id, status=TaskResultStatus.RUNNING, started_at=started_at
        ).update(status=TaskResultStatus.READY, started_at=None)
        task_logger.warning(
            "job %s was left running by worker %s, which has stopped: it will run again",
            task_id,
            worker_ids[-1],
        )
    return recovered


def recover_loop(stop: threading.Event, every: float, liveness: Liveness) -> None:
    try:
        while not stop.is_set():
            close_old_connections()
            try:
                liveness.keep()
                recover_orphaned_tasks(alive=liveness.alive)
            except Exception:
                task_logger.exception("recovering jobs of stopped workers failed")
            finally:
                close_old_connections()
            stop.wait(every)
    finally:
        connection.close()


def delivery_loop(stop: threading.Event, interval: float) -> None:
    """Drain the delivery queue (`wenxu.notify.queue`) until `stop` is set: batch after batch
    while there is work, then every `interval` seconds."""
    from wenxu.notify.queue import BATCH, drain

    try:
        while not stop.is_set():
            close_old_connections()
            taken = 0
            try:
                taken = drain(limit=BATCH)
            except Exception:
                task_logger.exception("draining the delivery queue failed")
            if taken < BATCH:
                stop.wait(interval)
    finally:
        connection.close()


def sweep_loop(stop: threading.Event, every: float) -> None:
    """Run the sweep now and then every `every` seconds until `stop` is set.

    The thread has its own database connection (Django's are per thread); it is checked
    between runs like a request's, so a long-running worker does not keep a dead one.
    """
    from wenxu.api.idempotency import idempotency_purge
    from wenxu.integrations.webhooks.services import webhook_sweep
    from wenxu.lib import ratelimit
    from wenxu.needs.management.commands.sweep import summary
    from wenxu.needs.sweeps import sweep

    try:
        while not stop.is_set():
            close_old_connections()
            try:
                result = sweep()
                if result.total() or result.sent or result.failed_stages:
                    logger.info(summary(result))
            except Exception:
                logger.exception("sweep failed; trying again in %s seconds", every)
            try:
                # The API's stored Idempotency-Key answers (the domain's sweep knows no API).
                idempotency_purge()
            except Exception:
                logger.exception("purging idempotency keys failed")
            try:
                # Webhooks: fan the event log out to deliveries, send what is due, purge.
                webhook_sweep()
            except Exception:
                logger.exception("webhook sweep failed")
            try:
                # Ended rate-limit windows (requests delete some too; this covers quiet hours).
                ratelimit.sweep()
            except Exception:
                logger.exception("deleting ended rate-limit windows failed")
            finally:
                close_old_connections()
            stop.wait(every)
    finally:
        connection.close()


class Command(BaseCommand):
    help = (
        "运行后台任务进程：从数据库任务队列领取任务（通知、发送消息等），"
        "并每隔 WENXU_SWEEP_SECONDS 秒（默认 60 秒）巡检一次台账（时限提醒、超期督办、"
        "逐级上报、每日汇总、重试发送）。可在多台机器上同时运行。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="空闲时轮询间隔（秒）")
        parser.add_argument(
            "--recover-every",
            type=float,
            default=RECOVER_EVERY,
            help="每隔多少秒把已停止的任务进程遗留的任务放回队列（秒）",
        )
        parser.add_argument(
            "--no-sweep",
            action="store_true",
            help="不在本进程中巡检台账（由其他 worker 或单独的 wenxu sweep 负责）。",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = settings.WENXU_SWEEP_SECONDS
        if not options["recover_every"] > 0:
            raise CommandError("--recover-every 必须是正数（秒）。")
        stop = threading.Event()
        thread: threading.Thread | None = None
        worker_id = new_worker_id()
        liveness = Liveness(worker_id)
        recoverer = threading.Thread(
            target=recover_loop,
            args=(stop, float(options["recover_every"]), liveness),
            name="wenxu-recover",
            daemon=True,
        )
        recoverer.start()
        deliverer = threading.Thread(
            target=delivery_loop,
            args=(stop, float(options["interval"])),
            name="wenxu-deliver",
            daemon=True,
        )
        deliverer.start()
        if not options["no_sweep"]:
            if every <= 0:
                raise CommandError(
                    "WENXU_SWEEP_SECONDS 必须是正整数（秒）；不需要巡检时请用 --no-sweep。"
                )
            thread = threading.Thread(
                target=sweep_loop, args=(stop, float(every)), name="wenxu-sweep", daemon=True
            )
            thread.start()
            started = f"台账巡检已启动：每 {every} 秒一次。"
            if settings.WENXU_LOG_FORMAT == "json":  # every line of output a JSON object
                task_logger.info(started)
            else:
                self.stdout.write(started)
        try:
            # db_worker stops on SIGTERM / SIGINT (it installs its own handlers).
            call_command(
                "db_worker",
                "--queue-name",
                "*",
                "--interval",
                str(options["interval"]),
                "--no-reload",
                "--worker-id",
                worker_id,
            )
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)
            recoverer.join(timeout=30)
            deliverer.join(timeout=30)
            liveness.close()
