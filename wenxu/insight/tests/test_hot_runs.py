"""Hot-topic runs over the ledger: scheduled, on demand, claimed once, pruned."""

from datetime import timedelta

import pytest

from conftest import World
from wenxu.insight import hot, hot_runs
from wenxu.insight.models import HotTopicGroup, HotTopicRun
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Area

WATER = [
    "幸福小区{k}号楼高层水压太低，早上洗澡都没水",
    "幸福小区自来水水压不足，{k}楼住户用水困难",
    "反映幸福小区供水水压低，{k}楼以上经常停水",
    "幸福小区{k}栋高层住户反映水压不够，热水器打不着火",
]


def water(world: World, k: int, *, area: Area | None = None, varied: bool = False) -> Need:
    """A resident's need about 幸福小区's water pressure (in one of four wordings if varied)."""
    text = WATER[k % len(WATER) if varied else 0].format(k=k + 1)
    return world.register(
        actor=world.dispatcher,
        title=text[:20],
        description=text,
        area=area or world.grid_a,
        category=world.cat_water,
        requester=services.RequesterInput(name=f"居民{k}", phone=f"1380000{k:04d}"),
    )


def test_scheduled_run_groups_the_ledger(world: World) -> None:
    needs = [water(world, k, varied=True) for k in range(5)]
    # the same resident again, word for word: a copy
    again = world.register(
        title=needs[0].title,
        description=needs[0].description,
        area=world.grid_a,
        category=world.cat_water,
    )
    Need.objects.filter(pk=again.pk).update(requester=needs[0].requester)
    # merged into the first: a copy of its target
    merged = water(world, 7)
    services.need_merge(actor=world.dispatcher, need=merged, version=merged.version, into=needs[0])
    # withdrawn: left out
    gone = water(world, 8)
    services.need_withdraw(actor=world.dispatcher, need=gone, version=gone.version, reason="重复")
    world.register(
        actor=world.dispatcher,
        title="村口路灯不亮",
        description="西岭村村口路灯坏了",
        area=world.grid_b,
    )

    assert hot_runs.hot_topics_scheduled() == 1

    run = HotTopicRun.objects.get()
    assert run.state == HotTopicRun.State.DONE
    assert run.requested_by is None
    assert run.needs_count == 8  # 5 + copy + merged + the lamp; not the withdrawn one
    (group,) = HotTopicGroup.objects.filter(run=run)
    assert group.rank == 1
    assert sorted(group.need_ids) == sorted([n.pk for n in needs] + [again.pk, merged.pk])
    assert group.size == 7
    assert group.requesters == 5
    assert group.copies == 2
    assert group.area_ids == [world.grid_a.pk]
    assert group.category_ids == [world.cat_water.pk]
    assert group.label.startswith("幸福小区")
    assert group.heat > 0
    assert group.growth is None  # nothing like it in the previous window


def test_growth_counts_the_previous_window(world: World) -> None:
    with clock.travel(clock.now() - timedelta(days=65)):
        world.register()  # the ledger reaches back before the previous window
    with clock.travel(clock.now() - timedelta(days=40)):
        for k in range(2):
            water(world, 20 + k)
    for k in range(6):
        water(world, k)
    hot_runs.hot_topics_scheduled()
    group = HotTopicGroup.objects.get()
    assert group.previous_size == 2
    assert group.growth == pytest.approx(2.0)


def test_scheduled_run_waits_for_its_interval(world: World, settings: object) -> None:
    for k in range(3):
        water(world, k)
    assert hot_runs.hot_topics_scheduled() == 1
    assert hot_runs.hot_topics_scheduled() == 0  # within WENXU_HOT_TOPICS_EVERY_HOURS
    assert HotTopicRun.objects.count() == 1
    later = clock.now() + timedelta(hours=7)
    assert hot_runs.hot_topics_scheduled(now=later) == 1
    assert HotTopicRun.objects.count() == 2


def test_on_demand_runs_do_not_hold_back_the_schedule(world: World) -> None:
    hot_runs.hot_topic_run_create(actor=world.leader, days=7)
    assert hot_runs.hot_topics_scheduled() == 1


def test_a_claimed_run_is_not_run_twice(world: World) -> None:
    for k in range(3):
        water(world, k)
    run = hot_runs.hot_topic_run_create(actor=None, days=30)
    assert hot_runs.hot_topic_run_execute(run_id=run.pk) is True
    assert hot_runs.hot_topic_run_execute(run_id=run.pk) is False
    assert HotTopicGroup.objects.filter(run=run).count() == 1
    # a run another worker holds is left alone
    other = hot_runs.hot_topic_run_create(actor=None, days=30)
    HotTopicRun.objects.filter(pk=other.pk).update(state=HotTopicRun.State.RUNNING)
    assert hot_runs.hot_topic_run_execute(run_id=other.pk) is False
    assert not HotTopicGroup.objects.filter(run=other).exists()


def test_on_demand_run_is_queued_after_commit_and_reused(
    world: World, django_capture_on_commit_callbacks: object
) -> None:
    for k in range(3):
        water(world, k, area=world.grid_b)
    water(world, 5)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        run = hot_runs.hot_topic_run_create(actor=world.leader, area=world.town_b, days=30)
    run.refresh_from_db()
    assert run.state == HotTopicRun.State.DONE
    assert run.needs_count == 3  # only 西岭乡's needs
    assert run.area == world.town_b
    # asking again right away answers with the same run
    assert hot_runs.hot_topic_run_create(actor=world.leader, area=world.town_b, days=30) == run
    assert hot_runs.hot_topic_run_create(actor=world.leader, area=world.town_b, days=7) != run


def test_category_filter_takes_the_subtree(world: World) -> None:
    for k in range(3):
        water(world, k)
    run = hot_runs.hot_topic_run_create(actor=None, category=world.cat_roads, days=30)
    hot_runs.hot_topic_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.needs_count == 0
    parent = Category.objects.get(name="城乡建设")  # water and roads below it
    run = hot_runs.hot_topic_run_create(actor=None, category=parent, days=30)
    hot_runs.hot_topic_run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.needs_count == 3


def test_a_failing_run_is_marked_failed(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(hot, "hot_topics", broken)
    water(world, 1)
    run = hot_runs.hot_topic_run_create(actor=None, days=30)
    assert hot_runs.hot_topic_run_execute(run_id=run.pk) is True
    run.refresh_from_db()
    assert run.state == HotTopicRun.State.FAILED
    assert "失败" in run.error


def test_old_runs_are_pruned(world: World) -> None:
    for _ in range(hot_runs.KEEP_RUNS + 5):
        run = hot_runs.hot_topic_run_create(actor=None, days=30)
        hot_runs.hot_topic_run_execute(run_id=run.pk)
    assert HotTopicRun.objects.count() == hot_runs.KEEP_RUNS


def test_pruning_keeps_the_newest_done_scheduled_run(world: World) -> None:
    # given one finished scheduled run, then many on-demand runs and failed scheduled runs
    for k in range(3):
        water(world, k)
    shown = hot_runs.hot_topic_run_create(actor=None, days=30)
    hot_runs.hot_topic_run_execute(run_id=shown.pk)
    for _ in range(hot_runs.KEEP_RUNS + 3):
        failed = hot_runs.hot_topic_run_create(actor=None, days=30)
        HotTopicRun.objects.filter(pk=failed.pk).update(state=HotTopicRun.State.FAILED)
    for days in (7, 30, 90):
        for _ in range(hot_runs.KEEP_RUNS):
            run = HotTopicRun.objects.create(
                requested_by=world.leader,
                window_start=clock.now() - timedelta(days=days),
                window_end=clock.now(),
                state=HotTopicRun.State.DONE,
            )
    # when pruning
    hot_runs.hot_topic_runs_prune()
    # then everyone's page still has its run, and each requester keeps their newest
    assert HotTopicRun.objects.filter(pk=shown.pk).exists()
    assert HotTopicGroup.objects.filter(run=shown).count() == 1
    assert HotTopicRun.objects.filter(requested_by=world.leader).count() == hot_runs.KEEP_RUNS
    assert HotTopicRun.objects.filter(pk=run.pk).exists()
    assert HotTopicRun.objects.filter(requested_by__isnull=True).count() == hot_runs.KEEP_RUNS + 1


def test_pruning_drops_old_on_demand_runs_but_not_one_a_topic_came_from(world: World) -> None:
    from wenxu.topics.models import Topic

    old = clock.now() - timedelta(days=10)
    with clock.travel(old):
        kept = hot_runs.hot_topic_run_create(actor=world.leader, days=7)
        gone = hot_runs.hot_topic_run_create(actor=world.leader, days=30)
    HotTopicRun.objects.filter(pk__in=[kept.pk, gone.pk]).update(state=HotTopicRun.State.DONE)
    group = HotTopicGroup.objects.create(run=kept, rank=1, heat=1, label="x", size=3, requesters=3)
    Topic.objects.create(title="专题", area=world.town_a, source_group=group)
    fresh = hot_runs.hot_topic_run_create(actor=world.leader, days=90)
    HotTopicRun.objects.filter(pk=fresh.pk).update(state=HotTopicRun.State.DONE)

    hot_runs.hot_topic_runs_prune()

    assert set(HotTopicRun.objects.values_list("pk", flat=True)) == {kept.pk, fresh.pk}


def test_on_demand_runs_read_only_what_the_requester_may_see(world: World) -> None:
    from wenxu.accounts.models import Membership, User

    for k in range(3):
        water(world, k)
    for k in range(3, 6):
        water(world, k, area=world.grid_b)
    town_a = User.objects.create_user(username="dispatcher_a", password="x")
    Membership.objects.create(user=town_a, role="dispatcher", area=world.town_a)

    everything = hot_runs.hot_topic_run_create(actor=town_a, days=30)
    hot_runs.hot_topic_run_execute(run_id=everything.pk)
    elsewhere = hot_runs.hot_topic_run_create(actor=town_a, area=world.town_b, days=30)
    hot_runs.hot_topic_run_execute(run_id=elsewhere.pk)

    everything.refresh_from_db()
    elsewhere.refresh_from_db()
    assert everything.needs_count == 3  # 东河镇's needs only
    (group,) = HotTopicGroup.objects.filter(run=everything)
    assert group.requesters == 3
    assert set(group.members.values_list("area_id", flat=True)) == {world.grid_a.pk}
    assert elsewhere.needs_count == 0  # 西岭乡 is not theirs
    scheduled = hot_runs.hot_topic_run_create(actor=None, days=30)
    hot_runs.hot_topic_run_execute(run_id=scheduled.pk)
    scheduled.refresh_from_db()
    assert scheduled.needs_count == 6  # the scheduled run reads the whole ledger


def test_a_run_stores_its_members(world: World) -> None:
    needs = [water(world, k) for k in range(3)]
    again = world.register(
        title=needs[0].title,
        description=needs[0].description,
        area=world.grid_a,
        category=world.cat_water,
    )
    Need.objects.filter(pk=again.pk).update(requester=needs[0].requester)
    hot_runs.hot_topics_scheduled()
    group = HotTopicGroup.objects.get()
    rows = list(group.members.values_list("need_id", "area_id", "author_key", "voice"))
    assert sorted(r[0] for r in rows) == sorted([n.pk for n in needs] + [again.pk])
    assert {r[1] for r in rows} == {world.grid_a.pk}
    assert len({r[2] for r in rows}) == 3
    assert len({r[3] for r in rows}) == 3  # the copy shares its original's voice


def test_a_previous_window_before_the_ledger_began_is_not_compared(world: World) -> None:
    for k in range(3):
        water(world, k)
    hot_runs.hot_topics_scheduled()
    group = HotTopicGroup.objects.get()
    assert group.growth is None
    # three authors, all at the end of the window: recency 1 each, and no "new" factor
    assert group.heat == pytest.approx(3.0, abs=0.01)


def test_stale_pending_runs_are_given_up(world: World) -> None:
    with clock.travel(clock.now() - timedelta(hours=7)):
        stuck = hot_runs.hot_topic_run_create(actor=world.leader, days=30)
    recent = hot_runs.hot_topic_run_create(actor=world.leader, days=7)
    assert hot_runs.hot_topic_runs_recover() == 1
    stuck.refresh_from_db()
    recent.refresh_from_db()
    assert stuck.state == HotTopicRun.State.FAILED
    assert recent.state == HotTopicRun.State.PENDING


def test_stale_running_runs_are_given_up(world: World) -> None:
    run = hot_runs.hot_topic_run_create(actor=None, days=30)
    HotTopicRun.objects.filter(pk=run.pk).update(
        state=HotTopicRun.State.RUNNING, started_at=clock.now() - timedelta(hours=3)
    )
    assert hot_runs.hot_topic_runs_recover() == 1
    run.refresh_from_db()
    assert run.state == HotTopicRun.State.FAILED


def test_days_out_of_range_are_refused(world: World) -> None:
    with pytest.raises(hot_runs.RunRefused):
        hot_runs.hot_topic_run_create(actor=world.leader, days=0)


def test_the_sweep_computes_hot_topics_on_schedule(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)
    from wenxu.needs.sweeps import sweep

    for k in range(3):
        water(world, k)
    sweep()
    sweep()
    run = HotTopicRun.objects.get()
    assert run.requested_by is None
    assert run.state == HotTopicRun.State.DONE
    assert HotTopicGroup.objects.filter(run=run).count() == 1
