"""`wenxu worker`: runs background tasks from the database queue (django-tasks-db) and, in a
thread beside them, the sweep every `WENXU_SWEEP_SECONDS` (reminders, 督办, digests, message
retries…). Any number of workers may run: the sweep is safe to run on several at once."""

import logging
import threading
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections, connection

logger = logging.getLogger("wenxu.sweep")


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
            "--no-sweep",
            action="store_true",
            help="不在本进程中巡检台账（由其他 worker 或单独的 wenxu sweep 负责）。",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every = settings.WENXU_SWEEP_SECONDS
        stop = threading.Event()
        thread: threading.Thread | None = None
        if not options["no_sweep"]:
            if every <= 0:
                raise CommandError(
                    "WENXU_SWEEP_SECONDS 必须是正整数（秒）；不需要巡检时请用 --no-sweep。"
                )
            thread = threading.Thread(
                target=sweep_loop, args=(stop, float(every)), name="wenxu-sweep", daemon=True
            )
            thread.start()
            self.stdout.write(f"台账巡检已启动：每 {every} 秒一次。")
        try:
            # db_worker stops on SIGTERM / SIGINT (it installs its own handlers).
            call_command(
                "db_worker",
                "--queue-name",
                "*",
                "--interval",
                str(options["interval"]),
                "--no-reload",
            )
        finally:
            stop.set()
            if thread is not None:
                thread.join(timeout=30)
