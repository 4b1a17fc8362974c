"""The place list, a household's page, and hand entry: scope, masking, query counts."""

import re
import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import World
from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs.exceptions import InvalidInput, NotPermitted
from wenxu.needs.models import Need
from wenxu.organisations.models import Area
from wenxu.visits import places, services
from wenxu.visits.models import Place, Visit, VisitPlan
from wenxu.visits.services import NeedDraft, VisitDraft

PHONE = "13912348765"
NAME = "张大山"


def _place(area: Area, name: str = "3栋2单元401", **kw: Any) -> Place:
    values: dict[str, Any] = {
        "kind": "household",
        "contact_name": NAME,
        "contact_phone": PHONE,
        "members": 3,
    }
    values.update(kw)
    return Place.objects.create(area=area, name=name, **values)


def _visit(actor: User, place: Place, *needs: NeedDraft, days_ago: int = 1, **kw: Any) -> Visit:
    draft = VisitDraft(
        client_uuid=uuid.uuid4(),
        payload_hash="h",
        kind=kw.pop("kind", "home"),
        area=place.area,
        place=place,
        started_at=clock.now() - timedelta(days=days_ago),
        mood=kw.pop("mood", 4),
        summary=kw.pop("summary", "入户了解老人生活情况。"),
        officers=(actor,),
        needs=needs,
        **kw,
    )
    return services.visit_record(actor=actor, draft=draft).visit


def _need(title: str = "屋顶漏水") -> NeedDraft:
    return NeedDraft(
        title=title,
        description="下雨时卧室屋顶漏水，需要维修。",
        kind="help",
        area=None,
        client_uuid=uuid.uuid4(),
    )


def _get(client: Client, user: User, url: str, **params: Any) -> Any:
    client.force_login(user)
    return client.get(url, params)


def _html(response: Any) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.content.decode())


# --------------------------------------------------------------------------- the list


def test_the_list_shows_places_in_scope_with_visits_and_masked_contacts(
    client: Client, world: World
) -> None:
    visited = _place(world.grid_a, "1号")
    _visit(world.officer, visited, days_ago=400)
    _visit(world.officer, visited, days_ago=0)
    never = _place(world.grid_a, "2号")
    other = _place(world.grid_b, "西岭1号")

    html = _html(_get(client, world.officer, "/places/"))

    assert f'data-place="{visited.pk}"' in html
    assert f'data-place="{never.pk}"' in html
    assert f'data-place="{other.pk}"' not in html
    row = re.search(rf'data-place="{visited.pk}".*?</tr>', html, re.S)
    assert row
    assert ">2</td>" in row.group(0)
    assert clock.today().strftime("%Y-%m-%d") in row.group(0)
    assert 'data-quarter="yes"' in row.group(0)
    never_row = re.search(rf'data-place="{never.pk}".*?</tr>', html, re.S)
    assert never_row
    assert 'data-quarter="no"' in never_row.group(0)
    assert "张**" in html
    assert "139****8765" in html
    assert PHONE not in html
    assert NAME not in html


def test_the_list_filters_by_area_kind_state_and_text(client: Client, world: World) -> None:
    home = _place(world.grid_a, "1号", address="东街")
    works = _place(world.grid_a, "东河酒厂", kind="enterprise")
    gone = _place(world.grid_a, "9号", active=False)
    west = _place(world.grid_b, "西岭1号")

    def shown(**params: Any) -> set[int]:
        html = _html(_get(client, world.dispatcher, "/places/", **params))
        return {int(pk) for pk in re.findall(r'<tr data-place="(\d+)"', html)}

    assert shown() == {home.pk, works.pk, west.pk}
    assert shown(area=world.town_b.pk) == {west.pk}
    assert shown(kind="enterprise") == {works.pk}
    assert shown(active="0") == {gone.pk}
    assert shown(active="all", area=world.grid_a.pk) == {home.pk, works.pk, gone.pk}
    assert shown(q="东街") == {home.pk}
    assert shown(q="酒厂") == {works.pk}


def test_the_area_picker_offers_only_the_viewers_areas(client: Client, world: World) -> None:
    html = _html(_get(client, world.officer, "/places/"))
    assert world.grid_a.name in html
    assert world.grid_b.name not in html
    # an area out of scope in the URL shows nothing of it
    west = _place(world.grid_b, "西岭1号")
    html = _html(_get(client, world.officer, "/places/", area=world.grid_b.pk))
    assert f'data-place="{west.pk}"' not in html


@pytest.mark.parametrize("persona", ["handler", "outsider"])
def test_users_without_an_area_see_no_places(client: Client, world: World, persona: str) -> None:
    place = _place(world.grid_a)
    html = _html(_get(client, getattr(world, persona), "/places/"))
    assert f'data-place="{place.pk}"' not in html
    assert 'data-testid="empty"' in html
    assert "/places/new/" not in html


def test_the_list_query_count_does_not_grow_with_places(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    first = _place(world.grid_a, "1号")
    _visit(world.officer, first)
    client.force_login(world.officer)
    with CaptureQueriesContext(connection) as few:
        client.get("/places/")
    for n in range(2, 30):
        place = _place(world.grid_a, f"{n}号")
        _visit(world.officer, place, days_ago=n)

    with django_assert_max_num_queries(len(few.captured_queries)):
        html = _html(client.get("/places/"))

    assert html.count("<tr data-place=") == 29


def test_the_list_pages_by_cursor_keeping_the_filters(client: Client, world: World) -> None:
    Place.objects.bulk_create(
        Place(area=world.grid_a, kind="household", name=f"{n:03d}号") for n in range(55)
    )
    first = _html(_get(client, world.officer, "/places/", kind="household"))
    assert first.count("<tr data-place=") == 50
    assert 'data-count="55"' in first
    found = re.search(r'href="([^"]+)" data-testid="next-page"', first)
    assert found is not None
    url = found.group(1).replace("&amp;", "&")
    assert url.startswith("?kind=household&cursor=")
    second = _html(client.get("/places/" + url))
    assert second.count("<tr data-place=") == 5
    names = re.findall(r"(\d{3})号", first) + re.findall(r"(\d{3})号", second)
    assert sorted(set(names)) == [f"{n:03d}" for n in range(55)]
    assert 'data-testid="next-page"' not in second
    assert 'href="?kind=household" data-testid="first-page"' in second


# --------------------------------------------------------------------------- a household


def test_the_household_page_shows_visits_and_needs_newest_first(
    client: Client, world: World
) -> None:
    place = _place(world.grid_a)
    old = _visit(world.officer, place, _need("路灯不亮"), days_ago=60, summary="第一次入户")
    new = _visit(world.officer, place, _need("屋顶漏水"), _need("低保咨询"), days_ago=2)
    quiet = _visit(world.officer, place, days_ago=1, mood=2)

    html = _html(_get(client, world.officer, f"/places/{place.pk}/"))

    order = [int(pk) for pk in re.findall(r'<li class="card[^"]*" data-visit="(\d+)"', html)]
    assert order == [quiet.pk, new.pk, old.pk]
    assert f'href="/visits/{new.pk}/"' in html
    block = re.search(rf'data-visit="{new.pk}".*?</li>\s*</ul>', html, re.S)
    assert block
    assert "屋顶漏水" in block.group(0)
    assert "低保咨询" in block.group(0)
    assert 'data-status="registered"' in block.group(0)
    assert "路灯不亮" not in block.group(0)
    assert re.search(r'data-testid="visit-count">3<', html)
    assert re.search(r'data-testid="need-count">3<', html)
    assert "王网格" in html  # the officer who went
    assert "139****8765" in html
    assert PHONE not in html
    assert NAME not in html


def test_the_household_page_shows_only_needs_the_viewer_may_see(
    client: Client, world: World
) -> None:
    # Given a grid worker of 东河村 only, and a visit to a household there whose need was
    # (exceptionally) registered for 西岭 by the county dispatcher
    village_worker = User.objects.create_user(username="cun", password="pw-cun")
    village_worker.memberships.create(role="officer", area=world.village_a)
    place = _place(world.grid_a)
    visit = _visit(world.officer, place, _need("看得见"))
    hidden = world.register(actor=world.dispatcher, area=world.grid_b, title="看不见")
    Need.objects.filter(pk=hidden.pk).update(visit=visit)

    html = _html(_get(client, village_worker, f"/places/{place.pk}/"))

    assert "看得见" in html
    assert "看不见" not in html
    assert "看不见" in _html(_get(client, world.leader, f"/places/{place.pk}/"))


@pytest.mark.parametrize("persona", ["officer_b", "handler", "outsider"])
def test_a_household_out_of_scope_is_404(client: Client, world: World, persona: str) -> None:
    place = _place(world.grid_a)
    assert _get(client, getattr(world, persona), f"/places/{place.pk}/").status_code == 404
    assert _get(client, getattr(world, persona), f"/places/{place.pk}/edit/").status_code == 404


def test_the_household_page_query_count_does_not_grow(
    client: Client, world: World, django_assert_max_num_queries: Any
) -> None:
    place = _place(world.grid_a)
    _visit(world.officer, place, _need())
    client.force_login(world.officer)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/places/{place.pk}/")
    for n in range(2, 12):
        _visit(world.officer, place, _need(f"诉求{n}"), _need(f"另一项{n}"), days_ago=n)

    with django_assert_max_num_queries(len(few.captured_queries)):
        html = _html(client.get(f"/places/{place.pk}/"))

    assert re.search(r'data-testid="visit-count">11<', html)


# --------------------------------------------------------------------------- hand entry


def test_an_officer_adds_a_place_in_their_grid(client: Client, world: World) -> None:
    client.force_login(world.officer)
    response = client.post(
        "/places/new/",
        {
            "area": world.grid_a.pk,
            "kind": "household",
            "name": " 5号 ",
            "contact_name": "李四",
            "contact_phone": "139 1234 8765",
            "members": "4",
            "active": "on",
        },
    )
    place = Place.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/places/{place.pk}/"
    assert (place.name, place.contact_phone, place.members, place.active) == (
        "5号",
        PHONE,
        4,
        True,
    )


def test_the_form_refuses_a_grid_out_of_scope_and_a_duplicate(client: Client, world: World) -> None:
    _place(world.grid_a, "5号")
    client.force_login(world.officer)

    outside = client.post(
        "/places/new/", {"area": world.grid_b.pk, "kind": "household", "name": "1号"}
    )
    twin = client.post(
        "/places/new/", {"area": world.grid_a.pk, "kind": "household", "name": "5号"}
    )
    bad_phone = client.post(
        "/places/new/",
        {"area": world.grid_a.pk, "kind": "household", "name": "6号", "contact_phone": "123"},
    )

    assert outside.status_code == 422
    assert twin.status_code == 422
    assert "该网格已有同名的走访对象" in twin.content.decode()
    assert bad_phone.status_code == 422
    assert "联系电话格式不对" in bad_phone.content.decode()
    assert Place.objects.count() == 1


def test_the_service_refuses_an_area_out_of_scope(world: World) -> None:
    values = places.PlaceValues(area=world.grid_b, kind="household", name="1号")
    with pytest.raises(InvalidInput):
        places.place_create(actor=world.officer, values=values)
    with pytest.raises(NotPermitted):
        places.place_create(actor=world.leader, values=values)


def test_the_edit_form_never_shows_the_stored_contact(client: Client, world: World) -> None:
    place = _place(world.grid_a)

    html = _html(_get(client, world.officer, f"/places/{place.pk}/edit/"))

    assert PHONE not in html
    assert NAME not in html
    assert "139****8765" in html


def test_editing_keeps_the_contact_unless_replaced_or_cleared(client: Client, world: World) -> None:
    place = _place(world.grid_a)
    client.force_login(world.officer)
    form = {
        "area": world.grid_a.pk,
        "kind": "household",
        "name": "3栋2单元402",
        "members": "2",
        "active": "",
        "updated": place.updated_at.isoformat(),
    }

    assert client.post(f"/places/{place.pk}/edit/", form).status_code == 302

    place.refresh_from_db()
    assert (place.name, place.contact_phone, place.contact_name, place.active) == (
        "3栋2单元402",
        PHONE,
        NAME,
        False,  # deactivated, not deleted
    )
    form.update(updated=place.updated_at.isoformat(), clear_contact="on")
    assert client.post(f"/places/{place.pk}/edit/", form).status_code == 302
    place.refresh_from_db()
    assert (place.contact_phone, place.contact_name) == ("", "")


def test_a_stale_edit_is_refused_and_keeps_what_was_typed(client: Client, world: World) -> None:
    place = _place(world.grid_a)
    seen = place.updated_at.isoformat()
    place.note = "别人改过"
    place.save()
    client.force_login(world.officer)

    response = client.post(
        f"/places/{place.pk}/edit/",
        {"area": world.grid_a.pk, "kind": "household", "name": "我的改动", "updated": seen},
    )

    assert response.status_code == 409
    assert "我的改动" in response.content.decode()
    place.refresh_from_db()
    assert place.name == "3栋2单元401"


@pytest.mark.parametrize("persona", ["leader", "handler", "outsider"])
def test_who_may_not_edit_gets_403_on_the_write_pages(
    client: Client, world: World, persona: str
) -> None:
    place = _place(world.grid_a)
    client.force_login(getattr(world, persona))
    assert client.get("/places/new/").status_code == 403
    assert (
        client.post(
            "/places/new/", {"area": world.grid_a.pk, "kind": "household", "name": "x"}
        ).status_code
        == 403
    )
    if persona == "leader":  # reads the place, may not change it
        assert client.get(f"/places/{place.pk}/").status_code == 200
        assert client.get(f"/places/{place.pk}/edit/").status_code == 403
    assert Place.objects.count() == 1


def test_an_officer_of_another_township_cannot_edit(client: Client, world: World) -> None:
    place = _place(world.grid_a)
    client.force_login(world.officer_b)
    response = client.post(
        f"/places/{place.pk}/edit/", {"area": world.grid_b.pk, "kind": "household", "name": "x"}
    )
    assert response.status_code == 404
    place.refresh_from_db()
    assert place.area == world.grid_a


# --------------------------------------------------------------------------- admin


def test_the_admin_lists_places_without_personal_data(client: Client, world: World) -> None:
    admin = User.objects.create_superuser(username="root", password="pw-root")
    place = _place(world.grid_a)
    client.force_login(admin)

    listing = _html(client.get("/admin/visits/place/"))
    change = _html(client.get(f"/admin/visits/place/{place.pk}/change/"))

    assert place.name in listing
    assert PHONE not in listing
    assert NAME not in listing
    assert PHONE not in change
    assert "139****8765" in change
    assert client.get("/admin/visits/visit/").status_code == 200
    assert client.get("/admin/visits/visitplan/").status_code == 200


def test_the_admin_cannot_move_a_place_to_another_area(client: Client, world: World) -> None:
    admin = User.objects.create_superuser(username="root", password="pw-root")
    place = _place(world.grid_a, note="旧备注")
    client.force_login(admin)

    response = client.post(
        f"/admin/visits/place/{place.pk}/change/",
        {
            "area": world.grid_b.pk,
            "kind": "enterprise",
            "name": place.name,
            "address": "",
            "members": 3,
            "note": "新备注",
            "active": "on",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    place.refresh_from_db()
    assert place.area == world.grid_a
    assert (place.kind, place.note) == ("enterprise", "新备注")
    assert (place.contact_name, place.contact_phone) == (NAME, PHONE)


def test_visit_plans_are_read_only_in_the_admin_and_link_to_the_plan_page(
    client: Client, world: World
) -> None:
    admin = User.objects.create_superuser(username="root", password="pw-root")
    plan = VisitPlan.objects.create(
        name="东河村全覆盖",
        kind="coverage",
        period="quarter",
        area=world.grid_a,
        starts_on=clock.today(),
    )
    client.force_login(admin)

    page = _html(client.get(f"/admin/visits/visitplan/{plan.pk}/change/"))
    moved = client.post(
        f"/admin/visits/visitplan/{plan.pk}/change/",
        {
            "name": "改到西岭",
            "kind": "coverage",
            "period": "quarter",
            "area": world.grid_b.pk,
            "starts_on": clock.today().isoformat(),
            "active": "on",
        },
    )

    assert f'href="/coverage/plans/{plan.pk}/"' in page
    assert moved.status_code == 403
    plan.refresh_from_db()
    assert (plan.name, plan.area) == ("东河村全覆盖", world.grid_a)
    assert client.get("/admin/visits/visitplan/add/").status_code == 403


# --------------------------------------------------------------------------- long histories


def test_a_long_history_shows_the_real_totals_and_the_listing_limit(
    client: Client, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(places, "HOUSEHOLD_VISITS_SHOWN", 2)
    place = _place(world.grid_a)
    for n in range(1, 4):
        _visit(world.officer, place, _need(f"诉求{n}"), days_ago=n)

    html = _html(_get(client, world.officer, f"/places/{place.pk}/"))

    assert len(re.findall(r'<li class="card[^"]*" data-visit="', html)) == 2
    assert re.search(r'data-testid="visit-count">3<', html)
    assert re.search(r'data-testid="need-count">3<', html)
    assert re.search(r'data-testid="visits-truncated">只列出最近 2 次走访（共 3 次）', html)
