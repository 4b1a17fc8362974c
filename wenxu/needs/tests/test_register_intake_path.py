"""The intake path kept short (issue #10, B1): what `need_register` skips or reorders for speed
still gives the same result."""

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from wenxu.lib import ids
from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.services.register import _new_need, registered_event


def test_a_tracking_code_already_taken_is_drawn_again(world, monkeypatch):
    taken = world.register().tracking_code
    codes = iter([taken, "CDEFGHJK"])
    monkeypatch.setattr(ids, "tracking_code", lambda: next(codes))

    need = world.register()

    assert need.tracking_code == "CDEFGHJK"


def _registration_statements(world: object, **kwargs: object) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        world.register(**kwargs)  # type: ignore[attr-defined]
    return [q["sql"] for q in queries.captured_queries]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's path")
def test_the_ledger_counter_is_locked_by_the_last_statement_only(world):
    world.register()  # the year's counter exists
    requester = services.RequesterInput(name="赵六", phone="13612345678")

    sqls = _registration_statements(world, requester=requester)

    # The need's own INSERT takes the number, and it is the registration's last statement
    # (its savepoint's release aside: the test runs in a transaction): the counter's row is
    # locked from there to the commit.
    work = [sql for sql in sqls if "SAVEPOINT" not in sql]
    assert [i for i, sql in enumerate(work) if "ledger" in sql.lower()] == [len(work) - 1]
    assert work[-1].startswith('INSERT INTO "needs_need"')
    assert "wenxu_next_ledger_number(" in work[-1]
    # What names the need came before it: its requester, its event, its delivery.
    assert any('INSERT INTO "needs_needevent"' in sql for sql in work[:-1])
    assert any('INSERT INTO "residents_requester"' in sql for sql in work[:-1])


@pytest.mark.skipif(connection.vendor == "postgresql", reason="SQLite's path")
def test_the_ledger_counter_is_locked_just_before_the_needs_insert(world):
    world.register()  # the year's counter exists
    requester = services.RequesterInput(name="赵六", phone="13612345678")

    sqls = _registration_statements(world, requester=requester)

    counter = next(i for i, sql in enumerate(sqls) if "needs_ledgercounter" in sql)
    # Everything that can run before the counter's row lock ran before it.
    assert any('INSERT INTO "residents_requester"' in sql for sql in sqls[:counter])
    assert 'INSERT INTO "needs_need"' in sqls[counter + 1]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL's function")
@pytest.mark.parametrize("serial", [1, 42, 999_999, 1_000_000, 21_400_000])
def test_the_database_numbers_as_python_does(serial):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM needs_ledgercounter WHERE year = 2031")
        cursor.execute(
            "INSERT INTO needs_ledgercounter (year, last) VALUES (2031, %s)", [serial - 1]
        )
        cursor.execute("SELECT wenxu_next_ledger_number(2031), wenxu_next_ledger_number(2032)")
        numbered = cursor.fetchone()

    assert numbered == (ids.ledger_number(2031, serial), ids.ledger_number(2032, 1))


def test_a_registration_that_fails_after_its_need_was_built_leaves_no_number_used(world):
    first = world.register()
    year = int(first.number.split("-")[1])

    with (
        pytest.raises(RuntimeError),
        transaction.atomic(),
        _new_need(
            actor=world.officer,
            title="t",
            description="d",
            kind="help",
            source="visit",
            area=world.grid_a,
            requester=None,
            origin=None,
            status="registered",
        ),
    ):
        raise RuntimeError("the block failed")
    second = world.register()

    assert second.number == ids.ledger_number(year, int(first.number.split("-")[2]) + 1)
    assert not Need.objects.filter(title="t").exists()


@pytest.mark.parametrize("on_the_spot", [False, True])
def test_the_registered_event_is_the_needs_only_event_as_stored(world, on_the_spot):
    if on_the_spot:
        need = services.need_register_on_the_spot(
            actor=world.officer,
            title="村口路灯不亮",
            description="路灯坏了，电话 13612345678",
            kind="help",
            source="visit",
            area=world.grid_a,
            reply_text="已联系电工修好，回电 13612345678。",
            requester=services.RequesterInput(name="赵六", phone="13612345678"),
        )
    else:
        need = world.register()

    event = registered_event(need)

    assert event is not None
    stored = NeedEvent.objects.select_related("actor").get(need=need)
    fields = ["pk", "need_id", "seq", "actor_id", "action", "from_status", "to_status", "note"]
    assert [getattr(event, f) for f in fields] == [getattr(stored, f) for f in fields]
    assert (event.data, event.created_at, str(event.actor)) == (
        stored.data,
        stored.created_at,
        str(stored.actor),
    )


def test_a_need_read_from_the_database_has_no_registered_event(world):
    need = world.register()

    assert registered_event(Need.objects.get(pk=need.pk)) is None
