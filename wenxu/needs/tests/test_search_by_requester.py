"""Searching the ledger by a requester's phone or ID number, through the blind index (issue #9):
exact, however the number is written, within the searcher's scope, and never telling a unit who
wrote a confidential need."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wenxu.needs import services

LEDGER = reverse("needs:ledger")
PHONE = "13812345678"
ID_NUMBER = "11010119900307123X"


def rows(client, user, q: str) -> list[str]:
    client.force_login(user)
    response = client.get(LEDGER, {"q": q})
    assert response.status_code == 200
    return re.findall(r'<tr data-need="([^"]+)"', response.content.decode())


@pytest.fixture
def needs(world):
    """The requester's need (handled by 住建局), and a neighbour's with another phone."""
    mine = world.assigned(
        requester=services.RequesterInput(name="张三", phone=PHONE, id_number=ID_NUMBER)
    )
    other = world.assigned(
        requester=services.RequesterInput(name="李四", phone="13900001111"),
    )
    return mine, other


@pytest.mark.parametrize(
    "spelling",
    [
        PHONE,
        "+86 138-1234-5678",
        "0086 138 1234 5678",
        "１３８１２３４５６７８",  # full width
        "(+86)13812345678",
        ID_NUMBER.lower(),
        "110101 19900307 123X",
    ],
)
def test_dispatcher_finds_the_need_by_its_requesters_number_however_written(
    world, client, needs, spelling
):
    mine, _other = needs

    assert rows(client, world.dispatcher, spelling) == [mine.number]


def test_the_number_search_is_exact_and_a_part_of_a_number_finds_nothing(world, client, needs):
    assert rows(client, world.dispatcher, PHONE[:-1]) == []
    assert rows(client, world.dispatcher, f"电话{PHONE}") == []  # words: a text search only


def test_a_user_out_of_scope_does_not_find_the_need_by_the_phone(world, client, needs):
    assert rows(client, world.officer_b, PHONE) == []
    assert rows(client, world.handler_other, PHONE) == []
    assert rows(client, world.handler, PHONE)  # the unit it is assigned to does


def test_a_unit_does_not_find_a_confidential_requesters_need_by_the_phone(world, client):
    need = world.assigned(
        requester=services.RequesterInput(name="王五", phone=PHONE, confidential=True)
    )

    # The handling unit sees the need, but searching its requester's phone must not confirm
    # who wrote it; the dispatcher, who met the resident's side, finds it.
    assert rows(client, world.handler, need.number) == [need.number]
    assert rows(client, world.handler, PHONE) == []
    assert rows(client, world.dispatcher, PHONE) == [need.number]


def test_the_criticised_unit_does_not_find_its_critic_by_the_phone(world, client):
    need = world.register(
        kind="criticism",
        about_unit=world.transport,
        requester=services.RequesterInput(name="王五", phone=PHONE),
    )
    need = services.need_disclose_to_unit(
        actor=world.dispatcher, need=need, version=need.version, reason="需由交通局说明情况"
    )
    services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )

    assert rows(client, world.handler_other, need.number) == [need.number]  # disclosed
    assert rows(client, world.handler_other, PHONE) == []
    assert rows(client, world.dispatcher, PHONE) == [need.number]


def test_the_api_list_finds_the_need_by_the_phone_in_scope_only(world, client, needs):
    mine, _other = needs

    client.force_login(world.dispatcher)
    found = client.get("/api/v1/needs", {"q": "+86 138 1234 5678"}).json()
    client.force_login(world.officer_b)
    elsewhere = client.get("/api/v1/needs", {"q": PHONE}).json()

    assert [item["number"] for item in found["items"]] == [mine.number]
    assert elsewhere["items"] == []


def test_searching_by_phone_costs_no_more_queries_than_a_text_search(world, client, needs):
    client.force_login(world.dispatcher)
    client.get(LEDGER, {"q": "路灯"})  # warm the per-process caches (calendar) first

    counts = []
    for q in ("路灯", PHONE):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(LEDGER, {"q": q})
        assert re.findall(r'<tr data-need="([^"]+)"', response.content.decode())
        counts.append(len(ctx.captured_queries))

    assert counts[0] == counts[1]
