"""The 预警信号 page (/signals/): who sees which signals, and the two actions on one."""

from datetime import date, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from wenxu.accounts.models import Membership, User
from wenxu.insight import signals as sg
from wenxu.insight.models import DailyCount, Signal
from wenxu.insight.tests.test_signals import NOW, PERIOD_END, PERIOD_START, TODAY
from wenxu.needs.models import Category
from wenxu.organisations.models import Area
from wenxu.visits.models import VisitPlan


def _signal(area: Area, category: Category, *, count: int = 12, **fields: Any) -> Signal:
    start = fields.pop("period_start", PERIOD_START)
    end = fields.pop("period_end", PERIOD_END)
    return Signal.objects.create(
        key=f"{area.pk}|{category.pk}|{start:%Y%m%d}-{end:%Y%m%d}",
        area=area,
        category=category,
        period_start=start,
        period_end=end,
        count=count,
        baseline=3.1,
        last_year=4,
        ratio=count / 4,
        score=5.25,
        **fields,
    )


@pytest.fixture
def signal(world: Any) -> Signal:
    for back in range(12):
        day = PERIOD_START - timedelta(weeks=back) + timedelta(days=1)
        DailyCount.objects.create(
            key=f"{day:%Y%m%d}|{world.grid_a.pk}||{world.cat_water.pk}",
            day=day,
            area=world.grid_a,
            area_path=world.grid_a.path,
            category=world.cat_water,
            registered=12 if back == 0 else 3,
        )
    return _signal(world.village_a, world.cat_water)


@pytest.fixture
def dispatcher_b(world: Any) -> User:
    user = User.objects.create_user(username="dispatcher_b", password="pw-dispatcher_b")
    Membership.objects.create(user=user, role="dispatcher", area=world.town_b)
    return user


def _as(client: Client, user: User) -> Client:
    client.force_login(user)
    return client


@pytest.fixture(autouse=True)
def _today() -> Any:
    with time_machine.travel(NOW, tick=False):
        yield


def test_the_page_shows_a_signal_with_its_numbers_history_and_ledger_link(
    client: Client, world: Any, signal: Signal
) -> None:
    page = _as(client, world.leader).get("/signals/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "东河镇 · 东河村 · 供水" in text
    assert "11-23 至 11-29 共" in text
    assert ">12</strong> 件" in text
    assert "近 8 周平均 3.1 件" in text
    assert "去年同期 4 件" in text
    assert page.context["rows"][0].bars[-1].bar.count == 12
    assert [b.bar.count for b in page.context["rows"][0].bars[:-1]] == [3] * 11
    link = (
        f"/ledger/?area={world.village_a.pk}&amp;category={world.cat_water.pk}"
        "&amp;date_from=2026-11-23&amp;date_to=2026-11-29"
    )
    assert link in text


def test_the_page_lists_new_signals_by_default_and_filters_by_state_and_area(
    client: Client, world: Any, signal: Signal
) -> None:
    done = _signal(world.village_b, world.cat_roads, state=Signal.State.DISMISSED, note="已知")
    _as(client, world.dispatcher)

    def shown(**query: Any) -> list[int]:
        return [row.signal.pk for row in client.get("/signals/", query).context["rows"]]

    assert shown() == [signal.pk]
    assert shown(state="dismissed") == [done.pk]
    assert sorted(shown(state="all")) == sorted([signal.pk, done.pk])
    assert shown(state="all", area=world.town_b.pk) == [done.pk]
    page = client.get("/signals/", {"state": "bogus"})
    assert "未知的状态：bogus" in page.content.decode()


def test_only_leaders_dispatchers_and_admins_may_open_the_page(
    client: Client, world: Any, signal: Signal
) -> None:
    for user in (world.officer, world.handler, world.outsider):
        assert _as(client, user).get("/signals/").status_code == 403
        assert client.get(f"/signals/{signal.pk}/").status_code == 403
    assert _as(client, world.admin).get("/signals/").status_code == 200
    client.logout()
    assert client.get("/signals/").status_code == 302


def test_a_dispatcher_of_another_area_sees_nothing_and_cannot_act(
    client: Client, world: Any, signal: Signal, dispatcher_b: User
) -> None:
    _as(client, dispatcher_b)

    assert client.get("/signals/").context["rows"] == []
    assert client.get(f"/signals/{signal.pk}/").status_code == 404
    other = client.get("/signals/", {"area": world.town_a.pk})
    assert "没有这个区域，或它不在你的权限范围内" in other.content.decode()
    assert other.context["rows"] == []
    assert client.post(f"/signals/{signal.pk}/task/", _task()).status_code == 404
    assert client.post(f"/signals/{signal.pk}/dismiss/", {"note": "x"}).status_code == 404
    signal.refresh_from_db()
    assert signal.state == Signal.State.NEW
    assert not VisitPlan.objects.exists()


def test_a_leader_reads_a_signal_but_cannot_act_on_it(
    client: Client, world: Any, signal: Signal
) -> None:
    _as(client, world.leader)

    page = client.get(f"/signals/{signal.pk}/")
    assert page.status_code == 200
    assert b'data-testid="task-form"' not in page.content
    assert client.post(f"/signals/{signal.pk}/task/", _task()).status_code == 403
    assert client.post(f"/signals/{signal.pk}/dismiss/", {"note": "x"}).status_code == 403
    signal.refresh_from_db()
    assert signal.state == Signal.State.NEW


def _task(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "未诉先办：东河村供水诉求上升",
        "target": 2,
        "starts_on": TODAY.isoformat(),
        "ends_on": (TODAY + timedelta(days=10)).isoformat(),
    } | overrides


def test_a_dispatcher_turns_a_signal_into_one_visit_task(
    client: Client, world: Any, signal: Signal
) -> None:
    _as(client, world.dispatcher)
    form = client.get(f"/signals/{signal.pk}/")
    assert form.context["task_form"].initial["ends_on"] == TODAY + timedelta(days=14)

    done = client.post(f"/signals/{signal.pk}/task/", _task(), follow=True)

    assert done.redirect_chain == [("/signals/", 302)]
    assert "已安排走访任务" in done.content.decode()
    plan = VisitPlan.objects.get()
    assert (plan.area, plan.kind, plan.period, plan.target) == (
        world.village_a,
        "count",
        "month",
        2,
    )
    assert (plan.starts_on, plan.ends_on) == (TODAY, date(2026, 12, 10))
    signal.refresh_from_db()
    assert (signal.state, signal.visit_plan) == (Signal.State.TASKED, plan)

    # A second try (another tab, another dispatcher) is refused and changes nothing.
    again = _as(client, world.admin).post(f"/signals/{signal.pk}/task/", _task())
    assert again.status_code == 409
    assert "该预警已由调度员处理（已安排走访），未作任何修改。" in again.content.decode()
    assert VisitPlan.objects.count() == 1
    # The officers of the area see the plan among their coverage plans.
    officer_page = _as(client, world.officer).get("/coverage/plans/")
    assert plan.name in officer_page.content.decode()


def test_bad_task_dates_are_refused_in_chinese(client: Client, world: Any, signal: Signal) -> None:
    _as(client, world.dispatcher)
    bad = client.post(
        f"/signals/{signal.pk}/task/", _task(ends_on=(TODAY - timedelta(days=1)).isoformat())
    )
    assert bad.status_code == 422
    assert "结束日期不能早于开始日期。" in bad.content.decode()
    assert not VisitPlan.objects.exists()


def test_dismissing_needs_a_reason_and_changes_nothing_without_one(
    client: Client, world: Any, signal: Signal
) -> None:
    _as(client, world.dispatcher)

    refused = client.post(f"/signals/{signal.pk}/dismiss/", {"note": "   "})
    assert refused.status_code == 422
    assert "请填写忽略的理由。" in refused.content.decode()
    signal.refresh_from_db()
    assert signal.state == Signal.State.NEW

    client.post(f"/signals/{signal.pk}/dismiss/", {"note": "水厂计划检修，已公告"})
    signal.refresh_from_db()
    assert (signal.state, signal.note, signal.decided_by) == (
        Signal.State.DISMISSED,
        "水厂计划检修，已公告",
        world.dispatcher,
    )
    page = client.get(f"/signals/{signal.pk}/")
    assert "水厂计划检修，已公告" in page.content.decode()
    assert b'data-testid="dismiss-form"' not in page.content


def test_the_page_costs_the_same_queries_for_one_signal_or_twenty(
    client: Client, world: Any, signal: Signal, django_assert_max_num_queries: Any
) -> None:
    _as(client, world.dispatcher)
    with django_assert_max_num_queries(12) as one:
        client.get("/signals/")
    categories = [Category.objects.create(name=f"类别{i}") for i in range(10)]
    for i, category in enumerate(categories):
        _signal(world.village_a, category)
        _signal(world.village_b, category, period_start=PERIOD_START - timedelta(days=i + 1))
    with django_assert_max_num_queries(len(one.captured_queries)) as many:
        page = client.get("/signals/")
    assert len(page.context["rows"]) == 20
    assert len(many.captured_queries) == len(one.captured_queries)


def test_signals_found_by_the_detection_show_on_the_page(client: Client, world: Any) -> None:
    # The quiet weeks and the rise, as in test_signals.
    for back in range(9):
        day = PERIOD_START - timedelta(weeks=back) + timedelta(days=2)
        DailyCount.objects.create(
            key=f"{day:%Y%m%d}|{world.grid_b.pk}||{world.cat_roads.pk}",
            day=day,
            area=world.grid_b,
            area_path=world.grid_b.path,
            category=world.cat_roads,
            registered=15 if back == 0 else 2,
        )
    from wenxu.insight.models import RollupCursor

    RollupCursor.objects.create(name="main", updated_at=timezone.now())
    assert sg.signals_detect() == 1

    page = _as(client, world.leader).get("/signals/")
    assert "西岭乡 · 西岭村 · 道路与照明" in page.content.decode()


def test_a_signal_without_a_category_shows_all_categories_and_can_be_acted_on(
    client: Client, world: Any, signal: Signal
) -> None:
    # The model allows it (a signal written by hand or by an older detection).
    DailyCount.objects.create(
        key=f"{PERIOD_END:%Y%m%d}|{world.grid_a.pk}||{world.cat_roads.pk}",
        day=PERIOD_END,
        area=world.grid_a,
        area_path=world.grid_a.path,
        category=world.cat_roads,
        registered=5,
    )
    Signal.objects.filter(pk=signal.pk).update(category=None)
    _as(client, world.dispatcher)

    listing = client.get("/signals/")
    detail = client.get(f"/signals/{signal.pk}/")
    name = detail.context["task_form"].initial["name"]
    done = client.post(f"/signals/{signal.pk}/task/", _task(name=name), follow=True)

    assert listing.status_code == detail.status_code == 200
    assert "东河镇 · 东河村 · 全部类别" in listing.content.decode()
    assert "东河镇 · 东河村 · 全部类别 诉求上升" in detail.content.decode()
    # Every category of the area counts: 12 water + 5 roads in the signal's own period.
    assert detail.context["row"].bars[-1].bar.count == 17
    assert "category=" not in detail.context["row"].ledger_url
    assert done.redirect_chain == [("/signals/", 302)]
    assert name == "未诉先办：东河村诉求上升"
    assert VisitPlan.objects.get().name == name


def test_the_list_pages_by_cursor_latest_and_most_significant_first(
    client: Client, world: Any, signal: Signal
) -> None:
    # Given 45 new signals: periods ending on different days, several sharing a score
    categories = [Category.objects.create(name=f"类别{i}") for i in range(44)]
    for i, category in enumerate(categories):
        _signal(
            world.village_a,
            category,
            period_start=PERIOD_START - timedelta(days=i % 7),
            period_end=PERIOD_END - timedelta(days=i % 7),
        )
    _as(client, world.dispatcher)
    # When the dispatcher follows the 下一页 links
    seen: list[int] = []
    url: str | None = "/signals/"
    pages = 0
    while url:
        page = client.get(url)
        rows = page.context["rows"]
        seen += [row.signal.pk for row in rows]
        pages += 1
        url = f"/signals/{page.context['next_url']}" if page.context["next_url"] else None
    # Then every signal is shown once, in the page's order, 20 a page
    assert pages == 3
    assert len(seen) == len(set(seen)) == Signal.objects.count() == 45
    listed = list(Signal.objects.filter(pk__in=seen))
    by_pk = {s.pk: s for s in listed}
    keys = [(by_pk[pk].period_end, by_pk[pk].score, pk) for pk in seen]
    assert keys == sorted(keys, reverse=True)


def test_a_cursor_that_is_not_this_lists_is_refused_with_a_message(
    client: Client, world: Any, signal: Signal
) -> None:
    _as(client, world.dispatcher)
    page = client.get("/signals/", {"cursor": "eyJmb28iOjF9"})
    assert page.status_code == 200
    assert "分页游标无效" in page.content.decode()
    assert [row.signal.pk for row in page.context["rows"]] == [signal.pk]
