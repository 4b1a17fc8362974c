"""Admins' keyword rules: the cold start, and an override where the model is wrong."""

import re
from dataclasses import dataclass

from wenxu.insight.models import RoutingRule
from wenxu.insight.text import normalize

_SPLIT = re.compile(r"[\n\r,，、;；]+")


def compact(text: str) -> str:
    """Normalised text without spaces: 路 灯 and 路灯, Ｗｉｆｉ and wifi match alike."""
    return normalize(text).replace(" ", "")


def keywords(text: str) -> list[str]:
    """The keywords of a rule: one per line, or separated by commas or 、."""
    return list(dict.fromkeys(k for k in (compact(part) for part in _SPLIT.split(text)) if k))


@dataclass(frozen=True)
class CompiledRule:
    rule: RoutingRule
    words: tuple[str, ...]
    area_path: str  # "" for all areas

    def matches(self, text: str, area_path: str) -> bool:
        if self.area_path and not area_path.startswith(self.area_path):
            return False
        return any(word in text for word in self.words)


def active_rules() -> list[CompiledRule]:
    """Active rules, highest priority first (one query)."""
    rules = (
        RoutingRule.objects.filter(active=True)
        .select_related("area", "category", "unit")
        .order_by("-priority", "id")
    )
    return [
        CompiledRule(rule, tuple(keywords(rule.keywords)), rule.area.path if rule.area else "")
        for rule in rules
    ]


def matching(rules: list[CompiledRule], *, text: str, area_path: str) -> list[RoutingRule]:
    """Rules that match, in priority order; `text` already `compact`ed."""
    return [c.rule for c in rules if c.matches(text, area_path)]
