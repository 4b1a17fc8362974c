"""The monthly report as an Excel workbook (XlsxWriter): the page's content, sheet by sheet.

Numbers are real number cells; rates are percentage cells. On 概况 each rate is a formula over
its numerator and denominator (=ROUND(分子/分母, 4), the API's four decimals) with the value
cached, so the workbook shows the numbers without recalculating and still says how they are
made. Every text goes through `write_string` (never `write`, which turns "=…" into a formula),
and a text starting like a formula gets Excel's quote prefix.
"""

import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import xlsxwriter  # type: ignore[import-untyped]
from django.utils.translation import gettext as _
from xlsxwriter.utility import xl_rowcol_to_cell  # type: ignore[import-untyped]

from wenxu.insight.report import Report

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TITLE_ROWS = 2  # the title and the scope line


def sheet_names() -> list[str]:
    return [_("概况"), _("单位排名"), _("超期清单"), _("类别分布"), _("马上就办"), _("专题进展")]


class _Book:
    def __init__(self, target: io.BytesIO, report: Report) -> None:
        self.book = xlsxwriter.Workbook(target, {"in_memory": True})
        self.report = report
        base = {"font_size": 10, "valign": "vcenter", "border": 1}
        self.styles: dict[str, dict[str, Any]] = {
            "title": {"bold": True, "font_size": 14, "valign": "vcenter"},
            "subtitle": {"font_size": 10, "font_color": "#555555"},
            "section": {"bold": True, "font_size": 11},
            "header": {
                **base,
                "bold": True,
                "bg_color": "#F2DCDB",
                "text_wrap": True,
                "align": "center",
            },
            "text": base,
            "wrap": {**base, "text_wrap": True},
            "int": {**base, "num_format": "0", "align": "right"},
            "dec": {**base, "num_format": "0.##", "align": "right"},
            "pct": {**base, "num_format": "0.0%", "align": "right"},
            "pp": {**base, "num_format": "+0.0;-0.0;0.0", "align": "right"},
            "delta": {**base, "num_format": "+0;-0;0", "align": "right"},
            "dash": {**base, "align": "right", "font_color": "#777777"},
            "datetime": {**base, "num_format": "yyyy-mm-dd hh:mm", "align": "left"},
            "flag_text": {**base, "bg_color": "#FDE2E1", "font_color": "#9C0006"},
            "flag_int": {**base, "bg_color": "#FDE2E1", "num_format": "0"},
            "flag_pct": {**base, "bg_color": "#FDE2E1", "num_format": "0.0%"},
            "flag_dash": {**base, "bg_color": "#FDE2E1", "align": "right"},
            "note": {"font_size": 10, "font_color": "#555555", "text_wrap": True},
            "plain": {"font_size": 11, "text_wrap": True, "valign": "top"},
        }
        self.fmt: dict[str, Any] = {
            name: self.book.add_format(props) for name, props in self.styles.items()
        }
        self._quoted: dict[str, Any] = {}

    # ---- cells

    def style(self, value: str, style: str) -> Any:
        """The format for a text cell: with Excel's quote prefix when it starts like a formula."""
        if not value.startswith(_FORMULA_STARTS):
            return self.fmt[style]
        if style not in self._quoted:
            self._quoted[style] = self.book.add_format({**self.styles[style], "quote_prefix": True})
        return self._quoted[style]

    def text(self, ws: Any, row: int, col: int, value: str, style: str = "text") -> None:
        ws.write_string(row, col, value, self.style(value, style))

    def merged(self, ws: Any, row: int, first: int, last: int, value: str, style: str) -> None:
        """`value` across columns `first`…`last`: merge_range writes through write(), which
        would turn "=…" into a formula, so the text goes in with write_string afterwards."""
        fmt = self.style(value, style)
        ws.merge_range(row, first, row, last, "", fmt)
        ws.write_string(row, first, value, fmt)

    def rate(self, ws: Any, row: int, col: int, value: Decimal | None, flag: bool = False) -> None:
        if value is None:
            ws.write_string(row, col, "—", self.fmt["flag_dash" if flag else "dash"])
        else:
            ws.write_number(row, col, float(value), self.fmt["flag_pct" if flag else "pct"])

    def head(self, ws: Any, columns: list[tuple[str, int]], *, row: int = TITLE_ROWS) -> None:
        last = len(columns) - 1
        self.merged(ws, 0, 0, last, self.report.title, "title")
        self.merged(ws, 1, 0, last, self.subtitle(), "subtitle")
        ws.set_row(0, 26)
        self.columns(ws, columns, row)
        ws.freeze_panes(row + 1, 0)
        ws.repeat_rows(row)
        ws.set_paper(9)  # A4
        ws.fit_to_pages(1, 0)
        if len(columns) > 7:
            ws.set_landscape()

    def columns(self, ws: Any, columns: list[tuple[str, int]], row: int) -> None:
        for col, (_label, width) in enumerate(columns):
            ws.set_column(col, col, width)
        self.headers(ws, [label for label, _width in columns], row)

    def headers(self, ws: Any, labels: list[str], row: int) -> None:
        for col, label in enumerate(labels):
            ws.write_string(row, col, label, self.fmt["header"])

    def subtitle(self) -> str:
        r = self.report
        return _("统计范围：%(scope)s；统计期间：%(period)s；生成时间：%(at)s") % {
            "scope": r.scope,
            "period": r.period_text,
            "at": f"{r.generated_at:%Y-%m-%d %H:%M}",
        }

    # ---- sheets

    def overview(self) -> None:
        r = self.report
        ws = self.book.add_worksheet(_("概况"))
        self.head(
            ws,
            [
                (_("指标"), 12),
                (_("本月"), 9),
                (_("分子"), 8),
                (_("分母"), 8),
                (_("上月"), 9),
                (_("上月分子"), 8),
                (_("上月分母"), 8),
                (_("变化（百分点）"), 10),
                (_("计算公式"), 48),
            ],
        )
        row = TITLE_ROWS + 1
        for line in r.rates:
            rate, prev = line.rate, line.previous
            self.text(ws, row, 0, str(rate.label))
            num, den = xl_rowcol_to_cell(row, 2), xl_rowcol_to_cell(row, 3)
            pnum, pden = xl_rowcol_to_cell(row, 5), xl_rowcol_to_cell(row, 6)
            now_cell, prev_cell = xl_rowcol_to_cell(row, 1), xl_rowcol_to_cell(row, 4)
            ws.write_formula(
                row,
                1,
                f'=IF({den}>0,ROUND({num}/{den},4),"—")',
                self.fmt["pct"],
                float(rate.value) if rate.value is not None else "—",
            )
            ws.write_number(row, 2, float(rate.numerator), self.fmt["dec"])
            ws.write_number(row, 3, rate.denominator, self.fmt["int"])
            ws.write_formula(
                row,
                4,
                f'=IF({pden}>0,ROUND({pnum}/{pden},4),"—")',
                self.fmt["pct"],
                float(prev.value) if prev.value is not None else "—",
            )
            ws.write_number(row, 5, float(prev.numerator), self.fmt["dec"])
            ws.write_number(row, 6, prev.denominator, self.fmt["int"])
            change = line.change
            ws.write_formula(
                row,
                7,
                f"=IF(AND(ISNUMBER({now_cell}),ISNUMBER({prev_cell})),"
                f'ROUND(({now_cell}-{prev_cell})*100,1),"—")',
                self.fmt["pp"],
                float(change) if change is not None else "—",
            )
            self.text(ws, row, 8, str(rate.formula), "wrap")
            row += 1

        row += 1
        ws.write_string(row, 0, _("主要计数"), self.fmt["section"])
        row += 1
        self.headers(ws, [_("项目"), _("本月"), _("上月"), _("增减")], row)
        row += 1
        for count in r.counts:
            self.text(ws, row, 0, count.label)
            ws.write_number(row, 1, count.value, self.fmt["int"])
            ws.write_number(row, 2, count.previous, self.fmt["int"])
            b, c = xl_rowcol_to_cell(row, 1), xl_rowcol_to_cell(row, 2)
            ws.write_formula(row, 3, f"={b}-{c}", self.fmt["delta"], count.change)
            row += 1
        row += 1
        for note in [*r.notes, _("上月为 %(month)s。") % {"month": r.month.previous.label}]:
            self.merged(ws, row, 0, 8, note, "note")
            row += 1

    def units(self) -> None:
        r = self.report
        ws = self.book.add_worksheet(_("单位排名"))
        columns = [
            (_("名次"), 6),
            (_("责任单位"), 22),
            (_("交办"), 8),
            (_("到期应办结"), 10),
            (_("响应率"), 9),
            (_("按期办结率"), 10),
            (_("解决率"), 9),
            (_("满意率"), 9),
            (_("超期未答复"), 10),
            (_("提示"), 22),
        ]
        self.head(ws, columns)
        row = TITLE_ROWS + 1
        for u in r.units:
            flag = u.flagged
            ws.write_number(row, 0, u.rank or 0, self.fmt["flag_int" if flag else "int"])
            self.text(ws, row, 1, u.name, "flag_text" if flag else "text")
            ws.write_number(row, 2, u.assigned, self.fmt["flag_int" if flag else "int"])
            ws.write_number(row, 3, u.due, self.fmt["flag_int" if flag else "int"])
            for col, rate in enumerate(u.cells(), start=4):
                self.rate(ws, row, col, rate.value, flag)
            ws.write_number(row, 8, u.overdue, self.fmt["flag_int" if flag else "int"])
            hint = (
                _("按期办结率低于 %(threshold)s") % {"threshold": r.threshold_percent}
                if flag
                else ""
            )
            self.text(ws, row, 9, hint, "flag_text" if flag else "text")
            row += 1
        if not r.units:
            self.merged(ws, row, 0, 9, _("本月没有达到排名条件的单位。"), "note")
            row += 1
        row += 1
        self.merged(
            ws,
            row,
            0,
            9,
            _("到期应办结不足 %(n)s 件的单位另列如下，暂不排名；按期办结率低于 %(t)s 的单位标红。")
            % {"n": r.min_due, "t": r.threshold_percent},
            "note",
        )
        row += 1
        ws.write_string(row, 0, _("件数较少，暂不排名"), self.fmt["section"])
        row += 1
        self.headers(ws, ["", *(label for label, _width in columns[1:9])], row)
        row += 1
        for u in r.units_small:
            ws.write_string(row, 0, "", self.fmt["text"])
            self.text(ws, row, 1, u.name)
            ws.write_number(row, 2, u.assigned, self.fmt["int"])
            ws.write_number(row, 3, u.due, self.fmt["int"])
            for col, rate in enumerate(u.cells(), start=4):
                self.rate(ws, row, col, rate.value)
            ws.write_number(row, 8, u.overdue, self.fmt["int"])
            row += 1
        if not r.units_small:
            self.merged(ws, row, 0, 8, _("（无）"), "note")

    def overdue(self) -> None:
        r = self.report
        ws = self.book.add_worksheet(_("超期清单"))
        self.head(
            ws,
            [
                (_("序号"), 6),
                (_("编号"), 16),
                (_("诉求"), 30),
                (_("所属区域"), 20),
                (_("责任单位"), 16),
                (_("诉求类别"), 12),
                (_("诉求人"), 8),
                (_("联系电话（脱敏）"), 14),
                (_("办结时限"), 16),
                (_("答复时间"), 16),
                (_("情形"), 14),
                (_("超期天数"), 9),
            ],
        )
        row = TITLE_ROWS + 1
        for i, line in enumerate(r.overdue, start=1):
            ws.write_number(row, 0, i, self.fmt["int"])
            self.text(ws, row, 1, line.number)
            self.text(ws, row, 2, line.title, "wrap")
            self.text(ws, row, 3, line.area)
            self.text(ws, row, 4, line.unit)
            self.text(ws, row, 5, line.category)
            self.text(ws, row, 6, line.requester)
            self.text(ws, row, 7, line.phone)
            ws.write_datetime(row, 8, _naive(line.resolve_due), self.fmt["datetime"])
            if line.replied_at is not None:
                ws.write_datetime(row, 9, _naive(line.replied_at), self.fmt["datetime"])
            else:
                ws.write_string(row, 9, "", self.fmt["text"])
            self.text(ws, row, 10, line.situation)
            ws.write_number(row, 11, line.days, self.fmt["int"])
            row += 1
        row += 1
        self.merged(ws, row, 0, 11, overdue_note(r), "note")

    def categories(self) -> None:
        r = self.report
        ws = self.book.add_worksheet(_("类别分布"))
        self.head(ws, [(_("名次"), 6), (_("诉求类别"), 28), (_("登记件数"), 10), (_("占比"), 9)])
        row = TITLE_ROWS + 1
        for i, line in enumerate(r.categories, start=1):
            ws.write_number(row, 0, i, self.fmt["int"])
            self.text(ws, row, 1, line.name)
            ws.write_number(row, 2, line.count, self.fmt["int"])
            self.rate(ws, row, 3, line.share)
            row += 1
        ws.write_string(row, 0, "", self.fmt["text"])
        self.text(ws, row, 1, _("合计"))
        ws.write_number(row, 2, r.registered, self.fmt["int"])
        self.rate(ws, row, 3, Decimal(1) if r.registered else None)

    def spot(self) -> None:
        r = self.report
        ws = self.book.add_worksheet(_("马上就办"))
        self.head(
            ws,
            [(_("区域"), 24), (_("登记件数"), 10), (_("马上就办"), 10), (_("马上就办占比"), 12)],
        )
        row = TITLE_ROWS + 1
        for line in [*r.spot, r.spot_total]:
            self.text(ws, row, 0, line.name)
            ws.write_number(row, 1, line.total, self.fmt["int"])
            ws.write_number(row, 2, line.count, self.fmt["int"])
            b, c = xl_rowcol_to_cell(row, 1), xl_rowcol_to_cell(row, 2)
            ws.write_formula(
                row,
                3,
                f'=IF({b}>0,ROUND({c}/{b},4),"—")',
                self.fmt["pct"],
                float(line.share) if line.share is not None else "—",
            )
            row += 1
        row += 1
        self.merged(ws, row, 0, 3, _("马上就办占比 = 马上就办件数 ÷ 登记件数。"), "note")

    def topics(self) -> None:
        r = self.report
        ws = self.book.add_worksheet(_("专题进展"))
        self.head(
            ws,
            [
                (_("专题"), 40),
                (_("状态"), 10),
                (_("牵头单位"), 16),
                (_("关联诉求"), 10),
                (_("措施完成"), 10),
                (_("措施总数"), 10),
                (_("进度（%）"), 10),
                (_("本月完成的节点"), 40),
            ],
        )
        row = TITLE_ROWS + 1
        for line in r.topics:
            self.text(ws, row, 0, line.title)
            self.text(ws, row, 1, line.status)
            self.text(ws, row, 2, line.owner)
            ws.write_number(row, 3, line.needs, self.fmt["int"])
            ws.write_number(row, 4, line.measures_done, self.fmt["int"])
            ws.write_number(row, 5, line.measures_total, self.fmt["int"])
            ws.write_number(row, 6, line.progress, self.fmt["int"])
            self.text(ws, row, 7, "；".join(line.milestones))
            row += 1
        row += 1
        self.merged(ws, row, 0, 7, topics_text(r), "note")


def overdue_note(report: Report) -> str:
    text = _(
        "超期清单：月末（%(end)s 24:00）已过办结时限仍未答复的诉求，以及本月内超过办结时限才答复的"
        "诉求，共 %(n)s 件；按现行办结时限（含已批准的延期）判断。诉求人姓名、电话已脱敏。"
    ) % {"end": report.month.last_day.isoformat(), "n": report.overdue_total}
    if report.unit is not None:
        text += _("只列该单位（含下级）牵头办理的诉求，与单位排名的口径一致。")
    if report.overdue_total > len(report.overdue):
        text += _("只列超期最久的 %(n)s 件，完整清单请在台账中筛选导出。") % {
            "n": len(report.overdue)
        }
    return text


def topics_text(report: Report) -> str:
    if not report.topics:
        return _("本月范围内没有进行中的专题（举一反三）。")
    return _(
        "本月进行过的专题（举一反三）：月内在办或月内办结的专题，按范围和责任单位（牵头或承担措施）"
        "筛选；进度为已完成节点的最高百分比。"
    )


def _naive(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None)


def report_workbook(report: Report) -> bytes:
    target = io.BytesIO()
    book = _Book(target, report)
    book.overview()
    book.units()
    book.overdue()
    book.categories()
    book.spot()
    book.topics()
    book.book.close()
    return target.getvalue()
