"""`wenxu retention [--dry-run] [--batch N]`: anonymise requesters past the retention period.

Run it daily (cron, docs/operations.md "Retention and erasure"); `--dry-run` lists who would be
anonymised (masked) and changes nothing. The rule is in wenxu.residents.retention.
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.needs.states import Status
from wenxu.residents.erasure import masked_label
from wenxu.residents.retention import DEFAULT_BATCH, retention_run


class Command(BaseCommand):
    help = _(
        "到期匿名化：诉求全部办结、撤销或合并满 WENXU_RETENTION_DAYS 天的诉求人，"
        "删除其姓名、电话、证件号码和住址。--dry-run 只列出（已脱敏），不作修改。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help=_("只列出，不作修改"))
        parser.add_argument(
            "--batch", type=int, default=DEFAULT_BATCH, help=_("每批处理的诉求人数（每批一个事务）")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        batch: int = options["batch"]
        if batch < 1:
            raise CommandError(_("--batch 必须是正整数。"))
        dry_run: bool = options["dry_run"]
        result = retention_run(dry_run=dry_run, batch=batch)
        if result.days <= 0:
            self.stdout.write(_("保存期限为 0（永久保存），不做匿名化。"))
            return
        self.stdout.write(
            _("保存期限 %(days)s 天：%(before)s 之前已全部办结、撤销或合并的诉求人将被匿名化。")
            % {"days": result.days, "before": result.before.isoformat()}
        )
        for requester in result.listed:
            needs = "，".join(
                f"{need.number}（{Status(need.status).label}"
                + (f" {timezone.localdate(need.closed_at).isoformat()}" if need.closed_at else "")
                + "）"
                for need in requester.needs.all()
            )
            self.stdout.write(f"  {masked_label(requester)}  {needs or _('（无诉求）')}")
        if dry_run and result.requesters > len(result.listed):
            self.stdout.write(
                _("  …… 另有 %(n)s 位未列出") % {"n": result.requesters - len(result.listed)}
            )
        if dry_run:
            self.stdout.write(
                _("试运行：共 %(requesters)s 位诉求人、%(needs)s 件诉求将被匿名化，未作任何修改。")
                % {"requesters": result.requesters, "needs": result.needs}
            )
        else:
            self.stdout.write(
                _(
                    "已匿名化 %(requesters)s 位诉求人（%(needs)s 件诉求，%(texts)s 处文字脱敏，"
                    "取消消息 %(messages)s 条），分 %(batches)s 批完成。"
                )
                % {
                    "requesters": result.requesters,
                    "needs": result.needs,
                    "texts": result.count.texts,
                    "messages": result.count.messages,
                    "batches": result.batches,
                }
            )
