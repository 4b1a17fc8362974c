from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from wenxu.api.tests.conftest import Lifecycle
from wenxu.needs import services
from wenxu.needs.models import Category, Need
from wenxu.needs.services import RequesterInput

NEED_FIELDS = {
    "number", "tracking_code", "title", "description", "category", "kind", "urgency",
    "nature_tags", "source", "area", "requester", "status", "handling", "lead_unit", "co_units",
    "response_due", "resolve_due", "responded_at", "replied_at", "outcome", "reply_text",
    "followup_date", "callback", "reopen_count", "extension_count", "overdue", "version",
    "address", "registered_at", "extension_pending_days", "supervised", "merged_into",
    "client_uuid", "about_unit", "about_unit_disclosed",
}  # fmt: skip


def _numbers(response):
    assert response.status_code == 200, response.content
    return [item["number"] for item in response.json()["items"]]


def test_detail_has_the_issue_field_names_and_events(world, api_as, life):
    need = life.replied()

    body = api_as(world.officer).get(f"/needs/{need.number}").json()

    assert set(body) == NEED_FIELDS | {"events"}
    assert body["category"] == {"id": world.cat_roads.pk, "name": "道路与照明"}
    assert body["area"] == {"id": world.grid_a.pk, "name": "东河村第一网格"}
    assert body["lead_unit"] == {"id": world.housing.pk, "name": "青山县住房和城乡建设局"}
    assert body["status"] == "replied"
    assert body["outcome"] == "resolved"
    assert body["callback"] is None
    assert [e["action"] for e in body["events"]] == ["register", "assign", "accept", "reply"]
    assert body["events"][0] == {
        "seq": 1,
        "action": "register",
        "from_status": None,
        "to_status": "registered",
        "actor": "王网格",
        "note": "",
        "at": body["events"][0]["at"],
    }
    assert body["events"][0]["at"].endswith("+08:00")


def test_list_items_have_the_need_fields_without_events(world, api_as, life):
    life.registered()

    item = api_as(world.officer).get("/needs").json()["items"][0]

    assert set(item) == NEED_FIELDS


def test_requester_phone_and_name_come_back_masked(world, api_as, life):
    need = life.registered(requester=RequesterInput(name="张三丰", phone="13812345678"))

    detail = api_as(world.dispatcher).get(f"/needs/{need.number}").json()
    listed = api_as(world.dispatcher).get("/needs").json()["items"][0]

    assert detail["requester"] == {"name": "张**", "phone": "138****5678", "confidential": False}
    assert listed["requester"] == detail["requester"]
    assert "13812345678" not in str(detail)


def test_events_carry_no_personal_data(world, api_as):
    officer = api_as(world.officer)
    body = {
        "title": "低保申请咨询",
        "description": "咨询低保申请条件。",
        "kind": "consult",
        "source": "visit",
        "area": world.grid_a.pk,
        "requester": {"name": "钱七", "phone": "13512345678"},
    }
    number = officer.post("/needs", body).json()["number"]
    need = Need.objects.get(number=number)
    services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )

    response = api_as(world.dispatcher).get(f"/needs/{number}")

    events = response.json()["events"]
    assert {key for event in events for key in event} == {
        "seq", "action", "from_status", "to_status", "actor", "note", "at",
    }  # fmt: skip
    assert "13512345678" not in response.content.decode()
    assert "钱七" not in response.content.decode()


def test_confidential_requester_shows_neither_name_nor_phone(world, api_as, life):
    need = life.registered(
        requester=RequesterInput(name="李四", phone="13912345678", confidential=True)
    )

    body = api_as(world.dispatcher).get(f"/needs/{need.number}").json()

    assert body["requester"] == {"name": "（保密）", "phone": "", "confidential": True}


def test_registered_requester_is_masked_in_the_register_response(world, api_as):
    response = api_as(world.officer).post(
        "/needs",
        {
            "title": "楼道堆物",
            "description": "三单元楼道堆满杂物，存在消防隐患。",
            "kind": "complaint",
            "source": "visit",
            "area": world.grid_a.pk,
            "requester": {"name": "王五", "phone": "13712345678"},
        },
    )

    assert response.status_code == 201
    assert response.json()["requester"]["phone"] == "137****5678"


def test_callback_is_shown_once_done(world, api_as, life):
    need = life.replied()
    services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="yes",
        satisfaction="satisfied",
        channel="phone",
    )

    body = api_as(world.officer).get(f"/needs/{need.number}").json()

    assert body["status"] == "closed"
    assert body["callback"]["resolved"] == "yes"
    assert body["callback"]["satisfaction"] == "satisfied"
    assert body["callback"]["channel"] == "phone"
    assert body["callback"]["at"]


def test_need_out_of_scope_is_404_and_absent_from_list(world, api_as):
    mine = Lifecycle(world, "a").registered()
    theirs = Lifecycle(world, "b").registered()
    officer = api_as(world.officer)

    assert _numbers(officer.get("/needs")) == [mine.number]
    response = officer.get(f"/needs/{theirs.number}")
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "message": "未找到该诉求，或您无权查看。"}


def test_unknown_number_is_404(world, api_as):
    assert api_as(world.dispatcher).get("/needs/WX-2099-999999").status_code == 404


def test_handler_lists_only_needs_of_their_unit(world, api_as, life):
    mine = life.assigned()
    life.registered()
    Lifecycle(world, "b").assigned()

    assert _numbers(api_as(world.handler).get("/needs")) == [mine.number]


def test_status_filter_accepts_repeated_and_comma_separated_values(world, api_as, life):
    registered = life.registered()
    assigned = life.assigned()
    replied = life.replied()
    dispatcher = api_as(world.dispatcher)

    assert _numbers(dispatcher.get("/needs", {"status": "registered"})) == [registered.number]
    both = {registered.number, assigned.number}
    assert set(_numbers(dispatcher.get("/needs", {"status": ["registered", "assigned"]}))) == both
    assert set(_numbers(dispatcher.get("/needs", {"status": "assigned,replied"}))) == {
        assigned.number,
        replied.number,
    }


def test_unknown_status_filter_is_422_on_status(world, api_as):
    response = api_as(world.dispatcher).get("/needs", {"status": "done"})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["status"]


def test_unit_filter_includes_sub_units_and_co_units(world, api_as):
    roads_need = world.register()
    services.need_assign(
        actor=world.dispatcher,
        need=roads_need,
        version=roads_need.version,
        lead_unit=world.transport_roads,
    )
    co_need = world.register()
    services.need_assign(
        actor=world.dispatcher,
        need=co_need,
        version=co_need.version,
        lead_unit=world.housing,
        co_units=[world.transport],
    )
    world.assigned()  # housing only

    numbers = _numbers(api_as(world.dispatcher).get("/needs", {"unit": world.transport.pk}))

    assert set(numbers) == {roads_need.number, co_need.number}


def test_area_filter_covers_the_subtree(world, api_as):
    a = Lifecycle(world, "a").registered()
    Lifecycle(world, "b").registered()

    assert _numbers(api_as(world.dispatcher).get("/needs", {"area": world.town_a.pk})) == [a.number]


def test_category_filter_covers_the_subtree(world, api_as, life):
    roads = life.registered()
    water = life.registered(category=world.cat_water)
    parent = Category.objects.get(name="城乡建设")
    dispatcher = api_as(world.dispatcher)

    assert _numbers(dispatcher.get("/needs", {"category": world.cat_water.pk})) == [water.number]
    assert set(_numbers(dispatcher.get("/needs", {"category": parent.pk}))) == {
        roads.number,
        water.number,
    }


@pytest.mark.parametrize("field", ["unit", "area", "category"])
def test_unknown_reference_id_in_filter_is_422_on_that_field(world, api_as, field):
    response = api_as(world.dispatcher).get("/needs", {field: 999999})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == [field]


def test_q_finds_chinese_text_in_title_description_and_address(world, api_as, life):
    lamp = life.registered(title="路灯不亮", description="晚上出行不便")
    water = life.registered(title="自来水浑浊", description="水龙头出黄水", address="东河村三组")
    dispatcher = api_as(world.dispatcher)

    assert _numbers(dispatcher.get("/needs", {"q": "路灯"})) == [lamp.number]
    assert _numbers(dispatcher.get("/needs", {"q": "黄水"})) == [water.number]
    assert _numbers(dispatcher.get("/needs", {"q": "三组"})) == [water.number]
    assert _numbers(dispatcher.get("/needs", {"q": lamp.number})) == [lamp.number]
    assert _numbers(dispatcher.get("/needs", {"q": "不存在的词"})) == []


def test_overdue_filter_finds_needs_past_their_resolve_due_without_reply(world, api_as, life):
    late = life.in_progress()
    answered = life.replied()
    unassigned = life.registered()
    dispatcher = api_as(world.dispatcher)
    assert _numbers(dispatcher.get("/needs", {"overdue": "true"})) == []

    with time_machine.travel(late.resolve_due + timedelta(hours=1), tick=False):
        overdue = _numbers(dispatcher.get("/needs", {"overdue": "true"}))
        not_overdue = _numbers(dispatcher.get("/needs", {"overdue": "false"}))
        detail = dispatcher.get(f"/needs/{late.number}").json()

    assert overdue == [late.number]
    assert set(not_overdue) == {answered.number, unassigned.number}
    assert detail["overdue"] is True


def test_keyset_pagination_walks_every_page_without_duplicates(world, api_as, life):
    created = {life.registered(title=f"诉求{i}").number for i in range(23)}
    dispatcher = api_as(world.dispatcher)
    seen: list[str] = []
    cursor = None
    pages = 0

    while True:
        params = {"limit": 5, **({"cursor": cursor} if cursor else {})}
        body = dispatcher.get("/needs", params).json()
        seen += [item["number"] for item in body["items"]]
        pages += 1
        cursor = body["next"]
        if cursor is None:
            break

    assert pages == 5
    assert len(seen) == len(set(seen)) == 23
    assert set(seen) == created
    assert seen == sorted(seen, reverse=True)


def test_pagination_keeps_working_when_needs_are_added_between_pages(world, api_as, life):
    first = [life.registered(title=f"旧{i}").number for i in range(4)]
    dispatcher = api_as(world.dispatcher)
    page1 = dispatcher.get("/needs", {"limit": 2}).json()

    life.registered(title="新登记")
    page2 = dispatcher.get("/needs", {"limit": 2, "cursor": page1["next"]}).json()

    numbers = [i["number"] for i in page1["items"] + page2["items"]]
    assert numbers == list(reversed(first))
    assert page2["next"] is None


def test_bad_cursor_is_422_on_cursor(world, api_as):
    response = api_as(world.dispatcher).get("/needs", {"cursor": "@@not-a-cursor"})

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["cursor"]


@pytest.mark.parametrize(("limit", "message"), [(0, "不能小于 1。"), (201, "不能大于 200。")])
def test_limit_outside_1_to_200_is_422(world, api_as, limit, message):
    response = api_as(world.dispatcher).get("/needs", {"limit": limit})

    assert response.status_code == 422
    assert response.json()["errors"] == {"limit": [message]}


def test_default_page_is_50(world, api_as, life):
    for i in range(51):
        life.registered(title=f"诉求{i}")

    body = api_as(world.dispatcher).get("/needs").json()

    assert len(body["items"]) == 50
    assert body["next"] is not None


def test_list_query_count_does_not_grow_with_the_page(world, api_as, django_assert_max_num_queries):
    life_a, life_b = Lifecycle(world, "a"), Lifecycle(world, "b")
    for i in range(12):
        life_a.in_progress(
            title=f"诉求A{i}", requester=RequesterInput(name="张三", phone="13800001111")
        )
        life_b.replied(title=f"诉求B{i}")
    for _ in range(8):
        need = life_a.registered()
        services.need_assign(
            actor=world.dispatcher,
            need=need,
            version=need.version,
            lead_unit=world.housing,
            co_units=[world.transport, world.town_a_gov],
        )
    into = life_a.registered()
    for _ in range(3):
        merged = life_a.registered()
        services.need_merge(actor=world.dispatcher, need=merged, version=merged.version, into=into)
    dispatcher = api_as(world.dispatcher)

    # token, token touch, memberships, needs, co units
    with django_assert_max_num_queries(6):
        response = dispatcher.get("/needs", {"limit": 200})

    items = response.json()["items"]
    assert len(items) == 36
    assert any(item["merged_into"] == into.number for item in items)
    assert any(len(item["co_units"]) == 2 for item in items)


def test_detail_query_count_is_constant(world, api_as, life, django_assert_max_num_queries):
    need = life.replied()
    dispatcher = api_as(world.dispatcher)
    dispatcher.get(f"/needs/{need.number}")  # warm: what pages keep between requests (ADR 0026)

    with django_assert_max_num_queries(8):
        response = dispatcher.get(f"/needs/{need.number}")

    assert len(response.json()["events"]) == 4


def test_times_are_in_shanghai_time(world, api_as, life):
    need = life.assigned()

    body = api_as(world.dispatcher).get(f"/needs/{need.number}").json()

    assert body["resolve_due"].endswith("+08:00")
    assert body["registered_at"].startswith(timezone.localdate().isoformat()[:4])
