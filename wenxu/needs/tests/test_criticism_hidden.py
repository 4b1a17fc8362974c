"""批评/投诉 about a unit, hidden from that unit's staff unless a dispatcher decides otherwise
(issue #9, item 2; `services.disclosure`, `selectors.scope_q`).

Personas: `handler_other` works at 县交通局, `handler_roads` at 公路养护中心 (under 交通局), and
`handler_lz` (made here) at 路政科, also under 交通局. The criticised units' staff must get 404
and empty lists; `dispatcher`, `leader` and the recording `officer` keep seeing the need.
"""

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import Membership, User
from wenxu.audit.models import AuditEntry
from wenxu.needs import selectors, services
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.ledger import event_is_legal
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.services.disclosure import refused_unit_message
from wenxu.organisations.models import Unit

NAME, PHONE = "张三", "13812345678"
MASKED_NAME = "张*"
API = "/api/v1"
EXPORT_CSV = f"{API}/exports/ledger.csv"


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def criticism(world: Any, *, about: Unit, kind: str = "criticism", **values: Any) -> Need:
    need: Need = world.register(
        kind=kind,
        about_unit=about,
        title="群众批评工作人员办事推诿",
        requester=services.RequesterInput(name=NAME, phone=PHONE),
        **values,
    )
    return need


def fresh(need: Need) -> Need:
    return Need.objects.get(pk=need.pk)


def given_to(world: Any, need: Need, unit: Unit) -> Need:
    """Assigned to `unit` as the database may hold it (an import, data from before the rule):
    the services refuse to give a need to the unit it criticises."""
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    Need.objects.filter(pk=need.pk).update(lead_unit=unit)
    return fresh(need)


@pytest.fixture
def lz(world: Any) -> tuple[Unit, User]:
    """路政科, a sibling of 公路养护中心 under 交通局, with its handler."""
    unit = Unit.objects.create(name="县交通局路政科", short_name="路政科", parent=world.transport)
    user = User.objects.create_user(username="handler_lz", password="pw-handler_lz")
    Membership.objects.create(user=user, role="handler", unit=unit)
    return unit, user


def ledger_numbers(user: User) -> set[str]:
    page = client_for(user).get(reverse("needs:ledger")).content.decode()
    return set(re.findall(r'<tr data-need="([^"]+)"', page))


def api_numbers(user: User) -> set[str]:
    items = client_for(user).get(f"{API}/needs").json()["items"]
    return {item["number"] for item in items}


def export_text(user: User) -> str:
    response = client_for(user).get(EXPORT_CSV, {"columns": "number,requester"})
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode("utf-8-sig")  # type: ignore[attr-defined]


def sees(user: User, need: Need) -> bool:
    """Whether `user` sees `need` on every surface; asserts the surfaces agree."""
    client = client_for(user)
    found = {
        "selector": selectors.need_queryset_for_user(user=user).filter(pk=need.pk).exists(),
        "ledger": need.number in ledger_numbers(user),
        "page": client.get(reverse("needs:detail", args=[need.number])).status_code == 200,
        "api list": need.number in api_numbers(user),
        "api detail": client.get(f"{API}/needs/{need.number}").status_code == 200,
        "export": need.number in export_text(user),
    }
    assert len(set(found.values())) == 1, found
    return found["selector"]


# --------------------------------------------------------------------------- hidden


def test_the_criticised_unit_and_the_unit_above_it_cannot_see_the_need_anywhere(world, lz):
    unit_lz, handler_lz = lz
    # given a complaint about 交通局 that its scope would cover, a criticism of 公路养护中心
    # handled by its sibling 路政科, and an ordinary need 交通局 handles
    about_transport = given_to(world, criticism(world, about=world.transport), world.transport)
    about_roads = criticism(world, about=world.transport_roads, kind="complaint")
    about_roads = services.need_assign(
        actor=world.dispatcher, need=about_roads, version=about_roads.version, lead_unit=unit_lz
    )
    ordinary = world.assigned(lead=world.transport, title="路面坑洼")

    # then 交通局's staff see only the ordinary need: on no page, list, API or export the others
    assert sees(world.handler_other, ordinary)
    assert not sees(world.handler_other, about_transport)
    assert not sees(world.handler_other, about_roads)  # criticises a unit under theirs
    # the unit handling the criticism of its sibling sees it
    assert sees(handler_lz, about_roads)
    # and the counts agree with the lists
    page = selectors.need_ledger_page_for_user(
        user=world.handler_other, filters=selectors.NeedFilters()
    )
    assert page.count == 1


def test_staff_of_a_unit_under_the_criticised_one_do_not_see_it(world):
    need = given_to(world, criticism(world, about=world.transport), world.transport_roads)
    assert not selectors.need_queryset_for_user(user=world.handler_roads).filter(pk=need.pk)
    response = client_for(world.handler_roads).get(reverse("needs:detail", args=[need.number]))
    assert response.status_code == 404


def test_dispatcher_leader_and_recording_officer_keep_seeing_it(world):
    need = given_to(world, criticism(world, about=world.transport), world.transport)
    for user in (world.dispatcher, world.leader, world.officer):
        assert sees(user, need), user
    page = client_for(world.dispatcher).get(reverse("needs:detail", args=[need.number]))
    text = page.content.decode()
    assert "青山县交通运输局" in text
    assert "对该单位保密" in text
    assert MASKED_NAME in text  # area-side roles see the (masked) requester as usual


# --------------------------------------------------------------------------- assignment


def test_the_need_is_not_given_to_the_criticised_unit_or_its_line(world):
    need = criticism(world, about=world.transport_roads)
    attempts = [
        ({"lead_unit": world.transport_roads}, "lead_unit"),
        ({"lead_unit": world.transport}, "lead_unit"),  # the unit above
        ({"lead_unit": world.housing, "co_units": [world.transport_roads]}, "co_units"),
    ]
    for units, field in attempts:
        with pytest.raises(InvalidInput) as refused:
            services.need_assign(actor=world.dispatcher, need=need, version=need.version, **units)
        assert refused.value.errors[field] == [refused_unit_message()]
    unchanged = fresh(need)
    assert (unchanged.status, unchanged.lead_unit_id, unchanged.version) == (
        "registered",
        None,
        need.version,
    )
    # another unit may have it
    done = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    assert done.lead_unit == world.housing


def test_assign_form_and_api_say_why_the_unit_is_refused(world):
    need = criticism(world, about=world.transport)
    page = client_for(world.dispatcher).post(
        reverse("needs:act", args=[need.number, "assign"]),
        {"version": need.version, "lead_unit": world.transport.pk},
    )
    assert page.status_code == 422
    assert refused_unit_message() in page.content.decode()
    answer = client_for(world.dispatcher).post(
        f"{API}/needs/{need.number}/assign",
        {"version": need.version, "lead_unit": world.transport.pk},
        content_type="application/json",
    )
    assert answer.status_code == 422
    assert refused_unit_message() in str(answer.json())
    assert fresh(need).status == "registered"


def test_reopening_to_the_criticised_unit_is_refused(world):
    need = criticism(world, about=world.transport)
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    need = services.need_accept(actor=world.handler, need=need, version=need.version)
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="explained",
        reply_text="已说明",
    )
    with pytest.raises(InvalidInput) as refused:
        services.need_reopen(
            actor=world.dispatcher,
            need=need,
            version=need.version,
            reason="群众不满意",
            lead_unit=world.transport,
        )
    assert refused.value.errors["lead_unit"] == [refused_unit_message()]
    assert fresh(need).status == "replied"


# --------------------------------------------------------------------------- disclosure


def audit_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="disclose").order_by("seq"))


def test_disclosure_without_a_reason_changes_nothing(world):
    need = criticism(world, about=world.transport)
    events = need.events.count()
    for reason in ("", "   "):
        with pytest.raises(InvalidInput) as refused:
            services.need_disclose_to_unit(
                actor=world.dispatcher, need=need, version=need.version, reason=reason
            )
        assert "reason" in refused.value.errors
    page = client_for(world.dispatcher).post(
        reverse("needs:disclosure", args=[need.number]),
        {"op": "disclose", "version": need.version, "reason": ""},
    )
    assert page.status_code == 422
    assert "请填写公开理由" in page.content.decode()
    unchanged = fresh(need)
    assert (unchanged.about_unit_disclosed, unchanged.version) == (False, need.version)
    assert need.events.count() == events
    assert audit_entries() == []


def test_after_disclosure_the_unit_sees_the_need_but_not_who_raised_it(world):
    need = criticism(world, about=world.transport)
    # when the dispatcher discloses it on the disclosure page, with a reason
    response = client_for(world.dispatcher).post(
        reverse("needs:disclosure", args=[need.number]),
        {"op": "disclose", "version": need.version, "reason": "需由交通局说明情况"},
    )
    assert response.status_code == 302
    need = fresh(need)
    assert need.about_unit_disclosed
    # then it is in the need's events and the security log
    event = need.events.order_by("-seq").first()
    assert event is not None
    assert (event.action, event.actor, event.note) == (
        "disclose_to_unit",
        world.dispatcher,
        "需由交通局说明情况",
    )
    assert event_is_legal(event.action, event.from_status, event.to_status)
    [entry] = audit_entries()
    assert (entry.actor_id, entry.target) == (world.dispatcher.pk, f"need:{need.number}")
    assert entry.detail["reason"] == "需由交通局说明情况"
    assert entry.detail["unit"] == world.transport.pk

    # and it may now be given to the unit, whose staff see it: the requester stays 保密
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )
    assert sees(world.handler_other, need)
    page = client_for(world.handler_other).get(reverse("needs:detail", args=[need.number]))
    text = page.content.decode()
    assert "（保密）" in text
    assert MASKED_NAME not in text
    assert "已决定向该单位公开" in text
    ledger = client_for(world.handler_other).get(reverse("needs:ledger")).content.decode()
    assert need.number in ledger
    assert MASKED_NAME not in ledger
    exported = export_text(world.handler_other)
    assert need.number in exported
    assert MASKED_NAME not in exported
    api = client_for(world.handler_other).get(f"{API}/needs/{need.number}").json()
    assert api["requester"] == {"name": "（保密）", "phone": "", "confidential": True}
    assert api["about_unit"] == {"id": world.transport.pk, "name": "青山县交通运输局"}
    assert api["about_unit_disclosed"] is True
    # while the dispatcher still sees the masked requester
    dispatcher_api = client_for(world.dispatcher).get(f"{API}/needs/{need.number}").json()
    assert dispatcher_api["requester"]["name"] == MASKED_NAME


def test_only_a_dispatcher_over_the_need_decides(world):
    need = criticism(world, about=world.transport)
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    for user in (world.leader, world.handler, world.officer):
        with pytest.raises(NotPermitted):
            services.need_disclose_to_unit(
                actor=user, need=need, version=need.version, reason="理由"
            )
        url = reverse("needs:disclosure", args=[need.number])
        assert client_for(user).get(url).status_code == 403
    # out of scope: 404, as the need page
    url = reverse("needs:disclosure", args=[need.number])
    assert client_for(world.handler_other).get(url).status_code == 404
    assert client_for(world.dispatcher).get(url).status_code == 200
    assert not fresh(need).about_unit_disclosed


def test_disclosure_refuses_a_stale_page_twice_and_a_need_without_unit(world):
    need = criticism(world, about=world.transport)
    with pytest.raises(StaleVersion):
        services.need_disclose_to_unit(
            actor=world.dispatcher, need=need, version=need.version - 1, reason="理由"
        )
    services.need_disclose_to_unit(
        actor=world.dispatcher, need=need, version=need.version, reason="理由"
    )
    with pytest.raises(IllegalTransition):
        services.need_disclose_to_unit(
            actor=world.dispatcher, need=need, version=need.version + 1, reason="再次"
        )
    # the page says so and keeps what was typed
    page = client_for(world.dispatcher).post(
        reverse("needs:disclosure", args=[need.number]),
        {"op": "about_unit", "version": need.version, "about_unit": "", "reason": "写错了单位"},
    )
    assert page.status_code == 409
    assert "写错了单位" in page.content.decode()
    assert fresh(need).about_unit == world.transport
    plain = world.register(kind="complaint")
    answer = client_for(world.dispatcher).post(
        f"{API}/needs/{plain.number}/disclose",
        {"version": plain.version, "reason": "理由"},
        content_type="application/json",
    )
    assert answer.status_code == 409
    assert len(audit_entries()) == 1


# --------------------------------------------------------------------------- naming the unit


def test_only_criticism_complaints_and_reports_name_a_unit(world):
    with pytest.raises(InvalidInput) as refused:
        world.register(kind="help", about_unit=world.transport)
    assert "about_unit" in refused.value.errors
    answer = client_for(world.officer).post(
        f"{API}/needs",
        {
            "title": "举报",
            "description": "举报某站工作人员收取好处费。",
            "kind": "report",
            "source": "visit",
            "area": world.grid_a.pk,
            "about_unit": world.transport.pk,
        },
        content_type="application/json",
    )
    assert answer.status_code == 201
    assert answer.json()["about_unit"]["id"] == world.transport.pk
    assert Need.objects.get(number=answer.json()["number"]).about_unit == world.transport


def test_capture_form_records_the_criticised_unit(world):
    data = {
        "title": "批评窗口人员态度",
        "description": "群众反映窗口工作人员态度生硬。",
        "kind": "criticism",
        "urgency": "normal",
        "source": "visit",
        "area": world.grid_a.pk,
        "requester_kind": "person",
        "about_unit": world.transport.pk,
    }
    client = client_for(world.officer)
    page = client.get(reverse("needs:capture")).content.decode()
    assert 'name="about_unit"' in page
    refused = client.post(reverse("needs:capture"), {**data, "kind": "help"})
    assert refused.status_code == 200  # the form again, nothing registered
    assert "只有批评、投诉、举报类诉求填写被批评/投诉单位" in refused.content.decode()
    assert not Need.objects.exists()
    assert client.post(reverse("needs:capture"), data).status_code == 302
    need = Need.objects.get()
    assert (need.about_unit, need.about_unit_disclosed) == (world.transport, False)


def test_correcting_the_unit_hides_it_from_the_new_one_and_logs_what_the_old_one_sees(world):
    need = criticism(world, about=world.transport)
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    # a unit handling the need cannot be named, nor without a reason
    with pytest.raises(InvalidInput) as refused:
        services.need_set_about_unit(
            actor=world.dispatcher,
            need=need,
            version=need.version,
            about_unit=world.housing,
            reason="",
        )
    assert set(refused.value.errors) == {"about_unit", "reason"}
    assert fresh(need).about_unit == world.transport

    # when corrected to 公路养护中心: 交通局 is above it, so still kept from its staff
    need = services.need_set_about_unit(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        about_unit=world.transport_roads,
        reason="批评的是养护中心",
    )
    assert (need.about_unit, need.about_unit_disclosed) == (world.transport_roads, False)
    event = need.events.order_by("-seq").first()
    assert event is not None
    assert (event.action, event.data["about_unit_from"]) == ("about_unit", world.transport.pk)
    assert audit_entries() == []

    # when corrected to 东河镇 (through the API): 交通局's line may see it, logged as disclosed
    answer = client_for(world.dispatcher).post(
        f"{API}/needs/{need.number}/about-unit",
        {"version": need.version, "about_unit": world.town_a_gov.pk, "reason": "实为镇政府"},
        content_type="application/json",
    )
    assert answer.status_code == 200
    assert answer.json()["about_unit"]["id"] == world.town_a_gov.pk
    [entry] = audit_entries()
    assert entry.detail["unit"] == world.transport_roads.pk
    assert NeedEvent.objects.filter(need=need, action="about_unit").count() == 2
    assert selectors.need_queryset_for_user(user=world.handler).filter(pk=need.pk).exists()


def test_a_disclosure_reason_is_kept_with_phone_id_number_and_requester_name_masked(world):
    need = criticism(world, about=world.transport)
    typed = f"{NAME}本人（{PHONE}，身份证110101199003071234）同意公开"

    need = services.need_disclose_to_unit(
        actor=world.dispatcher, need=need, version=need.version, reason=typed
    )

    masked = "张*本人（138****5678，身份证110101********1234）同意公开"
    event = need.events.order_by("-seq").first()
    assert event is not None
    assert event.note == masked  # the disclosed unit's staff read it too
    [entry] = audit_entries()
    assert entry.detail["reason"] == masked


def test_a_correction_that_discloses_keeps_its_reason_masked_too(world):
    need = criticism(world, about=world.transport)

    need = services.need_set_about_unit(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        about_unit=world.town_a_gov,
        reason=f"{NAME}来电（{PHONE}）说明批评的是镇政府",
    )

    masked = "张*来电（138****5678）说明批评的是镇政府"
    event = need.events.order_by("-seq").first()
    assert event is not None
    assert event.note == masked
    [entry] = audit_entries()
    assert entry.detail["reason"] == masked
