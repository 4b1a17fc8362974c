"""Two people act on the same need at the same moment: one wins, the other is told, nothing is lost.

Real concurrent transactions need a server database; on SQLite the IMMEDIATE transaction mode
serialises writers and the version check is covered by the service tests.
"""

import threading
from datetime import timedelta

import pytest
import time_machine
from django.db import connection

from wenxu.needs import services
from wenxu.needs.exceptions import DomainError
from wenxu.needs.models import Need, NeedEvent, RatingLink, ReopenRequest
from wenxu.needs.rating import rating_link_issue
from wenxu.needs.services import RequesterInput

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
)
def test_two_dispatchers_assigning_at_once_one_wins_and_one_gets_a_conflict(world):
    need = world.register()
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def assign(unit):
        from django.db import connections

        try:
            barrier.wait()
            services.need_assign(
                actor=world.dispatcher, need=need.pk, version=need.version, lead_unit=unit
            )
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=assign, args=(unit,)) for unit in (world.housing, world.transport)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(outcomes) == ["ok", "stale_version"]
    need.refresh_from_db()
    assert need.version == 2
    assert NeedEvent.objects.filter(need=need, action="assign").count() == 1
    assert Need.objects.get(pk=need.pk).status == "assigned"


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
)
def test_ledger_numbers_stay_unique_under_concurrent_registration(world):
    barrier = threading.Barrier(4)
    numbers: list[str] = []
    errors: list[BaseException] = []

    def register(i):
        from django.db import connections

        try:
            barrier.wait()
            for j in range(5):
                numbers.append(world.register(title=f"并发登记{i}-{j}").number)
        except BaseException as error:
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=register, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    assert len(numbers) == len(set(numbers)) == 20


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
)
def test_two_sweeps_reminding_the_same_need_at_once_remind_once(world):
    need = world.in_progress()
    assert need.resolve_due is not None
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def remind():
        from django.db import connections

        try:
            barrier.wait()
            services.need_remind(actor=None, need=need.pk, version=None, kind="overdue")
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    with time_machine.travel(need.resolve_due + timedelta(hours=1)):
        threads = [threading.Thread(target=remind) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)

    assert sorted(outcomes) == ["already_reminded", "ok"]
    assert NeedEvent.objects.filter(need=need, action="remind", data__kind="overdue").count() == 1


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="concurrent transactions need PostgreSQL"
)
def test_two_submits_of_one_rating_link_at_once_count_once(world):
    # Given a replied need and its rating link, submitted twice at the same moment (a double tap)
    need = world.replied(requester=RequesterInput(name="张三", phone="13812345678"))
    link = rating_link_issue(need)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def rate(satisfaction):
        from django.db import connections

        try:
            mine = RatingLink.objects.get(pk=link.pk)  # each submit reads the link itself
            barrier.wait()
            services.need_rate(link=mine, resolved="no", satisfaction=satisfaction)
            outcomes.append("ok")
        except DomainError as error:
            outcomes.append(error.code)
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=rate, args=(level,))
        for level in ("dissatisfied", "very_dissatisfied")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    # Then one counts, the other is told the link was used, and nothing is doubled
    assert sorted(outcomes) == ["ok", "rating_link_used"]
    assert NeedEvent.objects.filter(need=need, action="callback").count() == 1
    assert NeedEvent.objects.filter(need=need, action="request_reopen").count() == 1
    assert ReopenRequest.objects.filter(need=need).count() == 1
    need.refresh_from_db()
    assert (need.status, need.callback_channel) == ("closed", "online")
