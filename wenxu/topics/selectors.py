"""Who sees and manages a topic (专题), and the scoped reads of topics (DESIGN §2).

A topic is seen by the dispatchers, leaders and officers whose area scope contains its area or
lies inside its subtree (officers read only), and by the handlers and unit leaders of its owner
unit or of a measure's owner unit. Dispatchers whose scope contains the topic's area manage it;
a handler updates the status of the measures owned by its unit or by any unit under it. Out of
scope, a topic does not exist (404). Counts of a topic's needs count only the needs the viewer
may see (DESIGN §2).
"""

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from wenxu.accounts.models import User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.lib.prepared import Prepared
from wenxu.needs import selectors as need_selectors
from wenxu.needs.exceptions import NotFound
from wenxu.needs.models import Category, Need
from wenxu.organisations.models import Area, Unit, path_roots
from wenxu.topics.models import (
    Measure,
    MeasureStatus,
    Milestone,
    Topic,
    TopicEvent,
    TopicNeed,
)

AREA_READERS = frozenset({"dispatcher", "leader", "officer"})
UNIT_READERS = frozenset({"handler", "leader"})


class TopicNotFound(NotFound):
    def default_message(self) -> str:
        from django.utils.translation import gettext as _

        return _("未找到该专题，或您无权查看。")


def _ancestor_paths(path: str) -> list[str]:
    """ "/1/2/3/" → ["/1/", "/1/2/", "/1/2/3/"] (the path of every ancestor and itself)."""
    parts = [p for p in path.strip("/").split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) + "/" for i in range(len(parts))]


def manage_roots(user: User) -> list[str]:
    """The area subtrees in which `user` creates and manages topics (as a dispatcher)."""
    if not user.is_active:
        return []
    return path_roots(
        s.area_path for s in scopes_for_user(user) if s.role == "dispatcher" and s.area_path
    )


def may_create(user: User) -> bool:
    return bool(manage_roots(user))


def may_manage(user: User, topic: Topic) -> bool:
    return any(topic.area.path.startswith(root) for root in manage_roots(user))


def measure_unit_paths(user: User) -> list[str]:
    """The unit subtrees whose measures `user` may update (as a handler)."""
    if not user.is_active:
        return []
    return [s.unit_path for s in scopes_for_user(user) if s.role == "handler" and s.unit_path]


def may_update_measure(user: User, measure: Measure) -> bool:
    if may_manage(user, measure.topic):
        return True
    return any(measure.owner_unit.path.startswith(p) for p in measure_unit_paths(user))


def scope_q(user: User) -> Q | None:
    """The topics `user` may see, or None when none."""
    if not user.is_active:
        return None
    q = Q()
    found = False
    for scope in scopes_for_user(user):
        if scope.area_path and scope.role in AREA_READERS:
            q |= Q(area__path__startswith=scope.area_path)
            q |= Q(area__path__in=_ancestor_paths(scope.area_path))
            found = True
        elif scope.unit_path and scope.role in UNIT_READERS:
            q |= Q(owner_unit__path__startswith=scope.unit_path)
            q |= Q(
                Exists(
                    Measure.objects.filter(
                        topic_id=OuterRef("pk"), owner_unit__path__startswith=scope.unit_path
                    )
                )
            )
            found = True
    return q if found else None


def topic_queryset_for_user(*, user: User) -> QuerySet[Topic]:
    q = scope_q(user)
    if q is None:
        return Topic.objects.none()
    return Topic.objects.filter(q)


def topic_get_for_user(*, user: User, pk: int) -> Topic:
    topic = (
        topic_queryset_for_user(user=user)
        .select_related("area", "category", "owner_unit", "source_group", "created_by")
        .prefetch_related(
            Prefetch("measures", queryset=Measure.objects.select_related("owner_unit")),
            Prefetch("milestones", queryset=Milestone.objects.all()),
        )
        .filter(pk=pk)
        .first()
    )
    if topic is None:
        raise TopicNotFound()
    return topic


@dataclass(frozen=True)
class TopicFilters:
    status: str | None = None
    area: Area | None = None


def _topics_filtered(user: User, filters: TopicFilters) -> QuerySet[Topic]:
    qs = topic_queryset_for_user(user=user)
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.area is not None:
        qs = qs.filter(
            Q(area__path__startswith=filters.area.path)
            | Q(area__path__in=_ancestor_paths(filters.area.path))
        )
    return qs


def _with_counts(user: User, qs: QuerySet[Topic]) -> list[Topic]:
    """The topics of `qs` (newest first) with `need_count`, `measures_total`, `measures_done`
    and `progress`. Two queries (the topics and the completed milestones)."""
    topics: list[Topic] = list(
        qs.select_related("area", "category", "owner_unit")
        .annotate(
            need_count=visible_need_count(user),
            measures_total=Count("measures", distinct=True),
            measures_done=Count(
                "measures", filter=Q(measures__status=MeasureStatus.DONE), distinct=True
            ),
        )
        .order_by("-id")
    )
    progress: dict[int, int] = {}
    for topic_id, value in Milestone.objects.filter(
        topic_id__in=[t.pk for t in topics], completed_at__isnull=False
    ).values_list("topic_id", "progress"):
        progress[topic_id] = max(progress.get(topic_id, 0), value)
    for topic in topics:
        topic.progress = progress.get(topic.pk, 0)  # type: ignore[attr-defined]
    return topics


def topic_list_for_user(*, user: User, filters: TopicFilters, limit: int = 200) -> list[Topic]:
    """The topics `user` sees, newest first, each with `need_count` (the linked needs `user` may
    see), `measures_total`, `measures_done` and `progress` (the highest completed milestone's
    percentage). Two queries however many topics (the page and the completed milestones)."""
    newest = _topics_filtered(user, filters).order_by("-id").values("pk")[:limit]
    return _with_counts(user, Topic.objects.filter(pk__in=newest))


TOPIC_ORDER = ("-id",)  # newest first


def topic_page_for_user(
    *, user: User, filters: TopicFilters, cursor: str | None = None, limit: int = 50
) -> tuple[list[Topic], str | None]:
    """One page of `topic_list_for_user`'s topics after `cursor` (keyset, newest first) and the
    next page's cursor. An invalid cursor raises InvalidInput. Two queries."""
    return need_selectors.keyset_page(
        _topics_filtered(user, filters),
        TOPIC_ORDER,
        cursor,
        limit,
        rows=lambda chosen: _with_counts(user, Topic.objects.filter(pk__in=chosen)),
    )


def visible_need_count(user: User) -> Coalesce:
    """An annotation for topics: how many of the topic's linked needs `user` may see."""
    links = (
        TopicNeed.objects.filter(
            topic_id=OuterRef("pk"),
            need__in=need_selectors.need_queryset_for_user(user=user).values("pk"),
        )
        .order_by()
        .values("topic_id")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(links, output_field=IntegerField()), 0)


def topic_progress(topic: Topic) -> int:
    """The highest percentage among the completed milestones (0 when none)."""
    done = [m.progress for m in topic.milestones.all() if m.completed_at is not None]
    return max(done, default=0)


def linked_needs_for_user(*, user: User, topic: Topic) -> list[Need]:
    """The topic's needs the viewer may see, in link order (others are not listed)."""
    return list(
        need_selectors.need_queryset_for_user(user=user)
        .filter(topic_links__topic=topic)
        .select_related("lead_unit")
        .only("id", "number", "title", "status", "registered_at", "lead_unit__short_name")
        .order_by("topic_links__linked_at", "id")
    )


def has_visible_needs(*, user: User, topic: Topic) -> bool:
    return (
        need_selectors.need_queryset_for_user(user=user).filter(topic_links__topic=topic).exists()
    )


EVENTS_SHOWN = 50


@dataclass(frozen=True)
class EventLine:
    """One line of the 办理记录 as a viewer sees it: `numbers` are the needs concerned that
    they may see."""

    event: TopicEvent
    numbers: list[str]


def topic_events_for_user(
    *, user: User, topic: Topic, limit: int = EVENTS_SHOWN
) -> list[EventLine]:
    """The topic's 办理记录, newest first (the last `limit`). A link or unlink shows only the
    needs the viewer may see; one that concerns none of them is left out (DESIGN §2). Two
    queries."""
    events = list(
        TopicEvent.objects.filter(topic=topic)
        .select_related("actor")
        .only("id", "action", "note", "need_ids", "at", "actor__display_name", "actor__username")
        .order_by("-at", "-id")[:limit]
    )
    wanted = {int(i) for e in events for i in (e.need_ids or []) if isinstance(i, int)}
    numbers: dict[int, str] = {}
    if wanted:
        numbers = dict(
            need_selectors.need_queryset_for_user(user=user)
            .filter(pk__in=wanted)
            .values_list("pk", "number")
        )
    lines = []
    for event in events:
        ids = [i for i in (event.need_ids or []) if isinstance(i, int)]
        shown = [numbers[i] for i in ids if i in numbers]
        if ids and not shown:
            continue
        lines.append(EventLine(event=event, numbers=shown))
    return lines


_LINKS = Prepared(TopicNeed, lambda pk: TopicNeed.objects.filter(need_id=pk))
# The name the topic links go by among the need page's side reads.
SIDE_READ = "topics"


def topics_for_need(*, user: User, need: Need) -> list[Topic]:
    """The topics the viewer may see that `need` is linked to. Most needs belong to none: their
    links are read first (a query compiled once per connection, ADR 0030), and the scoped
    query, which cost the need page ~1.5 ms of Python, runs only for the topics found. The
    need page's side reads (`register_side_read` in `TopicsConfig.ready`) tell whether there are
    any links at all."""
    if need_selectors.need_has_side_rows(need, SIDE_READ) is False:
        return []
    linked = [link.topic_id for link in _LINKS.all(need.pk)]
    if not linked:
        return []
    return list(
        topic_queryset_for_user(user=user)
        .filter(pk__in=linked)
        .only("id", "title", "status")
        .order_by("-id")
    )


def attachable_topics(*, user: User, need: Need) -> list[Topic]:
    """Open topics the user manages, those covering the need's area first, not yet linked."""
    roots = manage_roots(user)
    if not roots:
        return []
    q = Q()
    for root in roots:
        q |= Q(area__path__startswith=root)
    topics = list(
        Topic.objects.filter(q)
        .exclude(status=Topic.Status.CLOSED)
        .exclude(links__need=need)
        .select_related("area")
        .order_by("-id")[:200]
    )
    topics.sort(key=lambda t: (not need.area.path.startswith(t.area.path), -t.pk))
    return topics


# --------------------------------------------------------------------------- form choices


def area_choices(user: User) -> list[tuple[int, str]]:
    """The areas a topic of `user`'s may cover: their dispatcher subtrees, in tree order."""
    roots = manage_roots(user)
    if not roots:
        return []
    q = Q()
    for root in roots:
        q |= Q(path__startswith=root)
    base = min(root.count("/") for root in roots)
    return [
        (a.pk, "\u3000" * (a.path.count("/") - base) + a.name)
        for a in Area.objects.filter(q).only("id", "name", "path").order_by("path")
    ]


def category_choices() -> list[tuple[int, str]]:
    return [
        (c.pk, "\u3000" * c.depth + c.name)
        for c in Category.objects.filter(active=True).only("id", "name", "depth").order_by("path")
    ]


def unit_choices() -> list[tuple[int, str]]:
    return [
        (u.pk, "\u3000" * u.depth + (u.short_name or u.name))
        for u in Unit.objects.only("id", "name", "short_name", "depth").order_by("path")
    ]


# --------------------------------------------------------------------------- from a hot topic


@dataclass(frozen=True)
class Prefill:
    title: str
    area: Area | None
    category: Category | None
    needs: list[Need]
    group_id: int


def _common_path(paths: list[str]) -> str:
    split = [[p for p in path.strip("/").split("/") if p] for path in paths]
    common: list[str] = []
    for parts in zip(*split, strict=False):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/" + "/".join(common) + "/" if common else ""


def prefill_from_group(*, user: User, group_id: int) -> Prefill:
    """A new topic drawn from a hot-topic group as the user sees it on the 热点 page: its label
    read from the needs they may see, the lowest area that holds those needs' areas within the
    user's scope, their most common category, and those needs. A group of a run the user may
    not open (another user's on-demand run), or of whose needs they see fewer than the hot
    pages' minimum of requesters, does not exist for them."""
    from wenxu.insight.hot_selectors import hot_group_for_user, hot_group_visible_needs

    shown = hot_group_for_user(user=user, group_id=group_id)
    if shown is None:
        raise NotFound()
    group = shown.group
    needs = list(
        hot_group_visible_needs(user=user, group=group)
        .select_related("area", "category")
        .order_by("id")
    )
    if not needs:
        raise NotFound()
    area_ids = {n.area_id for n in needs}
    paths = list(Area.objects.filter(pk__in=area_ids).values_list("path", flat=True))
    common = _common_path(paths) if paths else ""
    roots = manage_roots(user)
    area: Area | None = None
    if common:
        inside = [root for root in roots if common.startswith(root)]
        if inside:
            area = Area.objects.filter(path=common).first()
        else:  # the needs span more than the user's scope: the scope that overlaps them
            overlapping = [root for root in roots if root.startswith(common)]
            if overlapping:
                area = Area.objects.filter(path=overlapping[0]).first()
    counts = Counter(n.category_id for n in needs if n.category_id is not None)
    category = Category.objects.filter(pk=counts.most_common(1)[0][0]).first() if counts else None
    return Prefill(
        title=shown.label[:200], area=area, category=category, needs=needs, group_id=group.pk
    )


def linked_need_ids(topic: Topic) -> set[int]:
    return set(TopicNeed.objects.filter(topic=topic).values_list("need_id", flat=True))
