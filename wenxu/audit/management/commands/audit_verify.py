"""`wenxu audit_verify [--from-seq N]`: check the security log's hash chain.

Prints "审计日志完整：共 N 条（第 A–B 条）" and exits 0, or prints the first edited, deleted or
reordered entry and exits 1 (for cron and monitoring). The logic lives in `wenxu.audit.verify`.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wenxu.audit.verify import audit_verify


class Command(BaseCommand):
    help = _(
        "校验安全审计日志的哈希链：完整时退出码为 0；发现被修改、删除或调换顺序的记录时，"
        "指出第一处问题并以退出码 1 结束。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from-seq",
            type=int,
            default=None,
            metavar="N",
            help=_("从第 N 条开始校验（默认从头开始）"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from_seq = options["from_seq"]
        if from_seq is not None and from_seq < 1:
            raise CommandError(_("--from-seq 必须是正整数。"))
        result = audit_verify(from_seq=from_seq)
        if result.ok:
            self.stdout.write(result.message)
            return
        self.stdout.write(result.message)
        raise SystemExit(1)
