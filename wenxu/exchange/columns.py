"""The standard 台账 columns, in the order every exported ledger shows them.

Each column has a key (the API's `columns=` parameter), a Chinese header, a width in Excel's
character units, and a kind: text, long text (wrapped), a date or a date and time (real cells,
not text, so Excel can sort and filter them).
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_stubs_ext import StrOrPromise

TEXT, LONG, DATE, DATETIME, NUMBER = "text", "long", "date", "datetime", "number"


@dataclass(frozen=True)
class Column:
    key: str
    header: StrOrPromise  # lazily translated
    width: float
    kind: str = TEXT

    @property
    def label(self) -> str:
        return str(self.header)


COLUMNS: tuple[Column, ...] = (
    Column("seq", gettext_lazy("序号"), 7, NUMBER),
    Column("number", gettext_lazy("编号"), 16),
    Column("registered", gettext_lazy("登记日期"), 12, DATE),
    Column("source", gettext_lazy("来源渠道"), 10),
    Column("township", gettext_lazy("所属街道"), 12),
    Column("village", gettext_lazy("所属社区"), 12),
    Column("grid", gettext_lazy("所属网格"), 14),
    Column("requester", gettext_lazy("诉求人"), 10),
    Column("phone", gettext_lazy("联系电话"), 14),
    Column("address", gettext_lazy("住址"), 18, LONG),
    Column("category", gettext_lazy("诉求类别"), 12),
    Column("content", gettext_lazy("诉求内容"), 40, LONG),
    Column("urgency", gettext_lazy("紧急程度"), 9),
    Column("units", gettext_lazy("责任单位"), 22, LONG),
    Column("handler", gettext_lazy("责任人"), 10),
    Column("assigned_at", gettext_lazy("交办时间"), 17, DATETIME),
    Column("time_limit", gettext_lazy("办理时限"), 12),
    Column("due_date", gettext_lazy("应办结日期"), 12, DATE),
    Column("progress", gettext_lazy("办理进度"), 10),
    Column("result", gettext_lazy("办理结果/答复内容"), 40, LONG),
    Column("closed_at", gettext_lazy("办结时间"), 17, DATETIME),
    Column("on_time", gettext_lazy("是否按期"), 9),
    Column("callback_at", gettext_lazy("回访时间"), 17, DATETIME),
    Column("callback_channel", gettext_lazy("回访方式"), 10),
    Column("satisfaction", gettext_lazy("满意度"), 10),
    Column("remarks", gettext_lazy("备注"), 24, LONG),
)
BY_KEY = {column.key: column for column in COLUMNS}
KEYS = tuple(BY_KEY)


class UnknownColumns(ValueError):
    def __init__(self, unknown: list[str]) -> None:
        super().__init__(unknown)
        self.unknown = unknown

    @property
    def message(self) -> str:
        return _("没有这些导出列：%(unknown)s。可选：%(keys)s。") % {
            "unknown": "、".join(self.unknown),
            "keys": ", ".join(KEYS),
        }


def choose(keys: list[str] | None) -> list[Column]:
    """The chosen columns in the standard order (whatever order they were asked in); all when
    none are named. Unknown keys raise `UnknownColumns`."""
    wanted = {key.strip() for key in keys or [] if key.strip()}
    unknown = sorted(wanted - set(BY_KEY))
    if unknown:
        raise UnknownColumns(unknown)
    if not wanted:
        return list(COLUMNS)
    return [column for column in COLUMNS if column.key in wanted]


def parse(text: str | None) -> list[Column]:
    """`columns=` as the API takes it: comma-separated keys."""
    return choose((text or "").split(","))
