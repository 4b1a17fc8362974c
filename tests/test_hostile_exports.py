"""Hostile text stored, then exported (issue #9 item 7): the ledger (Excel and CSV) and the
monthly report keep every text as text. A text that starts like a formula (= + - @, a tab, a
carriage return) is a string cell with Excel's quote prefix, never a formula, and comes back
exactly as stored; the CSV puts an apostrophe before it (wenxu.exchange.writers).

Already covered for a few values: wenxu/exchange/tests/test_ledger_export.py
(`test_formula_like_text_comes_back_as_text`) and wenxu/insight/tests/test_report.py
(`test_names_like_formulas_or_markup_stay_text_in_the_page_and_the_workbook`). Here every
hostile string of `tests.hostile_strings` goes into every text the exports carry.
"""

import csv
import io
import zipfile
from datetime import date, datetime, timedelta
from typing import Any

import openpyxl  # type: ignore[import-untyped]
import pytest
import time_machine
from django.db import transaction
from django.http import StreamingHttpResponse
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings

from tests.hostile_strings import FORMULA_STARTS, NASTY, hostile_text
from wenxu.insight.models import DailyCount
from wenxu.needs import services
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Category, Need
from wenxu.needs.services import RequesterInput
from wenxu.organisations.models import Unit
from wenxu.topics.models import Milestone, Topic

pytestmark = pytest.mark.django_db

XLSX = "/api/v1/exports/ledger.xlsx"
CSV = "/api/v1/exports/ledger.csv"
STORABLE = [text for text in NASTY if "\x00" not in text]  # no form or API lets a NUL through
MARKERS = ("1+1", "cmd", "SUM(", "HYPERLINK")  # what our formula-like texts contain


@pytest.fixture(autouse=True)
def export_dir(settings: Any, tmp_path: Any) -> None:
    settings.DATA_DIR = tmp_path


def download(client: Client, url: str, **params: Any) -> bytes:
    response = client.get(url, params)
    assert response.status_code == 200, response.content[:300]
    if isinstance(response, StreamingHttpResponse):
        return b"".join(response.streaming_content)
    return bytes(response.content)


def store(world: Any, text: str) -> Need:
    """A need carrying `text` in every text the ledger exports that accepts it."""
    person = RequesterInput(name=text[:100], phone="13812345678", address=text[:200])
    try:
        need = world.register(
            title=text[:200], description=text, address=text[:200], requester=person
        )
    except InvalidInput:  # e.g. nothing but white space as the title
        need = world.register(description="诉求内容：" + text, requester=person)
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    need = services.need_accept(actor=world.handler, need=need, version=need.version)
    try:
        need = services.need_progress(
            actor=world.handler, need=need, version=need.version, note=text
        )
        need = services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text=text,
        )
    except InvalidInput:
        pass
    return need


def formula_like(value: Any) -> bool:
    return isinstance(value, str) and value.startswith(FORMULA_STARTS)


def assert_text_only(raw: bytes, *, formulas_allowed: bool = False) -> list[str]:
    """Every cell of every sheet: never a formula (unless the workbook computes some of its
    own), a formula-like text only as a quoted string. Returns the texts of the cells."""
    book = openpyxl.load_workbook(io.BytesIO(raw))
    texts: list[str] = []
    for sheet in book:
        for row in sheet.iter_rows():
            for cell in row:
                if cell.data_type == "f":
                    assert formulas_allowed, (sheet.title, cell.coordinate)
                    # the report's own formulas: over its cells, never our text
                    assert not any(marker in str(cell.value) for marker in MARKERS), cell.value
                    continue
                if isinstance(cell.value, str):
                    texts.append(cell.value)
                    if formula_like(cell.value):
                        assert cell.data_type == "s", (sheet.title, cell.coordinate)
                        assert cell.quotePrefix, (sheet.title, cell.coordinate, cell.value)
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for name in archive.namelist():
            if name.startswith("xl/worksheets/") and not formulas_allowed:
                assert "<f>" not in archive.read(name).decode("utf-8"), name
    return texts


def assert_csv_escaped(raw: bytes, stored: list[str]) -> None:
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    cells = [cell for row in rows for cell in row]
    for cell in cells:
        assert not formula_like(cell), cell[:40]
    for text in stored:
        if formula_like(text):
            assert any(cell.startswith("'" + text[:150]) for cell in cells), text[:40]


def test_the_ledger_export_keeps_every_hostile_text_as_text(world: Any) -> None:
    # Given needs carrying each hostile text in their title, content, address, requester,
    # progress note and reply
    for text in STORABLE:
        store(world, text)
    client = Client()
    client.force_login(world.dispatcher)

    # when the dispatcher exports every column to Excel
    texts = assert_text_only(download(client, XLSX))

    # then each formula-like title comes back as stored (a quoted string cell)
    titles = [t for t in Need.objects.values_list("title", flat=True) if formula_like(t)]
    assert len(titles) >= 5
    for title in titles:
        assert any(cell == title or cell.startswith(title + "\n") for cell in texts), title
    # and the CSV escapes them
    assert_csv_escaped(download(client, CSV), titles)


@settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=hostile_text())
def test_any_hostile_text_exports_as_text(world: Any, text: str) -> None:
    text = text.replace("\x00", "")
    client = Client()
    client.force_login(world.dispatcher)
    with transaction.atomic():
        store(world, text)
        assert_text_only(
            download(client, XLSX, columns="number,requester,address,content,progress,result")
        )
        assert_csv_escaped(download(client, CSV, columns="number,content,progress,result"), [])
        transaction.set_rollback(True)


NOON = timezone.make_aware(datetime(2026, 10, 18, 12, 0))


def test_the_monthly_report_keeps_hostile_names_and_titles_as_text(world: Any) -> None:
    # Given, in September, a unit, a category, topics, milestones and overdue needs named with
    # every hostile text
    hostile = [text[:100] for text in STORABLE if text.strip()]
    with time_machine.travel(timezone.make_aware(datetime(2026, 9, 7, 9)), tick=False) as t:
        for index, text in enumerate(hostile):
            unit = Unit.objects.create(name=text, short_name="", kind="department")
            category = Category.objects.create(name=text, parent=world.cat_roads)
            DailyCount.objects.create(
                key=f"20260910|{world.grid_a.pk}|{unit.pk}|{category.pk}",
                day=date(2026, 9, 10),
                area=world.grid_a,
                area_path=world.grid_a.path,
                unit=unit,
                unit_path=unit.path,
                category=category,
                registered=5 + index,
                assigned=5 + index,
                accepted_on_time=4,
                replied_on_time=3,
                overdue=2,
            )
            topic = Topic.objects.create(title=text, area=world.town_a)
            Milestone.objects.create(topic=topic, title=text, progress=40)
            world.assigned(
                title=text, requester=RequesterInput(name=text[:20], phone="13812345678")
            )
        t.move_to(timezone.make_aware(datetime(2026, 9, 7, 9)) + timedelta(days=30))
    client = Client()
    client.force_login(world.leader)

    # when the leader downloads September's report
    with time_machine.travel(NOON, tick=False):
        response = client.get("/stats/report.xlsx", {"month": "2026-09"})
    assert response.status_code == 200

    # then the only formulas are the report's own (rates over its cells), and every name and
    # title is a string cell, as stored
    texts = assert_text_only(response.content, formulas_allowed=True)
    for text in hostile:
        if formula_like(text.strip()):
            assert any(
                cell == text.strip() or cell.endswith(" · " + text.strip()) for cell in texts
            ), text
