"""What of a criticism (批评/投诉 about a unit) could still reach that unit's staff (issue #9):
a need merged into it, a merge across the line, the monthly report, notifications, the need page.

Personas: `handler_other` works at 县交通局, `handler` at 县住建局; `dual` (made here) is a handler
at both. `dispatcher` decides.
"""

import io
import re
import zipfile
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import Membership, User
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Need, NeedEvent
from wenxu.notify.models import Notification
from wenxu.notify.services import notify_for_event
from wenxu.organisations.models import Unit

TITLE = "群众批评县交通局工作人员办事推诿"
NAME, PHONE = "张三丰", "13812345678"


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def criticism(world: Any, *, about: Unit, **values: Any) -> Need:
    need: Need = world.register(
        kind="criticism",
        about_unit=about,
        title=TITLE,
        requester=services.RequesterInput(name=NAME, phone=PHONE),
        **values,
    )
    return need


def page(user: User, need: Need) -> str:
    response = client_for(user).get(reverse("needs:detail", args=[need.number]))
    assert response.status_code == 200
    return response.content.decode()


# --------------------------------------------------------------------------- merged into it


def test_a_need_merged_into_a_hidden_criticism_shows_its_number_only(world):
    # given an ordinary need 交通局 handles, merged into a complaint 住建局 handles, which a
    # dispatcher then finds is about 交通局 (so it is hidden from 交通局's staff)
    ordinary = world.assigned(lead=world.transport, title="路面坑洼")
    target = world.assigned(lead=world.housing, kind="complaint", title=TITLE)
    ordinary = services.need_merge(
        actor=world.dispatcher, need=ordinary, version=ordinary.version, into=target
    )
    target = Need.objects.get(pk=target.pk)
    services.need_set_about_unit(
        actor=world.dispatcher,
        need=target,
        version=target.version,
        about_unit=world.transport,
        reason="群众反映的是交通局工作人员",
    )

    # then 交通局's handler sees on the merged need the number it went to, not the title nor a
    # link; and the API answers the number only
    text = page(world.handler_other, ordinary)
    assert target.number in text
    assert TITLE not in text
    assert reverse("needs:detail", args=[target.number]) not in text
    api = client_for(world.handler_other).get(f"/api/v1/needs/{ordinary.number}").json()
    assert api["merged_into"] == target.number
    assert TITLE not in str(api)
    # and the dispatcher, who sees both, still gets the title and the link
    text = page(world.dispatcher, ordinary)
    assert TITLE in text
    assert reverse("needs:detail", args=[target.number]) in text


def test_a_criticism_is_not_merged_into_a_need_its_unit_handles_nor_the_other_way(world):
    about_transport = criticism(world, about=world.transport)
    handled_by_transport = world.assigned(lead=world.transport, title="路面坑洼")
    co_handled = world.register(title="路灯不亮")
    co_handled = services.need_assign(
        actor=world.dispatcher,
        need=co_handled,
        version=co_handled.version,
        lead_unit=world.housing,
        co_units=[world.transport_roads],
    )

    # the criticism into a need 交通局 leads, or one a unit under it helps with: refused
    for into in (handled_by_transport, co_handled):
        with pytest.raises(InvalidInput) as refused:
            services.need_merge(
                actor=world.dispatcher,
                need=about_transport,
                version=about_transport.version,
                into=into,
            )
        assert list(refused.value.errors) == ["into"]
    # a need 交通局 handles into the criticism of 交通局: refused too
    with pytest.raises(InvalidInput) as refused:
        services.need_merge(
            actor=world.dispatcher,
            need=handled_by_transport,
            version=handled_by_transport.version,
            into=about_transport,
        )
    assert list(refused.value.errors) == ["into"]
    assert Need.objects.filter(status="merged").count() == 0

    # once a dispatcher has disclosed it to 交通局, the merge may go ahead
    about_transport = services.need_disclose_to_unit(
        actor=world.dispatcher,
        need=about_transport,
        version=about_transport.version,
        reason="需要交通局说明情况",
    )
    merged = services.need_merge(
        actor=world.dispatcher,
        need=about_transport,
        version=about_transport.version,
        into=handled_by_transport,
    )
    assert merged.status == "merged"


# --------------------------------------------------------------------------- the report


def test_the_monthly_report_keeps_the_requester_of_a_disclosed_criticism_confidential(world):
    need = criticism(world, about=world.housing)
    need = services.need_disclose_to_unit(
        actor=world.dispatcher, need=need, version=need.version, reason="需要住建局说明情况"
    )
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    Need.objects.filter(pk=need.pk).update(resolve_due=clock.now() - timedelta(days=3))
    month = clock.today().strftime("%Y-%m")
    masked = ("张*", "138****5678")

    # 住建局's handler, on the criticised unit's line: the overdue line says （保密）
    client = client_for(world.handler)
    text = client.get(reverse("report:page"), {"month": month}).content.decode()
    assert need.number in text
    assert "（保密）" in text
    assert not [value for value in masked if value in text]
    book = client.get(reverse("report:xlsx"), {"month": month}).content
    with zipfile.ZipFile(io.BytesIO(book)) as xlsx:
        cells = "".join(xlsx.read(name).decode("utf-8", "replace") for name in xlsx.namelist())
    assert need.number in cells
    assert "（保密）" in cells
    assert not [value for value in masked if value in cells]
    # the dispatcher sees the requester masked as usual
    text = (
        client_for(world.dispatcher).get(reverse("report:page"), {"month": month}).content.decode()
    )
    assert all(value in text for value in masked)


# --------------------------------------------------------------------------- notifications


def test_a_handler_also_on_the_criticised_line_is_not_notified(world):
    dual = User.objects.create_user(username="dual", password="pw-dual")
    Membership.objects.create(user=dual, role="handler", unit=world.housing)
    Membership.objects.create(user=dual, role="handler", unit=world.transport_roads)
    need = criticism(world, about=world.transport)
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )
    ordinary = world.assigned(lead=world.housing, title="路灯不亮")

    for event in NeedEvent.objects.filter(action="assign"):
        notify_for_event(event_id=event.pk)

    # `handler` (住建局 only) hears of both; `dual` (also 公路养护中心, under 交通局) of the
    # ordinary need only: they cannot open the criticism, and its title must not reach them
    assert set(
        Notification.objects.filter(recipient=world.handler).values_list("need", flat=True)
    ) == {need.pk, ordinary.pk}
    assert list(Notification.objects.filter(recipient=dual).values_list("need", flat=True)) == [
        ordinary.pk
    ]
    assert client_for(dual).get(reverse("needs:detail", args=[need.number])).status_code == 404

    # once disclosed, they see the need and hear of it
    need = services.need_disclose_to_unit(
        actor=world.dispatcher, need=need, version=need.version, reason="需要交通局说明情况"
    )
    need = services.need_supervise(
        actor=world.dispatcher, need=need, version=need.version, note="请加快办理"
    )
    notify_for_event(event_id=NeedEvent.objects.get(need=need, action="supervise").pk)
    assert Notification.objects.filter(recipient=dual, need=need).exists()


# --------------------------------------------------------------------------- the need page


def test_a_withheld_requester_shows_nothing_but_confidential_on_the_need_page(world):
    need = criticism(world, about=world.housing)
    need = services.need_disclose_to_unit(
        actor=world.dispatcher, need=need, version=need.version, reason="需要住建局说明情况"
    )
    need = services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
    )

    def requester_cell(user: User) -> str:
        found = re.search(r'data-testid="requester">(.*?)</dd>', page(user, need), re.S)
        assert found is not None
        return found.group(1)

    # the criticised unit's handler: （保密）, not even the kind of requester
    cell = requester_cell(world.handler)
    assert "（保密）" in cell
    assert "个人" not in cell
    # the dispatcher: the masked name and the kind
    cell = requester_cell(world.dispatcher)
    assert "张**" in cell
    assert "个人" in cell
