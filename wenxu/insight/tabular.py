"""Reading analysts' files (.csv or .xlsx) for `wenxu hot_topics` and `wenxu router_eval`.

Unlike the ledger import (which takes uploads from the web and limits them), these are files an
operator points a command at. CSV in UTF-8 (with or without BOM) or GB18030 (which covers GBK),
decoded whole (the encoding is known only once every byte decodes) and parsed row by row; .xlsx
through openpyxl in read-only mode, row by row, formulas as their cached values. The header is
the first row.
"""

import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from django.utils.translation import gettext as _


class TableError(Exception):
    """The file cannot be read as asked; the message says why and what to do."""


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[list[str]]

    def column(self, name: str) -> int:
        try:
            return self.headers.index(name)
        except ValueError:
            raise TableError(
                _("文件中没有“%(name)s”列。现有的列：%(columns)s")
                % {"name": name, "columns": "、".join(self.headers)}
            ) from None

    def columns(self, names: Sequence[str]) -> list[int]:
        return [self.column(name) for name in names]


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _csv_rows(path: Path) -> tuple[list[str], Iterator[list[str]]]:
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte sequence it is given in practice
        raise TableError(_("无法识别文件编码，请另存为 UTF-8 编码的 CSV。"))
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise TableError(_("文件是空的。"))
    return [_cell(h) for h in header], ([_cell(c) for c in row] for row in reader if any(row))


def _xlsx_rows(path: Path) -> tuple[list[str], Iterator[list[str]]]:
    from openpyxl import load_workbook  # type: ignore[import-untyped]

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as error:
        raise TableError(_("无法打开 Excel 文件：%(error)s") % {"error": error}) from error
    sheet = book.worksheets[0]
    rows = sheet.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        book.close()
        raise TableError(_("文件是空的。"))

    def body() -> Iterator[list[str]]:
        try:
            for row in rows:
                cells = [_cell(c) for c in row]
                if any(cells):
                    yield cells
        finally:
            book.close()

    return [_cell(h) for h in header], body()


def read_table(path: str | Path) -> Table:
    path = Path(path)
    if not path.is_file():
        raise TableError(_("找不到文件：%(path)s") % {"path": path})
    suffix = path.suffix.lower()
    if suffix == ".csv":
        headers, rows = _csv_rows(path)
    elif suffix == ".xlsx":
        headers, rows = _xlsx_rows(path)
    else:
        raise TableError(_("只支持 .csv 和 .xlsx 文件。"))
    return Table(headers=headers, rows=rows)
