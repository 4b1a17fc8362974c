"""Ranking rules shared by /stats/ and the 月报: which rates are shown, when a unit has enough
cases to be ranked, when it is flagged, and the names of the counters."""

import functools
from collections.abc import Mapping
from decimal import Decimal

from django.db import models
from django.utils import translation

from wenxu.insight import measures
from wenxu.insight.models import COUNTERS, DailyCount

# The unit ranking: a unit whose sorted measure rests on fewer than MIN_DUE cases (its
# denominator; deadlines due when sorting by volume) is listed apart, and a unit whose on-time
# rate (over at least MIN_DUE deadlines) is below THRESHOLD is flagged.
MIN_DUE = 5
THRESHOLD = Decimal("0.80")
RATE_NAMES = (
    "response_rate",
    "ontime_rate",
    "resolution_rate",
    "satisfaction_rate",
    "callback_rate",
)

SEGMENT = 11  # one "<10 digits>/" step of a materialised path


def ranking_base(rates: Mapping[str, measures.Rated], sort: str) -> int:
    """The number of cases a unit's place in a ranking by `sort` rests on: the sorted rate's
    denominator (deadlines due, 按期办结率's denominator, when ranking by volume)."""
    return rates["ontime_rate" if sort == "volume" else sort].denominator


def rankable(rates: Mapping[str, measures.Rated], sort: str) -> bool:
    """Whether a unit has enough cases to be ranked by `sort` (the rule of /stats/ and 月报)."""
    return ranking_base(rates, sort) >= MIN_DUE


def below_threshold(rates: Mapping[str, measures.Rated]) -> bool:
    """A unit to flag: on time below THRESHOLD over at least MIN_DUE deadlines."""
    value = rates["ontime_rate"].value
    return rankable(rates, "ontime_rate") and value is not None and value < THRESHOLD


def rate_labels() -> dict[str, str]:
    """The rates' names in the current language ("响应率" …)."""
    return measures.Measures.current().labels()


def counter_labels() -> dict[str, str]:
    """Every counter's name in the current language (looked up once per language)."""
    return dict(_counter_labels(translation.get_language()))


@functools.lru_cache(maxsize=16)
def _counter_labels(language: str | None) -> tuple[tuple[str, str], ...]:
    return tuple((name, counter_label(name)) for name in COUNTERS)


def counter_label(counter: str) -> str:
    """A counter's name in the current language ("按时签收")."""
    found = DailyCount._meta.get_field(counter)
    assert isinstance(found, models.Field)
    return str(found.verbose_name)
