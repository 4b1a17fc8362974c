"""What a request shows: personal data masked, wenxu's fields and public steps under
extensions, FixMyStreet-style statuses, filters, paging, and a constant number of queries."""

from datetime import timedelta
from decimal import Decimal
from typing import Any

import time_machine
from django.test import Client
from django.utils import timezone

from conftest import World
from wenxu.api.open311.tests.conftest import Keys, form, get, post
from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.services import RequesterInput


def _one(client: Client, keys: Keys, need: Need, **params: Any) -> dict[str, Any]:
    response = get(client, f"requests/{need.number}", api_key=keys.town_a, **params)
    assert response.status_code == 200, response.content
    data = response.json()
    assert len(data) == 1
    item: dict[str, Any] = data[0]
    return item


def test_personal_data_never_leaves_and_the_place_is_coarse(
    world: World, keys: Keys, client: Client
) -> None:
    # Given a resident who wrote their name, phone and ID into the description
    need = world.register(
        description="我是张三丰，电话13812345678，身份证110101199003071234，村口路灯坏了。",
        address="东河村 12 组 3 号",
        latitude=Decimal("30.274567"),
        longitude=Decimal("120.155432"),
        requester=RequesterInput(name="张三丰", phone="13812345678"),
    )
    services.need_withdraw(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        reason="张三丰来电（13812345678）说已自行修好。",
    )

    for fmt in ("json", "xml"):
        body = get(client, f"requests/{need.number}", fmt, api_key=keys.town_a, extensions="1")
        text = body.content.decode()
        # Then no name, phone, ID, house number or tracking code appears, in either format
        for secret in ("张三丰", "三丰", "13812345678", "110101199003071234", "12 组 3 号"):
            assert secret not in text
        assert need.tracking_code not in text
        assert "dispatcher" not in text
        assert "调度员" not in text
    item = _one(client, keys, need)
    assert item["address"] == "东河村****"
    assert (item["lat"], item["long"]) == (30.275, 120.155)
    assert "***" in item["description"]
    assert "路灯坏了" in item["description"]
    assert item["status"] == "closed"
    # The withdrawal's reason is a dispatcher's note: the public text is fixed
    assert item["status_notes"] == "该诉求已撤销。"
    assert "修好" not in body.content.decode()


def test_extensions_carry_wenxu_fields_statuses_and_public_notes(
    world: World, keys: Keys, client: Client
) -> None:
    # Given a need handled to the resident's verdict, with a co unit and a progress note
    need = world.in_progress()
    need.co_units.add(world.transport)
    services.need_progress(
        actor=world.handler, need=need, version=need.version, note="内部：联系王师傅 13900001111"
    )
    need = Need.objects.get(pk=need.pk)
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已更换路灯，恢复照明。",
    )
    plain = _one(client, keys, need)
    assert "extended_attributes" not in plain
    assert "notes" not in plain
    assert plain["status"] == "open"  # replied: open until the resident's callback
    assert plain["agency_responsible"] == world.housing.name
    assert plain["status_notes"] == "已更换路灯，恢复照明。"
    assert plain["expected_datetime"] is not None
    services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="partly",
        satisfaction="basic",
    )

    item = _one(client, keys, need, extensions="true")

    extended = item["extended_attributes"]
    assert item["status"] == "closed"
    assert extended["status"] == "FIXED"
    assert extended["wenxu_status"] == "closed"
    assert extended["ledger_number"] == need.number
    assert extended["lead_unit"] == world.housing.name
    assert extended["co_units"] == [world.transport.name]
    assert extended["outcome"] == "resolved"
    assert (extended["verdict_resolved"], extended["verdict_satisfaction"]) == ("partly", "basic")
    assert extended["resolve_due"].endswith("+08:00")
    steps = [(n["type"], n["status"]) for n in item["notes"]]
    assert steps == [
        ("register", "OPEN"),
        ("assign", "ACTION_SCHEDULED"),
        ("accept", "IN_PROGRESS"),
        ("reply", "FIXED"),
        ("callback", "FIXED"),
    ]
    assert item["notes"][1]["description"] == f"交由{world.housing.name}办理"
    assert "王师傅" not in str(item)  # progress notes stay inside


def test_statuses_map_to_fixmystreet_names(world: World, keys: Keys, client: Client) -> None:
    explained = world.replied("explained")
    referred = world.replied("referred")
    planned = world.replied("planned")
    returned = world.assigned()
    services.need_return(
        actor=world.handler, need=returned, version=returned.version, reason="不属于本单位"
    )
    target = world.register()
    merged = world.register()
    services.need_merge(actor=world.dispatcher, need=merged, version=merged.version, into=target)
    disputed = world.replied()
    services.need_callback(
        actor=world.officer,
        need=disputed,
        version=disputed.version,
        channel="phone",
        resolved="no",
        satisfaction="dissatisfied",
    )

    def status(need: Need) -> str:
        return str(_one(client, keys, need, extensions="true")["extended_attributes"]["status"])

    assert status(explained) == "NO_FURTHER_ACTION"
    assert status(referred) == "NOT_COUNCILS_RESPONSIBILITY"
    assert status(planned) == "ACTION_SCHEDULED"
    assert status(returned) == "OPEN"
    assert status(disputed) == "CLOSED"  # closed as resolved, but the resident says it is not
    assert _one(client, keys, disputed, extensions="1")["notes"][-1]["status"] == "CLOSED"
    notes = _one(client, keys, returned, extensions="true")["notes"]
    assert notes[-1]["status"] == "INTERNAL_REFERRAL"
    merged_item = _one(client, keys, merged, extensions="true")
    assert merged_item["status"] == "closed"
    assert merged_item["extended_attributes"]["status"] == "DUPLICATE"
    assert target.number in merged_item["status_notes"]


def test_filters_window_and_pages(world: World, keys: Keys, client: Client) -> None:
    # Given an old need (120 days ago), and a closed and two open ones now
    with time_machine.travel(timezone.now() - timedelta(days=120)):
        old = world.register()
    open_one = world.register(category=world.cat_water)
    withdrawn = world.register()
    services.need_withdraw(
        actor=world.dispatcher, need=withdrawn, version=withdrawn.version, reason="重复"
    )
    newest = world.register()

    def numbers(**params: Any) -> list[str]:
        response = get(client, "requests", api_key=keys.town_a, **params)
        assert response.status_code == 200, response.content
        return [item["service_request_id"] for item in response.json()]

    # The default window is the last 90 days, newest first
    assert numbers() == [newest.number, withdrawn.number, open_one.number]
    assert numbers(status="closed") == [withdrawn.number]
    assert numbers(status="open") == [newest.number, open_one.number]
    assert numbers(status="open,closed") == numbers()
    assert numbers(service_code=str(world.cat_water.pk)) == [open_one.number]
    start = (timezone.now() - timedelta(days=125)).isoformat(timespec="seconds")
    assert numbers(start_date=start) == [old.number]
    # service_request_id overrides the other arguments, and reaches outside the window
    assert numbers(service_request_id=f"{old.number},{newest.number}", status="closed") == [
        newest.number,
        old.number,
    ]
    # page / page_size
    assert numbers(page_size="2") == [newest.number, withdrawn.number]
    assert numbers(page_size="2", page="2") == [open_one.number]
    assert numbers(page_size="2", page="3") == []


def test_at_most_the_configured_number_of_requests(
    world: World, keys: Keys, client: Client, settings: Any
) -> None:
    settings.WENXU_OPEN311_MAX_REQUESTS = 2
    for _i in range(3):
        world.register()
    assert len(get(client, "requests", api_key=keys.town_a).json()) == 2
    assert len(get(client, "requests", api_key=keys.town_a, page_size="50").json()) == 2


def test_listing_costs_the_same_queries_for_1_or_30_needs(
    world: World, keys: Keys, client: Client, django_assert_max_num_queries: Any
) -> None:
    def listing() -> int:
        response = get(client, "requests", "xml", api_key=keys.town_a, extensions="true")
        assert response.status_code == 200
        return int(response.content.count(b"<request>"))

    need = world.replied()
    need.co_units.add(world.transport)
    # (time stands still, so that both listings count in the same rate-limit minute)
    with time_machine.travel(timezone.now(), tick=False):
        listing()  # warm: the key's last-use stamp and its rate-limit counter
        # key, rate-limit counter (database cache: up to 12), areas, needs, events, co units,
        # unit names
        with django_assert_max_num_queries(20) as one:
            assert listing() == 1
        for _i in range(29):
            replied = world.replied()
            replied.co_units.add(world.transport, world.town_a_gov)
        with django_assert_max_num_queries(len(one.captured_queries)):
            assert listing() == 30


def test_posting_stores_the_client_requester_and_place(
    world: World, keys: Keys, client: Client
) -> None:
    # Without attribute[area]: 东河镇's key finds the grid by the longest name in the address
    response = post(
        client,
        "json",
        form(
            world,
            keys.town_a,
            **{"attribute[area]": None, "address_string": "东河村第一网格 5 号楼前"},
            lat="30.1234567",
            account_id="u-42",
        ),
    )
    assert response.status_code == 200, response.content
    created = response.json()[0]
    need = Need.objects.select_related("requester").get(number=created["service_request_id"])
    assert created["account_id"] == "u-42"
    assert created["token"] == str(need.client_uuid)
    assert need.area == world.grid_a
    assert need.source == "hotline"
    assert need.status == "registered"
    assert need.recorded_by is None
    assert need.latitude == Decimal("30.123457")
    assert need.requester is not None
    assert (need.requester.name, need.requester.phone) == ("张三", "13812345678")
    event = NeedEvent.objects.get(need=need)
    assert event.actor is None
    assert event.data["client"] == "东河镇平台"
    assert event.data["media_url"] == "https://img.example.com/p/1.jpg"
    # The grid key needs no area at all; the village is found in the address for 12345's key
    single = post(client, "xml", form(world, keys.grid_a, **{"attribute[area]": None}))
    assert single.status_code == 200
    assert Need.objects.order_by("-id").first().area == world.grid_a  # type: ignore[union-attr]
    village = post(
        client,
        "json",
        form(world, keys.everywhere, **{"attribute[area]": None, "address_string": "西岭村"}),
    )
    assert village.status_code == 200
    assert Need.objects.order_by("-id").first().area == world.village_b  # type: ignore[union-attr]


def test_a_service_definition_lists_the_places_of_the_key_that_asks(
    world: World, keys: Keys, client: Client
) -> None:
    code = str(world.cat_roads.pk)

    def area(**params: Any) -> dict[str, Any]:
        response = get(client, f"services/{code}", **params)
        assert response.status_code == 200, response.content
        attribute: dict[str, Any] = response.json()["attributes"][0]
        assert attribute["code"] == "area"
        return attribute

    single = area(api_key=keys.grid_a)
    assert single["required"] is False
    assert single["values"] == [
        {"key": str(world.grid_a.pk), "name": "东河镇 / 东河村 / 东河村第一网格"}
    ]
    town = area(api_key=keys.town_a)
    assert town["required"] is True
    assert {v["key"] for v in town["values"]} == {str(world.village_a.pk), str(world.grid_a.pk)}
    everything = area()  # no key: every village and grid
    assert len(everything["values"]) == 4
    assert get(client, f"services/{code}", api_key="wxk_wrong").status_code == 403
