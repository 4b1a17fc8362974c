"""Builders and assertions shared by the needs tests (the personas live in the root conftest)."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import pytest

from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.exceptions import DomainError
from wenxu.needs.models import Need, NeedEvent

SHANGHAI = ZoneInfo("Asia/Shanghai")

E = TypeVar("E", bound=DomainError)


def at(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    """An aware Asia/Shanghai moment: at(2026, 3, 2, 10) is Monday 10:00 local time."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SHANGHAI)


def closed(world: Any, **overrides: Any) -> Need:
    need = world.replied(**overrides)
    return services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="yes",
        satisfaction="satisfied",
        channel="phone",
    )


def following(world: Any, **overrides: Any) -> Need:
    need = world.replied("planned", **overrides)
    return services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="partly",
        satisfaction="basic",
        channel="visit",
    )


def with_pending_extension(world: Any, days: int = 3) -> Need:
    need = world.in_progress()
    return services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=days, reason="需协调电力部门"
    )


def followup_in(days: int) -> Any:
    return clock.today() + timedelta(days=days)


def state_of(need: Need | int) -> tuple[dict[str, Any], list[tuple[Any, ...]], list[int]]:
    """Everything a refused action must leave alone: the row, its events and its co units."""
    pk = need if isinstance(need, int) else need.pk
    row: dict[str, Any] = dict(Need.objects.filter(pk=pk).values().get())
    events = list(
        NeedEvent.objects.filter(need_id=pk)
        .order_by("seq")
        .values_list("seq", "action", "from_status", "to_status")
    )
    co = sorted(Need.objects.get(pk=pk).co_units.values_list("pk", flat=True))
    return row, events, co


def assert_refused(
    error: type[E], need: Need | int, action: Callable[[], object], *others: Need
) -> E:
    """Run `action`, expect `error`, and check that `need` (and `others`) did not change at all."""
    watched = [need, *others]
    before = [state_of(n) for n in watched]
    with pytest.raises(error) as info:
        action()
    assert [state_of(n) for n in watched] == before
    return info.value


def events_of(need: Need) -> list[NeedEvent]:
    return list(NeedEvent.objects.filter(need=need).order_by("seq"))
