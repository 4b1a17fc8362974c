import io
import zipfile
from pathlib import Path
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest


@pytest.fixture(autouse=True)
def export_dir(settings: Any, tmp_path: Path) -> Path:
    """Job files go to a temporary DATA_DIR, never into the checkout's var/."""
    settings.DATA_DIR = tmp_path
    return tmp_path / "exports"


def body(response: Any) -> bytes:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def workbook(data: bytes) -> Any:
    return openpyxl.load_workbook(io.BytesIO(data))


def xlsx_text(data: bytes) -> str:
    """Every XML part of the workbook, uncompressed: what a leak would have to hide in."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return "".join(archive.read(name).decode("utf-8") for name in archive.namelist())
