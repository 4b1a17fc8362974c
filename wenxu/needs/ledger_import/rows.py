"""Checking every row of a mapped ledger file: what would be registered, or what is wrong.

Nothing here writes. A row is turned into a `PlannedRow` (the arguments of `need_register`
and, when the file names a unit and the importer is a dispatcher there, of `need_assign`), or
into `RowProblem`s that say in Chinese what is wrong and how to fix it. Values of personal
columns (诉求人, 联系电话, 住址) are masked in problems, so a report never shows them.
"""

import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from functools import lru_cache
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import roles_over_area
from wenxu.lib import clock, masking
from wenxu.lib.phones import normalise_phone
from wenxu.lib.text import join_list
from wenxu.needs import states
from wenxu.needs.ledger_import.fields import BY_KEY, FIELDS, IGNORE
from wenxu.needs.ledger_import.files import LedgerFile, LedgerRow
from wenxu.needs.models import Category, LedgerImportRow, Urgency
from wenxu.needs.services import RequesterInput
from wenxu.organisations.models import Area, Unit
from wenxu.visits.place_import import AreaResolver

MAX_REPORTED_PROBLEMS = 1000
TITLE_FROM_CONTENT = 30  # characters of the content that make a title when the file has none
CHUNK = 500
EARLIEST = date(2000, 1, 1)  # a registration date before this is a misread cell, not history

SOURCE_VALUES: dict[str, str] = {
    **{str(label): value for value, label in states.Source.choices},
    **dict.fromkeys(("入户走访", "面对面问需", "走访问需", "下访", "走访"), "visit"),
    **dict.fromkeys(("来电", "电话", "电话反映", "座机"), "phone"),
    **dict.fromkeys(("来访", "上门", "来信来访", "信访", "接待日", "现场反映", "窗口"), "walk_in"),
    **dict.fromkeys(("网上", "网络", "网站", "微信", "小程序", "APP", "app", "邮件"), "online"),
    **dict.fromkeys(("热线", "12345", "市民热线", "12345热线", "政务热线", "便民热线"), "hotline"),
    **dict.fromkeys(("网格巡查", "巡查", "网格员巡查"), "patrol"),
    **{value: value for value in states.Source.values},
}
URGENCY_VALUES: dict[str, str] = {
    **{str(label): value for value, label in Urgency.choices},
    **dict.fromkeys(("普通", "正常", "一般", "不急"), "normal"),
    **dict.fromkeys(("紧急", "急", "特急", "加急", "很急"), "urgent"),
    **dict.fromkeys(("复杂", "疑难", "疑难复杂"), "complex"),
    **{value: value for value in Urgency.values},
}
KIND_VALUES: dict[str, str] = {
    **{str(label): value for value, label in states.Kind.choices},
    **{value: value for value in states.Kind.values},
    "求决": "help",
    "意见建议": "suggestion",
}
DEFAULT_KIND = states.Kind.HELP
# Words of 办理状态 that say the old ledger finished the need.
CLOSED_WORDS = ("办结", "完成", "已解决", "结案", "已答复")


@lru_cache(maxsize=4096)
def _key(text: str) -> str:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", text))


class _NeedAreaResolver(AreaResolver):
    """The place import's resolver (code, name path, unique name among the areas where the user
    is an officer or dispatcher), with the out-of-scope message worded for needs."""

    def out_of_scope(self) -> str:
        return _(
            "该区域不在您的登记范围内：只能导入您担任走访干部、网格员或调度员的区域内的诉求。"
            "请核对区域，或请负责该区域的同事导入。"
        )


@dataclass(frozen=True)
class RowProblem:
    row: int | None
    column: str
    value: str  # masked when the column holds personal data
    message: str

    def to_json(self) -> list[Any]:
        return [self.row, self.column, self.value, self.message]

    @classmethod
    def from_json(cls, data: Sequence[Any]) -> "RowProblem":
        row, column, value, message = data
        return cls(None if row is None else int(row), str(column), str(value), str(message))


@dataclass
class PlannedRow:
    """A checked row: what `need_register` (and perhaps `need_assign`) will be called with."""

    number: int
    area: Area
    title: str
    description: str
    kind: str
    source: str
    urgency: str
    category: Category | None
    requester: RequesterInput | None
    address: str
    registered_at: datetime | None
    unit: Unit | None
    assign: bool
    assigned_at: datetime | None
    original_number: str
    closed_in_file: bool


@dataclass
class CheckResult:
    rows: list[PlannedRow] = field(default_factory=list)  # all of them, when asked to keep them
    problems: list[RowProblem] = field(default_factory=list)
    # What the good rows would do (the dry run's report), counted as they are checked.
    planned: int = 0
    to_assign: int = 0
    unit_not_assigned: int = 0
    closed_in_file: int = 0
    with_dates: int = 0

    def count(self, row: PlannedRow) -> None:
        self.planned += 1
        self.to_assign += row.assign
        # (rows closed in the file are never assigned: they are counted as closed_in_file)
        self.unit_not_assigned += bool(row.unit and not row.assign and not row.closed_in_file)
        self.closed_in_file += row.closed_in_file
        self.with_dates += row.registered_at is not None

    @property
    def bad_rows(self) -> int:
        return len({p.row for p in self.problems if p.row is not None})

    @property
    def ok(self) -> bool:
        return not self.problems


def _mask(key: str, value: str) -> str:
    if key == "requester_name":
        return masking.mask_name(value)
    if key == "phone":
        return masking.mask_phone(value)
    if key == "address":
        return masking.mask_address(value)
    return value


_SERIAL = re.compile(r"\d{5}(\.\d+)?")
_DATE = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[T\s]*(\d{1,2})\s*[:时]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2}))?\s*[秒分]?)?"
)


def parse_datetime(text: str, zone: tzinfo | None = None) -> datetime | None:
    """A date or date and time as ledgers write them, in the site's zone (`zone`: the current
    one, given by a caller that parses many); None if unreadable.

    2025-03-01, 2025/3/1, 2025.3.1, 2025年3月1日, each optionally with 14:30[:00] or 14时30分;
    ISO text (an Excel date cell); an Excel serial number (45717 = 2025-03-01).
    """
    text = unicodedata.normalize("NFKC", text).strip()
    if not text:
        return None
    if _SERIAL.fullmatch(text):
        serial = float(text)
        if 20000 < serial < 80000:
            moment = datetime(1899, 12, 30) + timedelta(days=serial)  # noqa: DTZ001 - made aware below
            return timezone.make_aware(moment.replace(microsecond=0), zone)
        return None
    match = _DATE.fullmatch(text)
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        moment = datetime.combine(date(year, month, day), time(hour, minute, second))
    except ValueError:
        return None
    return timezone.make_aware(moment, zone)


def _title_from(content: str) -> str:
    first = re.split(r"[。！？!?；;\n]", content.strip(), maxsplit=1)[0].strip()
    if len(first) > TITLE_FROM_CONTENT:
        return first[:TITLE_FROM_CONTENT] + "…"
    return first or content.strip()[:TITLE_FROM_CONTENT]


class _Lookups:
    """Categories and units by the names people write, loaded once per check."""

    def __init__(self) -> None:
        categories = list(Category.objects.only("id", "name", "path", "parent_id", "active"))
        names = {c.pk: c.name for c in categories}
        self.category_by_name: dict[str, list[Category]] = {}
        for category in categories:
            ids = [int(p) for p in category.path.strip("/").split("/") if p]
            for label in {_key(category.name), _key("/".join(names.get(i, "") for i in ids))}:
                self.category_by_name.setdefault(label, []).append(category)
        self.category_labels = {
            c.pk: "/".join(names.get(int(p), "") for p in c.path.strip("/").split("/") if p)
            for c in categories
        }
        self.unit_by_name: dict[str, list[Unit]] = {}
        for unit in Unit.objects.only("id", "name", "short_name", "path", "active"):
            for label in {_key(unit.name), _key(unit.short_name)} - {""}:
                self.unit_by_name.setdefault(label, []).append(unit)

    def category(self, text: str) -> Category | str:
        found = self.category_by_name.get(_key(text), [])
        active = [c for c in found if c.active]
        if len(active) == 1:
            return active[0]
        if len(active) > 1:
            return _("有 %(count)d 个分类都叫这个名字（%(labels)s）：请填写带上级的分类路径。") % {
                "count": len(active),
                "labels": join_list(self.category_labels[c.pk] for c in active[:3]),
            }
        if found:
            return _("该分类已停用：请改填在用的分类，或留空。")
        return _("系统中没有这个诉求类别：请改填系统中的分类名称（见导入模板的下拉选项），或留空。")

    def unit(self, text: str) -> Unit | str:
        found = self.unit_by_name.get(_key(text), [])
        active = [u for u in found if u.active]
        if len(active) == 1:
            return active[0]
        if len(active) > 1:
            return _("有多个单位都叫这个名字：请填写单位全称。")
        if found:
            return _("该单位已停用：请改填现在负责的单位，或留空（导入后再交办）。")
        return _(
            "系统中没有这个责任单位：请填写单位全称或简称（与系统中一致），或留空（导入后再交办）。"
        )


def _already_imported(
    candidates: Sequence[tuple[int, str]],
) -> dict[tuple[int, str], LedgerImportRow]:
    wanted = sorted({(area, number) for area, number in candidates if number})
    found: dict[tuple[int, str], LedgerImportRow] = {}
    for start in range(0, len(wanted), CHUNK):
        ids = _imported_row_ids(wanted[start : start + CHUNK])
        if not ids:
            continue  # (the usual case: a query for the rows only when there are any)
        for item in LedgerImportRow.objects.filter(pk__in=ids).select_related(
            "need", "batch", "batch__user"
        ):
            found[(item.area_id, item.original_number)] = item
    return found


def _imported_row_ids(pairs: Sequence[tuple[int, str]]) -> list[int]:
    """The ids of the import rows of these (area, 原编号) pairs, through their unique index.

    On PostgreSQL a probe of the index per pair: with the area ids and the numbers as two
    lists, the planner scanned the whole table for each block of rows, including the rows this
    import has written so far (a 100,000-row import read the table 200 times as it grew)."""
    if connection.vendor != "postgresql":
        wanted = set(pairs)
        return [
            pk
            for pk, area, number in LedgerImportRow.objects.filter(
                area_id__in={area for area, _number in pairs},
                original_number__in={number for _area, number in pairs},
            )
            .exclude(original_number="")
            .values_list("pk", "area_id", "original_number")
            if (area, number) in wanted
        ]
    table = connection.ops.quote_name(LedgerImportRow._meta.db_table)
    with connection.cursor() as cursor:
        # LIMIT 1 keeps the subquery a probe per pair (the pair is unique) rather than a join
        # the planner may turn into a scan of the table.
        cursor.execute(
            f"""SELECT found.id FROM unnest(%s::bigint[], %s::text[]) AS pair(area_id, number)
            CROSS JOIN LATERAL (
                SELECT id FROM {table} AS imported
                WHERE imported.area_id = pair.area_id AND imported.original_number = pair.number
                AND imported.original_number <> ''
                LIMIT 1
            ) AS found""",  # noqa: S608
            [[area for area, _number in pairs], [number for _area, number in pairs]],
        )
        return [pk for (pk,) in cursor.fetchall()]


class _Words:
    """The fixed words of every row's 【原台账信息】, translated once per check; and the zone its
    dates are in, also looked up once."""

    def __init__(self) -> None:
        self.zone = timezone.get_current_timezone()
        self.heading = _("【原台账信息】")
        self.labels = {
            "original_number": _("原编号"),
            "unit": _("原责任单位"),
            "assigned_at": _("原交办时间"),
            "status": _("原办理状态"),
            "result": _("原答复内容"),
            "closed_at": _("原办结时间"),
            "note": _("备注"),
        }


class RowChecker:
    """Checks a file's rows one by one (`rows`), then the rows' 原编号 against earlier imports
    (`finish`): the problems of all rows in `result`. The commit writes each row as it comes,
    so no step holds every planned row."""

    def __init__(
        self, *, actor: User, file: LedgerFile, mapping: Sequence[str], default_source: str
    ) -> None:
        self.actor = actor
        self.file = file
        self.default_source = default_source
        self.resolver = _NeedAreaResolver(actor)
        self.lookups = _Lookups()
        self.words = _Words()
        self.dispatcher_over: dict[str, bool] = {}
        self.result = CheckResult()
        self.columns: dict[str, list[int]] = {}
        for index, key in enumerate(mapping):
            if key != IGNORE and key in BY_KEY:
                self.columns.setdefault(key, []).append(index)
        self.header_of = {
            key: "/".join(file.headers[i] or str(BY_KEY[key].label) for i in indexes)
            for key, indexes in self.columns.items()
        }
        self.seen: dict[tuple[int, str], int] = {}

    def rows(self) -> Iterator[PlannedRow]:
        """Every good row, checked and counted, in the file's order (also after a bad one); a
        block of rows at a time, once their 原编号 are checked against earlier imports."""
        result, header_of = self.result, self.header_of
        block: list[PlannedRow] = []
        for row in self.file.rows:
            item = _check_row(
                self.actor, row, self.columns, header_of, self.default_source, self.resolver,
                self.lookups, result, self.words, self.dispatcher_over,
            )  # fmt: skip
            if item is None:
                continue
            if item.original_number:
                place = (item.area.pk, item.original_number)
                if place in self.seen:
                    result.problems.append(
                        RowProblem(
                            row.number,
                            header_of["original_number"],
                            item.original_number,
                            _(
                                "与第 %(row)d 行的原编号相同（同一区域）：同一条诉求只能导入一次，"
                                "请删去重复的一行或改正编号。"
                            )
                            % {"row": self.seen[place]},
                        )
                    )
                    continue
                self.seen[place] = row.number
            result.count(item)
            block.append(item)
            if len(block) >= CHUNK:
                yield from self._imported_before(block)
                block = []
        yield from self._imported_before(block)

    def _imported_before(self, block: list[PlannedRow]) -> list[PlannedRow]:
        """The block's rows, after a problem for each 原编号 already imported in its area.
        (Rows of this file are never found: a 原编号 twice in one area is a problem above.)"""
        numbered = [(item.area.pk, item.original_number) for item in block if item.original_number]
        earlier = _already_imported(numbered) if numbered else {}
        for item in block:
            done = earlier.get((item.area.pk, item.original_number))
            if done is None:
                continue
            self.result.problems.append(
                RowProblem(
                    item.number,
                    self.header_of["original_number"],
                    item.original_number,
                    _(
                        "重复：原编号 %(number)s 在该区域已于 %(date)s 由 %(user)s 导入"
                        "（台账编号 %(need)s）。请删去这一行。"
                    )
                    % {
                        "number": item.original_number,
                        "date": timezone.localtime(
                            done.batch.committed_at or done.batch.created_at
                        ).strftime("%Y-%m-%d %H:%M"),
                        "user": done.batch.user.display_name or done.batch.user.username,
                        "need": done.need.number,
                    },
                )
            )
        return block

    def finish(self) -> CheckResult:
        """After `rows`: the result, every problem in row order."""
        self.result.problems.sort(key=lambda p: p.row or 0)
        return self.result


def check_rows(
    *,
    actor: User,
    file: LedgerFile,
    mapping: Sequence[str],
    default_source: str,
    keep_rows: bool = True,
) -> CheckResult:
    """Every row checked against the mapping; the problems of all rows, or the planned rows
    (only counted, without `keep_rows`: the dry run keeps a report, not the rows)."""
    checker = RowChecker(actor=actor, file=file, mapping=mapping, default_source=default_source)
    planned: list[PlannedRow] = []
    for item in checker.rows():
        if keep_rows and not checker.result.problems:
            planned.append(item)
    result = checker.finish()
    if not result.problems:
        result.rows = planned
    return result


def _texts(row: LedgerRow, columns: dict[str, list[int]]) -> dict[str, str]:
    """The text of each mapped field in the row, once (the columns of a field mapped twice
    joined with "/"): read a cell at a time, a row's twenty lookups were a tenth of its check."""
    cells, width = row.cells, len(row.cells)
    texts: dict[str, str] = {}
    for key, indexes in columns.items():
        if len(indexes) == 1:
            texts[key] = cells[indexes[0]].strip() if indexes[0] < width else ""
        else:
            parts = (cells[i].strip() for i in indexes if i < width)
            texts[key] = "/".join(part for part in parts if part)
    return texts


def _check_row(
    actor: User,
    row: LedgerRow,
    columns: dict[str, list[int]],
    header_of: dict[str, str],
    default_source: str,
    resolver: _NeedAreaResolver,
    lookups: _Lookups,
    result: CheckResult,
    words: _Words,
    dispatcher_over: dict[str, bool],
) -> PlannedRow | None:
    before = len(result.problems)
    texts = _texts(row, columns)

    def cell(key: str) -> str:
        return texts.get(key, "")

    def bad(key: str, message: str) -> None:
        result.problems.append(
            RowProblem(
                row.number,
                header_of.get(key, str(BY_KEY[key].label)),
                _mask(key, cell(key)),
                message,
            )
        )

    # 所属区域
    area: Area | None = None
    area_text = cell("area")
    if not area_text:
        bad(
            "area",
            _(
                "所属区域不能为空：请填写诉求所在的乡镇街道、村社区或网格的名称，"
                "或名称路径（如 东河镇/东河村）。"
            ),
        )
    else:
        found = resolver.resolve(area_text)
        if isinstance(found, Area):
            area = found
        else:
            bad("area", found)

    # 诉求内容 / 标题
    description = cell("description")
    if not description:
        bad("description", _("诉求内容不能为空：请填写群众反映的问题。"))
    title = cell("title") or _title_from(description)
    if len(title) > 200:
        bad(
            "title",
            _("标题最多 200 字，这里有 %(n)d 字：请删减，或留空（由诉求内容生成）。")
            % {"n": len(title)},
        )

    # 来源渠道 / 紧急程度 / 诉求类型
    source_text = _key(cell("source"))
    source = SOURCE_VALUES.get(source_text) if source_text else default_source
    if source is None:
        bad(
            "source",
            _("来源渠道无法识别：请填写 %(values)s 之一，或留空（按页面上选择的默认来源）。")
            % {"values": join_list(str(label) for _v, label in states.Source.choices)},
        )
    urgency_text = _key(cell("urgency"))
    urgency = URGENCY_VALUES.get(urgency_text) if urgency_text else Urgency.NORMAL
    if urgency is None:
        bad("urgency", _("紧急程度无法识别：请填写 一般、紧急 或 复杂，或留空（按一般）。"))
    kind_text = _key(cell("kind"))
    kind = KIND_VALUES.get(kind_text) if kind_text else DEFAULT_KIND
    if kind is None:
        bad(
            "kind",
            _("诉求类型无法识别：请填写 %(values)s 之一，或留空（按求助）。")
            % {"values": join_list(str(label) for _v, label in states.Kind.choices)},
        )

    # 诉求类别
    category: Category | None = None
    if category_text := cell("category"):
        found_category = lookups.category(category_text)
        if isinstance(found_category, Category):
            category = found_category
        else:
            bad("category", found_category)

    # 诉求人 / 联系电话 / 住址
    name = cell("requester_name")
    if len(name) > 100:
        bad("requester_name", _("诉求人最多 100 字：请删减。"))
    phone = ""
    if phone_text := cell("phone"):
        if "*" in phone_text:
            bad(
                "phone",
                _("联系电话是脱敏后的号码（含 *），无法导入：请填写完整号码，或留空。"),
            )
        else:
            try:
                phone = normalise_phone(phone_text)
            except ValidationError as error:
                bad("phone", str(error.messages[0]))
    address = cell("address")
    if len(address) > 200:
        bad("address", _("住址最多 200 字：请删减。"))

    # 登记日期 / 交办时间
    now = clock.now()
    registered_at = _moment(cell("registered_at"), "registered_at", bad, now, words.zone)
    assigned_at = _moment(cell("assigned_at"), "assigned_at", bad, now, words.zone)
    if registered_at and assigned_at and assigned_at < registered_at:
        bad("assigned_at", _("交办时间早于登记日期：请核对这两个日期。"))
    if assigned_at and not registered_at:
        # A row with only a 交办时间 was registered by then at the latest: registering it at the
        # import's time would put its registration after its assignment in the record.
        registered_at = assigned_at

    # 责任单位
    unit: Unit | None = None
    if unit_text := cell("unit"):
        found_unit = lookups.unit(unit_text)
        if isinstance(found_unit, Unit):
            unit = found_unit
        else:
            bad("unit", found_unit)

    original_number = cell("original_number")
    if len(original_number) > 100:
        bad("original_number", _("原编号最多 100 个字符：请核对这一格。"))

    if len(result.problems) > before or area is None or not source or not urgency or not kind:
        return None
    status_text = cell("status")
    closed_text = cell("closed_at")
    closed_in_file = bool(closed_text) or any(word in status_text for word in CLOSED_WORDS)
    # A row closed in the file is never assigned (its unit finished it long ago); the others are
    # assigned at the import's time, so their deadlines run from now, not from the file's date.
    dispatcher: bool | None = False
    if unit is not None and not closed_in_file:
        dispatcher = dispatcher_over.get(area.path)
        if dispatcher is None:
            dispatcher = dispatcher_over[area.path] = states.DISPATCHER in roles_over_area(
                actor, area.path
            )
    assign = bool(unit is not None and not closed_in_file and dispatcher)
    labels = words.labels
    lines = [
        (labels["original_number"], original_number),
        (labels["unit"], cell("unit") if not assign else ""),
        (labels["assigned_at"], cell("assigned_at")),
        (labels["status"], status_text),
        (labels["result"], cell("result")),
        (labels["closed_at"], closed_text),
        (labels["note"], cell("note")),
    ]
    kept = [f"{label}：{value}" for label, value in lines if value]
    full = (
        description if not kept else description + "\n\n" + words.heading + "\n" + "\n".join(kept)
    )
    requester = RequesterInput(name=name, phone=phone, address=address) if (name or phone) else None
    return PlannedRow(
        number=row.number,
        area=area,
        title=title,
        description=full,
        kind=kind,
        source=source,
        urgency=urgency,
        category=category,
        requester=requester,
        address="" if requester else address,
        registered_at=registered_at,
        unit=unit,
        assign=assign,
        assigned_at=assigned_at,
        original_number=original_number,
        closed_in_file=closed_in_file,
    )


def _moment(text: str, key: str, bad: Any, now: datetime, zone: tzinfo) -> datetime | None:
    if not text:
        return None
    moment = parse_datetime(text, zone)
    label = BY_KEY[key].label
    if moment is None:
        bad(key, _("%(label)s无法识别：请写成 2025-03-01 或 2025-03-01 14:30。") % {"label": label})
        return None
    if moment > now:
        bad(key, _("%(label)s晚于现在：请核对日期。") % {"label": label})
        return None
    if moment.date() < EARLIEST:
        bad(
            key,
            _("%(label)s早于 2000 年：多半是格式读错了，请写成 2025-03-01。") % {"label": label},
        )
        return None
    return moment


__all__ = [
    "FIELDS",
    "CheckResult",
    "PlannedRow",
    "RowChecker",
    "RowProblem",
    "check_rows",
    "parse_datetime",
]
