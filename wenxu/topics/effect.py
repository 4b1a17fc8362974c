"""A topic's effect (成效, DESIGN §5): new needs of its kind per week before and after its
measures began, from the daily rollups.

"Its kind" is the topic's category subtree (all categories when it has none) in its area
subtree, counted by the `registered` counter of `DailyCount`, within what the viewer may count
(the same scope as the statistics pages). The boundary is `Topic.measures_from`, else the day
the first measure was entered. Up to 12 whole weeks are compared on each side; the week still
running is left out, so that a partial week does not look like a drop. Weeks before the ledger
had any data in the topic's area subtree (the first day with a rollup there, of any category,
within the viewer's scope) are not counted either: empty weeks before the data began would pull
the "before" mean down. The week holding that first day is counted; `Effect.data_from` names
the day when it cut weeks off.
"""

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.db.models import Min, Sum
from django.utils import timezone

from wenxu.accounts.models import User
from wenxu.insight import selectors as insight_selectors
from wenxu.insight.models import DailyCount
from wenxu.lib import clock
from wenxu.needs import selectors as need_selectors
from wenxu.needs.models import Category
from wenxu.topics.models import Topic

WEEKS = 12


@dataclass(frozen=True)
class Week:
    start: date
    after: bool
    registered: int
    linked: int

    @property
    def end(self) -> date:
        return self.start + timedelta(days=6)


@dataclass
class Effect:
    start: date | None  # None: no measures yet
    weeks: list[Week] = field(default_factory=list)
    data_from: date | None = None  # set when weeks before this day (no data yet) were left out

    @property
    def before(self) -> list[Week]:
        return [w for w in self.weeks if not w.after]

    @property
    def after(self) -> list[Week]:
        return [w for w in self.weeks if w.after]

    @staticmethod
    def _mean(weeks: list[Week]) -> float | None:
        return sum(w.registered for w in weeks) / len(weeks) if weeks else None

    @property
    def mean_before(self) -> float | None:
        return self._mean(self.before)

    @property
    def mean_after(self) -> float | None:
        return self._mean(self.after)

    @property
    def change_percent(self) -> float | None:
        before, after = self.mean_before, self.mean_after
        if before is None or after is None or before == 0:
            return None
        return round((after - before) / before * 100, 1)

    def chart(self, *, label_registered: str, label_linked: str) -> dict[str, object]:
        """The spec `topics/effect.js` draws: bars of new needs, a line of linked ones."""
        return {
            "x": [w.start.isoformat() for w in self.weeks],
            "after": [w.after for w in self.weeks],
            "start": self.start.isoformat() if self.start else None,
            "series": [
                {
                    "name": label_registered,
                    "kind": "bar",
                    "data": [w.registered for w in self.weeks],
                },
                {"name": label_linked, "kind": "line", "data": [w.linked for w in self.weeks]},
            ],
        }


def measures_start(topic: Topic) -> date | None:
    if topic.measures_from is not None:
        return topic.measures_from
    first = topic.measures.order_by("created_at", "id").values_list("created_at", flat=True).first()
    if first is None:
        return None
    return timezone.localtime(first, timezone.get_default_timezone()).date()


def _local_midnight(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min), timezone.get_default_timezone())


def topic_effect(*, user: User, topic: Topic, today: date | None = None) -> Effect:
    start = measures_start(topic)
    if start is None:
        return Effect(start=None)
    today = today or clock.today()
    week = timedelta(days=7)
    starts = [start - week * k for k in range(WEEKS, 0, -1)]
    starts += [s for s in (start + week * k for k in range(WEEKS)) if s + week <= today]
    scope = insight_selectors.scope_q(user)
    data_from: date | None = None
    if scope is not None:
        earliest = (
            DailyCount.objects.filter(scope, area_path__startswith=topic.area.path)
            .aggregate(first=Min("day"))
            .get("first")
        )
        if earliest is not None and earliest > starts[0]:
            kept = [s for s in starts if s >= start or s + week > earliest]
            if len(kept) != len(starts):
                starts, data_from = kept, earliest
    if not starts:  # no data before the measures and no whole week after them yet
        return Effect(start=start, data_from=data_from)
    first, last = starts[0], starts[-1] + week  # [first, last)

    per_day: dict[date, int] = {}
    if scope is not None:
        rows = DailyCount.objects.filter(
            scope, day__gte=first, day__lt=last, area_path__startswith=topic.area.path
        )
        if topic.category is not None:
            rows = rows.filter(
                category__in=Category.objects.filter(path__startswith=topic.category.path)
            )
        for row in rows.values("day").annotate(n=Sum("registered")).order_by():
            per_day[row["day"]] = int(row["n"] or 0)

    linked_days: list[date] = [
        timezone.localtime(moment, timezone.get_default_timezone()).date()
        for moment in need_selectors.need_queryset_for_user(user=user)
        .filter(
            topic_links__topic=topic,
            registered_at__gte=_local_midnight(first),
            registered_at__lt=_local_midnight(last),
        )
        .values_list("registered_at", flat=True)
    ]

    weeks = []
    for s in starts:
        days = [s + timedelta(days=d) for d in range(7)]
        weeks.append(
            Week(
                start=s,
                after=s >= start,
                registered=sum(per_day.get(d, 0) for d in days),
                linked=sum(1 for d in linked_days if s <= d < s + week),
            )
        )
    return Effect(start=start, weeks=weeks, data_from=data_from)
