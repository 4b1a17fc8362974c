"""Hot topics as a user may see them (热点, issue #7 §2): the runs they may open and each
group recounted on the needs in their scope.

A run is the user's to open when it is scheduled (requested_by null: the whole ledger) or
their own on-demand run. A group is recounted on its members the user may see
(`HotTopicGroupNeed` joined to `need_queryset_for_user`): the number of needs, distinct
requesters, identical copies, the areas touched, the heat (the same formula, with the growth
factor 1, since the growth of the part they see is unknown) and the label (read from the
visible members' texts). A group that then has fewer than `hot.MIN_AUTHORS` requesters is not
shown. A viewer who sees all of a group sees what the run stored, growth included.

The page reads a fixed number of queries whatever the size of the run: the counts per group
(one aggregate), the groups, the latest need of each visible requester of partly visible
groups (only when there are such groups), then for the page's groups only their areas and
some of their texts (for partly visible groups' labels).
"""

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Subquery, Window
from django.db.models.functions import RowNumber

from wenxu.accounts.models import User
from wenxu.insight import hot
from wenxu.insight.models import HotTopicGroup, HotTopicGroupNeed, HotTopicRun
from wenxu.needs.selectors import need_queryset_for_user

PAGE_SIZE = 30  # groups on one page of /hot/
LABEL_READ = 40  # visible texts read per partly visible group for its label


@dataclass
class ShownGroup:
    group: HotTopicGroup
    size: int
    requesters: int
    copies: int
    heat: float
    label: str
    complete: bool
    area_names: list[str] = field(default_factory=list)

    @property
    def growth_percent(self) -> int | None:
        growth = self.group.growth
        return None if growth is None else round(growth * 100)


def hot_runs_for_user(*, user: User) -> QuerySet[HotTopicRun]:
    """The runs the user may open: the scheduled ones and their own."""
    return HotTopicRun.objects.filter(Q(requested_by__isnull=True) | Q(requested_by=user))


def _members(user: User) -> QuerySet[HotTopicGroupNeed]:
    visible = need_queryset_for_user(user=user).values("id")
    return HotTopicGroupNeed.objects.filter(need__in=visible)


def hot_groups_for_user(
    *, user: User, run: HotTopicRun, group_id: int | None = None
) -> list[ShownGroup]:
    """The run's groups the user may see, recounted, hottest (as shown) first; labels and
    area names are not filled in yet (`hot_groups_describe` does that for one page)."""
    members = _members(user).filter(group__run=run)
    groups_qs = HotTopicGroup.objects.filter(run=run).defer("need_ids", "terms")
    if group_id is not None:
        members = members.filter(group_id=group_id)
        groups_qs = groups_qs.filter(pk=group_id)
    counts = {
        row["group_id"]: row
        for row in members.values("group_id").annotate(
            n=Count("id"),
            authors=Count("author_key", distinct=True),
            voices=Count("voice", distinct=True),
        )
    }
    if not counts:
        return []
    groups = {g.pk: g for g in groups_qs}
    partial = {
        pk
        for pk, row in counts.items()
        if pk in groups and row["n"] < groups[pk].size and row["authors"] >= hot.MIN_AUTHORS
    }
    recency: dict[int, float] = {}
    if partial:
        partial_ids = (
            members.values("group_id", "group__size")
            .annotate(n=Count("id"))
            .filter(n__lt=F("group__size"))
            .values("group_id")
        )
        start, end = run.window_start, run.window_end
        for row in (
            members.filter(group_id__in=Subquery(partial_ids))
            .values("group_id", "author_key")
            .annotate(last=Max("need__registered_at"))
        ):
            recency[row["group_id"]] = recency.get(row["group_id"], 0.0) + hot.recency_weight(
                row["last"], start, end
            )
    shown: list[ShownGroup] = []
    for pk, row in counts.items():
        group = groups.get(pk)
        if group is None or row["authors"] < hot.MIN_AUTHORS:
            continue
        complete = pk not in partial
        shown.append(
            ShownGroup(
                group=group,
                size=row["n"],
                requesters=row["authors"],
                copies=group.copies if complete else row["n"] - row["voices"],
                heat=group.heat if complete else hot.heat_of(recency.get(pk, 0.0), None, False),
                label=group.label,
                complete=complete,
            )
        )
    shown.sort(key=lambda s: (-s.heat, -s.requesters, -s.size, s.group.rank))
    return shown


def hot_groups_describe(*, user: User, shown: list[ShownGroup]) -> None:
    """Fill in the area names of `shown` (the visible members' areas) and the labels of the
    partly visible ones (from their visible texts): two queries."""
    if not shown:
        return
    ids = [s.group.pk for s in shown]
    members = _members(user).filter(group_id__in=ids)
    areas: dict[int, list[str]] = {}
    for group_id, name in (
        members.filter(area__isnull=False)
        .values_list("group_id", "area__name")
        .distinct()
        .order_by("group_id", "area__name")
    ):
        areas.setdefault(group_id, []).append(name)
    partial = [s.group.pk for s in shown if not s.complete]
    texts: dict[int, list[str]] = {}
    if partial:
        rows: Any = (
            members.filter(group_id__in=partial)
            .annotate(
                k=Window(RowNumber(), partition_by=[F("group_id")], order_by=F("need_id").asc())
            )
            .filter(k__lte=LABEL_READ)
            .values_list("group_id", "need__title", "need__description")
        )
        for group_id, title, description in rows:
            texts.setdefault(group_id, []).append(f"{title}\n{description}")
    for s in shown:
        s.area_names = areas.get(s.group.pk, [])
        if not s.complete:
            s.label = hot.label_of(texts.get(s.group.pk, []))


def hot_group_for_user(*, user: User, group_id: int) -> ShownGroup | None:
    """One group as the user may see it (None: not theirs to see), described."""
    group = (
        HotTopicGroup.objects.filter(pk=group_id, run__in=hot_runs_for_user(user=user))
        .select_related("run", "run__area", "run__category")
        .defer("need_ids")
        .first()
    )
    if group is None:
        return None
    shown = hot_groups_for_user(user=user, run=group.run, group_id=group.pk)
    if not shown:
        return None
    shown[0].group = group
    hot_groups_describe(user=user, shown=shown)
    return shown[0]


def hot_group_visible_needs(*, user: User, group: HotTopicGroup) -> QuerySet[Any]:
    """The group's needs the user may see (a queryset: callers add what they display)."""
    return need_queryset_for_user(user=user).filter(
        id__in=HotTopicGroupNeed.objects.filter(group=group).values("need_id")
    )


__all__ = [
    "PAGE_SIZE",
    "ShownGroup",
    "hot_group_for_user",
    "hot_group_visible_needs",
    "hot_groups_describe",
    "hot_groups_for_user",
    "hot_runs_for_user",
]
