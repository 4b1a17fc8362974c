"""Files for the ledger import tests: xlsx and csv ledgers as offices keep them."""

import io
from typing import Any

from django.core.files.uploadedfile import SimpleUploadedFile
from openpyxl import Workbook  # type: ignore[import-untyped]

HEADER = [
    "序号",
    "编号",
    "受理时间",
    "来源渠道",
    "街道",
    "社区",
    "反映人",
    "手机",
    "地址",
    "分类",
    "问题描述",
    "紧急程度",
    "承办单位",
    "办理状态",
    "办理结果",
]


def ledger_row(i: int, **overrides: Any) -> list[Any]:
    values: dict[str, Any] = {
        "seq": i,
        "number": f"DH-{i:05d}",
        "date": "2025-03-01 09:30",
        "source": "热线",
        "town": "东河镇",
        "village": "东河村",
        "name": "张三",
        "phone": "13812345678",
        "address": "东河村东街12号",
        "category": "道路与照明",
        "content": f"第{i}号路灯不亮。晚上出行不便。",
        "urgency": "一般",
        "unit": "",
        "status": "",
        "result": "",
    }
    values.update(overrides)
    return list(values.values())


def xlsx_bytes(rows: list[list[Any]], *, header: list[str] | None = None) -> bytes:
    book = Workbook()
    sheet = book.active
    sheet.append(header if header is not None else HEADER)
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xlsx(rows: list[list[Any]], *, header: list[str] | None = None, name: str = "台账.xlsx") -> Any:
    return SimpleUploadedFile(name, xlsx_bytes(rows, header=header))


def csv_file(rows: list[list[Any]], *, encoding: str, name: str = "台账.csv") -> Any:
    lines = [",".join(HEADER)] + [",".join(str(v) for v in row) for row in rows]
    return SimpleUploadedFile(name, ("\r\n".join(lines) + "\r\n").encode(encoding))
