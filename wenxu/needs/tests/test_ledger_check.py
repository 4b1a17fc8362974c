"""`wenxu ledger_check` (issue 2, item 9): every broken ledger promise is reported, exit 1.

The services never break these promises, so each test breaks one by writing rows directly.
Promises the database also enforces with a check constraint are broken with that constraint
switched off for the test (legacy imports and manual repairs are what the check is for).
"""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.models import F

from wenxu.needs import ledger, services
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.tests.helpers import at, closed, following, followup_in

MONDAY = at(2026, 3, 2, 10)


def run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("ledger_check", *args, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code or 0), out.getvalue()
    return 0, out.getvalue()


def codes(number: str) -> set[str]:
    return {f.code for f in ledger.check_ledger() if f.number == number}


@contextmanager
def check_constraints_off(name: str) -> Iterator[None]:
    """Let one test write a row that a database check constraint would refuse."""
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA ignore_check_constraints = 1")
            try:
                yield
            finally:
                cursor.execute("PRAGMA ignore_check_constraints = 0")
        else:
            # Fire the pending deferred foreign-key checks first: PostgreSQL refuses to alter a
            # table with pending trigger events. The drop is rolled back with the test.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f'ALTER TABLE needs_need DROP CONSTRAINT "{name}"')
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
            yield


@pytest.fixture
def ledger_in_every_state(world, time_machine):
    """A clean ledger with needs in every status, as the services leave them."""
    time_machine.move_to(MONDAY, tick=False)
    needs = {
        "registered": world.register(),
        "assigned": world.assigned(),
        "in_progress": world.in_progress(),
        "replied": world.replied(),
        "following": following(world),
        "closed": closed(world),
        "withdrawn": world.register(),
        "merged": world.register(),
        "on_the_spot": services.need_register_on_the_spot(
            actor=world.officer,
            title="咨询医保报销",
            description="询问门诊报销比例",
            kind="consult",
            source="visit",
            area=world.grid_a,
            reply_text="已现场解答",
            confirmed=True,
            satisfaction="satisfied",
        ),
    }
    fulfilled = following(world)
    needs["fulfilled"] = services.need_fulfil(
        actor=world.handler, need=fulfilled, version=fulfilled.version, note="已兑现"
    )
    w = needs["withdrawn"]
    services.need_withdraw(actor=world.dispatcher, need=w, version=w.version, reason="重复")
    m = needs["merged"]
    services.need_merge(actor=world.dispatcher, need=m, version=m.version, into=needs["assigned"])
    r = world.assigned()
    needs["returned"] = services.need_return(
        actor=world.handler, need=r, version=r.version, reason="错派"
    )
    reopened = world.replied()
    needs["reopened"] = services.need_reopen(
        actor=world.dispatcher, need=reopened, version=reopened.version, reason="群众不满意"
    )
    return needs


def test_clean_ledger_passes_with_exit_code_zero(ledger_in_every_state):
    code, out = run()
    assert code == 0
    assert out.strip() == "台账检查通过：共检查 12 条诉求，未发现问题。"


def test_clean_ledger_as_json(ledger_in_every_state):
    code, out = run("--json")
    assert code == 0
    assert json.loads(out) == {"ok": True, "checked": 12, "findings": []}


def test_empty_ledger_passes(db):
    assert run() == (0, "台账检查通过：共检查 0 条诉求，未发现问题。\n")


def test_a_following_need_long_past_its_followup_date_is_not_an_error(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = following(world)
    time_machine.move_to(MONDAY + timedelta(days=400), tick=False)
    assert need.followup_date is not None
    assert run()[0] == 0


# --------------------------------------------------------------------------- untriaged


def test_registered_need_past_the_triage_window_is_reported(world, time_machine, settings):
    settings.WENXU_TRIAGE_HOURS = 24
    time_machine.move_to(MONDAY, tick=False)
    need = world.register()

    time_machine.move_to(MONDAY + timedelta(hours=24), tick=False)
    assert run()[0] == 0

    time_machine.move_to(MONDAY + timedelta(hours=24, seconds=1), tick=False)
    code, out = run()
    assert code == 1
    assert f"{need.number} [untriaged] 已登记超过 24 小时仍未交办" in out
    assert out.splitlines()[-1] == "台账检查未通过：共检查 1 条诉求，1 条有问题，共 1 处。"


def test_triage_window_restarts_when_a_unit_returns_the_need(world, time_machine):
    time_machine.move_to(MONDAY, tick=False)
    need = world.assigned()
    time_machine.move_to(MONDAY + timedelta(hours=30), tick=False)
    need = services.need_return(actor=world.handler, need=need, version=need.version, reason="错派")

    time_machine.move_to(MONDAY + timedelta(hours=40), tick=False)
    assert codes(need.number) == set()
    time_machine.move_to(MONDAY + timedelta(hours=55), tick=False)
    assert codes(need.number) == {"untriaged"}


def test_assigned_need_without_lead_unit_is_reported(world):
    need = world.assigned()
    with check_constraints_off("need_assigned_has_unit_and_due"):
        Need.objects.filter(pk=need.pk).update(lead_unit=None)
    assert codes(need.number) == {"no_owner"}
    assert run()[0] == 1


def test_in_progress_need_without_deadline_is_reported(world):
    need = world.in_progress()
    with check_constraints_off("need_assigned_has_unit_and_due"):
        Need.objects.filter(pk=need.pk).update(resolve_due=None)
    assert codes(need.number) == {"no_owner"}


# --------------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    "builder", [lambda w: w.replied(), following, closed], ids=["replied", "following", "closed"]
)
def test_answered_need_without_reply_text_is_reported(world, builder):
    need = builder(world)
    Need.objects.filter(pk=need.pk).update(reply_text="")
    code, out = run()
    assert code == 1
    assert codes(need.number) == {"no_reply"}
    assert "缺少答复内容" in out


def test_replied_need_without_outcome_or_time_is_reported(world):
    need = world.replied()
    with check_constraints_off("need_reply_before_close"):
        Need.objects.filter(pk=need.pk).update(outcome="", replied_at=None)
    [finding] = [f for f in ledger.check_ledger() if f.code == "no_reply"]
    assert "办理结果" in finding.message
    assert "答复时间" in finding.message


def test_planned_outcome_without_followup_date_is_reported(world):
    need = following(world)
    with check_constraints_off("need_planned_has_followup"):
        Need.objects.filter(pk=need.pk).update(followup_date=None)
    assert codes(need.number) == {"planned_no_followup"}
    assert run()[0] == 1


def test_closed_planned_need_without_fulfil_event_is_reported(world):
    need = following(world)
    # Closed with a fulfilment date, but nobody recorded the fulfilment (no `fulfil` event).
    Need.objects.filter(pk=need.pk).update(status="closed", fulfilled_at=F("replied_at"))
    assert codes(need.number) == {"planned_not_fulfilled", "replay_mismatch"}


def test_fulfil_before_a_later_planned_reply_does_not_count(world):
    need = following(world)
    need = services.need_fulfil(actor=world.handler, need=need, version=need.version, note="兑现")
    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="复发"
    )
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="planned",
        reply_text="再次纳入计划",
        followup_date=followup_in(10),
    )
    assert codes(need.number) == set()
    # A closed status written over the new promise: the old fulfilment does not cover it.
    Need.objects.filter(pk=need.pk).update(status="closed", fulfilled_at=F("replied_at"))
    assert "planned_not_fulfilled" in codes(need.number)


# --------------------------------------------------------------------------- merges


def test_merged_need_whose_target_was_withdrawn_is_reported(world):
    # The services refuse to withdraw a merge target; this one was withdrawn before they did.
    source = world.register(title="路灯坏了")
    target = world.register(title="东河村路灯维修")
    services.need_merge(actor=world.dispatcher, need=source, version=source.version, into=target)
    target.refresh_from_db()
    NeedEvent.objects.create(
        need=target,
        seq=target.events.count() + 1,
        actor=world.dispatcher,
        action="withdraw",
        from_status=target.status,
        to_status="withdrawn",
        note="重复",
        created_at=target.registered_at,
    )
    Need.objects.filter(pk=target.pk).update(status="withdrawn", version=F("version") + 1)

    code, out = run()

    assert code == 1
    assert codes(source.number) == {"merged_into_withdrawn"}
    assert codes(target.number) == set()
    assert (
        f"{source.number} [merged_into_withdrawn] 已并入诉求 {target.number}，但该诉求已撤销" in out
    )


# --------------------------------------------------------------------------- event replay


def test_status_that_the_events_do_not_explain_is_reported(world):
    need = world.in_progress()
    Need.objects.filter(pk=need.pk).update(status="withdrawn")
    [finding] = [f for f in ledger.check_ledger() if f.number == need.number]
    assert finding.code == "replay_mismatch"
    assert finding.message == "办理记录止于“办理中”，但诉求状态为“已撤销”。"


def test_gap_in_event_sequence_is_reported(world):
    need = world.in_progress()
    NeedEvent.objects.filter(need=need, seq=3).update(seq=5)
    assert "seq_gap" in codes(need.number)
    assert any("缺少第 3、4 条" in f.message for f in ledger.check_ledger())


def test_broken_event_chain_is_reported(world):
    need = world.in_progress()
    NeedEvent.objects.filter(need=need, seq=2).update(to_status="in_progress")
    found = codes(need.number)
    assert "replay_mismatch" in found
    assert "illegal_event" in found


def test_event_not_allowed_by_the_transition_table_is_reported(world):
    # "reply" from registered to assigned chains with its neighbours but is no legal step.
    need = world.in_progress()
    NeedEvent.objects.filter(need=need, seq=2).update(action="reply")
    assert codes(need.number) == {"illegal_event"}


def test_need_without_events_is_reported(world):
    need = world.register()
    NeedEvent.objects.filter(need=need).delete()
    assert codes(need.number) == {"no_events"}


# --------------------------------------------------------------------------- output, scale


def test_json_output_lists_every_finding(world):
    first = world.replied()
    second = world.replied()
    Need.objects.filter(pk__in=[first.pk, second.pk]).update(reply_text="")

    code, out = run("--json")

    assert code == 1
    payload = json.loads(out)
    assert payload["ok"] is False
    assert payload["checked"] == 2
    assert [(f["number"], f["code"]) for f in payload["findings"]] == [
        (first.number, "no_reply"),
        (second.number, "no_reply"),
    ]
    assert all(f["message"].startswith("状态为“已答复”") for f in payload["findings"])


def test_findings_print_one_per_line_with_a_summary(world):
    needs = [world.replied() for _ in range(3)]
    Need.objects.filter(pk__in=[n.pk for n in needs[:2]]).update(reply_text="")
    code, out = run()
    lines = out.splitlines()
    assert code == 1
    assert len(lines) == 3
    assert lines[0].startswith(f"{needs[0].number} [no_reply] ")
    assert lines[1].startswith(f"{needs[1].number} [no_reply] ")
    assert lines[2] == "台账检查未通过：共检查 3 条诉求，2 条有问题，共 2 处。"


def test_check_reads_in_chunks_with_two_queries_each(world, django_assert_num_queries):
    needs = [world.register(title=f"诉求{i}") for i in range(5)]
    Need.objects.filter(pk=needs[-1].pk).update(status="withdrawn")
    # 3 chunks of ≤ 2 needs, each one needs query and one events query, plus the empty 4th.
    with django_assert_num_queries(3 * 2 + 1):
        findings = ledger.check_ledger(chunk_size=2)
    assert [(f.number, f.code) for f in findings] == [(needs[-1].number, "replay_mismatch")]


def test_query_count_does_not_grow_with_the_ledger(world, django_assert_num_queries):
    for i in range(30):
        world.replied(title=f"诉求{i}")
    with django_assert_num_queries(3):
        assert ledger.check_ledger() == []
