"""The measures of DESIGN §5 from summed rollup counters, with their formulas in words.

Configurable per deployment (settings): the weight of a "partly resolved" answer
(`WENXU_RATES_PARTLY_WEIGHT`, default 0.5) and the satisfaction levels that count as satisfied
(`WENXU_RATES_SATISFIED_LEVELS`, default 非常满意, 满意, 基本满意). Each rate is None when its
denominator is zero: no data is not 0 %.
"""

import functools
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple, Protocol

from django.conf import settings
from django.db.models import QuerySet, Sum
from django.utils import translation
from django.utils.translation import gettext as _

from wenxu.insight.models import COUNTERS, DailyCount
from wenxu.needs import states

SATISFACTION_FIELDS: dict[str, str] = {
    states.Satisfaction.VERY_SATISFIED: "very_satisfied",
    states.Satisfaction.SATISFIED: "satisfied",
    states.Satisfaction.BASIC: "basic_satisfied",
    states.Satisfaction.DISSATISFIED: "dissatisfied",
    states.Satisfaction.VERY_DISSATISFIED: "very_dissatisfied",
}


@dataclass(frozen=True)
class RateConfig:
    partly_weight: Decimal
    satisfied_levels: tuple[str, ...]

    @classmethod
    def from_settings(cls) -> "RateConfig":
        return cls(
            partly_weight=Decimal(str(settings.WENXU_RATES_PARTLY_WEIGHT)),
            satisfied_levels=tuple(settings.WENXU_RATES_SATISFIED_LEVELS),
        )


@dataclass(frozen=True)
class Rate:
    name: str
    label: str
    value: Decimal | None  # 0…1, four decimals; None without a denominator
    numerator: Decimal
    denominator: int
    formula: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def percent(self) -> str:
        return percent_text(self.value)


class Rated(Protocol):
    """What a ranking reads of a rate: a `Rate`, or a `RateValue`."""

    @property
    def value(self) -> Decimal | None: ...

    @property
    def denominator(self) -> int: ...


class RateValue(NamedTuple):
    """A rate's value and denominator alone (`Measures.values`): as `Rate` has them."""

    value: Decimal | None
    denominator: int

    @property
    def percent(self) -> str:
        return percent_text(self.value)


def totals(rows: "QuerySet[DailyCount]") -> dict[str, int]:
    """Every counter summed over `rows` (one query)."""
    sums = rows.aggregate(**{name: Sum(name) for name in COUNTERS})
    return {name: int(sums[name] or 0) for name in COUNTERS}


_FOUR_PLACES = Decimal("0.0001")
_ONE_PLACE = Decimal("0.1")
_HUNDRED = Decimal(100)


def _ratio(numerator: Decimal, denominator: int) -> Decimal | None:
    if denominator <= 0:
        return None
    return (numerator / Decimal(denominator)).quantize(_FOUR_PLACES, ROUND_HALF_UP)


def percent_text(value: Decimal | None) -> str:
    """`Rate.percent` of a value: "80.0%", "—" without one."""
    if value is None:
        return "—"
    return f"{(value * _HUNDRED).quantize(_ONE_PLACE, ROUND_HALF_UP)}%"


@functools.lru_cache(maxsize=64)
def _texts(language: str | None, config: RateConfig) -> dict[str, tuple[str, str]]:
    """Each rate's name and formula in words, in `language` (gettext once per language and
    configuration: a dashboard computes the rates of every unit and every week)."""
    levels = " + ".join(str(states.Satisfaction(level).label) for level in config.satisfied_levels)
    return {
        "response_rate": (_("响应率"), _("按时签收 ÷（按时签收 + 超时未签收）")),
        "ontime_rate": (
            _("按期办结率"),
            _("按期答复 ÷（按期答复 + 超期未答复）；延期获批的按延期后的时限"),
        ),
        "resolution_rate": (
            _("解决率"),
            _("（已解决 + %(weight)s × 部分解决）÷ 有评价的回访")
            % {"weight": config.partly_weight},
        ),
        "satisfaction_rate": (_("满意率"), _("（%(levels)s）÷ 有评价的回访") % {"levels": levels}),
        "callback_rate": (_("回访率"), _("有评价的回访 ÷（有评价的回访 + 未联系上）")),
    }


# (rate, its numerator's counters, its denominator's counters) as `Measures.values` reads them;
# `rates` says the same in full. The resolution and satisfaction numerators depend on the
# configuration (the weight, the levels) and are computed apart.
_PLAIN_RATES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("response_rate", "accepted_on_time", ("accepted_on_time", "response_overdue")),
    ("ontime_rate", "replied_on_time", ("replied_on_time", "overdue")),
    ("callback_rate", "callbacks", ("callbacks", "unreachable")),
)


@dataclass(frozen=True)
class Measures:
    """The rates' configuration and words, read once: a page that computes the rates of every
    unit and every week builds one of these (settings and the language are read once, not per
    unit)."""

    config: RateConfig
    texts: dict[str, tuple[str, str]]
    satisfied: tuple[str, ...]  # the counters that count as satisfied

    @classmethod
    def current(cls, config: RateConfig | None = None) -> "Measures":
        """For the configuration in settings (or `config`) and the current language."""
        c = config or RateConfig.from_settings()
        return cls(
            config=c,
            texts=_texts(translation.get_language(), c),
            satisfied=tuple(SATISFACTION_FIELDS[level] for level in c.satisfied_levels),
        )

    def labels(self) -> dict[str, str]:
        """Each rate's name ("响应率" …)."""
        return {name: str(text[0]) for name, text in self.texts.items()}

    def values(self, t: dict[str, int]) -> dict[str, RateValue]:
        """Each rate's (value, denominator): what `rates` gives as `Rate.value` and
        `Rate.denominator`, without the words and counts (rankings and trends need no more)."""
        out: dict[str, RateValue] = {}
        for name, top, below in _PLAIN_RATES:
            due = t[below[0]] + t[below[1]]
            out[name] = RateValue(_ratio(Decimal(t[top]), due), due)
        callbacks = t["callbacks"]
        out["resolution_rate"] = RateValue(_ratio(self._solved(t), callbacks), callbacks)
        satisfied = Decimal(self._satisfied(t))
        out["satisfaction_rate"] = RateValue(_ratio(satisfied, callbacks), callbacks)
        return out

    def rates(self, t: dict[str, int]) -> dict[str, Rate]:
        texts = self.texts
        out: dict[str, Rate] = {}
        for name, top, below in _PLAIN_RATES:
            due = t[below[0]] + t[below[1]]
            out[name] = Rate(
                name,
                texts[name][0],
                _ratio(Decimal(t[top]), due),
                Decimal(t[top]),
                due,
                texts[name][1],
                {counter: t[counter] for counter in below},
            )
        callbacks = t["callbacks"]
        solved = self._solved(t)
        out["resolution_rate"] = Rate(
            "resolution_rate",
            texts["resolution_rate"][0],
            _ratio(solved, callbacks),
            solved,
            callbacks,
            texts["resolution_rate"][1],
            {
                "resolved": t["resolved"],
                "partly_resolved": t["partly_resolved"],
                "unresolved": t["unresolved"],
                "callbacks": callbacks,
            },
        )
        satisfied = Decimal(self._satisfied(t))
        out["satisfaction_rate"] = Rate(
            "satisfaction_rate",
            texts["satisfaction_rate"][0],
            _ratio(satisfied, callbacks),
            satisfied,
            callbacks,
            texts["satisfaction_rate"][1],
            {name: t[name] for name in SATISFACTION_FIELDS.values()},
        )
        return {name: out[name] for name in texts}  # in the order the rates are named

    def _solved(self, t: dict[str, int]) -> Decimal:
        return Decimal(t["resolved"]) + self.config.partly_weight * t["partly_resolved"]

    def _satisfied(self, t: dict[str, int]) -> int:
        return sum(t[name] for name in self.satisfied)


def rates(t: dict[str, int], config: RateConfig | None = None) -> dict[str, Rate]:
    return Measures.current(config).rates(t)
