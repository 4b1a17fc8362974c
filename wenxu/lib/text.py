"""Text helpers for people-facing messages."""

from collections.abc import Iterable

from django.utils.translation import pgettext


def join_list(items: Iterable[object]) -> str:
    """Items joined the way the active language lists them: 甲、乙、丙 / A, B, C."""
    return pgettext("list separator", "、").join(str(item) for item in items)
