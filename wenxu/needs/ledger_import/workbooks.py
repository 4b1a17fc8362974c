"""The two workbooks of the import: the template to fill, and a dry run's error report.

Both written with XlsxWriter, every cell with `write_string` (a value starting with = + - @ is
text, never a formula).
"""

import io
from collections.abc import Sequence

from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.exchange.writers import is_formula_like
from wenxu.needs import states
from wenxu.needs.ledger_import.files import MAX_IMPORT_BYTES, MAX_IMPORT_ROWS
from wenxu.needs.ledger_import.rows import RowProblem
from wenxu.needs.models import Category, Urgency
from wenxu.organisations.models import Area
from wenxu.visits.places import editable_areas

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The template's columns: (header, width, required, how to fill it).
TEMPLATE_COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("原编号", 14, False),
    ("登记日期", 12, False),
    ("来源渠道", 10, False),
    ("所属区域", 30, True),
    ("诉求人", 10, False),
    ("联系电话", 15, False),
    ("住址", 24, False),
    ("诉求类别", 18, False),
    ("标题", 24, False),
    ("诉求内容", 40, True),
    ("紧急程度", 10, False),
    ("责任单位", 20, False),
    ("办理状态", 10, False),
    ("答复内容", 30, False),
    ("办结时间", 12, False),
    ("备注", 20, False),
)
LISTS_SHEET = "选项"


def _area_labels(areas: Sequence[Area]) -> list[str]:
    ids = {int(p) for area in areas for p in area.path.strip("/").split("/") if p}
    names = dict(Area.objects.filter(pk__in=ids).values_list("pk", "name"))
    return [
        "/".join(names.get(int(p), "") for p in area.path.strip("/").split("/") if p)
        for area in areas
    ]


def _category_labels() -> list[str]:
    categories = list(Category.objects.filter(active=True).only("id", "name", "path"))
    names = dict(Category.objects.values_list("pk", "name"))
    labels = []
    for category in categories:
        ids = [int(p) for p in category.path.strip("/").split("/") if p]
        labels.append("/".join(names.get(i, "") for i in ids))
    return sorted(labels)


def import_template(*, user: User) -> bytes:
    """The sheet to fill (standard headers, an example row, drop-downs for 来源渠道, 紧急程度,
    诉求类别 and 所属区域 from a hidden list sheet), and how to fill each column."""
    import xlsxwriter  # type: ignore[import-untyped]

    areas = list(editable_areas(user=user).only("id", "name", "path", "depth"))
    area_labels = _area_labels(areas)
    category_labels = _category_labels()
    sources = [str(label) for _value, label in states.Source.choices]
    urgencies = [str(label) for _value, label in Urgency.choices]

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
    required = book.add_format({"bold": True, "bg_color": "#FCE4D6", "border": 1})
    text = book.add_format({"num_format": "@"})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})

    sheet = book.add_worksheet(_("台账"))
    index = {header: col for col, (header, _w, _r) in enumerate(TEMPLATE_COLUMNS)}
    for col, (header, width, must) in enumerate(TEMPLATE_COLUMNS):
        sheet.write_string(0, col, header + ("*" if must else ""), required if must else head)
        sheet.set_column(col, col, width, text)
    sheet.freeze_panes(1, 0)
    deepest = max(range(len(areas)), key=lambda i: areas[i].depth, default=None)
    example = {
        "原编号": "DH-2025-001",
        "登记日期": "2025-03-01",
        "来源渠道": str(states.Source.VISIT.label),
        "所属区域": area_labels[deepest] if deepest is not None else "东河镇/东河村",
        "诉求人": "张三",
        "联系电话": "13812345678",
        "住址": "东河村东街12号",
        "诉求类别": max(category_labels, key=lambda label: label.count("/"), default=""),
        "标题": "村口路灯不亮",
        "诉求内容": "东河村村口三盏路灯坏了一个多月，晚上出行不便。",
        "紧急程度": str(Urgency.NORMAL.label),
        "责任单位": "",
        "办理状态": "",
        "答复内容": "",
        "办结时间": "",
        "备注": _("示例行：导入前请删除"),
    }
    for header, value in example.items():
        sheet.write_string(1, index[header], value)

    lists = book.add_worksheet(LISTS_SHEET)
    columns = (
        (_("来源渠道"), sources),
        (_("紧急程度"), urgencies),
        (_("诉求类别"), category_labels),
        (_("所属区域"), area_labels),
    )
    for col, (title, values) in enumerate(columns):
        lists.write_string(0, col, title)
        for row, value in enumerate(values, start=1):
            lists.write_string(row, col, value)
    lists.hide()
    for col, (header, values) in enumerate(
        zip(
            ("来源渠道", "紧急程度", "诉求类别", "所属区域"),
            (sources, urgencies, category_labels, area_labels),
            strict=True,
        )
    ):
        if not values:
            continue
        letter = "ABCD"[col]
        sheet.data_validation(
            1,
            index[header],
            MAX_IMPORT_ROWS,
            index[header],
            {
                "validate": "list",
                "source": f"='{LISTS_SHEET}'!${letter}$2:${letter}${len(values) + 1}",
                # 所属区域 and 诉求类别 may also be written as a shorter name: warn, not stop.
                "error_type": "stop" if header in ("来源渠道", "紧急程度") else "information",
                "error_title": header,
                "error_message": _("请从下拉列表中选择。"),
            },
        )

    guide = book.add_worksheet(_("填写说明"))
    guide.set_column(0, 0, 14)
    guide.set_column(1, 1, 90, wrap)
    notes = (
        (
            _("所属区域*"),
            _(
                "必填。乡镇街道、村社区或网格的名称，或名称路径（如 东河镇/东河村）；"
                "只能填您负责的区域（见下拉列表）。文件里分成“街道”“社区”“网格”几列也可以。"
            ),
        ),
        (_("诉求内容*"), _("必填。群众反映的问题。")),
        (_("标题"), _("可留空：取诉求内容的第一句。")),
        (_("原编号"), _("原台账中的编号，记入诉求内容；同一区域同一原编号只能导入一次。")),
        (_("登记日期"), _("如 2025-03-01 或 2025-03-01 14:30；留空按导入时间登记。")),
        (
            _("来源渠道"),
            _("走访、电话、来访、网上、热线、网格巡查、望闻问切；留空按导入页面上选的默认来源。"),
        ),
        (
            _("责任单位"),
            _(
                "系统中的单位全称或简称。导入人是该区域的调度员时，导入后即交办给该单位；"
                "否则记入诉求内容，由调度员交办。"
            ),
        ),
        (
            _("办理状态、答复内容、办结时间"),
            _("记入诉求内容备查；导入的诉求按流程办理、答复和回访。"),
        ),
        (
            _("整个文件"),
            _(
                "一次导入：只要有一行有误就一行也不导入，页面列出每行的错误；"
                "改好后重新上传。一次最多 %(rows)d 行、%(mb)d MB。"
            )
            % {"rows": MAX_IMPORT_ROWS, "mb": MAX_IMPORT_BYTES // 1024 // 1024},
        ),
    )
    guide.write_string(0, 0, _("列"), head)
    guide.write_string(0, 1, _("填写要求"), head)
    for row, (column, note) in enumerate(notes, start=1):
        guide.write_string(row, 0, str(column), wrap)
        guide.write_string(row, 1, str(note), wrap)
    book.close()
    return buffer.getvalue()


def error_report(*, problems: Sequence[RowProblem], file_name: str) -> bytes:
    """A dry run's problems, one line each: row, column, value (personal data masked), reason."""
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    quoted = book.add_format({"text_wrap": True, "valign": "top", "quote_prefix": True})
    sheet = book.add_worksheet(_("错误报告"))
    sheet.write_string(0, 0, _("文件：%(name)s") % {"name": file_name})
    for col, (title, width) in enumerate(
        ((_("行号"), 8), (_("列"), 16), (_("内容"), 30), (_("问题与改法"), 80))
    ):
        sheet.write_string(1, col, title, head)
        sheet.set_column(col, col, width, wrap)
    sheet.freeze_panes(2, 0)
    for row, problem in enumerate(problems, start=2):
        if problem.row is not None:
            sheet.write_number(row, 0, problem.row)
        for col, text in ((1, problem.column), (2, problem.value), (3, problem.message)):
            # the cell's text is the file's: Excel's quote prefix keeps "=…" from running
            sheet.write_string(row, col, text, quoted if is_formula_like(text) else wrap)
    book.close()
    return buffer.getvalue()
