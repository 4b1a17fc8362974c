"""`wenxu sweep`: reminders, overdue escalation, follow-up reminders and callback expiry, once or
in a loop."""

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from wenxu.needs.sweeps import sweep


class Command(BaseCommand):
    help = "巡检台账：时限提醒、超期督办、跟进到期提醒、回访期满按无法联系办结。默认运行一次。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--every", type=int, default=0, help="每隔多少秒巡检一次（不填则只运行一次）"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        every: int = options["every"]
        if every < 0:
            raise CommandError("--every 必须是正整数（秒）。")
        self._running = True

        def stop(signum: int, frame: FrameType | None) -> None:
            self._running = False

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        while True:
            result = sweep()
            self.stdout.write(
                f"巡检完成：提醒 {result.due_soon}，超响应时限 {result.response_overdue}，"
                f"超期督办 {result.overdue}，跟进到期提醒 {result.followup_due}，"
                f"回访期满办结 {result.unreachable}，跳过 {result.skipped}"
            )
            if not every:
                return
            deadline = time.monotonic() + every
            while self._running and time.monotonic() < deadline:
                time.sleep(min(1.0, every))
            if not self._running:
                return
            close_old_connections()  # a long-running loop must not keep a dead connection
