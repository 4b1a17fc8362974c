"""Needs in every state a workbench shows, for the home page's tests (unit and browser)."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import time_machine

from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.needs.tests.helpers import at, following

# Monday 10:00 in Shanghai: normal needs assigned now are due at the end of Monday 2026-03-09
# (five working days), urgent ones 24 hours later.
T0 = at(2026, 3, 2, 10)


@dataclass
class CountyDay:
    registered: Need
    registered_b: Need  # officer_b's, in 西岭乡: outside the officer's scope
    assigned: Need  # lead: 住建局
    assigned_transport: Need  # lead: 交通局, co: 住建局
    in_progress: Need
    urgent: Need
    replied: Need
    replied_b: Need  # officer_b's, handled by 交通局
    following: Need
    supervised: Need
    extension: Need


def county_day(world: Any, *, when: datetime) -> CountyDay:
    """Eleven needs registered (and moved on) at `when`: nine in 东河镇, two in 西岭乡."""
    with time_machine.travel(when, tick=False):
        registered = world.register(title="待交办的路灯")
        registered_b = world.register(actor=world.officer_b, area=world.grid_b, title="西岭待交办")
        assigned = world.assigned(title="待签收的路灯")
        transport = world.register(title="交通待签收")
        assigned_transport = services.need_assign(
            actor=world.dispatcher,
            need=transport,
            version=transport.version,
            lead_unit=world.transport,
            co_units=[world.housing],
        )
        in_progress = world.in_progress(title="办理中的路灯")
        urgent = world.in_progress(title="紧急：路面塌陷", urgency="urgent")
        replied = world.replied(title="待回访的路灯")
        replied_b = world.register(actor=world.officer_b, area=world.grid_b, title="西岭已答复")
        replied_b = services.need_assign(
            actor=world.dispatcher,
            need=replied_b,
            version=replied_b.version,
            lead_unit=world.transport,
        )
        replied_b = services.need_accept(
            actor=world.handler_other, need=replied_b, version=replied_b.version
        )
        replied_b = services.need_reply(
            actor=world.handler_other,
            need=replied_b,
            version=replied_b.version,
            outcome="resolved",
            reply_text="已修复。",
        )
        followed = following(world, title="跟进中的排水沟")
        supervised = world.in_progress(title="督办的路灯")
        supervised = services.need_supervise(
            actor=world.dispatcher, need=supervised, version=supervised.version, note="请加快"
        )
        extension = world.in_progress(title="申请延期的路灯")
        extension = services.need_request_extension(
            actor=world.handler,
            need=extension,
            version=extension.version,
            days=3,
            reason="需协调电力部门",
        )
    return CountyDay(
        registered=registered,
        registered_b=registered_b,
        assigned=assigned,
        assigned_transport=assigned_transport,
        in_progress=in_progress,
        urgent=urgent,
        replied=replied,
        replied_b=replied_b,
        following=followed,
        supervised=supervised,
        extension=extension,
    )


def many_needs(world: Any, n: int, *, when: datetime = T0) -> None:
    """`n` needs spread over every section a dispatcher, handler and officer see."""
    with time_machine.travel(when, tick=False):
        for i in range(n):
            kind = i % 5
            if kind == 0:
                world.register(title=f"待交办 {i}")
            elif kind == 1:
                world.assigned(title=f"待签收 {i}", urgency="urgent")
            elif kind == 2:
                need = world.in_progress(title=f"督办 {i}")
                services.need_supervise(
                    actor=world.dispatcher, need=need, version=need.version, note="请加快"
                )
            elif kind == 3:
                world.replied(title=f"待回访 {i}")
            else:
                following(world, title=f"跟进 {i}")
