"""我的走访 (/visits/), a visit's page (/visits/<id>/), its photos, and 望闻问切 confirmation on
the need page."""

import re
import uuid
from datetime import timedelta
from io import BytesIO
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from PIL import Image

from conftest import World
from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import services as need_services
from wenxu.needs.models import Need, NeedEvent
from wenxu.organisations.models import Area
from wenxu.visits import services
from wenxu.visits.models import Place, Visit
from wenxu.visits.services import NeedDraft, VisitDraft

STALE = "该记录已被他人修改，请刷新"


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _need(**overrides: Any) -> NeedDraft:
    values: dict[str, Any] = {
        "title": "屋顶漏水",
        "description": "下雨时卧室屋顶漏水，需要维修。",
        "kind": "help",
        "area": None,
        "client_uuid": uuid.uuid4(),
    }
    values.update(overrides)
    return NeedDraft(**values)


def _visit(
    actor: User, area: Area, *needs: NeedDraft, ago: timedelta = timedelta(hours=2), **kw: Any
) -> Visit:
    values: dict[str, Any] = {
        "client_uuid": uuid.uuid4(),
        "payload_hash": "h",
        "kind": "home",
        "area": area,
        "started_at": clock.now() - ago,
        "mood": 4,
        "people_met": 2,
        "summary": "入户走访。",
        "needs": needs,
    }
    values.update(kw)
    return services.visit_record(actor=actor, draft=VisitDraft(**values)).visit


def _get(client: Client, user: User, url: str, **params: Any) -> Any:
    client.force_login(user)
    return client.get(url, params)


def _html(response: Any) -> str:
    text: str = response.content.decode()
    return text


def _confirm_form(html: str) -> bool:
    return bool(re.search(r'<details class="wx-action[^"]*" id="act-confirm-observed"', html))


def _listed(response: Any) -> list[int]:
    return [int(pk) for pk in re.findall(r'data-visit="(\d+)"', _html(response))]


def _jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (400, 300), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def _add_photo(visit: Visit, actor: User) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    prepared = need_services.prepare_upload(
        SimpleUploadedFile("门口.jpg", _jpeg(), content_type="image/jpeg"), kind="photo"
    )
    photo, _created = services.visit_photo_add(actor=actor, visit=visit, upload=prepared)
    return photo


# --------------------------------------------------------------------------- the list


def test_officer_sees_own_visits_by_default_and_can_switch_to_the_whole_scope(
    client: Client, world: World
) -> None:
    mine = _visit(world.officer, world.grid_a)
    colleague = _visit(world.dispatcher, world.grid_a)
    elsewhere = _visit(world.officer_b, world.grid_b)

    default = _get(client, world.officer, "/visits/")
    everything = _get(client, world.officer, "/visits/", scope="all")

    assert default.status_code == 200
    assert _listed(default) == [mine.pk]
    assert "我的走访" in _html(default)
    assert set(_listed(everything)) == {mine.pk, colleague.pk}
    assert elsewhere.pk not in _listed(everything)


def test_a_visit_the_officer_went_on_counts_as_theirs(client: Client, world: World) -> None:
    joint = _visit(world.dispatcher, world.grid_a, officers=(world.officer,))
    assert _listed(_get(client, world.officer, "/visits/")) == [joint.pk]


def test_dispatcher_and_leader_see_their_scope_and_handler_gets_403(
    client: Client, world: World
) -> None:
    a = _visit(world.officer, world.grid_a)
    b = _visit(world.officer_b, world.grid_b)
    for user in (world.dispatcher, world.leader):
        assert set(_listed(_get(client, user, "/visits/"))) == {a.pk, b.pk}
    for user in (world.handler, world.outsider):
        assert _get(client, user, "/visits/").status_code == 403


def test_rows_count_needs_by_how_far_they_got(client: Client, world: World) -> None:
    visit = _visit(
        world.officer,
        world.grid_a,
        _need(title="路灯", handling="on_the_spot", reply_text="现场修好。"),
        _need(title="漏水"),
        _need(
            title="积水",
            handling="on_the_spot",
            reply_text="已疏通。",
            confirmed=True,
            satisfaction="satisfied",
        ),
    )
    empty = _visit(world.officer, world.grid_a, ago=timedelta(hours=5))

    html = _html(_get(client, world.officer, "/visits/"))

    row = re.search(rf'data-visit="{visit.pk}".*?</li>', html, re.S)
    assert row
    counts = re.search(r'data-testid="need-counts"([^>]*)>', row.group(0))
    assert counts
    assert 'data-total="3"' in counts.group(1)
    assert 'data-closed="1"' in counts.group(1)
    assert 'data-answered="1"' in counts.group(1)
    assert 'data-pending="1"' in counts.group(1)
    assert "马上就办 2" in row.group(0)
    blank = re.search(rf'data-visit="{empty.pk}".*?</li>', html, re.S)
    assert blank
    assert "未登记诉求" in blank.group(0)


def test_counts_leave_out_needs_the_viewer_cannot_see(client: Client, world: World) -> None:
    # The county dispatcher raised one need in each township during one visit.
    visit = _visit(world.dispatcher, world.grid_a, _need(), _need(area=world.grid_b))
    html = _html(_get(client, world.officer, "/visits/", scope="all"))
    row = re.search(rf'data-visit="{visit.pk}".*?</li>', html, re.S)
    assert row
    assert 'data-total="1"' in row.group(0)


def test_filters_by_kind_mood_needs_area_and_period(client: Client, world: World) -> None:
    forum = _visit(world.dispatcher, world.grid_a, _need(), kind="forum", mood=2)
    home = _visit(world.dispatcher, world.grid_b, mood=5, ago=timedelta(days=40))
    user = world.dispatcher

    assert _listed(_get(client, user, "/visits/", kind="forum")) == [forum.pk]
    assert _listed(_get(client, user, "/visits/", mood="5")) == [home.pk]
    assert _listed(_get(client, user, "/visits/", needs="with")) == [forum.pk]
    assert _listed(_get(client, user, "/visits/", needs="without")) == [home.pk]
    assert _listed(_get(client, user, "/visits/", area=str(world.town_b.pk))) == [home.pk]
    assert _listed(_get(client, user, "/visits/", period="month")) == [forum.pk]


def test_bad_or_foreign_filters_are_ignored_with_a_message(client: Client, world: World) -> None:
    visit = _visit(world.officer, world.grid_a)
    response = _get(client, world.officer, "/visits/", mood="9", area=str(world.grid_b.pk))
    assert response.status_code == 200
    assert 'data-testid="filter-problems"' in _html(response)
    assert _listed(response) == [visit.pk]


def test_list_costs_the_same_queries_however_many_visits(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    def queries() -> int:
        client.force_login(world.dispatcher)
        with CaptureQueriesContext(connection) as captured:
            assert client.get("/visits/").status_code == 200
        return len(captured.captured_queries)

    _visit(world.officer, world.grid_a, _need())
    queries()  # warm: what pages keep between requests (ADR 0026)
    few = queries()
    for i in range(8):
        _visit(
            world.officer,
            world.grid_a,
            _need(),
            _need(),
            ago=timedelta(hours=3 + i),
            officers=(world.dispatcher,),
        )
    assert queries() == few
    with django_assert_max_num_queries(few):
        client.get("/visits/")


def _next_url(response: Any) -> str | None:
    found = re.search(r'href="([^"]+)" data-testid="next-page"', _html(response))
    return found.group(1).replace("&amp;", "&") if found else None


def test_list_pages_through_many_visits_by_cursor(client: Client, world: World) -> None:
    for i in range(27):
        _visit(world.officer, world.grid_a, ago=timedelta(hours=2 + i))
    first = _get(client, world.officer, "/visits/")
    url = _next_url(first)
    assert url is not None
    assert "cursor=" in url
    assert "page=" not in url
    second = client.get(url)
    assert len(_listed(first)) == 25
    assert len(_listed(second)) == 2
    assert not set(_listed(first)) & set(_listed(second))
    assert _next_url(second) is None
    assert 'data-testid="first-page"' in _html(second)
    assert 'data-count="27"' in _html(first)


def test_paging_visits_while_new_ones_are_recorded_shows_each_once(
    client: Client, world: World
) -> None:
    # Given 30 visits, newest first, 25 a page
    for i in range(30):
        _visit(world.officer, world.grid_a, ago=timedelta(hours=40 + i))
    first = _get(client, world.officer, "/visits/")
    seen = _listed(first)
    # When new visits are recorded (newer, and one back-dated between the pages) before the
    # next page is read
    _visit(world.officer, world.grid_a, ago=timedelta(hours=1))
    _visit(world.officer, world.grid_a, ago=timedelta(hours=100))
    url = _next_url(first)
    while url:
        response = client.get(url)
        seen += _listed(response)
        url = _next_url(response)
    # Then no visit is shown twice, every visit of the first listing is shown, and the
    # back-dated one (after the cursor in the order) is reached too
    assert len(seen) == len(set(seen)) == 31
    assert Visit.objects.count() == 32


def test_a_tampered_cursor_shows_the_first_page_with_a_message(
    client: Client, world: World
) -> None:
    for i in range(3):
        _visit(world.officer, world.grid_a, ago=timedelta(hours=2 + i))
    response = _get(client, world.officer, "/visits/", cursor="not-a-cursor")
    assert response.status_code == 200
    assert len(_listed(response)) == 3
    assert "分页游标无效" in _html(response)


# --------------------------------------------------------------------------- the detail page


def test_detail_shows_what_became_of_each_need(client: Client, world: World) -> None:
    place = Place.objects.create(
        area=world.grid_a,
        kind="household",
        name="3组12号",
        contact_name="张大山",
        contact_phone="13812345678",
    )
    visit = _visit(
        world.officer,
        world.grid_a,
        _need(title="路灯不亮", handling="on_the_spot", reply_text="电工现场更换灯泡。"),
        _need(title="屋顶漏水"),
        _need(title="院墙开裂", source="observed"),
        place=place,
        people_met=4,
        sense_gain=4,
    )
    leaking = Need.objects.get(visit=visit, title="屋顶漏水")
    leaking = need_services.need_assign(
        actor=world.dispatcher, need=leaking, version=leaking.version, lead_unit=world.housing
    )
    leaking = need_services.need_accept(actor=world.handler, need=leaking, version=leaking.version)
    need_services.need_progress(
        actor=world.handler, need=leaking, version=leaking.version, note="已联系施工队，周五上门。"
    )

    response = _get(client, world.officer, f"/visits/{visit.pk}/")

    html = _html(response)
    assert response.status_code == 200
    assert "电工现场更换灯泡。" in html
    assert "已联系施工队，周五上门。" in html
    assert "县住建局" in html or "青山县住房和城乡建设局" in html
    assert "望闻问切 · 待群众确认" in html
    assert 'data-status="in_progress"' in html
    for need in Need.objects.filter(visit=visit):
        assert f'href="/needs/{need.number}/"' in html
    # personal data masked; people met is a number
    assert "138****5678" in html
    assert "13812345678" not in html
    assert "张*" in html
    assert "张大山" not in html
    assert re.search(r'data-testid="people-met">4 人', html)
    assert f"/visits/new/?area={world.grid_a.pk}&amp;place={place.pk}" in html


def test_detail_leaves_out_needs_the_viewer_cannot_see(client: Client, world: World) -> None:
    visit = _visit(
        world.dispatcher,
        world.grid_a,
        _need(title="东河的事"),
        _need(title="西岭的事", area=world.grid_b),
    )
    html = _html(_get(client, world.officer, f"/visits/{visit.pk}/"))
    assert "东河的事" in html
    assert "西岭的事" not in html


def test_visit_without_needs_says_so(client: Client, world: World) -> None:
    visit = _visit(world.officer, world.grid_a)
    html = _html(_get(client, world.officer, f"/visits/{visit.pk}/"))
    assert 'data-testid="no-needs"' in html


def test_detail_out_of_scope_is_404(client: Client, world: World) -> None:
    visit = _visit(world.officer, world.grid_a)
    for user in (world.officer_b, world.handler, world.outsider):
        assert _get(client, user, f"/visits/{visit.pk}/").status_code == 404
    assert _get(client, world.leader, f"/visits/{visit.pk}/").status_code == 200
    assert _get(client, world.officer, "/visits/999999/").status_code == 404


def test_anonymous_is_sent_to_login(client: Client, world: World) -> None:
    visit = _visit(world.officer, world.grid_a)
    for url in ("/visits/", f"/visits/{visit.pk}/"):
        response = client.get(url)
        assert response.status_code == 302
        assert "/accounts/login/" in response["Location"]


# --------------------------------------------------------------------------- photos


def test_photos_are_served_inline_only_within_scope(
    client: Client, world: World, media: Any
) -> None:
    visit = _visit(world.officer, world.grid_a)
    photo = _add_photo(visit, world.officer)
    other = _visit(world.officer, world.grid_a, ago=timedelta(hours=4))
    url = f"/visits/{visit.pk}/photos/{photo.pk}/"

    page = _html(_get(client, world.officer, f"/visits/{visit.pk}/"))
    full = _get(client, world.officer, url)
    thumb = _get(client, world.officer, url, thumb="1")

    assert f'src="{url}?thumb=1"' in page
    assert "/media/" not in page
    assert full.status_code == 200
    assert full["Content-Disposition"].startswith("inline")
    assert "private" in full["Cache-Control"]
    assert thumb.status_code == 200
    assert thumb["Content-Type"] == "image/jpeg"
    assert b"".join(thumb.streaming_content) != b"".join(full.streaming_content)
    assert _get(client, world.officer_b, url).status_code == 404
    assert _get(client, world.handler, url).status_code == 404
    # the photo through another visit's URL does not exist
    foreign = f"/visits/{other.pk}/photos/{photo.pk}/"
    assert _get(client, world.officer, foreign).status_code == 404


# ------------------------------------------------------------------ 望闻问切 on the need page


def _observed(world: World) -> Need:
    visit = _visit(world.officer, world.grid_a, _need(title="院墙开裂", source="observed"))
    return Need.objects.get(visit=visit)


def test_need_page_links_back_to_its_visit(client: Client, world: World) -> None:
    need = _observed(world)
    assert need.visit is not None
    html = _html(_get(client, world.officer, f"/needs/{need.number}/"))
    assert re.search(
        rf'data-testid="from-visit">来自走访：<a href="/visits/{need.visit.pk}/">入户走访 \d{{4}}-',
        html,
    )


def test_need_page_names_the_visit_without_a_link_for_who_cannot_open_it(
    client: Client, world: World
) -> None:
    need = _observed(world)
    need = need_services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    html = _html(_get(client, world.handler, f"/needs/{need.number}/"))
    assert 'data-testid="from-visit">来自走访：入户走访' in html
    assert "/visits/" not in html.split('data-testid="from-visit"')[1].split("</div>")[0]


def test_officer_records_the_residents_confirmation(client: Client, world: World) -> None:
    need = _observed(world)
    page = _html(_get(client, world.officer, f"/needs/{need.number}/"))
    assert "望闻问切 · 待群众确认" in page
    assert _confirm_form(page)

    response = client.post(
        f"/needs/{need.number}/confirm-observed/",
        {"version": need.version, "note": "再次入户，群众确认确有此事"},
    )

    assert response.status_code == 302
    need.refresh_from_db()
    assert need.observed_confirmed_at is not None
    after = _html(client.get(f"/needs/{need.number}/"))
    assert "望闻问切 · 群众已确认" in after
    assert not _confirm_form(after)
    assert "群众确认" in after
    assert "再次入户，群众确认确有此事" in after
    event = NeedEvent.objects.filter(need=need).order_by("seq").last()
    assert event is not None
    assert event.action == "confirm_observed"


def test_confirmation_with_a_stale_version_keeps_what_was_typed(
    client: Client, world: World
) -> None:
    need = _observed(world)
    seen = need.version
    need_services.need_supervise(actor=world.dispatcher, need=need, version=seen, note="抓紧")

    client.force_login(world.officer)
    response = client.post(
        f"/needs/{need.number}/confirm-observed/", {"version": seen, "note": "群众说是他家的"}
    )

    assert response.status_code == 409
    assert STALE in _html(response)
    assert "群众说是他家的" in _html(response)
    need.refresh_from_db()
    assert need.observed_confirmed_at is None


def test_voiced_needs_and_handlers_get_no_confirm_form(client: Client, world: World) -> None:
    voiced = world.register()
    html = _html(_get(client, world.dispatcher, f"/needs/{voiced.number}/"))
    assert not _confirm_form(html)
    assert "望闻问切" not in html.split('data-testid="need-header"')[1].split("</header>")[0]
    observed = _observed(world)
    observed = need_services.need_assign(
        actor=world.dispatcher, need=observed, version=observed.version, lead_unit=world.housing
    )
    handler_page = _html(_get(client, world.handler, f"/needs/{observed.number}/"))
    assert not _confirm_form(handler_page)
    client.force_login(world.handler)
    refused = client.post(
        f"/needs/{observed.number}/confirm-observed/", {"version": observed.version}
    )
    assert refused.status_code == 403
