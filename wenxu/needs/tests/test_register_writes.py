"""What `need_register` no longer asks the database before writing (issue #10: an intake in
few queries) is still checked: the requester's kind, and the ledger counter of a new year."""

import pytest

from wenxu.needs import services
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import LedgerCounter, Need, NeedEvent
from wenxu.residents.models import Requester


def test_register_refuses_an_unknown_requester_kind_and_writes_nothing(world):
    with pytest.raises(InvalidInput) as refused:
        world.register(requester=services.RequesterInput(name="赵六", kind="alien"))

    assert "requester" in refused.value.errors
    assert not Need.objects.exists()
    assert not Requester.objects.exists()


def test_the_first_need_of_a_year_creates_its_counter(world):
    LedgerCounter.objects.all().delete()

    first = world.register()
    second = world.register()

    year = first.registered_at.year
    assert first.number.endswith("-000001")
    assert second.number.endswith("-000002")
    assert LedgerCounter.objects.get(year=year).last == 2


def test_the_register_event_is_the_needs_first(world):
    need = world.register()

    assert list(NeedEvent.objects.filter(need=need).values_list("seq", "action")) == [
        (1, "register")
    ]
