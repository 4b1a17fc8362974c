"""`wenxu erase_requester (--need WX-YYYY-NNNNNN | --requester ID) --reason TEXT`.

Deletes one requester's personal data on request (PIPL right to deletion): anonymised, audited,
and journalled outside the database so that a restored backup re-applies it
(wenxu.residents.erasure).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wenxu.needs.exceptions import DomainError
from wenxu.residents.erasure import requester_erase


class Command(BaseCommand):
    help = _(
        "按本人申请删除一位诉求人的个人信息（姓名、电话、证件号码、住址及诉求文字中的这些内容），"
        "记入安全审计日志和删除日志。诉求本身保留。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--need", default="", help=_("诉求的台账编号，如 WX-2026-000123"))
        which.add_argument("--requester", type=int, default=None, help=_("诉求人编号"))
        parser.add_argument("--reason", default="", help=_("删除理由（必填），如：本人书面申请"))

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = requester_erase(
                actor=None,
                reason=options["reason"],
                need_number=options["need"],
                requester_id=options["requester"],
            )
        except DomainError as exc:
            raise CommandError(exc.message) from exc
        who = " ".join(
            p for p in (f"#{result.requester_id}", result.masked_name, result.masked_phone) if p
        )
        numbers = "、".join(result.need_numbers) or _("无")
        if result.already:
            self.stdout.write(
                _("诉求人 %(who)s 的个人信息此前已删除，未作修改（诉求：%(needs)s）。")
                % {"who": who, "needs": numbers}
            )
            return
        self.stdout.write(
            _(
                "已删除诉求人 %(who)s 的个人信息（诉求：%(needs)s；%(texts)s 处文字脱敏），"
                "已记入安全审计日志和删除日志。"
            )
            % {"who": who, "needs": numbers, "texts": result.count.texts}
        )
