"""The intake path kept short (issue #10, B1): what `need_register` skips or reorders for speed
still gives the same result."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wenxu.lib import ids
from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.services.register import registered_event


def test_a_tracking_code_already_taken_is_drawn_again(world, monkeypatch):
    taken = world.register().tracking_code
    codes = iter([taken, "CDEFGHJK"])
    monkeypatch.setattr(ids, "tracking_code", lambda: next(codes))

    need = world.register()

    assert need.tracking_code == "CDEFGHJK"


def test_the_ledger_counter_is_locked_just_before_the_needs_insert(world):
    world.register()  # the year's counter exists

    with CaptureQueriesContext(connection) as queries:
        world.register(requester=services.RequesterInput(name="赵六", phone="13612345678"))

    sqls = [q["sql"] for q in queries.captured_queries]
    counter = next(i for i, sql in enumerate(sqls) if "needs_ledgercounter" in sql)
    # Everything that can run before the counter's row lock ran before it.
    assert any('INSERT INTO "residents_requester"' in sql for sql in sqls[:counter])
    assert 'INSERT INTO "needs_need"' in sqls[counter + 1]


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
