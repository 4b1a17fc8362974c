"""`wenxu demo`: the demo county loads once, atomically, through the services, in every status.

Loading takes seconds, so the module loads it once (inside a transaction rolled back at the end)
and the tests read it.
"""

import io
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction
from django.test import Client
from django.utils import timezone

from wenxu.accounts.models import Membership, User
from wenxu.core import demo_data
from wenxu.core.demo_texts import BURSTS, COUNTY_CODE, BurstSpec
from wenxu.core.management.commands import demo as demo_command
from wenxu.insight.models import HotTopicRun, RouterModel, RoutingRule, Signal
from wenxu.insight.similar import similar_index_reset, similar_to_need
from wenxu.insight.tests import dashboard_reference
from wenxu.needs import services, states
from wenxu.needs.models import Need, NeedEvent
from wenxu.needs.states import Status
from wenxu.notify.models import Message
from wenxu.organisations.models import Area, Unit
from wenxu.topics.models import Topic
from wenxu.topics.services import requesters_of
from wenxu.visits.models import Place, Visit, VisitPlan

# One xdist worker runs the whole module (--dist loadgroup, pyproject.toml):
# the demo county is loaded once per module and process, and a second worker would pay for it again.
pytestmark = pytest.mark.xdist_group("demo")

PASSWORD = "qs-demo-pass-2026"
MAIN_ACCOUNTS = ("admin", "dispatcher", "officer", "handler", "leader")


@dataclass
class Loaded:
    after_crash: dict[str, int]
    crash: BaseException
    after_first: dict[str, int]
    after_second: dict[str, int]
    first_output: str
    second_output: str
    loaded_on: date


def _counts() -> dict[str, int]:
    return {
        "areas": Area.objects.count(),
        "units": Unit.objects.count(),
        "users": User.objects.count(),
        "needs": Need.objects.count(),
        "events": NeedEvent.objects.count(),
    }


def _run_demo() -> str:
    out = io.StringIO()
    call_command("demo", "--no-serve", stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def loaded(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Loaded]:
    with pytest.MonkeyPatch.context() as mp, django_db_blocker.unblock(), transaction.atomic():
        mp.setenv(demo_data.PASSWORD_ENV, PASSWORD)
        mp.setattr(settings, "DATA_DIR", tmp_path_factory.mktemp("demo"))

        # A crash half-way (here: the first time a unit accepts a need) leaves nothing behind.
        def broken_accept(**kwargs: Any) -> Need:
            raise RuntimeError("simulated crash")

        mp.setattr(services, "need_accept", broken_accept)
        with pytest.raises(RuntimeError) as crash:
            _run_demo()
        after_crash = _counts()
        mp.undo()
        mp.setenv(demo_data.PASSWORD_ENV, PASSWORD)
        mp.setattr(settings, "DATA_DIR", tmp_path_factory.mktemp("demo"))

        loaded_on = timezone.localdate()
        first = _run_demo()
        after_first = _counts()
        second = _run_demo()
        yield Loaded(after_crash, crash.value, after_first, _counts(), first, second, loaded_on)
        transaction.set_rollback(True)


@pytest.fixture
def demo(loaded: Loaded, db: None) -> Loaded:
    return loaded


def test_a_crash_half_way_leaves_nothing_behind(demo):
    assert str(demo.crash) == "simulated crash"
    assert demo.after_crash == {"areas": 0, "units": 0, "users": 0, "needs": 0, "events": 0}


def test_demo_county_meets_the_minimums(demo):
    county = Area.objects.get(code=COUNTY_CODE)
    within = Area.objects.filter(path__startswith=county.path)
    assert county.name == "青山县"
    assert within.filter(level="township").count() >= 3
    assert within.filter(level="village").count() >= 10
    assert within.filter(level="grid").count() >= 30
    assert Unit.objects.count() >= 12
    assert Unit.objects.filter(parent__isnull=False).exists()  # 公路养护中心 under 交通运输局
    assert all(unit.areas.exists() for unit in Unit.objects.all())
    assert Need.objects.filter(area__path__startswith=county.path).count() >= 300


def test_demo_needs_are_in_every_status_over_six_months(demo):
    statuses = set(Need.objects.values_list("status", flat=True))
    assert statuses == set(Status.values)
    now = timezone.now()
    oldest = Need.objects.order_by("registered_at").first()
    assert oldest is not None
    assert now - timedelta(days=190) < oldest.registered_at < now - timedelta(days=120)
    assert Need.objects.filter(handling="on_the_spot", status="closed").exists()
    assert Need.objects.filter(outcome="planned", status="following").exists()
    assert Need.objects.filter(outcome="planned", fulfilled_at__isnull=False).exists()
    assert Need.objects.filter(extension_count__gt=0).exists()
    assert Need.objects.filter(extension_pending_days__isnull=False).exists()
    assert NeedEvent.objects.filter(action="deny_extension").exists()
    assert Need.objects.filter(reopen_count__gt=0).exists()
    assert Need.objects.filter(supervised=True).exists()
    assert sum(need.is_overdue(now) for need in Need.objects.all()) > 0
    assert Need.objects.filter(requester__isnull=True).exists()
    assert Need.objects.filter(requester__confidential=True).exists()
    assert len(set(Need.objects.values_list("kind", flat=True))) == 7


def test_demo_needs_were_written_by_the_services_with_honest_times(demo):
    now = timezone.now()
    for need in Need.objects.prefetch_related("events"):
        events = list(need.events.all())
        assert events, need.number
        assert events[0].action in ("register", "register_on_the_spot")
        assert events[-1].to_status == need.status, need.number
        assert [e.created_at for e in events] == sorted(e.created_at for e in events)
        assert events[-1].created_at <= now
        assert abs(events[0].created_at - need.registered_at) < timedelta(minutes=1)
    numbers = list(Need.objects.order_by("registered_at").values_list("number", flat=True))
    assert numbers == sorted(numbers)  # numbered in the order they were registered


def test_running_demo_twice_creates_nothing_new(demo):
    assert demo.after_first["needs"] >= 300
    assert demo.after_second == demo.after_first
    assert "演示数据已就绪" in demo.first_output
    assert "已存在" in demo.second_output


def test_demo_accounts_log_in_with_the_printed_password(demo):
    assert PASSWORD in demo.first_output
    assert PASSWORD in demo.second_output
    for username in MAIN_ACCOUNTS:
        assert re.search(rf"^\s+{username}\s", demo.first_output, re.MULTILINE), username
        assert Client().login(username=username, password=PASSWORD), username
    admin = User.objects.get(username="admin")
    assert admin.is_superuser
    assert admin.is_staff
    officer = Membership.objects.select_related("area").get(user__username="officer")
    assert (officer.role, officer.area.level) == ("officer", "township")  # type: ignore[union-attr]
    handler = Membership.objects.select_related("unit").get(user__username="handler")
    assert (handler.role, handler.unit.short_name) == ("handler", "县住建局")  # type: ignore[union-attr]


def test_a_new_password_in_the_environment_reaches_the_demo_accounts(demo, monkeypatch):
    monkeypatch.setenv(demo_data.PASSWORD_ENV, "another-pass-2026")
    output = _run_demo()
    assert "another-pass-2026" in output
    assert Client().login(username="officer", password="another-pass-2026")


def test_demo_serves_unless_told_not_to(demo, monkeypatch):
    calls: list[tuple[str, dict[str, Any]]] = []

    def record(name: str, *args: Any, **options: Any) -> None:
        calls.append((name, options))

    monkeypatch.setenv(demo_data.PASSWORD_ENV, PASSWORD)
    monkeypatch.setattr(demo_command, "call_command", record)
    call_command("demo", "--port", "8123", "--host", "192.0.2.10", stdout=io.StringIO())
    assert [name for name, _ in calls] == ["migrate", "serve"]
    assert calls[1][1] == {"host": "192.0.2.10", "port": 8123}


def test_demo_data_passes_the_ledger_check(demo):
    out = io.StringIO()
    code: object = 0
    try:
        call_command("ledger_check", stdout=out, stderr=out)
    except SystemExit as exit_:
        code = exit_.code
    assert code in (0, None), out.getvalue()


def test_demo_password_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv(demo_data.PASSWORD_ENV, raising=False)
    first, origin = demo_data.demo_password(tmp_path)
    again, _ = demo_data.demo_password(tmp_path)
    path = tmp_path / demo_data.PASSWORD_FILE
    assert first == again
    assert len(first) >= 12
    assert origin == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv(demo_data.PASSWORD_ENV, "from-env-2026")
    assert demo_data.demo_password(tmp_path)[0] == "from-env-2026"


# --------------------------------------------------------------------------- measures (issue #6)


def _direct_rates(*, start: Any, end: Any, area: Area | None, unit: Unit | None) -> dict[str, Any]:
    """The rates counted straight from the events with ORM filters: independent of the rollups'
    cursor, batches, rows and path copies."""
    from datetime import datetime, time

    begin = timezone.make_aware(datetime.combine(start, time.min))
    finish = timezone.make_aware(datetime.combine(end + timedelta(days=1), time.min))
    events = NeedEvent.objects.filter(created_at__gte=begin, created_at__lt=finish)
    if area is not None:
        events = events.filter(need__area__path__startswith=area.path)
    if unit is not None:
        units = list(Unit.objects.filter(path__startswith=unit.path).values_list("pk", flat=True))
        events = events.filter(data__lead_unit__in=units)
    accepts = events.filter(action="accept")
    replies = events.filter(action="reply")
    reminders = events.filter(action="remind")
    callbacks = events.filter(action="callback").exclude(data__channel="unreachable")
    spot = events.filter(action="register_on_the_spot", data__confirmed=True)
    on_time_accepts = accepts.filter(data__on_time=True).count()
    missed_response = (
        reminders.filter(data__kind="response_overdue").count()
        + accepts.filter(data__missed_unmarked=True).count()
    )
    on_time_replies = replies.filter(data__on_time=True).count()
    missed_resolve = (
        reminders.filter(data__kind="overdue").count()
        + replies.filter(data__missed_unmarked=True).count()
    )
    answered = callbacks.count() + spot.count()
    resolved = callbacks.filter(data__resolved="yes").count() + spot.count()
    partly = callbacks.filter(data__resolved="partly").count()
    satisfied = (
        callbacks.filter(data__satisfaction__in=["very_satisfied", "satisfied", "basic"]).count()
        + spot.filter(data__satisfaction__in=["very_satisfied", "satisfied", "basic"]).count()
    )
    unreachable = events.filter(action="callback", data__channel="unreachable").count()

    def ratio(n: float, d: int) -> float | None:
        return round(n / d, 4) if d else None

    return {
        "response_rate": ratio(on_time_accepts, on_time_accepts + missed_response),
        "ontime_rate": ratio(on_time_replies, on_time_replies + missed_resolve),
        "resolution_rate": ratio(resolved + 0.5 * partly, answered),
        "satisfaction_rate": ratio(satisfied, answered),
        "callback_rate": ratio(answered, answered + unreachable),
    }


def test_demo_measures_match_a_direct_count_for_several_scopes_and_periods(demo):
    from wenxu.insight.measures import rates, totals
    from wenxu.insight.rollups import rollup_rebuild
    from wenxu.insight.selectors import StatsFilters, daily_counts_for_user

    rollup_rebuild(lag=timedelta(0))
    leader = User.objects.get(username="leader")
    today = timezone.localdate()
    town = Area.objects.filter(code__startswith=COUNTY_CODE, level="township").order_by("code")[0]
    unit = Unit.objects.filter(pk__in=Need.objects.values("lead_unit")).order_by("pk")[0]
    cases = [
        (today - timedelta(days=179), today, None, None),
        (today - timedelta(days=29), today, None, None),
        (today - timedelta(days=120), today - timedelta(days=60), town, None),
        (today - timedelta(days=179), today, None, unit),
    ]
    seen_extension = seen_reopen = seen_partly = seen_unreachable = False
    for start, end, area, lead in cases:
        rows = daily_counts_for_user(
            user=leader, filters=StatsFilters(start=start, end=end, area=area, unit=lead)
        )
        counted = totals(rows)
        got = {
            name: float(rate.value) if rate.value is not None else None
            for name, rate in rates(counted).items()
        }
        assert got == _direct_rates(start=start, end=end, area=area, unit=lead), (start, area, lead)
        seen_extension |= counted["extensions"] > 0
        seen_reopen |= counted["reopened"] > 0
        seen_partly |= counted["partly_resolved"] > 0
        seen_unreachable |= counted["unreachable"] > 0
    # the edge cases are in the data the numbers were checked on
    assert seen_extension
    assert seen_reopen
    assert seen_partly
    assert seen_unreachable


# --------------------------------------------------------------------------- 举一反三 (issue #7)


def _planted(spec: BurstSpec, since: Any = None) -> set[int]:
    """The needs of a planted burst, told by their own wording."""
    values = {"v": spec.village, "p": spec.place, "r": spec.road, "l": spec.landmark}
    patterns = [
        re.compile(
            "^" + re.escape(text.format(**values, b="\x00", f="\x00")).replace("\x00", r"\d+") + "$"
        )
        for _title, text in spec.phrasings
    ]
    needs = Need.objects.filter(category__name=spec.leaf, area__parent__name=spec.village)
    if since is not None:
        needs = needs.filter(registered_at__gte=since)
    return {
        pk
        for pk, description in needs.values_list("pk", "description")
        if any(p.match(description) for p in patterns)
    }


def test_demo_planted_burst_is_the_hottest_topic_of_the_last_30_days(demo):
    water, lights = BURSTS
    assert len(_planted(water)) == len(water.phrasings)
    # one run: the replayed sweeps left no empty run behind
    run = HotTopicRun.objects.get()
    assert run.requested_by is None
    assert run.state == HotTopicRun.State.DONE
    assert run.window_end - run.window_start == timedelta(days=demo_data.HOT_DAYS)
    top, *rest = run.groups.order_by("rank")
    in_window = _planted(water, since=run.window_start)
    assert len(in_window) == len(water.phrasings) - water.earlier >= 8
    assert in_window <= set(top.need_ids)
    assert water.place in top.label
    assert "水压" in top.label
    assert top.previous_size >= 1  # the residents who asked a month or two before
    # the second, smaller cluster is a hot topic of its own
    street = _planted(lights, since=run.window_start)
    assert len(street) == len(lights.phrasings)
    assert any(street <= set(g.need_ids) and lights.road in g.label for g in rest)


def test_demo_planted_needs_find_each_other_as_similar_needs(demo):
    # the same complaint in a dozen wordings: each active one finds others of the burst among
    # its first matches
    water = BURSTS[0]
    planted = _planted(water)
    dispatcher = User.objects.get(username="dispatcher")
    similar_index_reset()
    active = Need.objects.filter(pk__in=planted, status__in=states.ACTIVE)
    assert active.count() >= 5
    for need in active:
        found = [s.id for s in similar_to_need(user=dispatcher, need=need, limit=3)]
        # (the same problem in another estate may come first: it is similar too, and the demo's
        # texts change with the day it is loaded; seen: 青山一品二次供水水压低 0.122 against
        # 锦绣花园顶楼用水困难 0.119 for 锦绣花园二次供水加压不行)
        assert found, need.title
        assert set(found[:2]) & planted, need.title
        assert len(set(found) & planted) >= 2, need.title
    similar_index_reset()


def test_demo_planted_burst_is_an_early_signal_for_its_community(demo):
    water = BURSTS[0]
    signal = Signal.objects.get(area__name=water.village, category__name=water.leaf)
    assert signal.state == Signal.State.NEW
    # The day the demo was loaded (a slow run may cross midnight in Beijing after loading).
    assert signal.period_end == demo.loaded_on - timedelta(days=1)
    assert signal.count >= water.recent
    assert signal.count > signal.baseline * 3


def test_demo_topic_follows_the_planted_burst_and_told_each_requester_once(demo):
    water = BURSTS[0]
    topic = Topic.objects.select_related("area", "owner_unit", "source_group").get()
    assert water.place in topic.title
    assert topic.area.name == water.village
    assert topic.owner_unit is not None
    assert topic.owner_unit.short_name == "县水务局"
    assert topic.root_cause
    assert topic.source_group is not None
    assert topic.source_group.rank == 1
    assert topic.measures_from is not None
    assert topic.measures_from < timezone.localdate()
    linked = set(topic.links.values_list("need_id", flat=True))
    assert _planted(water, since=topic.source_group.run.window_start) <= linked
    assert sorted(topic.measures.values_list("status", flat=True)) == ["in_progress", "planned"]
    assert all(m.owner_unit_id and m.due_date for m in topic.measures.all())
    done, pending = topic.milestones.order_by("progress")
    assert (done.progress, pending.progress) == (30, 100)
    assert done.completed_at is not None
    assert pending.completed_at is None
    # the completed milestone: one text message per distinct requester of the linked needs
    requesters = {requester.pk for requester, _need in requesters_of(topic)}
    assert len(requesters) >= 8
    told = list(Message.objects.filter(template="topic_milestone").values_list("requester_id"))
    assert sorted(r for (r,) in told) == sorted(requesters)


def test_demo_routing_is_trained_and_has_example_rules(demo):
    targets = sorted(RouterModel.objects.filter(active=True).values_list("target", flat=True))
    assert targets == ["category", "unit"]
    assert all(m.samples >= 100 for m in RouterModel.objects.filter(active=True))
    rules = RoutingRule.objects.filter(active=True).select_related("category", "unit")
    assert {(r.category.name, r.unit.short_name) for r in rules if r.category and r.unit} >= {
        ("供水", "县水务局"),
        ("路灯照明", "县住建局"),
    }
    assert "举一反三" in demo.first_output
    assert BURSTS[0].place in demo.first_output


# The demo county's visits, places and plans, and its coverage page (issue #6). Here rather than
# in wenxu/visits so the county loads once for both.
def test_demo_has_places_plans_and_a_few_months_of_visits(demo):
    assert Place.objects.filter(kind="household").count() >= 30
    assert Place.objects.filter(kind="enterprise").exists()
    assert Place.objects.filter(kind="public").exists()
    assert 2 <= VisitPlan.objects.count() <= 4
    visits = Visit.objects.all()
    assert 20 <= visits.count() <= 40
    oldest = visits.order_by("started_at").first()
    assert oldest is not None
    assert oldest.started_at < timezone.now() - timedelta(days=60)
    assert all(v.summary and 1 <= v.mood <= 5 for v in visits)
    assert Visit.objects.filter(officers__username="officer").count() >= 15
    raised = Need.objects.filter(visit__isnull=False)
    assert raised.filter(handling="on_the_spot").count() >= 2
    assert raised.filter(source="observed").count() == 1
    assert raised.count() < visits.count()  # most visits raise no need


def test_demo_officer_sees_coverage_with_plans_grids_and_sentiment(demo, settings):
    settings.WENXU_DEMO = True  # as under `wenxu demo`: the demo accounts keep their password
    client = Client()
    client.force_login(User.objects.get(username="officer"))
    today = timezone.localdate()
    # The last four months, not "this quarter": on a quarter's first day nothing is reached yet.
    period = {"period": "custom", "start": str(today - timedelta(days=120)), "end": str(today)}
    response = client.get("/coverage/", period)
    assert response.status_code == 200
    report = response.context["report"]
    assert len(report.plans) >= 2
    assert report.total.places >= 30
    assert 0 < report.total.reached < report.total.places
    assert any(row.user.username == "officer" and row.visits for row in report.officers)
    html = response.content.decode()
    assert "走访计划完成情况" in html
    assert "获得感" in html


# The statistics page against a plain reference on the demo county (issue #10, B3): the tests
# live with the insight app and run here, so the county loads once for both.
test_the_dashboard_shows_what_the_plain_reference_computes = (
    dashboard_reference.test_the_dashboard_shows_what_the_plain_reference_computes
)
test_the_board_of_a_viewer_who_sees_every_need_leaves_the_scope_test_out = (
    dashboard_reference.test_the_board_of_a_viewer_who_sees_every_need_leaves_the_scope_test_out
)
test_a_full_overdue_board_and_its_count_cost_one_query = (
    dashboard_reference.test_a_full_overdue_board_and_its_count_cost_one_query
)
