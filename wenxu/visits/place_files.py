"""Reading a place import file (ADR 0010): .xlsx or .csv into rows of cell texts.

The file is refused as a whole when it is too large, not a spreadsheet, a zip bomb, or lacks the
template's header; otherwise every non-blank row under the header comes back as a `RawRow` of
the eight columns' texts, for `wenxu.visits.place_import` to check.
"""

import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.utils.translation import gettext as _

from wenxu.lib import masking
from wenxu.lib.text import join_list
from wenxu.needs.exceptions import DomainError

MAX_IMPORT_BYTES = 5 * 1024 * 1024
MAX_IMPORT_ROWS = 20_000
# Rows read (blank ones included) before a sheet counts as malformed: a formatted but empty
# million-row sheet must not keep a worker busy.
MAX_SCANNED_ROWS = 5 * MAX_IMPORT_ROWS
MAX_COLUMNS = 40
MAX_UNPACKED_BYTES = 100 * 1024 * 1024
# openpyxl reads the shared strings (every distinct text of the file) into memory at once, and
# a Python string costs several times its UTF-8 bytes: this part has a limit of its own.
MAX_SHARED_STRINGS_BYTES = 20 * 1024 * 1024
SHARED_STRINGS = "xl/sharedstrings.xml"
# The header may sit under a title row or two ("东河村走访对象名册").
HEADER_SEARCH_ROWS = 5
# The report lists this many problems; a file with more is almost always the wrong file or a
# shifted column, and the first thousand show which.
MAX_REPORTED_PROBLEMS = 1000

# (key, header in the template). Every one must be present in the file's header row.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("area", "网格"),
    ("kind", "类型"),
    ("name", "名称/门牌"),
    ("address", "地址"),
    ("contact_name", "户主/负责人"),
    ("contact_phone", "联系电话"),
    ("members", "人数"),
    ("note", "备注"),
)
HEADERS = dict(COLUMNS)
# Other headers people write for the same columns.
HEADER_ALIASES = {
    "所属网格": "area",
    "区划": "area",
    "网格名称": "area",
    "名称": "name",
    "门牌": "name",
    "门牌号": "name",
    "户主": "contact_name",
    "负责人": "contact_name",
    "户主姓名": "contact_name",
    "电话": "contact_phone",
    "手机": "contact_phone",
    "手机号": "contact_phone",
    "联系方式": "contact_phone",
    "人口数": "members",
    "家庭人数": "members",
    "户籍人数": "members",
}

# Columns holding personal data: their cell values are masked in every report.
CONTACT_KEYS = frozenset({"contact_name", "contact_phone"})


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file. `row` is the sheet's row number (None: the whole file);
    `key` the column's key when the problem is a cell's."""

    row: int | None
    column: str
    value: str
    message: str
    key: str = ""

    @property
    def shown_value(self) -> str:
        """The cell's value as the report shows it: contact names and phones masked (张* /
        138****5678); the row number says where to look."""
        if self.key == "contact_name":
            masked = masking.mask_name(self.value)
            return masked if len(masked) <= 8 else masked[:8] + "…"
        if self.key == "contact_phone":
            return masking.mask_phone(self.value)
        return self.value


class PlaceImportRejected(DomainError):
    """The file was not imported; `problems` says why, every one of them."""

    status_code = 422
    code = "import_rejected"

    def __init__(self, problems: Sequence[Problem], *, bad_rows: int = 0) -> None:
        self.problems = list(problems[:MAX_REPORTED_PROBLEMS])
        self.problem_count = len(problems)
        self.bad_rows = bad_rows
        super().__init__(problems[0].message if problems else _("文件有误，未导入。"))


@dataclass(frozen=True)
class RawRow:
    """A data row as read: the sheet's row number and each column's text."""

    number: int
    cells: dict[str, str]

    def to_json(self) -> list[Any]:
        return [self.number, [self.cells.get(key, "") for key, _header in COLUMNS]]

    @classmethod
    def from_json(cls, data: Any) -> "RawRow":
        number, cells = data
        return cls(int(number), {key: str(v) for (key, _h), v in zip(COLUMNS, cells, strict=True)})


def cell_text(value: object) -> str:
    """A cell as the text a person typed: 13812345678.0 → "13812345678", dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value).strip()


def _header_key(value: object) -> str | None:
    text = re.sub(r"\s", "", unicodedata.normalize("NFKC", cell_text(value))).rstrip("*")
    for key, header in COLUMNS:
        if text == header:
            return key
    return HEADER_ALIASES.get(text)


def file_problem(
    message: str, *, row: int | None = None, column: str = "", value: str = ""
) -> PlaceImportRejected:
    return PlaceImportRejected([Problem(row, column, value, message)])


def sheet_rows(upload: UploadedFile) -> Iterator[tuple[int, Sequence[object]]]:
    name = (upload.name or "").lower()
    upload.seek(0)
    if name.endswith(".csv"):
        data = upload.read()
        assert isinstance(data, bytes)
        for encoding in ("utf-8-sig", "gb18030"):
            try:
                text = data.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise file_problem(
                _("无法识别 CSV 文件的编码：请另存为“CSV UTF-8”格式，或直接上传 Excel 文件。")
            )
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            for number, row in enumerate(reader, start=1):
                if any("\x00" in cell for cell in row):
                    # No one types a NUL (and PostgreSQL cannot store one): a damaged file.
                    raise file_problem(
                        _(
                            "第 %(row)d 行含有空字符（U+0000），文件可能已损坏："
                            "请用 Excel 打开后另存为 .xlsx 再上传。"
                        )
                        % {"row": number},
                        row=number,
                    )
                yield number, row[:MAX_COLUMNS]
        except csv.Error as error:
            raise file_problem(
                _("CSV 文件格式有误（%(error)s）：请用 Excel 打开后另存为 .xlsx 再上传。")
                % {"error": error}
            ) from error
        return
    if not name.endswith((".xlsx", ".xlsm")):
        raise file_problem(
            _(
                "只能导入 Excel 文件（.xlsx）或 CSV 文件：请用模板填写后上传。"
                "旧版 .xls 文件请先另存为 .xlsx。"
            )
        )
    from openpyxl import load_workbook  # type: ignore[import-untyped]  # defusedxml inside

    _refuse_zip_bomb(upload)

    try:
        book = load_workbook(upload, read_only=True, data_only=True)
    except Exception as error:  # any unreadable file gets one answer
        raise file_problem(
            _(
                "无法读取这个 Excel 文件：文件可能已损坏或不是 .xlsx 格式。"
                "请用 Excel 打开后另存为 .xlsx 再上传。"
            )
        ) from error
    try:
        sheet = book.worksheets[0]
        rows = enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1)
        while True:
            # A malformed (or entity-laden) sheet part fails only here, while its rows are read.
            try:
                number, row = next(rows)
            except StopIteration:
                return
            except Exception as error:
                raise file_problem(
                    _(
                        "无法读取这个 Excel 文件的内容：文件可能已损坏，或含有不允许的内容。"
                        "请用 Excel 打开后另存为 .xlsx 再上传。"
                    )
                ) from error
            yield number, row
    finally:
        book.close()


def _refuse_zip_bomb(upload: UploadedFile) -> None:
    """A small .xlsx may unpack to gigabytes; openpyxl keeps the shared strings in memory."""
    try:
        with zipfile.ZipFile(upload) as archive:
            members = archive.infolist()
            unpacked = sum(info.file_size for info in members)
            shared = sum(
                info.file_size for info in members if info.filename.lower() == SHARED_STRINGS
            )
    except (zipfile.BadZipFile, OSError) as error:
        raise file_problem(
            _(
                "无法读取这个 Excel 文件：文件可能已损坏或不是 .xlsx 格式。"
                "请用 Excel 打开后另存为 .xlsx 再上传。"
            )
        ) from error
    finally:
        upload.seek(0)
    if shared > MAX_SHARED_STRINGS_BYTES:
        raise file_problem(
            _(
                "文件中的文字内容太多（解压后超过 20 MB）：请删去无关的工作表和列，"
                "或把文件拆成几个分别导入。"
            )
        )
    if unpacked > MAX_UNPACKED_BYTES:
        raise file_problem(
            _(
                "文件解压后太大（超过 100 MB）：请删去无关的工作表、图片和空行，"
                "或把文件拆成几个分别导入。"
            )
        )


def place_import_read(*, upload: UploadedFile) -> list[RawRow]:
    """The data rows of an uploaded file, or every file-level problem (size, format, header)."""
    if upload.size is not None and upload.size > MAX_IMPORT_BYTES:
        raise file_problem(
            _("文件太大（%(size).1f MB）：一次最多导入 5 MB。请把文件拆成几个分别导入。")
            % {"size": upload.size / 1024 / 1024}
        )
    columns: dict[str, int] | None = None
    header_row = 0
    rows: list[RawRow] = []
    for number, values in sheet_rows(upload):
        if number > MAX_SCANNED_ROWS:
            raise file_problem(
                _("工作表超过 %(max)d 行（含空行）：请删去多余的空行，或拆分文件。")
                % {"max": MAX_SCANNED_ROWS}
            )
        texts = [cell_text(value) for value in values]
        if columns is None:
            keys = [_header_key(value) for value in values]
            if "area" not in keys and "name" not in keys:
                if number < HEADER_SEARCH_ROWS:
                    continue
                raise file_problem(
                    _("找不到表头：第一行应是列名 %(headers)s。请用导入模板填写。")
                    % {"headers": join_list(HEADERS.values())},
                    row=1,
                )
            columns, header_row = _header_columns(keys, number), number
            continue
        if not any(texts):
            continue
        if len(rows) >= MAX_IMPORT_ROWS:
            raise file_problem(
                _("数据超过 %(max)d 行：一次最多导入 %(max)d 行，请把文件拆成几个分别导入。")
                % {"max": MAX_IMPORT_ROWS}
            )
        rows.append(
            RawRow(
                number,
                {key: texts[index] if index < len(texts) else "" for key, index in columns.items()},
            )
        )
    if columns is None:
        raise file_problem(_("文件是空的：请在导入模板中填写后再上传。"))
    if not rows:
        raise file_problem(
            _("表头下面没有数据：请从第 %(row)d 行起每行填写一个走访对象。")
            % {"row": header_row + 1}
        )
    return rows


def _header_columns(keys: list[str | None], row: int) -> dict[str, int]:
    found: dict[str, int] = {}
    duplicated: list[str] = []
    for index, key in enumerate(keys):
        if key is None:
            continue
        if key in found:
            duplicated.append(HEADERS[key])
        found.setdefault(key, index)
    problems = []
    missing = [header for key, header in COLUMNS if key not in found]
    if missing:
        problems.append(
            Problem(
                row,
                "",
                "",
                _("表头缺少列：%(missing)s。请使用导入模板，表头应依次为 %(headers)s。")
                % {"missing": join_list(missing), "headers": join_list(HEADERS.values())},
            )
        )
    if duplicated:
        problems.append(
            Problem(
                row,
                "",
                "",
                _("表头中这些列出现了不止一次：%(dup)s。请删去重复的列。")
                % {"dup": join_list(duplicated)},
            )
        )
    if problems:
        raise PlaceImportRejected(problems)
    return found
