"""`wenxu workdays DATE N`: the date N working days after DATE (DATE itself excluded).

Uses the same calendar as the deadlines (the `holidays` package plus the admin's overrides), so
an operator can check what a due date will be. Only the date goes to stdout, so scripts can use
it; the provisional warning goes to stderr.
"""

from datetime import date
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from django.utils.translation import gettext as _

from wenxu.lib.text import join_list
from wenxu.lib.workdays import MAX_WORKDAYS
from wenxu.needs.deadlines import current_calendar


def _parse_date(raw: str) -> date:
    try:
        return date.fromisoformat(raw) if len(raw) == 10 else date.fromisoformat("invalid")
    except ValueError:
        raise CommandError(
            _("日期格式应为 YYYY-MM-DD（例如 2026-09-28），收到的是“%(raw)s”。") % {"raw": raw}
        ) from None


def _parse_count(raw: str) -> int:
    message = _("工作日数应为 0 到 %(max)d 之间的整数，收到的是“%(raw)s”。") % {
        "max": MAX_WORKDAYS,
        "raw": raw,
    }
    if not raw.isascii() or not raw.isdigit():
        raise CommandError(message)
    count = int(raw)
    if count > MAX_WORKDAYS:
        raise CommandError(message)
    return count


class Command(BaseCommand):
    help = _(
        "计算 DATE 之后第 N 个工作日（不含 DATE 当天），按法定节假日、调休和管理员录入的"
        "节假日调整计算。例如 wenxu workdays 2026-09-28 5 输出 2026-10-10。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("date", metavar="DATE", help=_("起算日期，格式 YYYY-MM-DD"))
        parser.add_argument(
            "count", metavar="N", help=_("工作日数（0 表示当天或其后第一个工作日）")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        start = _parse_date(options["date"])
        count = _parse_count(options["count"])
        try:
            calendar = current_calendar()
        except DatabaseError as error:
            raise CommandError(
                _("无法读取节假日调整表（%(error)s）。请先运行 wenxu migrate 初始化数据库。")
                % {"error": error}
            ) from error
        try:
            result = calendar.add_workdays(start, count)
        except ValueError:
            raise CommandError(
                _("从 %(start)s 起算 %(count)d 个工作日超出了日历范围。")
                % {"start": start.isoformat(), "count": count}
            ) from None
        self.stdout.write(result.isoformat())
        if calendar.span_is_provisional(start, result):
            years = [
                str(year)
                for year in range(start.year, result.year + 1)
                if calendar.is_provisional(date(year, 1, 1))
            ]
            self.stderr.write(
                _(
                    "（暂定）%(years)s 年尚无国务院放假通知数据，结果只按周末和固定节日推算；"
                    "通知发布后请在管理后台录入“节假日调整”。"
                )
                % {"years": join_list(years)}
            )
