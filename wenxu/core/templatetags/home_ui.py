"""Small helpers of the home page (我的工作台)."""

from datetime import datetime

from django import template
from django.utils.timesince import timesince

register = template.Library()


@register.filter
def since(value: datetime | None, now: datetime) -> str:
    """The time from `value` to `now` in its largest unit only ("3 天", not "3 天，5 小时"):
    short enough for a badge on a phone."""
    if value is None:
        return ""
    return timesince(value, now, depth=1)
