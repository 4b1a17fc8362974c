"""Writing ledger rows as XLSX (XlsxWriter, constant memory) or CSV (UTF-8 with BOM).

Formula injection (CSV/DDE injection): a cell whose text starts with = + - @, a tab or a
carriage return could run as a formula when the file is opened. We never let it:

- XLSX: every text goes through `write_string` (never `write`, which turns "=…" into a
  formula), and such a text gets Excel's own quote prefix (the `'` Excel shows in the formula
  bar for text typed as `'=1+1`): the cell displays and stores exactly what the resident said,
  stays text when someone edits it, and reads back as the same string.
- CSV has no cell types, so the text itself is prefixed with an apostrophe `'` (OWASP's
  advice): Excel and LibreOffice show `'=1+1` and evaluate nothing.

Excel holds 1,048,576 rows per sheet; past that (minus the title and header rows) the rows go
on in a new sheet with the same title and header.
"""

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime
from typing import IO, Any

import xlsxwriter  # type: ignore[import-untyped]

from wenxu.exchange.columns import DATE, DATETIME, LONG, NUMBER, Column
from wenxu.exchange.ledger import Value

EXCEL_MAX_ROWS = 1_048_576
TITLE_ROWS = 2  # the title (scope) and the conditions (period and filters)
HEADER_ROW = TITLE_ROWS
ROWS_PER_SHEET = EXCEL_MAX_ROWS - TITLE_ROWS - 1  # data rows that fit under title and header
PROGRESS_EVERY = 1000
CSV_FLUSH_ROWS = 500

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_ESCAPE = "'"


def is_formula_like(text: str) -> bool:
    return text.startswith(_FORMULA_STARTS)


def csv_safe(text: str) -> str:
    return CSV_ESCAPE + text if is_formula_like(text) else text


def _sheet_name(index: int, base: str) -> str:
    return base if index == 0 else f"{base} ({index + 1})"


def write_xlsx(
    target: str | IO[bytes],
    *,
    rows: Iterable[list[Value]],
    columns: list[Column],
    title: str,
    subtitle: str,
    sheet_name: str = "台账",
    rows_per_sheet: int = ROWS_PER_SHEET,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the workbook; return the number of data rows. Memory stays flat: constant_memory
    mode writes each row to a temporary file as soon as the next one starts."""
    if rows_per_sheet < 1:
        raise ValueError("rows_per_sheet must be positive")
    book = xlsxwriter.Workbook(target, {"constant_memory": True, "in_memory": False})
    base = {"valign": "top", "font_size": 10}
    fmt: dict[str, Any] = {
        "title": book.add_format({"bold": True, "font_size": 14, "valign": "vcenter"}),
        "subtitle": book.add_format(
            {"font_size": 10, "font_color": "#555555", "text_wrap": True, "valign": "top"}
        ),
        "header": book.add_format(
            {
                "bold": True,
                "bg_color": "#F2DCDB",
                "border": 1,
                "text_wrap": True,
                "align": "center",
                "valign": "vcenter",
            }
        ),
        "text": book.add_format(base),
        "text_quoted": book.add_format({**base, "quote_prefix": True}),
        "long": book.add_format({**base, "text_wrap": True}),
        "long_quoted": book.add_format({**base, "text_wrap": True, "quote_prefix": True}),
        "number": book.add_format({**base, "align": "center"}),
        DATE: book.add_format({**base, "num_format": "yyyy-mm-dd", "align": "left"}),
        DATETIME: book.add_format({**base, "num_format": "yyyy-mm-dd hh:mm", "align": "left"}),
    }
    last_col = max(len(columns) - 1, 0)
    sheet: Any = None
    sheet_index = -1
    row_in_sheet = rows_per_sheet  # forces a first sheet
    total = 0

    def new_sheet() -> Any:
        nonlocal sheet_index
        sheet_index += 1
        ws = book.add_worksheet(_sheet_name(sheet_index, sheet_name))
        for col, column in enumerate(columns):
            ws.set_column(col, col, column.width)
        ws.set_row(0, 24)
        ws.set_row(1, 30)
        if last_col:
            ws.merge_range(0, 0, 0, last_col, title, fmt["title"])
            ws.merge_range(1, 0, 1, last_col, subtitle, fmt["subtitle"])
        else:
            ws.write_string(0, 0, title, fmt["title"])
            ws.write_string(1, 0, subtitle, fmt["subtitle"])
        for col, column in enumerate(columns):
            ws.write_string(HEADER_ROW, col, column.label, fmt["header"])
        ws.freeze_panes(HEADER_ROW + 1, 0)
        ws.repeat_rows(HEADER_ROW)
        ws.autofilter(HEADER_ROW, 0, HEADER_ROW, last_col)
        return ws

    write = []  # per column, the cell writer of the current sheet (no per-cell dispatch)
    for values in rows:
        if row_in_sheet >= rows_per_sheet:
            sheet = new_sheet()
            write = [_cell_writer(sheet, column.kind, fmt) for column in columns]
            row_in_sheet = 0
        row = HEADER_ROW + 1 + row_in_sheet
        for col, value in enumerate(values):
            if value is not None and value != "":  # blank: constant_memory writes nothing
                write[col](row, col, value)
        row_in_sheet += 1
        total += 1
        if progress is not None and total % PROGRESS_EVERY == 0:
            progress(total)
    if sheet is None:
        new_sheet()  # an empty export still says what it is
    book.close()
    if progress is not None:
        progress(total)
    return total


CellWriter = Callable[[int, int, Value], None]


def _cell_writer(sheet: Any, kind: str, fmt: dict[str, Any]) -> CellWriter:
    """How a column's cells are written: the writer and format of its kind chosen once, not per
    cell; any value of an unexpected type takes the general way (`_write_cell`)."""
    write_string, write_datetime = sheet.write_string, sheet.write_datetime
    if kind in (DATE, DATETIME):
        style, expected = fmt[kind], (date if kind == DATE else datetime)

        def moment(row: int, col: int, value: Value) -> None:
            if type(value) is expected:
                write_datetime(row, col, value, style)
            else:
                _write_cell(sheet, row, col, value, kind, fmt)

        return moment
    if kind == NUMBER:
        return lambda row, col, value: _write_cell(sheet, row, col, value, kind, fmt)
    plain = fmt["long" if kind == LONG else "text"]
    quoted = fmt["long_quoted" if kind == LONG else "text_quoted"]

    def text(row: int, col: int, value: Value) -> None:
        if type(value) is str:
            write_string(row, col, value, quoted if value.startswith(_FORMULA_STARTS) else plain)
        else:
            _write_cell(sheet, row, col, value, kind, fmt)

    return text


def _write_cell(
    sheet: Any, row: int, col: int, value: Value, kind: str, fmt: dict[str, Any]
) -> None:
    if value is None or value == "":
        return  # blank: constant_memory writes nothing for it
    if isinstance(value, datetime):
        sheet.write_datetime(row, col, value, fmt[DATETIME])
    elif isinstance(value, date):
        sheet.write_datetime(row, col, value, fmt[DATE])
    elif isinstance(value, int):
        sheet.write_number(row, col, value, fmt["number"] if kind == NUMBER else fmt["text"])
    else:
        text = str(value)
        style = "long" if kind == LONG else "text"
        if is_formula_like(text):
            style += "_quoted"
        sheet.write_string(row, col, text, fmt[style])


def _csv_text(value: Value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int):
        return str(value)
    return csv_safe(str(value))


def iter_csv(
    rows: Iterable[list[Value]],
    *,
    columns: list[Column],
    progress: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The CSV as UTF-8 chunks: a BOM (so Excel reads the Chinese right), the header, the rows.

    Header first, no title rows: a CSV is read by programs as much as by people.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([csv_safe(column.label) for column in columns])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    total = 0
    for values in rows:
        writer.writerow([_csv_text(value) for value in values])
        total += 1
        if total % CSV_FLUSH_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
        if progress is not None and total % PROGRESS_EVERY == 0:
            progress(total)
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")
    if progress is not None:
        progress(total)


def write_csv(
    target: IO[bytes],
    *,
    rows: Iterable[list[Value]],
    columns: list[Column],
    progress: Callable[[int], None] | None = None,
) -> None:
    for chunk in iter_csv(rows, columns=columns, progress=progress):
        target.write(chunk)
