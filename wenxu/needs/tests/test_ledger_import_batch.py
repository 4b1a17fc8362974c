"""The import's batch path (`services.bulk.need_register_batch`, issue #10) against the per-row
services it replaces: the same needs, requesters and events, field by field; all or nothing;
numbers and notifications as one call per need would give them."""

import itertools
from contextlib import nullcontext
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from conftest import World
from wenxu.accounts.models import User
from wenxu.lib import clock, ids
from wenxu.needs import services
from wenxu.needs.exceptions import NotPermitted
from wenxu.needs.ledger_import import service
from wenxu.needs.ledger_import.rows import PlannedRow, check_rows
from wenxu.needs.models import DeadlineRule, LedgerCounter, Need, NeedEvent
from wenxu.needs.services import bulk
from wenxu.needs.tests.ledger_import_helpers import ledger_row, xlsx
from wenxu.needs.tests.test_ledger_import import import_file, upload_and_check
from wenxu.notify.models import Delivery
from wenxu.residents.models import Requester

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 9, 28, 10, 0, tzinfo=SHANGHAI)  # a Monday
HOUSING = "青山县住房和城乡建设局"


def mixed_rows() -> list[list[Any]]:
    """Rows that take every way through register and assign."""
    return [
        ledger_row(1),  # registered at the file's date, with a requester
        ledger_row(2, unit=HOUSING),  # assigned by the rule of 道路与照明 (working days)
        ledger_row(3, unit="县住建局", status="已办结", result="已修复"),  # closed: not assigned
        # the requester's phone in the text (scrubbed), urgent (a deadline in hours)
        ledger_row(
            4, content="请回电 138-1234-5678。第4号路灯不亮。", urgency="紧急", unit=HOUSING
        ),
        ledger_row(5, name="", phone="", address="", date="2024-12-31 23:30"),  # another year
        ledger_row(6, date="", category="", unit="县交通局"),  # registered now, default rule
        ledger_row(7, town="西岭乡", village="西岭村", phone="0571-88886666", urgency="复杂"),
        ledger_row(8, name="李四", phone="", content="李四反映：13812345678 不是他的电话。"),
    ]


def planned(world: World, rows: list[list[Any]]) -> list[PlannedRow]:
    """The rows as the commit plans them, after a clean dry run."""
    dry = upload_and_check(world.dispatcher, xlsx(rows))
    assert dry.result is not None
    assert dry.result.ok, dry.result.problems[:3]
    result = check_rows(
        actor=world.dispatcher,
        file=service.batch_file(dry.batch),
        mapping=dry.batch.mapping,
        default_source=dry.batch.default_source,
    )
    assert len(result.rows) == len(rows)
    return result.rows


def per_row(actor: User, rows: list[PlannedRow]) -> list[int]:
    """What the import did before the batch path: the services, one need at a time."""
    made = []
    for row in rows:
        at = clock.travel(row.registered_at) if row.registered_at else nullcontext()
        with at:
            need = services.need_register(
                actor=actor,
                title=row.title,
                description=row.description,
                kind=row.kind,
                source=row.source,
                area=row.area,
                category=row.category,
                urgency=row.urgency,
                address=row.address,
                requester=row.requester,
            )
        if row.assign:
            need = services.need_assign(
                actor=actor, need=need, version=need.version, lead_unit=row.unit
            )
        made.append(need.pk)
    return made


def batch(actor: User, rows: list[PlannedRow]) -> list[int]:
    return bulk.need_register_batch(
        actor=actor, registrations=map(service._registration, rows), chunk_size=3
    )


def snapshot(need_ids: list[int]) -> list[dict[str, Any]]:
    """Every stored value of the needs, their requesters and events (ids aside)."""
    out = []
    needs = Need.objects.filter(pk__in=need_ids).select_related("requester").order_by("number")
    for need in needs:
        values = {
            f.attname: getattr(need, f.attname)
            for f in Need._meta.concrete_fields
            if f.attname not in ("id", "requester_id")
        }
        if need.requester is not None:
            values["requester"] = {
                f.attname: getattr(need.requester, f.attname)
                for f in Requester._meta.concrete_fields
                if f.attname != "id"
            }
        values["co_units"] = list(need.co_units.values_list("pk", flat=True))
        values["events"] = list(
            need.events.order_by("seq").values(
                "seq",
                "actor_id",
                "action",
                "from_status",
                "to_status",
                "note",
                "data",
                "created_at",
            )
        )
        out.append(values)
    return out


def run(path: Any, actor: User, rows: list[PlannedRow]) -> list[dict[str, Any]]:
    """`path`'s needs, then everything it wrote rolled back; tracking codes from one sequence."""
    codes = (f"T{i:07d}" for i in itertools.count(1))
    with pytest.MonkeyPatch.context() as patch, transaction.atomic():
        patch.setattr(ids, "tracking_code", lambda: next(codes))
        patch.setattr(bulk, "_fresh_codes", lambda count: [next(codes) for _ in range(count)])
        made = path(actor, rows)
        result = snapshot(made)
        transaction.set_rollback(True)
    return result


@pytest.mark.django_db
def test_the_batch_writes_the_same_needs_requesters_and_events_as_the_services(
    world: World, time_machine: Any
) -> None:
    # Given a frozen clock, a deadline rule of its own for 道路与照明, and a ledger file whose
    # rows take every way through registration and assignment (three to a chunk)
    time_machine.move_to(NOW, tick=False)
    DeadlineRule.objects.create(
        category=world.cat_roads,
        urgency="normal",
        response_value=2,
        response_unit="workdays",
        resolve_value=10,
        resolve_unit="workdays",
    )
    rows = planned(world, mixed_rows())
    # when the rows are registered one by one through the services, and, from the same state,
    # through the batch
    expected = run(per_row, world.dispatcher, rows)
    got = run(batch, world.dispatcher, rows)
    # then every field of every need, requester and event is the same
    assert len(got) == len(expected) == 8
    for mine, theirs in zip(got, expected, strict=True):
        assert mine == theirs, mine["number"]
    # (and the file did take those ways)
    by_number = {need["number"]: need for need in got}
    assert sorted(n["status"] for n in got) == ["assigned"] * 3 + ["registered"] * 5
    assert "WX-2024-000001" in by_number
    assert sum("requester" in n for n in got) == 7
    assert any("138****5678" in n["description"] for n in got)
    assert not any(
        "13812345678" in n["description"] or "1234-5678" in n["description"]
        for n in got
        if "requester" in n and n["requester"]["phone"] == "13812345678"
    )


@pytest.mark.django_db
def test_a_large_batch_numbers_its_rows_in_order_without_gaps(world: World) -> None:
    # Given 2 needs already registered this year by hand
    world.register()
    world.register()
    # when 25 rows are imported in chunks of 4
    rows = planned(world, [ledger_row(i, date="") for i in range(1, 26)])
    made = bulk.need_register_batch(
        actor=world.dispatcher, registrations=map(service._registration, rows), chunk_size=4
    )
    # then they follow on from the counter, in the file's order
    numbers = list(Need.objects.filter(pk__in=made).order_by("pk").values_list("number", flat=True))
    year = clock.today().year
    assert numbers == [ids.ledger_number(year, i) for i in range(3, 28)]
    assert LedgerCounter.objects.get(year=year).last == 27
    titles = Need.objects.filter(pk__in=made).order_by("number").values_list("title", flat=True)
    assert list(titles) == [f"第{i}号路灯不亮" for i in range(1, 26)]
    assert len(set(Need.objects.values_list("tracking_code", flat=True))) == 27


@pytest.mark.django_db
def test_the_batch_writes_in_a_few_queries_a_chunk_not_a_few_a_row(world: World) -> None:
    rows = planned(world, [ledger_row(i, unit=HOUSING) for i in range(1, 41)])

    def queries(count: int) -> int:
        with transaction.atomic(), CaptureQueriesContext(connection) as captured:
            bulk.need_register_batch(
                actor=world.dispatcher,
                registrations=map(service._registration, rows[:count]),
                chunk_size=10,
            )
            transaction.set_rollback(True)
        return len(captured.captured_queries)

    one, two, four = queries(10), queries(20), queries(40)
    per_chunk = two - one
    assert per_chunk <= 12  # counter, codes, requesters, needs, events: never per row
    assert four == one + 3 * per_chunk


@pytest.mark.django_db
def test_the_first_row_that_fails_is_named_and_nothing_is_written(world: World) -> None:
    # Given rows of which the 3rd (index 2) is assigned to a unit that was deactivated
    rows = planned(world, [ledger_row(i, unit=HOUSING if i == 3 else "") for i in range(1, 6)])
    assert rows[2].unit is not None
    rows[2].unit.active = False  # as need_assign would find it
    # when they are registered in chunks of 2
    with pytest.raises(bulk.RegistrationRejected) as caught:
        bulk.need_register_batch(
            actor=world.dispatcher, registrations=map(service._registration, rows), chunk_size=2
        )
    # then the error names that row and says what need_assign says, and nothing is left
    assert caught.value.index == 2
    assert "主办单位已停用" in caught.value.message
    assert caught.value.status_code == 422
    assert Need.objects.count() == 0
    assert Requester.objects.count() == 0
    assert not LedgerCounter.objects.filter(last__gt=0).exists()


@pytest.mark.django_db
def test_an_officer_may_register_but_not_assign_in_a_batch(world: World) -> None:
    rows = planned(world, [ledger_row(1), ledger_row(2)])
    registrations = list(map(service._registration, rows))
    made = bulk.need_register_batch(actor=world.officer, registrations=registrations)
    assert Need.objects.filter(pk__in=made, recorded_by=world.officer).count() == 2
    given = [bulk.Registration(**{**r.__dict__, "assign_to": world.housing}) for r in registrations]
    with pytest.raises(bulk.RegistrationRejected) as caught:
        bulk.need_register_batch(actor=world.officer, registrations=given)
    assert caught.value.index == 0
    assert isinstance(caught.value.error, NotPermitted)
    with pytest.raises(NotPermitted):
        bulk.need_register_batch(actor=world.handler, registrations=registrations)


@pytest.mark.django_db
def test_every_event_of_an_imported_file_is_delivered_after_the_commit(
    world: World, django_capture_on_commit_callbacks: Any, monkeypatch: Any
) -> None:
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 4)
    rows = [ledger_row(i, unit=HOUSING if i % 2 else "") for i in range(1, 11)]
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        import_file(world.dispatcher, xlsx(rows))
    events = NeedEvent.objects.count()
    assert events == 15  # 10 registrations, 5 assignments
    assert len(callbacks) == 3  # one delivery task a chunk of 4 needs
    assert Delivery.objects.count() == events
    # the lead unit's handler hears of each assignment, as with one call per need
    assert world.handler.notifications.filter(event__action="assign").count() == 5


@pytest.mark.parametrize(
    "phone",
    ["13812345678", "+86 138 1234 5678", "0571-88886666", "0571-88886666-123", "12345"],
)
def test_the_scrubber_compiles_its_patterns_only_for_texts_they_could_change(
    phone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wenxu.residents import scrub

    texts = [
        "",
        "没有数字",
        "原编号：B4-0000001",
        "请回电 138-1234-5678。",
        "请回电１３８１２３４５６７８",
        "电话 +86 138 1234 5678",
        "8888 6666 座机",
        "(0571)88886666",
        "0571 8888 6666 转 123",
        "邻居 13912345678",
        "12345 热线",
    ]
    # Each text as the requester's patterns, applied always, leave it
    expected = []
    for text in texts:
        for pattern, masked in scrub._replacements(phone=phone, id_number=""):
            text = pattern.sub(masked, text)
        expected.append(text)
    compiled = []
    real = scrub._replacements

    def counting(**values: str) -> Any:
        compiled.append(values)
        return real(**values)

    monkeypatch.setattr(scrub, "_replacements", counting)
    scrubber = scrub.requester_scrubber(phone=phone, id_number="")
    assert [scrubber(text) for text in texts] == expected
    # and texts without a run of seven of the phone's digits never compile them
    fresh = scrub.requester_scrubber(phone=phone, id_number="")
    compiled.clear()
    assert [fresh(text) for text in ["没有数字", "原编号：B4-0000001", "12345 热线"]] == [
        "没有数字",
        "原编号：B4-0000001",
        "12345 热线",
    ]
    assert compiled == []


def test_fresh_tracking_codes_are_of_the_alphabet_and_length() -> None:
    codes = bulk._fresh_codes(500)
    assert len(codes) == 500
    assert all(len(code) == ids.TRACKING_LENGTH for code in codes)
    assert set("".join(codes)) <= set(ids.TRACKING_ALPHABET)
    assert len(set("".join(codes))) == len(ids.TRACKING_ALPHABET)  # every character drawn


@pytest.mark.django_db
def test_a_row_the_services_refuse_in_a_later_chunk_is_named_and_nothing_is_written(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wenxu.needs.exceptions import InvalidInput
    from wenxu.needs.ledger_import import rows as ledger_rows

    # Given chunks of two rows, and a requester the services refuse in the fourth row
    monkeypatch.setattr(bulk, "CHUNK_SIZE", 2)
    monkeypatch.setattr(ledger_rows, "CHUNK", 2)
    person = bulk._person

    def refuse(requester: Any) -> Any:
        if requester is not None and requester.name == "王五":
            raise InvalidInput({"requester": ["不收"]})
        return person(requester)

    monkeypatch.setattr(bulk, "_person", refuse)
    rows = [ledger_row(i, name="王五" if i == 4 else "张三") for i in range(1, 6)]
    dry = upload_and_check(world.dispatcher, xlsx(rows))
    # when it is committed
    with pytest.raises(service.LedgerImportRejected) as caught:
        service.ledger_import_commit(actor=world.dispatcher, batch_id=dry.batch.pk)
    # then that row (sheet row 5) is named, and nothing was written
    assert [p.row for p in caught.value.problems] == [5]
    assert "这一行未能登记" in caught.value.problems[0].message
    assert Need.objects.count() == 0
    # and a bad row after it is what the report names, as when the file was checked first
    rows.append(ledger_row(6, content=""))
    dry = upload_and_check(world.dispatcher, xlsx(rows))
    batch_id = dry.batch.pk
    dry, committed = service.ledger_import_check_and_commit(
        actor=world.dispatcher,
        batch_id=batch_id,
        mapping=dry.batch.mapping,
        default_source="walk_in",
    )
    assert committed is None
    assert dry.result is not None
    assert [p.row for p in dry.result.problems] == [7]
    assert Need.objects.count() == 0
