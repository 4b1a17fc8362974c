"""Reading Open311 arguments: W3C dates, comma lists, `attribute[code]` pairs, page numbers.

Every problem raises `Open311Error` with a message for people (Chinese, or English with
`Accept-Language: en`); the views turn it into the spec's error object.
"""

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.http import QueryDict
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from wenxu.lib import clock

STATUSES = ("open", "closed")
# W3C date and time: a date, or a date and time with seconds optional and the zone required.
_W3C = re.compile(
    r"\d{4}-\d{2}-\d{2}"
    r"(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2}))?"
)
_ATTRIBUTE = re.compile(r"attribute\[([^\[\]]+)\](\[\])?")
# Whole numbers in ASCII digits only: str.isdigit() also takes "²" and "٣", which int() refuses
# or reads as another number.
_NUMBER = re.compile(r"[0-9]{1,9}")
# The highest page number a list accepts: deeper pages are a 400, not a slow scan.
MAX_PAGE = 100_000
NUL = "\x00"


class Open311Error(Exception):
    """A refusal in the spec's error format: HTTP `status` and one description per problem."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__(*descriptions)
        self.status = status
        self.descriptions = list(descriptions)


def bad(*descriptions: str) -> Open311Error:
    return Open311Error(400, *descriptions)


def text(params: QueryDict, name: str) -> str:
    """The argument, stripped; absent and empty are the same ("Optional Arguments")."""
    return (params.get(name) or "").strip()


def comma_list(params: QueryDict, name: str) -> list[str]:
    """`a,b` and repeated `name=a&name=b` alike, without blanks or repeats."""
    values: list[str] = []
    for raw in params.getlist(name):
        values.extend(part.strip() for part in raw.split(","))
    return list(dict.fromkeys(v for v in values if v))


def number(raw: str) -> int | None:
    """`raw` as a whole number written in ASCII digits (at most nine), else None."""
    return int(raw) if _NUMBER.fullmatch(raw) else None


def w3c_date(params: QueryDict, name: str) -> datetime | None:
    """A W3C date or datetime with its zone. Well-formed but impossible values (2026-02-30,
    25:00, 24:00, a leap second, a +99:99 offset) and moments that cannot be put in UTC (year 1)
    are 400s like malformed ones."""
    raw = text(params, name)
    if not raw:
        return None
    moment = None
    if _W3C.fullmatch(raw):
        if "T" not in raw:
            raw += "T00:00:00"
        try:
            moment = parse_datetime(raw.replace("Z", "+00:00"))
            if moment is not None:
                if timezone.is_naive(moment):
                    moment = timezone.make_aware(moment)
                moment.astimezone(UTC)  # year 1 at +08:00 falls before year 1 in UTC
        except (ValueError, OverflowError):
            moment = None
    if moment is None:
        raise bad(
            _("%(name)s 须为 W3C 日期时间格式，带时区，如 2026-01-01T00:00:00+08:00。")
            % {"name": name}
        )
    return moment


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime


def window(params: QueryDict) -> Window:
    """The `start_date`–`end_date` window: the last WENXU_OPEN311_DEFAULT_DAYS when neither is
    given, that many days from the one given, and never longer (the spec's 90 days)."""
    days = timedelta(days=settings.WENXU_OPEN311_DEFAULT_DAYS)
    start = w3c_date(params, "start_date")
    end = w3c_date(params, "end_date")
    try:
        if start is None and end is None:
            end = clock.now()
            start = end - days
        elif start is None:
            assert end is not None
            start = end - days
        elif end is None:
            end = start + days
    except OverflowError:  # 0001-01-01 minus, or 9999-12-31 plus, the default span
        raise bad(
            _(
                "日期超出可查询的范围：请在 start_date 和 end_date 中"
                "给出相隔不超过 %(days)d 天的日期。"
            )
            % {"days": settings.WENXU_OPEN311_DEFAULT_DAYS}
        ) from None
    if start > end:
        raise bad(_("start_date 不能晚于 end_date。"))
    if end - start > days:
        raise bad(
            _("start_date 与 end_date 相隔不能超过 %(days)d 天。")
            % {"days": settings.WENXU_OPEN311_DEFAULT_DAYS}
        )
    return Window(start=start, end=end)


def statuses(params: QueryDict) -> list[str]:
    values = comma_list(params, "status")
    unknown = [v for v in values if v not in STATUSES]
    if unknown:
        raise bad(_("status 只能是 open 或 closed，可用逗号分隔。"))
    return values


def positive(params: QueryDict, name: str, default: int, maximum: int | None = None) -> int:
    """A positive whole number in ASCII digits; above `maximum` it is a 400."""
    raw = text(params, name)
    if not raw:
        return default
    value = number(raw)
    if value is None or value < 1:
        raise bad(_("%(name)s 须为正整数。") % {"name": name})
    if maximum is not None and value > maximum:
        raise bad(_("%(name)s 不能大于 %(max)d。") % {"name": name, "max": maximum})
    return value


def refuse_nul(*values: str | QueryDict) -> None:
    """No argument (name or value) nor path may hold a NUL character: PostgreSQL cannot keep or
    search text with one, so it is a 400 here rather than a database error later."""
    for value in values:
        if isinstance(value, str):
            found = NUL in value
        else:
            found = any(NUL in key or any(NUL in v for v in value.getlist(key)) for key in value)
        if found:
            raise bad(_("请求中不能包含空字符（U+0000），请删除后重试。"))


def flag(params: QueryDict, name: str) -> bool:
    return text(params, name).lower() in {"true", "1"}


def decimal(params: QueryDict, name: str) -> Decimal | None:
    raw = text(params, name)
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite():
        raise bad(_("%(name)s 须为数字（WGS84 经纬度）。") % {"name": name})
    return value


def attributes(params: QueryDict) -> dict[str, list[str]]:
    """`attribute[code]=v` and `attribute[code][]=v1&attribute[code][]=v2`, by code."""
    found: dict[str, list[str]] = {}
    for key in params:
        match = _ATTRIBUTE.fullmatch(key)
        if match is None:
            continue
        values = [v.strip() for v in params.getlist(key) if v.strip()]
        found.setdefault(match.group(1), []).extend(values)
    return found


def single(values: Sequence[str], code: str) -> str:
    if len(values) > 1:
        raise bad(_("属性 %(code)s 只能选一个值。") % {"code": code})
    return values[0] if values else ""
