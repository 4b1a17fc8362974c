"""A handler's ledger results kept under the ledger marks (ADR 0028): kept while nothing it
lists changes, rendered again as soon as anything it shows changes — by any path, the ORM,
a bulk write or plain SQL — and never longer than KEPT_SECONDS.

Personas: `handler` (县住建局) is kept; `handler_other` (县交通局) works next door; the
`dispatcher` (an area scope) is never kept.
"""

import re
from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Max
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wenxu.lib import clock
from wenxu.needs import ledger_kept, services
from wenxu.needs.models import KeptLedger, LedgerMark, Need
from wenxu.needs.services.register import RequesterInput
from wenxu.residents.models import Requester

LEDGER = reverse("needs:ledger")
postgresql_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="PostgreSQL")


@pytest.fixture(autouse=True)
def _empty_store():
    ledger_kept.clear()
    yield
    ledger_kept.clear()


def _load(client, user, query: str = "") -> tuple[str, int]:
    """The ledger page's HTML for `user`, and the queries it took."""
    client.force_login(user)
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(f"{LEDGER}?{query}" if query else LEDGER)
    assert response.status_code == 200
    return response.content.decode(), len(ctx.captured_queries)


def _numbers(html: str) -> set[str]:
    return set(re.findall(r'<tr data-need="([^"]+)"', html))


def _without_csrf(html: str) -> str:
    """The page with its CSRF tokens (masked anew on every page) left out."""
    return re.sub(r"[A-Za-z0-9]{64}", "", html)


def _marks() -> dict[str, int]:
    """The last mark of each scope."""
    return dict(
        LedgerMark.objects.values("scope").annotate(last=Max("id")).values_list("scope", "last")
    )


def _warm(client, user, query: str = "") -> None:
    """Loads until what every page keeps (ADR 0026: scopes, option lists, the filter panel)
    is kept: the query counts below then differ only by the kept results."""
    for _ in range(2):
        _load(client, user, query)


@postgresql_only
def test_a_handlers_ledger_is_kept_while_nothing_it_shows_changes(client, world):
    # given a need the handler's unit works on, its ledger rendered after a change it shows
    need = world.in_progress()
    _warm(client, world.handler)
    Need.objects.filter(pk=need.pk).update(title="路灯不亮")
    first, rendered = _load(client, world.handler)
    assert _numbers(first) == {need.number}

    # when it is opened again, and again after a progress note (changes nothing it shows)
    again, kept = _load(client, world.handler)
    services.need_progress(actor=world.handler, need=need, version=need.version, note="已联系")
    after_note, after_note_queries = _load(client, world.handler)

    # then the results come from the kept copy: fewer queries, the same page
    assert kept < rendered
    assert after_note_queries == kept
    assert _numbers(again) == _numbers(after_note) == {need.number}


@postgresql_only
def test_a_change_by_someone_else_shows_on_the_next_load(client, world):
    need = world.in_progress()
    _load(client, world.handler)
    _load(client, world.handler)

    # a dispatcher assigns another need to the unit: it is listed at once
    other = world.assigned(title="小区围墙倒塌")
    html, _queries = _load(client, world.handler)
    assert _numbers(html) == {need.number, other.number}

    # a reply changes a row's status: shown at once
    services.need_reply(
        actor=world.handler,
        need=need,
        version=Need.objects.get(pk=need.pk).version,
        outcome="resolved",
        reply_text="已修复。",
    )
    html, _queries = _load(client, world.handler, "status=replied")
    assert _numbers(html) == {need.number}


@postgresql_only
def test_a_need_returned_leaves_the_units_kept_ledger(client, world):
    need = world.assigned()
    assert _numbers(_load(client, world.handler)[0]) == {need.number}
    services.need_return(actor=world.handler, need=need, version=need.version, reason="不属本单位")
    assert _numbers(_load(client, world.handler)[0]) == set()


@postgresql_only
def test_co_units_added_and_removed_show_at_once(client, world):
    need = world.assigned(lead=world.transport)
    assert _numbers(_load(client, world.handler)[0]) == set()

    need.co_units.add(world.housing)  # through the ORM's m2m, not a service
    assert _numbers(_load(client, world.handler)[0]) == {need.number}

    need.co_units.remove(world.housing)
    assert _numbers(_load(client, world.handler)[0]) == set()


@postgresql_only
def test_plain_sql_and_bulk_updates_are_seen(client, world):
    need = world.in_progress(title="村口路灯不亮")
    assert "村口路灯不亮" in _load(client, world.handler)[0]

    with connection.cursor() as cursor:
        cursor.execute("UPDATE needs_need SET title = %s WHERE id = %s", ["桥面开裂", need.pk])
    assert "桥面开裂" in _load(client, world.handler)[0]

    Need.objects.filter(pk=need.pk).update(title="河道淤积")
    assert "河道淤积" in _load(client, world.handler)[0]


@postgresql_only
def test_a_requester_edited_shows_at_once(client, world):
    need = world.in_progress(requester=RequesterInput(name="张三丰", phone="13812345678"))
    requester = Requester.objects.get(needs=need)
    assert "张*" in _load(client, world.handler)[0]

    requester.name = "李四"
    requester.save()
    html = _load(client, world.handler)[0]
    assert "李*" in html
    assert "张*" not in html


@postgresql_only
def test_kept_results_last_at_most_kept_seconds(client, world):
    need = world.in_progress()
    with time_machine.travel(clock.now(), tick=False) as traveller:
        _warm(client, world.handler)
        Need.objects.filter(pk=need.pk).update(title="路灯不亮")
        _html, rendered = _load(client, world.handler)
        _html, kept = _load(client, world.handler)
        traveller.shift(timedelta(seconds=ledger_kept.KEPT_SECONDS - 1))
        _html, still = _load(client, world.handler)
        traveller.shift(timedelta(seconds=2))
        _html, expired = _load(client, world.handler)
    assert kept < rendered
    assert still == kept
    assert expired == rendered


@postgresql_only
def test_results_rendered_in_one_process_are_shown_by_the_others(client, world):
    # given a handler's results rendered by one server process
    need = world.in_progress()
    _warm(client, world.handler)
    Need.objects.filter(pk=need.pk).update(title="路灯不亮")
    rendered_html, rendered = _load(client, world.handler)
    _html, kept_here = _load(client, world.handler)

    # when another process, which has kept nothing, opens the same page
    ledger_kept.clear()
    shared_html, shared = _load(client, world.handler)

    # then it shows them from the shared table (one query more than its own copy), unchanged
    assert kept_here < shared < rendered
    assert _without_csrf(shared_html) == _without_csrf(rendered_html)
    assert _numbers(shared_html) == {need.number}
    # and keeps them itself from then on
    assert _load(client, world.handler)[1] == kept_here


@postgresql_only
def test_the_sweep_deletes_shared_results_too_old_to_show(client, world):
    world.in_progress()
    with time_machine.travel(clock.now(), tick=False) as traveller:
        _load(client, world.handler)
        assert KeptLedger.objects.count() == 1
        traveller.shift(timedelta(seconds=ledger_kept.KEPT_SECONDS - 1))
        assert ledger_kept.kept_ledger_sweep() == 0
        traveller.shift(timedelta(seconds=2))
        assert ledger_kept.kept_ledger_sweep() == 1
    assert not KeptLedger.objects.exists()


@postgresql_only
def test_the_shared_results_table_is_unlogged(world):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relpersistence FROM pg_class WHERE relname = %s",
            [KeptLedger._meta.db_table],
        )
        assert cursor.fetchone() == ("u",)


@postgresql_only
def test_area_scopes_are_never_kept(client, world):
    world.assigned()
    for viewer in (world.dispatcher, world.officer, world.leader):
        _warm(client, viewer)
        _html, first = _load(client, viewer)
        _html, second = _load(client, viewer)
        assert second == first


@postgresql_only
def test_only_changes_a_ledger_shows_move_the_marks(world):
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.transport,
        co_units=[world.housing],
    )
    before = _marks()
    assert {f"u{world.transport.pk}", f"u{world.housing.pk}", f"r{world.officer.pk}"} <= set(before)

    # version and updated_at alone (a progress note): nothing moves
    Need.objects.filter(pk=need.pk).update(version=need.version + 1, updated_at=clock.now())
    assert _marks() == before

    # a shown column: the lead unit, each co-unit and the recorder move, nothing else
    Need.objects.filter(pk=need.pk).update(title="新标题")
    after = _marks()
    moved = {scope for scope in after if after[scope] != before.get(scope)}
    assert moved == {f"u{world.transport.pk}", f"u{world.housing.pk}", f"r{world.officer.pk}"}


@postgresql_only
def test_the_sweeps_fold_leaves_one_newer_mark_per_scope(client, world):
    need = world.in_progress()
    for title in ("一", "二", "三"):
        Need.objects.filter(pk=need.pk).update(title=title)
    unit = f"u{world.housing.pk}"
    assert LedgerMark.objects.filter(scope=unit).count() > 1
    _warm(client, world.handler)

    last = LedgerMark.objects.filter(scope=unit).aggregate(last=Max("id"))["last"]
    assert ledger_kept.ledger_marks_fold() >= 1
    rows = list(LedgerMark.objects.filter(scope=unit).values_list("id", flat=True))
    assert len(rows) == 1
    assert rows[0] > last
    # the kept page is rendered once more after the fold, then kept again
    _html, rendered = _load(client, world.handler)
    _html, kept = _load(client, world.handler)
    assert kept < rendered


@pytest.mark.django_db(transaction=True)
@postgresql_only
def test_changes_committed_one_by_one_are_seen(client, world):
    """Real commits, not the test's one rolled-back transaction: each write commits on its own,
    as on a server."""
    need = world.in_progress(title="村口路灯不亮")
    _warm(client, world.handler)
    assert "村口路灯不亮" in _load(client, world.handler)[0]
    with connection.cursor() as cursor:
        cursor.execute("UPDATE needs_need SET title = %s WHERE id = %s", ["桥面开裂", need.pk])
    assert "桥面开裂" in _load(client, world.handler)[0]


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite")
def test_nothing_is_kept_on_sqlite(client, world):
    world.in_progress()
    _warm(client, world.handler)
    _html, first = _load(client, world.handler)
    _html, second = _load(client, world.handler)
    assert second == first
    assert not LedgerMark.objects.exists()
