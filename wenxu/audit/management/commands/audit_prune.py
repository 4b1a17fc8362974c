"""`wenxu audit_prune --before YYYY-MM-DD [--dry-run]`: delete security log entries older
than a date, never ones younger than `WENXU_AUDIT_KEEP_DAYS` (at least 180 days).

The deletion, the chain's new start and an AUDIT_PRUNE entry are one transaction; a chain that
does not verify is not pruned. The logic lives in `wenxu.audit.services`.
"""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.audit.services import AuditRefused, PrunePlan, audit_prune, audit_prune_plan


def _describe(plan: PrunePlan) -> str:
    assert plan.first_at is not None
    assert plan.last_at is not None
    return _("第 %(first)d–%(last)d 条，共 %(count)d 条（%(start)s 至 %(end)s）") % {
        "first": plan.first_seq,
        "last": plan.last_seq,
        "count": plan.count,
        "start": f"{timezone.localtime(plan.first_at):%Y-%m-%d %H:%M}",
        "end": f"{timezone.localtime(plan.last_at):%Y-%m-%d %H:%M}",
    }


class Command(BaseCommand):
    help = _(
        "删除指定日期之前的安全审计日志（至少保留 WENXU_AUDIT_KEEP_DAYS 天，默认 180 天）；"
        "--dry-run 只列出将删除的记录。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--before", required=True, metavar="YYYY-MM-DD", help=_("删除此日期之前的记录")
        )
        parser.add_argument("--dry-run", action="store_true", help=_("只列出，不删除"))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            before = date.fromisoformat(str(options["before"]).strip())
        except ValueError as exc:
            raise CommandError(
                _("日期格式不正确：%(value)s。请按“年-月-日”填写，例如 2026-01-01。")
                % {"value": options["before"]}
            ) from exc
        try:
            if options["dry_run"]:
                plan = audit_prune_plan(before=before)
                if not plan.count:
                    self.stdout.write(_("%(before)s 之前没有可清理的记录。") % {"before": before})
                else:
                    self.stdout.write(
                        _("将删除：%(entries)s。（试运行，未删除任何记录）")
                        % {"entries": _describe(plan)}
                    )
                return
            plan = audit_prune(before=before)
        except AuditRefused as refused:
            raise CommandError(refused.message) from refused
        if not plan.count:
            self.stdout.write(_("%(before)s 之前没有可清理的记录。") % {"before": before})
            return
        self.stdout.write(_("已删除：%(entries)s。") % {"entries": _describe(plan)})
