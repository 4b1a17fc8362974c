"""Hot-topic runs (热点, issue #7 §2): scheduled by the sweep and on demand from /hot/.

A run clusters the needs registered in its window (and area subtree and category, when given)
with `wenxu.insight.hot` and stores its groups, hottest first, each with its member rows
(`HotTopicGroupNeed`). A scheduled run reads the whole ledger; an on-demand run only the needs
its requester may see. Who wrote what: the requester
(a need without one is its own author); withdrawn needs are left out; a merged need counts as
a copy of the need it was merged into (same text, same author). The previous window of the
same length gives the growth, unless it starts before the ledger's first need (then there is
nothing to compare with, and no topic is "new").

Concurrency: a run is executed by whoever moves it from pending to running with a conditional
UPDATE (the row count says who won), so a run never runs twice. The scheduled run is created
under a row lock on the latest scheduled run, and re-read after the lock, so two workers'
sweeps create one run per interval (the very first one excepted: there is no row to lock yet,
and two first runs are harmless).
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _
from django_tasks import task

from wenxu.accounts.models import User
from wenxu.insight import hot
from wenxu.insight import text as tx
from wenxu.insight.models import HotTopicGroup, HotTopicGroupNeed, HotTopicRun
from wenxu.lib import clock
from wenxu.needs.models import Category, Need
from wenxu.needs.selectors import need_queryset_for_user
from wenxu.organisations.models import Area

logger = logging.getLogger(__name__)

KEEP_RUNS = 20  # finished scheduled runs kept, and on-demand runs kept per requester
KEEP_ON_DEMAND = timedelta(days=7)  # on-demand runs older than this are deleted
STALE_RUNNING = timedelta(hours=2)  # a run still "running" after this lost its worker
STALE_PENDING = timedelta(hours=6)  # a run still "pending" after this was never picked up
WINDOW_CHOICES = (7, 30, 90)
REUSE_FINISHED = timedelta(minutes=10)


class RunRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def hot_topic_run_create(
    *,
    actor: User | None,
    area: Area | None = None,
    category: Category | None = None,
    days: int = 30,
    now: datetime | None = None,
) -> HotTopicRun:
    """A run of the last `days` days, queued for the background worker once this transaction
    commits. Asking again for the same run while it is queued or running, or within
    REUSE_FINISHED of its finishing, answers with that run."""
    if not 1 <= days <= 366:
        raise RunRefused(_("统计天数必须在 1 到 366 之间。"))
    now = now or clock.now()
    with transaction.atomic():
        if actor is not None:
            same = (
                HotTopicRun.objects.filter(
                    requested_by=actor,
                    area=area,
                    category=category,
                    window_end__gte=now - REUSE_FINISHED,
                )
                .filter(
                    Q(state__in=[HotTopicRun.State.PENDING, HotTopicRun.State.RUNNING])
                    | Q(state=HotTopicRun.State.DONE, finished_at__gte=now - REUSE_FINISHED)
                )
                .order_by("-id")
            )
            for run in same:
                if (run.window_end - run.window_start).days == days:
                    return run
        run = HotTopicRun(
            requested_by=actor,
            area=area,
            category=category,
            window_start=now - timedelta(days=days),
            window_end=now,
        )
        run.full_clean()
        run.save()
        if actor is not None:
            transaction.on_commit(lambda: hot_topic_run_task.enqueue(run.pk))
    return run


@task()
def hot_topic_run_task(run_id: int) -> bool:
    return hot_topic_run_execute(run_id=run_id)


def hot_topic_run_execute(*, run_id: int) -> bool:
    """Run a pending run: claim it (a second worker finds it taken), cluster, store the groups.
    Returns whether this call ran it."""
    claimed = HotTopicRun.objects.filter(pk=run_id, state=HotTopicRun.State.PENDING).update(
        state=HotTopicRun.State.RUNNING, started_at=clock.now()
    )
    if not claimed:
        return False
    run = HotTopicRun.objects.get(pk=run_id)
    try:
        count, groups = _compute(run)
    except Exception:
        logger.exception("hot topic run %s failed", run_id)
        HotTopicRun.objects.filter(pk=run_id).update(
            state=HotTopicRun.State.FAILED,
            error=_("热点计算失败，请稍后重试；如果仍然失败，请联系管理员。"),
            finished_at=clock.now(),
        )
        return True
    with transaction.atomic():
        finished = HotTopicRun.objects.filter(pk=run_id, state=HotTopicRun.State.RUNNING).update(
            state=HotTopicRun.State.DONE, needs_count=count, finished_at=clock.now()
        )
        if finished:
            for group, _members in groups:
                group.run_id = run_id
            stored = HotTopicGroup.objects.bulk_create([g for g, _m in groups], batch_size=500)
            HotTopicGroupNeed.objects.bulk_create(
                (
                    HotTopicGroupNeed(group_id=group.pk, **member)
                    for group, (_g, members) in zip(stored, groups, strict=True)
                    for member in members
                ),
                batch_size=2000,
            )
    hot_topic_runs_prune()
    return True


def _scoped(run: HotTopicRun) -> QuerySet[Need]:
    """The needs a run may read: all of them for a scheduled run, the requester's for theirs;
    within its area subtree and category."""
    needs = (
        Need.objects.all()
        if run.requested_by is None
        else need_queryset_for_user(user=run.requested_by)
    )
    needs = needs.exclude(status="withdrawn")
    if run.area_id is not None:
        assert run.area is not None
        needs = needs.filter(area__path__startswith=run.area.path)
    if run.category_id is not None:
        assert run.category is not None
        needs = needs.filter(category__path__startswith=run.category.path)
    return needs


def _needs(run: HotTopicRun, start: datetime, end: datetime) -> list[dict[str, Any]]:
    needs = _scoped(run).filter(registered_at__gte=start, registered_at__lt=end)
    return [
        dict(row)
        for row in needs.order_by("id").values(
            "id",
            "title",
            "description",
            "requester_id",
            "area_id",
            "category_id",
            "registered_at",
            "merged_into_id",
            "merged_into__title",
            "merged_into__description",
            "merged_into__requester_id",
        )
    ]


def _corpus(rows: list[dict[str, Any]]) -> hot.Corpus:
    texts: list[str] = []
    authors: list[str | None] = []
    times: list[datetime | None] = []
    for row in rows:
        source = "merged_into__" if row["merged_into_id"] else ""
        texts.append(f"{row[source + 'title']}\n{row[source + 'description']}")
        authors.append(author_key(row))
        when = row["registered_at"]
        times.append(when if isinstance(when, datetime) else None)
    return hot.Corpus(texts=texts, authors=authors, times=times)


def author_key(row: dict[str, Any]) -> str:
    """Who wrote a need as a run counts them: its requester (a merged need: its target's),
    else the need itself (its target, when merged)."""
    source = "merged_into__" if row["merged_into_id"] else ""
    requester = row[source + "requester_id"]
    return f"r{requester}" if requester else f"n{row['merged_into_id'] or row['id']}"


def _previous_window(run: HotTopicRun, start: datetime) -> bool:
    """Whether the ledger (the run's part of it) reaches back to `start`: a previous window
    before the first need would make every topic "new"."""
    return _scoped(run).filter(registered_at__lte=start).exists()


def hot_run_compared(run: HotTopicRun) -> bool:
    """Whether the run compared its window with the previous one (growth, "new" topics)."""
    return _previous_window(run, run.window_start - (run.window_end - run.window_start))


def _compute(
    run: HotTopicRun,
) -> tuple[int, list[tuple[HotTopicGroup, list[dict[str, Any]]]]]:
    length = run.window_end - run.window_start
    rows = _needs(run, run.window_start, run.window_end)
    compared = hot_run_compared(run)
    before = _needs(run, run.window_start - length, run.window_start) if compared else []
    areas = Area.objects.all()
    if run.area is not None:
        areas = areas.filter(path__startswith=run.area.path)
    names = [name for name in areas.values_list("name", flat=True) if len(name) <= 12]
    found = hot.hot_topics(
        _corpus(rows),
        window=(run.window_start, run.window_end),
        previous=_corpus(before) if compared else None,
        known_places=names,
    )
    texts = _corpus(rows).texts
    groups = []
    for rank, group in enumerate(found, start=1):
        members = [rows[i] for i in group.members]
        member_rows = []
        for i, m in zip(group.members, members, strict=True):
            author = author_key(m)
            member_rows.append(
                {
                    "need_id": m["id"],
                    "area_id": m["area_id"],
                    "author_key": author,
                    "voice": f"{author}:{tx.fingerprint(texts[i])}"[:64],
                }
            )
        groups.append(
            (
                HotTopicGroup(
                    rank=rank,
                    heat=group.heat,
                    label=group.label[:200],
                    terms=group.terms,
                    size=group.size,
                    requesters=group.authors,
                    copies=group.copies,
                    area_ids=sorted({int(str(m["area_id"])) for m in members if m["area_id"]}),
                    category_ids=sorted(
                        {int(str(m["category_id"])) for m in members if m["category_id"]}
                    ),
                    previous_size=group.previous,
                    growth=group.growth,
                    need_ids=[int(str(m["id"])) for m in members],
                ),
                member_rows,
            )
        )
    return len(rows), groups


def hot_topic_runs_prune(
    *, keep: int = KEEP_RUNS, now: datetime | None = None, max_age: timedelta = KEEP_ON_DEMAND
) -> int:
    """Delete finished runs no page needs any more (their groups go with them): scheduled runs
    beyond the newest `keep` finished ones (the newest done one, which everyone's page shows,
    is always among them), and each requester's on-demand runs older than `max_age` or beyond
    their newest `keep`. A run one of whose groups a topic was drawn from is kept."""
    now = now or clock.now()
    finished = HotTopicRun.objects.filter(
        state__in=[HotTopicRun.State.DONE, HotTopicRun.State.FAILED]
    )
    scheduled = finished.filter(requested_by__isnull=True)
    keep_ids = set(scheduled.order_by("-id").values_list("id", flat=True)[:keep])
    newest_done = (
        scheduled.filter(state=HotTopicRun.State.DONE).order_by("-id").values_list("id", flat=True)
    ).first()
    if newest_done is not None:
        keep_ids.add(newest_done)
    old_ids = set(scheduled.exclude(id__in=keep_ids).values_list("id", flat=True))
    on_demand = finished.filter(requested_by__isnull=False).order_by("requested_by_id", "-id")
    counted: dict[int, int] = {}
    for pk, requester, ended in on_demand.values_list("id", "requested_by_id", "window_end"):
        counted[requester] = counted.get(requester, 0) + 1
        if counted[requester] > keep or ended < now - max_age:
            old_ids.add(pk)
    if not old_ids:
        return 0
    referenced = _referenced_runs()
    deleted, _by_model = HotTopicRun.objects.filter(id__in=old_ids - referenced).delete()
    return deleted


def _referenced_runs() -> set[int]:
    """Runs a topic was drawn from: the topic's "from hot topic" link stays valid."""
    from wenxu.topics.models import Topic  # topics builds on insight, not the other way

    return set(
        Topic.objects.filter(source_group__isnull=False)
        .values_list("source_group__run_id", flat=True)
        .distinct()
    )


def hot_topic_runs_recover(*, now: datetime | None = None) -> int:
    """Runs left running by a worker that died, and runs never picked up (no worker running):
    marked failed, so the page stops waiting and the requester can ask again."""
    now = now or clock.now()
    return HotTopicRun.objects.filter(
        Q(state=HotTopicRun.State.RUNNING, started_at__lt=now - STALE_RUNNING)
        | Q(state=HotTopicRun.State.PENDING, window_end__lt=now - STALE_PENDING)
    ).update(
        state=HotTopicRun.State.FAILED,
        error=_("计算中断（后台程序已停止），请重新计算。"),
        finished_at=now,
    )


def hot_topics_scheduled(*, now: datetime | None = None) -> int:
    """The sweep's stage: a whole-ledger run of the last WENXU_HOT_TOPICS_DAYS days when the
    newest scheduled run is WENXU_HOT_TOPICS_EVERY_HOURS old. Returns 1 when it ran one."""
    now = now or clock.now()
    hot_topic_runs_recover(now=now)
    every = timedelta(hours=settings.WENXU_HOT_TOPICS_EVERY_HOURS)
    scheduled = HotTopicRun.objects.filter(requested_by__isnull=True).order_by("-id")
    with transaction.atomic():
        # wait for a concurrent sweep creating one, then read again (a new statement sees it)
        list(scheduled.select_for_update()[:1])
        latest = scheduled.first()
        if latest is not None and latest.window_end > now - every:
            return 0
        run = hot_topic_run_create(actor=None, days=settings.WENXU_HOT_TOPICS_DAYS, now=now)
    return int(hot_topic_run_execute(run_id=run.pk))
