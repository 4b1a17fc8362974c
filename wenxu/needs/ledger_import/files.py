"""Reading a ledger file: .xlsx or .csv into the header and rows of cell texts.

The file checks (size, format, zip bomb, encoding, XML entity expansion through openpyxl's
defusedxml, formulas read as their cached values) are the place import's
(`wenxu.visits.place_files`, ADR 0010); this module only finds the header row, which here is
free-form (the columns are mapped afterwards), and keeps every column.
"""

import base64
import hashlib
import json
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from wenxu.needs.ledger_import.fields import field_for_header
from wenxu.visits import place_files
from wenxu.visits.place_files import PlaceImportRejected

# A ledger is larger than a list of places: a year of a district's needs (issue #10). A CSV of
# 100,000 needs is about 36 MB; an .xlsx that large meets the reader's limits on unpacked text
# first (`place_files.MAX_SHARED_STRINGS_BYTES`), and says so.
MAX_IMPORT_BYTES = 64 * 1024 * 1024
MAX_IMPORT_ROWS = 100_000
# Rows read (blank ones included) before a sheet counts as malformed.
MAX_SCANNED_ROWS = 2 * MAX_IMPORT_ROWS
MAX_COLUMNS = place_files.MAX_COLUMNS
HEADER_SEARCH_ROWS = place_files.HEADER_SEARCH_ROWS


class LedgerFileRejected(Exception):
    """The file as a whole cannot be imported; `message` says why and what to do."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class LedgerRow:
    """A data row: its number in the sheet and the text of every column."""

    number: int
    cells: list[str]

    def cell(self, index: int) -> str:
        return self.cells[index] if index < len(self.cells) else ""


# The first rows, kept as they are for the mapping page's samples; all rows are kept packed.
SAMPLE_ROWS = 50


# (One encoder: `json.dumps` with options makes a new one at each call.)
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_LINES_PER_BLOCK = 256


class _Packer:
    """Rows as JSON lines, zlib-compressed as they come: a 100,000-row ledger is a few MB in the
    batch (and in memory) instead of a hundred MB of JSON with every character escaped. Lines
    are compressed a block at a time (a call a line cost as much as the compression)."""

    def __init__(self) -> None:
        self._zip = zlib.compressobj(6)
        self._parts: list[bytes] = []
        self._lines: list[str] = []

    def add(self, number: int, cells: list[str]) -> None:
        self._lines.append(_LINE.encode([number, cells]))
        if len(self._lines) >= _LINES_PER_BLOCK:
            self._compress()

    def _compress(self) -> None:
        if self._lines:
            block = "\n".join(self._lines) + "\n"
            self._parts.append(self._zip.compress(block.encode()))
            self._lines = []

    def packed(self) -> str:
        self._compress()
        self._parts.append(self._zip.flush())
        return base64.b64encode(b"".join(self._parts)).decode("ascii")


def _unpacked(packed: str) -> Iterator[LedgerRow]:
    unzip = zlib.decompressobj()
    data = base64.b64decode(packed)
    rest = b""
    for start in range(0, len(data), 1 << 16):
        rest += unzip.decompress(data[start : start + (1 << 16)])
        *lines, rest = rest.split(b"\n")
        for line in lines:
            number, cells = json.loads(line)
            yield LedgerRow(int(number), [str(c) for c in cells])
    rest += unzip.flush()
    for line in rest.split(b"\n"):
        if line:
            number, cells = json.loads(line)
            yield LedgerRow(int(number), [str(c) for c in cells])


@dataclass(frozen=True)
class LedgerFile:
    """The header and the data rows of a file; `rows` reads them again at each use, one by one
    (from the packed form the batch keeps), so no step holds every row as objects."""

    name: str
    sha256: str
    headers: list[str]
    header_row: int
    row_count: int
    packed: str  # every data row: `_Packer`
    sample: list[LedgerRow]  # the first rows

    @property
    def rows(self) -> Iterator[LedgerRow]:
        return _unpacked(self.packed)

    def to_json(self) -> dict[str, Any]:
        return {
            "headers": self.headers,
            "header_row": self.header_row,
            "rows": [[row.number, row.cells] for row in self.sample],  # the mapping page's
            "row_count": self.row_count,
            "packed": self.packed,
        }

    @classmethod
    def from_json(cls, *, name: str, sha256: str, data: dict[str, Any]) -> "LedgerFile":
        sample = [
            LedgerRow(int(number), [str(c) for c in cells])
            for number, cells in data.get("rows", [])
        ]
        packed = data.get("packed")
        if packed is None:  # a batch uploaded before rows were packed: all its rows are here
            packer = _Packer()
            for row in sample:
                packer.add(row.number, row.cells)
            packed = packer.packed()
        return cls(
            name=name,
            sha256=sha256,
            headers=[str(h) for h in data.get("headers", [])],
            header_row=int(data.get("header_row", 1)),
            row_count=int(data.get("row_count", len(sample))),
            packed=str(packed),
            sample=sample[:SAMPLE_ROWS],
        )


def file_sha256(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _is_entity_attack(error: BaseException | None) -> bool:
    from defusedxml import DefusedXmlException

    while error is not None:
        if isinstance(error, DefusedXmlException):
            return True
        error = error.__cause__ or error.__context__
    return False


def _entity_message() -> str:
    return _(
        "文件中含有不安全的 XML 内容（实体定义），已拒绝："
        "请用 Excel 打开后另存为新的 .xlsx 再上传。"
    )


def _rejection(error: PlaceImportRejected) -> LedgerFileRejected:
    if _is_entity_attack(error):
        return LedgerFileRejected(_entity_message())
    return LedgerFileRejected(error.problems[0].message if error.problems else error.message)


def _looks_like_header(texts: Sequence[str]) -> bool:
    """Two cells that name known fields: a title row ("东河镇诉求台账") has at most one."""
    return sum(1 for text in texts if text and field_for_header(text)) >= 2


def ledger_file_read(*, upload: UploadedFile) -> LedgerFile:
    """The header and the non-blank rows under it, or `LedgerFileRejected`."""
    if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        raise LedgerFileRejected(
            _("文件太大（%(size).1f MB）：一次最多导入 %(max)d MB。请把文件拆成几个分别导入。")
            % {"size": upload.size / 1024 / 1024, "max": MAX_IMPORT_BYTES // 1024 // 1024}
        )
    sha256 = file_sha256(upload)
    headers: list[str] | None = None
    header_row = 0
    count = 0
    packer = _Packer()
    sample: list[LedgerRow] = []
    try:
        for number, values in place_files.sheet_rows(upload):
            if number > MAX_SCANNED_ROWS:
                raise LedgerFileRejected(
                    _("工作表超过 %(max)d 行（含空行）：请删去多余的空行，或拆分文件。")
                    % {"max": MAX_SCANNED_ROWS}
                )
            # (A CSV's cells are texts already: `cell_text` of a text is the text stripped.)
            texts = [
                value.strip() if type(value) is str else place_files.cell_text(value)
                for value in values
            ]
            if headers is None:
                if _looks_like_header(texts):
                    while texts and not texts[-1]:
                        texts.pop()
                    headers, header_row = texts, number
                elif number >= HEADER_SEARCH_ROWS:
                    raise LedgerFileRejected(
                        _(
                            "在前 %(rows)d 行找不到表头：表头应是一行列名，如 编号、登记日期、"
                            "所属区域、诉求人、诉求内容。请下载导入模板对照填写。"
                        )
                        % {"rows": HEADER_SEARCH_ROWS}
                    )
                continue
            if not any(texts):
                continue
            if count >= MAX_IMPORT_ROWS:
                raise LedgerFileRejected(
                    _("数据超过 %(max)d 行：一次最多导入 %(max)d 行，请把文件拆成几个分别导入。")
                    % {"max": MAX_IMPORT_ROWS}
                )
            width = len(headers)
            cells = (texts + [""] * width)[:width]
            packer.add(number, cells)
            if count < SAMPLE_ROWS:
                sample.append(LedgerRow(number, cells))
            count += 1
    except PlaceImportRejected as error:
        raise _rejection(error) from error
    except LedgerFileRejected:
        raise
    except Exception as error:  # a malformed sheet part, found while reading the rows
        if _is_entity_attack(error):
            raise LedgerFileRejected(_entity_message()) from error
        raise LedgerFileRejected(
            _(
                "无法读取这个 Excel 文件：文件可能已损坏或不是 .xlsx 格式。"
                "请用 Excel 打开后另存为 .xlsx 再上传。"
            )
        ) from error
    if headers is None:
        raise LedgerFileRejected(_("文件是空的：请在导入模板中填写后再上传。"))
    if not count:
        raise LedgerFileRejected(
            _("表头下面没有数据：请从第 %(row)d 行起每行填写一条诉求。") % {"row": header_row + 1}
        )
    return LedgerFile(
        name=upload.name or "",
        sha256=sha256,
        headers=headers,
        header_row=header_row,
        row_count=count,
        packed=packer.packed(),
        sample=sample,
    )
