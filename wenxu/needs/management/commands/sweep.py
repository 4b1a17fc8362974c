"""`wenxu sweep`: all time-driven work (reminders, 督办 and escalation, follow-up reminders,
callback expiry, callback requests, daily digests, message catch-up and retries), once or in a
loop. `wenxu worker` runs it every `WENXU_SWEEP_SECONDS` by itself; this command is for running
it by hand or from cron."""

import signal
import time
from types import FrameType
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import close_old_connections

from wenxu.needs.sweeps import SweepResult, sweep


def summary(result: SweepResult) -> str:
    text = (
        f"巡检完成：签收提醒 {result.response_due_soon}，办结提醒 {result.due_soon}，"
        f"超响应时限 {result.response_overdue}，超期督办 {result.overdue}，"
        f"逐级上报 {result.escalated}，跟进到期提醒 {result.followup_due}，"
        f"回访期满办结 {result.unreachable}，评价提醒 {result.callback_requests}，"
        f"每日汇总 {result.digests}，补发通知 {result.caught_up}，发送消息 {result.sent}，"
        f"跳过 {result.skipped}"
    )
    if result.failed_stages:
        text += f"，出错 {result.failed_stages} 项（详见日志）"
    return text


class Command(BaseCommand):
    help = (
        "巡检台账：签收和办结时限提醒、超期督办和逐级上报、跟进到期提醒、回访期满按无法联系办结、"
        "群众评价提醒、每日汇总、补发漏发的通知并重试发送失败的消息。默认运行一次"
        "（wenxu worker 已每分钟自动运行）。"
    )

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
            self.stdout.write(summary(result))
            if not every:
                return
            deadline = time.monotonic() + every
            while self._running and time.monotonic() < deadline:
                time.sleep(min(1.0, every))
            if not self._running:
                return
            close_old_connections()  # a long-running loop must not keep a dead connection
