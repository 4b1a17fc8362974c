"""`routing_suggest`: a category and a lead unit for a need at triage, with how sure we are.

An admin's keyword rule that matches wins (highest priority first), for the fields it names;
the trained models fill in the rest. The suggestion is stored (one per need) while the need is
still registered, so that the next training can compare it with what the dispatcher decided.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from scipy import sparse

from wenxu.insight.models import RoutingSuggestion, RoutingTarget
from wenxu.insight.routing import rules as rules_mod
from wenxu.insight.routing.features import Router, text_counts
from wenxu.insight.routing.store import active_routers
from wenxu.insight.routing.training import unit_extras
from wenxu.insight.text import need_text, normalize
from wenxu.needs.models import Category, Need
from wenxu.needs.states import Status
from wenxu.organisations.models import Unit


@dataclass
class Suggestion:
    category: Category | None = None
    category_confidence: float | None = None  # None: from a rule
    unit: Unit | None = None
    unit_confidence: float | None = None
    source: str = RoutingSuggestion.Source.NONE
    rule_id: int | None = None
    category_model_id: int | None = None
    unit_model_id: int | None = None

    @property
    def empty(self) -> bool:
        return self.category is None and self.unit is None

    @property
    def category_low(self) -> bool:
        return _low(self.category_confidence)

    @property
    def unit_low(self) -> bool:
        return _low(self.unit_confidence)

    @property
    def category_percent(self) -> int | None:
        return _percent(self.category_confidence)

    @property
    def unit_percent(self) -> int | None:
        return _percent(self.unit_confidence)


def _low(confidence: float | None) -> bool:
    return confidence is not None and confidence < settings.WENXU_ROUTER_MIN_CONFIDENCE


def _percent(confidence: float | None) -> int | None:
    return None if confidence is None else round(confidence * 100)


@dataclass
class _Raw:
    category_id: int | None = None
    category_confidence: float | None = None
    unit_id: int | None = None
    unit_confidence: float | None = None
    source: str = RoutingSuggestion.Source.NONE
    rule_id: int | None = None
    category_model_id: int | None = None
    unit_model_id: int | None = None


def suggest_many(
    needs: Sequence[Need],
    *,
    rules: list[rules_mod.CompiledRule] | None = None,
    routers: dict[str, tuple[int, Router]] | None = None,
) -> list[_Raw]:
    """Suggestions (as ids) for many needs at once: rules, then both models in one batch each
    (the texts are featurised once for both).

    Needs must have `area` loaded. Two queries, whatever the number of needs (plus a model's
    arrays the first time a process uses it); none when `rules` and `routers` are given."""
    compiled = rules_mod.active_rules() if rules is None else rules
    routers = active_routers() if routers is None else routers
    raws = [_Raw() for _need in needs]
    # normalised once, for the rules and the models alike
    texts = [normalize(need_text(n.title, n.description)) for n in needs]
    counts: sparse.csr_matrix | None = None

    def counts_of(wanted: list[int]) -> sparse.csr_matrix:
        nonlocal counts
        if counts is None:
            counts = text_counts(texts, normalized=True)
        return counts if len(wanted) == len(texts) else counts[wanted]

    for raw, need, text in zip(raws, needs, texts, strict=True):
        if not compiled:
            break
        hits = rules_mod.matching(compiled, text=text.replace(" ", ""), area_path=need.area.path)
        for rule in hits:
            if raw.category_id is None and rule.category_id is not None:
                raw.category_id = rule.category_id
            if raw.unit_id is None and rule.unit_id is not None:
                raw.unit_id = rule.unit_id
        if hits:
            raw.source = RoutingSuggestion.Source.RULE
            raw.rule_id = hits[0].pk
    model_source = RoutingSuggestion.Source.MODEL
    if RoutingTarget.CATEGORY in routers:
        model_id, router = routers[RoutingTarget.CATEGORY]
        wanted = [i for i, raw in enumerate(raws) if raw.category_id is None]
        if wanted:
            for i, (label, p) in zip(wanted, router.predict_counts(counts_of(wanted)), strict=True):
                raws[i].category_id = int(label)  # type: ignore[call-overload]
                raws[i].category_confidence = p
                raws[i].category_model_id = model_id
                if raws[i].source == RoutingSuggestion.Source.NONE:
                    raws[i].source = model_source
    if RoutingTarget.UNIT in routers:
        model_id, router = routers[RoutingTarget.UNIT]
        wanted = [i for i, raw in enumerate(raws) if raw.unit_id is None]
        if wanted:
            extras = [
                unit_extras(
                    area_path=needs[i].area.path, category_id=_unit_category(needs[i], raws[i])
                )
                for i in wanted
            ]
            predictions = router.predict_counts(counts_of(wanted), extras)
            for i, (label, p) in zip(wanted, predictions, strict=True):
                raws[i].unit_id = int(label)  # type: ignore[call-overload]
                raws[i].unit_confidence = p
                raws[i].unit_model_id = model_id
                if raws[i].source == RoutingSuggestion.Source.NONE:
                    raws[i].source = model_source
    return raws


def _unit_category(need: Need, raw: _Raw) -> int | None:
    """The category the unit is suggested for: the suggested one when it is sure (a rule, or
    the model above the threshold), so that the two suggestions agree; else the need's own."""
    confident = raw.category_confidence is None or not _low(raw.category_confidence)
    if raw.category_id is not None and confident:
        return raw.category_id
    return need.category_id or raw.category_id


def routing_suggest(*, need: Need) -> Suggestion:
    """The suggestion for one need; stored while the need awaits triage."""
    raw = suggest_many([need])[0]
    category = (
        Category.objects.filter(pk=raw.category_id, active=True).first()
        if raw.category_id
        else None
    )
    unit = Unit.objects.filter(pk=raw.unit_id, active=True).first() if raw.unit_id else None
    suggestion = Suggestion(
        category=category,
        category_confidence=raw.category_confidence if category else None,
        unit=unit,
        unit_confidence=raw.unit_confidence if unit else None,
        source=raw.source if (category or unit) else RoutingSuggestion.Source.NONE,
        rule_id=raw.rule_id,
        category_model_id=raw.category_model_id if category else None,
        unit_model_id=raw.unit_model_id if unit else None,
    )
    if need.status == Status.REGISTERED:
        _store(need, suggestion)
    return suggestion


def _store(need: Need, suggestion: Suggestion) -> None:
    RoutingSuggestion.objects.update_or_create(
        need=need,
        defaults={
            "category": suggestion.category,
            "category_confidence": suggestion.category_confidence,
            "unit": suggestion.unit,
            "unit_confidence": suggestion.unit_confidence,
            "source": suggestion.source,
            "rule_id": suggestion.rule_id if suggestion.source == "rule" else None,
            "category_model_id": suggestion.category_model_id,
            "unit_model_id": suggestion.unit_model_id,
        },
    )
