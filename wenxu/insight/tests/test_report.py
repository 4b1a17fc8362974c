"""月报 (/stats/report/ and /stats/report.xlsx): the month, the numbers (the API's), the unit
ranking rule, the overdue list (scoped, masked), the workbook, access, bad input, query counts."""

import io
import re
import zipfile
from datetime import date, datetime, timedelta

import openpyxl  # type: ignore[import-untyped]
import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from wenxu.insight import report as rp
from wenxu.insight.models import DailyCount
from wenxu.insight.rollups import rollup_catch_up
from wenxu.insight.tests.planting import plant
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.needs.services.register import RequesterInput
from wenxu.organisations.models import Area, Unit
from wenxu.topics.models import Measure, Milestone, Topic

NOON = timezone.make_aware(datetime(2026, 11, 18, 12, 0))  # "today": the default month is 2026-10
RATES = ("response_rate", "ontime_rate", "resolution_rate", "satisfaction_rate", "callback_rate")
LABELS = {
    "response_rate": "响应率",
    "ontime_rate": "按期办结率",
    "resolution_rate": "解决率",
    "satisfaction_rate": "满意率",
    "callback_rate": "回访率",
}
SHEETS = ["概况", "单位排名", "超期清单", "类别分布", "马上就办", "专题进展"]


@pytest.fixture(autouse=True)
def _no_sending(monkeypatch):
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


def at(*args):
    return timezone.make_aware(datetime(*args))


def count(day, area, unit=None, category=None, **counters):
    """One rollup row, as the sweep would have written it (with its scope rollups)."""
    return plant(day, area, unit, category, **counters)


def page(client, user, status=200, **params):
    client.force_login(user)
    with time_machine.travel(NOON, tick=False):
        response = client.get("/stats/report/", params)
    assert response.status_code == status, response.content.decode()[:500]
    return response


def workbook(client, user, data_only=True, **params):
    client.force_login(user)
    with time_machine.travel(NOON, tick=False):
        response = client.get("/stats/report.xlsx", params)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    return response.content, openpyxl.load_workbook(
        io.BytesIO(response.content), data_only=data_only
    )


def page_rates(response):
    """{rate: (percent, numerator, denominator)} as the page's table shows them."""
    html = response.content.decode()
    found = re.findall(
        r'data-rate="(\w+)">.*?data-percent="([^"]+)".*?data-numerator="([^"]+)" '
        r'data-denominator="(\d+)"',
        html,
        flags=re.S,
    )
    return {name: (percent, float(num), int(den)) for name, percent, num, den in found}


def found(pattern, html):
    """The first group of `pattern` in `html` (which must match)."""
    match = re.search(pattern, html, flags=re.S)
    assert match is not None, pattern
    return match[1]


def sheet_rows(ws):
    return [row for row in ws.iter_rows(values_only=True) if any(v not in (None, "") for v in row)]


# --------------------------------------------------------------------------- the month


def test_a_month_runs_from_local_midnight_of_its_first_day_to_the_next_months():
    october = rp.Month(2026, 10)
    assert (october.first_day, october.last_day) == (date(2026, 10, 1), date(2026, 10, 31))
    assert october.start.isoformat() == "2026-10-01T00:00:00+08:00"
    assert october.end.isoformat() == "2026-11-01T00:00:00+08:00"
    assert rp.Month(2026, 1).previous == rp.Month(2025, 12)
    assert rp.Month(2026, 12).following == rp.Month(2027, 1)
    assert rp.Month(2028, 2).last_day == date(2028, 2, 29)
    assert rp.default_month(date(2026, 1, 5)) == rp.Month(2025, 12)
    assert rp.parse_month("2026-3", today=date(2026, 11, 18)) == rp.Month(2026, 3)


def test_needs_count_in_the_month_of_their_local_shanghai_date(client, world):
    # given one need registered at 23:30 on 31 October in Shanghai (15:30 UTC) and one at
    # 00:10 on 1 November in Shanghai (still 31 October in UTC)
    with time_machine.travel(at(2026, 10, 31, 23, 30), tick=False):
        world.register(title="十月最后一晚")
    with time_machine.travel(at(2026, 11, 1, 0, 10), tick=False) as t:
        world.register(title="十一月第一刻")
        t.shift(timedelta(minutes=5))
        rollup_catch_up()
    # then October counts the first, November the second
    october = page(client, world.leader, month="2026-10")
    november = page(client, world.leader, month="2026-11")
    assert 'data-count="registered"><th scope="row">登记</th><td class="num">1</td>' in (
        october.content.decode()
    )
    registered = 'data-count="registered"><th scope="row">登记</th><td class="num">1</td>'
    assert registered + '<td class="num">1</td>' in november.content.decode()


def test_without_a_month_the_report_is_last_months(client, world):
    response = page(client, world.leader)
    assert 'data-month="2026-10"' in response.content.decode()
    assert "2026年10月问需工作月报" in response.content.decode()


def test_the_current_month_says_it_is_not_over(client, world):
    response = page(client, world.leader, month="2026-11")
    assert "本月尚未结束" in response.content.decode()


@pytest.mark.parametrize(
    ("month", "message"),
    [
        ("2026-13", "月份应在 1 到 12 之间"),
        ("十月", "月份格式不正确"),
        ("2026-10-01", "月份格式不正确"),
        ("2027-01", "还没有开始"),
        ("1999-12", "只能生成 2000 年以后的月报"),
    ],
)
def test_a_bad_month_is_refused_with_a_clear_reason_and_changes_nothing(
    client, world, month, message
):
    count(date(2026, 10, 3), world.grid_a, world.housing, registered=2)
    before = (DailyCount.objects.count(), Need.objects.count())
    response = page(client, world.leader, status=422, month=month)
    html = response.content.decode()
    assert message in html
    assert 'data-testid="report"' not in html
    client.force_login(world.leader)
    with time_machine.travel(NOON, tick=False):
        xlsx = client.get("/stats/report.xlsx", {"month": month})
    assert xlsx.status_code == 422
    assert message in xlsx.content.decode()
    assert (DailyCount.objects.count(), Need.objects.count()) == before


def test_a_malformed_area_is_refused_and_an_unknown_one_is_not_found(client, world):
    assert "区域参数无效" in page(client, world.leader, status=422, area="abc").content.decode()
    page(client, world.leader, status=404, area=999999)
    page(client, world.leader, status=404, unit=999999)


# --------------------------------------------------------------------------- access


def test_staff_roles_read_the_report_others_do_not(client, world):
    for user in (world.leader, world.dispatcher, world.admin, world.handler):
        page(client, user)
    page(client, world.officer, status=403)
    page(client, world.outsider, status=404)  # no scope at all, like other scoped pages
    client.force_login(world.outsider)
    assert client.get("/stats/report.xlsx").status_code == 404


def test_a_handler_reads_their_own_unit_only(client, world):
    count(date(2026, 10, 3), world.grid_a, world.housing, registered=3)
    count(date(2026, 10, 3), world.grid_a, world.transport, registered=5)
    html = page(client, world.handler).content.decode()
    assert '<span data-testid="report-scope">县住建局</span>' in html
    assert "共登记群众诉求 3 件" in html
    page(client, world.handler, status=404, unit=world.transport.pk)  # not theirs


def test_an_area_outside_the_viewers_areas_is_not_found(client, world):
    page(client, world.officer_b, status=403)  # officers do not read reports at all
    from wenxu.accounts.models import Membership

    Membership.objects.create(user=world.officer_b, role="leader", area=world.town_b)
    page(client, world.officer_b, status=404, area=world.town_a.pk)
    page(client, world.officer_b, area=world.town_b.pk)


# --------------------------------------------------------------------------- the numbers


@pytest.fixture
def october(world):
    """October's rollups in two townships and three units, and September's for the change."""
    day = date(2026, 10, 15)
    count(day, world.grid_a, world.housing, world.cat_roads, registered=6, on_the_spot=2,
          assigned=10, accepted_on_time=8, response_overdue=2, replied_on_time=7, overdue=3,
          callbacks=4, resolved=2, partly_resolved=1, unresolved=1, very_satisfied=1,
          satisfied=1, basic_satisfied=1, dissatisfied=1, unreachable=1)  # fmt: skip
    count(date(2026, 10, 1), world.grid_b, world.transport, world.cat_water, registered=3,
          assigned=6, accepted_on_time=6, replied_on_time=6, callbacks=3, resolved=3,
          very_satisfied=3)  # fmt: skip
    count(date(2026, 10, 31), world.grid_b, world.transport_roads, world.cat_water,
          registered=1, assigned=2, accepted_on_time=1, replied_on_time=1, overdue=1)  # fmt: skip
    count(date(2026, 9, 30), world.grid_a, world.housing, world.cat_roads, registered=2,
          replied_on_time=9, overdue=1, accepted_on_time=4)  # fmt: skip
    count(
        date(2026, 11, 1), world.grid_a, world.housing, world.cat_roads, registered=50, overdue=20
    )  # fmt: skip  (November: in neither month)
    return world


@pytest.mark.parametrize(
    ("who", "params"),
    [
        ("leader", {}),
        ("leader", {"area": "town_b"}),
        ("dispatcher", {"unit": "transport"}),
        ("handler", {}),
    ],
)
def test_the_reports_numbers_are_the_apis_for_the_same_scope_and_month(
    client, october, who, params
):
    world = october
    user = getattr(world, who)
    ids = {key: getattr(world, value).pk for key, value in params.items()}
    shown = page_rates(page(client, user, month="2026-10", **ids))
    client.force_login(user)
    api = client.get("/api/v1/stats/rates", {"start": "2026-10-01", "end": "2026-10-31", **ids})
    assert api.status_code == 200
    body = api.json()
    assert shown == {
        name: (body[name]["percent"], body[name]["numerator"], body[name]["denominator"])
        for name in RATES
    }
    # the workbook's 概况: the cached formula results are the API's values
    _raw, book = workbook(client, user, month="2026-10", **ids)
    rows = {row[0]: row for row in sheet_rows(book["概况"])}
    for name in RATES:
        label = LABELS[name]
        value = body[name]["value"]
        assert rows[label][1] == (value if value is not None else "—"), name
        assert rows[label][2:4] == (body[name]["numerator"], body[name]["denominator"])


def test_the_two_scopes_differ(client, october):
    # (the parametrised test above would pass on a report that ignored the scope if the
    # scopes had the same numbers: they do not)
    county = page_rates(page(client, october.leader, month="2026-10"))
    town_b = page_rates(page(client, october.leader, month="2026-10", area=october.town_b.pk))
    assert county["ontime_rate"] != town_b["ontime_rate"]


def test_each_rate_shows_its_change_against_the_previous_month(client, october):
    html = page(client, october.leader, month="2026-10").content.decode()
    # October on time 14 of 18 (77.8 %), September 9 of 10 (90.0 %): −12.2 points
    row = found(r'data-rate="ontime_rate">(.*?)</tr>', html)
    assert "77.8%" in row
    assert "90.0%" in row
    assert "-12.2" in row
    _raw, book = workbook(client, october.leader, month="2026-10")
    ontime = next(r for r in sheet_rows(book["概况"]) if r[0] == "按期办结率")
    assert ontime[4] == 0.9
    assert ontime[7] == -12.2
    formulas = openpyxl.load_workbook(io.BytesIO(_raw))["概况"]
    cells = [c for c in formulas["B"] if isinstance(c.value, str) and c.value.startswith("=")]
    assert len(cells) == 5
    assert formulas["B4"].number_format == "0.0%"


def test_units_with_few_deadlines_due_are_listed_apart_and_low_ones_flagged(client, october):
    # 县住建局: 10 due, 7 on time (70 %, below 80 %); 县交通局: 6 of 6; 公路养护中心: 2 due
    html = page(client, october.leader, month="2026-10").content.decode()
    ranked = found(r'data-table="units">(.*?)</table>', html)
    small = found(r'data-table="units_small">(.*?)</table>', html)
    assert re.findall(r'data-unit="([^"]+)"', ranked) == ["县交通局", "县住建局"]
    assert re.findall(r'data-unit="([^"]+)"', small) == ["公路养护中心"]
    assert re.findall(r'<tr class="wx-flagged" data-flagged data-unit="([^"]+)"', ranked) == [
        "县住建局"
    ]
    # the workbook: the same order, real numbers and percentages, the flag in words
    _raw, book = workbook(client, october.leader, month="2026-10")
    rows = sheet_rows(book["单位排名"])
    ranked_rows = [r for r in rows if isinstance(r[0], int)]
    assert [(r[0], r[1], r[3], r[5]) for r in ranked_rows] == [
        (1, "县交通局", 6, 1),
        (2, "县住建局", 10, 0.7),
    ]
    assert ranked_rows[1][9] == "按期办结率低于 80%"
    assert ranked_rows[0][9] in (None, "")
    assert any(r[1] == "公路养护中心" and r[3] == 2 for r in rows if r[0] in ("", None))
    fill = openpyxl.load_workbook(io.BytesIO(_raw))["单位排名"]["B5"].fill.fgColor.rgb
    assert fill.endswith("FDE2E1")


def test_categories_and_the_on_the_spot_share(client, october):
    html = page(client, october.leader, month="2026-10").content.decode()
    categories = found(r'data-table="categories">(.*?)</table>', html)
    assert categories.index("道路与照明") < categories.index("供水")  # 6 before 4
    assert "60.0%" in categories
    spot = found(r'data-testid="spot-total">(.*?)</tr>', html)
    assert re.findall(r">(\d+|[\d.]+%)<", spot) == ["10", "2", "20.0%"]
    _raw, book = workbook(client, october.leader, month="2026-10")
    spot_rows = {r[0]: r for r in sheet_rows(book["马上就办"])}
    assert spot_rows["东河镇"][1:] == (6, 2, 0.3333)
    assert spot_rows["合计"][1:] == (10, 2, 0.2)
    category_rows = [r for r in sheet_rows(book["类别分布"]) if isinstance(r[0], int)]
    assert category_rows == [(1, "城乡建设 · 道路与照明", 6, 0.6), (2, "城乡建设 · 供水", 4, 0.4)]


def test_the_workbook_has_the_sheets_with_title_and_scope(client, october):
    _raw, book = workbook(client, october.leader, month="2026-10")
    assert book.sheetnames == SHEETS
    for ws in book:
        assert ws["A1"].value == "2026年10月问需工作月报"
        assert "青山县" in ws["A2"].value


def test_topics_open_in_the_month_are_listed_with_their_progress(client, october, world):
    # given a topic in 东河镇 with a measure done and a milestone reached in October,
    with time_machine.travel(timezone.make_aware(datetime(2026, 10, 3, 9)), tick=False):
        mine = Topic.objects.create(
            title="东河镇路灯失修专题", area=world.town_a, owner_unit=world.housing, status="acting"
        )
        Measure.objects.create(
            topic=mine,
            title="明确维护单位",
            owner_unit=world.housing,
            due_date=date(2026, 10, 30),
            status="done",
        )
        Measure.objects.create(
            topic=mine, title="更换灯具", owner_unit=world.transport, due_date=date(2026, 12, 30)
        )
        mine.links.create(need=world.register())
        Milestone.objects.create(
            topic=mine, title="=排查完毕", progress=40, completed_at=timezone.now()
        )
        elsewhere = Topic.objects.create(title="西岭乡专题", area=world.town_b)
        closed_before = Topic.objects.create(
            title="九月已办结的专题",
            area=world.town_a,
            status="closed",
            closed_at=timezone.make_aware(datetime(2026, 9, 20)),
        )
    with time_machine.travel(timezone.make_aware(datetime(2026, 11, 3, 9)), tick=False):
        later = Topic.objects.create(title="十一月才建的专题", area=world.town_a)

    # when the leader reports October for 东河镇,
    html = page(client, october.leader, month="2026-10", area=world.town_a.pk).content.decode()
    _raw, book = workbook(client, october.leader, month="2026-10", area=world.town_a.pk)

    # then only the topic open in October within 东河镇 is listed, with its numbers
    section = found(r'data-table="topics">(.*?)</table>', html)
    assert mine.title in section
    for other in (elsewhere, closed_before, later):
        assert other.title not in html
    for shown in ("1/2", "40%", "=排查完毕（40%）"):
        assert shown in section
    rows = [r for r in sheet_rows(book["专题进展"]) if r[0] == mine.title]
    assert rows == [(mine.title, "整改中", "县住建局", 1, 1, 2, 40, "=排查完毕（40%）")]
    # (the milestone's "=…" arrives as text: written as a formula, it would read back as 0)

    # and narrowed to a unit: the one holding a measure still sees it, another does not
    by_unit = page(client, october.leader, month="2026-10", unit=world.transport.pk)
    assert mine.title in by_unit.content.decode()
    by_other = page(client, october.leader, month="2026-10", unit=world.transport_roads.pk)
    assert mine.title not in by_other.content.decode()


def test_no_topics_says_so(client, october):
    _raw, book = workbook(client, october.leader, month="2026-10")
    assert "没有进行中的专题" in sheet_rows(book["专题进展"])[-1][0]
    assert "没有进行中的专题" in page(client, october.leader, month="2026-10").content.decode()


# --------------------------------------------------------------------------- the overdue list


PERSON = RequesterInput(name="张三丰", phone="13812345678")


def _overdue_needs(world):
    """In September: one need never replied (overdue at the month's end), one replied late,
    one replied on time, and one of 县交通局's in the other township, overdue too."""
    monday = at(2026, 9, 7, 9, 0)
    with time_machine.travel(monday, tick=False) as t:
        never = world.assigned(title="路灯一直不亮", requester=PERSON)
        late = world.in_progress(title="下水道堵塞")
        ontime = world.in_progress(title="按时办好的")
        ontime = services.need_reply(
            actor=world.handler, need=ontime, version=ontime.version, outcome="resolved",
            reply_text="已处理。",
        )  # fmt: skip
        other = world.assigned(
            title="西岭村道路破损", lead=world.transport, area=world.grid_b, actor=world.officer_b
        )
        t.move_to(at(2026, 9, 25, 10, 0))
        late = Need.objects.get(pk=late.pk)
        services.need_reply(
            actor=world.handler, need=late, version=late.version, outcome="resolved",
            reply_text="已疏通。",
        )  # fmt: skip
    return never, late, other


def test_the_overdue_list_holds_the_months_overdue_needs_in_scope(client, world):
    never, late, other = _overdue_needs(world)
    html = page(client, world.leader, month="2026-09").content.decode()
    listed = re.findall(r'data-need="([^"]+)"', html)
    assert sorted(listed) == sorted([never.number, late.number, other.number])
    assert "月末超期未答复" in html
    assert "本月逾期答复" in html
    # the handler of 县住建局 sees their own two only
    mine = re.findall(
        r'data-need="([^"]+)"', page(client, world.handler, month="2026-09").content.decode()
    )
    assert sorted(mine) == sorted([never.number, late.number])
    # and an area narrows it
    town_b = page(client, world.leader, month="2026-09", area=world.town_b.pk).content.decode()
    assert re.findall(r'data-need="([^"]+)"', town_b) == [other.number]
    # August had nothing overdue yet
    assert (
        re.findall(
            r'data-need="([^"]+)"', page(client, world.leader, month="2026-08").content.decode()
        )
        == []
    )


def test_the_overdue_list_masks_personal_data_in_the_page_and_the_workbook(client, world):
    never, _late, _other = _overdue_needs(world)
    html = page(client, world.leader, month="2026-09").content.decode()
    raw, book = workbook(client, world.leader, month="2026-09")
    for secret in ("张三丰", "13812345678", "三丰"):
        assert secret not in html
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            for name in archive.namelist():
                assert secret not in archive.read(name).decode("utf-8", "ignore"), name
    assert "张**" in html
    assert "138****5678" in html
    rows = [r for r in sheet_rows(book["超期清单"]) if isinstance(r[0], int)]
    row = next(r for r in rows if r[1] == never.number)
    assert row[6:8] == ("张**", "138****5678")
    assert isinstance(row[8], datetime)
    assert isinstance(row[11], int)


def test_the_page_costs_the_same_queries_however_many_needs_are_overdue(client, world):
    _overdue_needs(world)

    def queries():
        client.force_login(world.leader)
        with time_machine.travel(NOON, tick=False), CaptureQueriesContext(connection) as ctx:
            assert client.get("/stats/report/", {"month": "2026-09"}).status_code == 200
        with time_machine.travel(NOON, tick=False), CaptureQueriesContext(connection) as xlsx:
            assert client.get("/stats/report.xlsx", {"month": "2026-09"}).status_code == 200
        return len(ctx.captured_queries), len(xlsx.captured_queries)

    queries()  # warm: what pages keep between requests (ADR 0026)
    few = queries()
    with time_machine.travel(at(2026, 9, 8, 9, 0), tick=False):
        for i in range(6):
            world.assigned(title=f"第 {i} 件", requester=PERSON)
    assert (
        len(re.findall(r"data-need=", page(client, world.leader, month="2026-09").content.decode()))
        == 9
    )
    assert queries() == few
    assert few[0] <= 25


def test_the_overdue_list_filtered_by_unit_holds_what_the_unit_led(client, world):
    # given, besides the September needs, one led by 交通局 with 住建局 as co unit
    never, late, _other = _overdue_needs(world)
    with time_machine.travel(at(2026, 9, 7, 9, 0), tick=False):
        need = world.register(title="交通局牵头住建局协办")
        co = services.need_assign(actor=world.dispatcher, need=need, version=need.version,
                                  lead_unit=world.transport, co_units=[world.housing])  # fmt: skip
    # when the leader narrows the report to 住建局
    html = page(client, world.leader, month="2026-09", unit=world.housing.pk).content.decode()
    # then the list holds the needs 住建局 led, as its ranking counts, and says so
    assert sorted(re.findall(r'data-need="([^"]+)"', html)) == sorted([never.number, late.number])
    assert co.number not in html
    assert "牵头办理的诉求" in html


def test_names_like_formulas_or_markup_stay_text_in_the_page_and_the_workbook(client, world):
    # given a unit named like a formula (ranked and flagged) and an area named like markup
    unit = Unit.objects.create(name='=HYPERLINK("x")', short_name="", kind="department")
    small = Unit.objects.create(name="+SUM(1)", short_name="", kind="department")
    area = Area.objects.create(name="</style><script>x</script>", level="village",
                               parent=world.town_a)  # fmt: skip
    count(date(2026, 10, 9), area, unit, registered=6, assigned=6, replied_on_time=3, overdue=3)
    count(date(2026, 10, 9), area, small, registered=1, assigned=1, replied_on_time=1)
    # then the page shows the area's name as text, in the heading and the printed page header
    html = page(client, world.leader, month="2026-10", area=area.pk).content.decode()
    assert "<script>x" not in html
    assert "</style><script>" not in html
    assert "&lt;script&gt;x" in html
    # and the workbook holds the names as quoted strings, flagged row or not, never formulas
    raw, book = workbook(client, world.leader, data_only=False, month="2026-10", area=area.pk)
    ws = book["单位排名"]
    cells = {c.value: c for row in ws.iter_rows() for c in row if isinstance(c.value, str)}
    for name in ('=HYPERLINK("x")', "+SUM(1)"):
        assert cells[name].data_type == "s", name
        assert cells[name].quotePrefix, name
    assert next(r for r in sheet_rows(ws) if r[1] == '=HYPERLINK("x")')[0] == 1
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        assert "HYPERLINK" not in archive.read("xl/worksheets/sheet2.xml").decode()
    # a scope line written by merge_range is a string too
    subtitle = book["概况"]["A2"]
    assert subtitle.data_type == "s"
    assert "</style><script>x</script>" in subtitle.value
