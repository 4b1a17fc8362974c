"""Small pieces every needs page shows the same way: deadline and status badges, the options of
a filter's list."""

import html
from collections.abc import Iterable
from typing import Any

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from wenxu.lib import clock, text
from wenxu.needs import deadlines
from wenxu.needs.models import Need

register = template.Library()

STATUS_CSS = {
    "registered": "text-bg-secondary",
    "assigned": "text-bg-info",
    "in_progress": "text-bg-primary",
    "replied": "text-bg-success",
    "following": "text-bg-warning",
    "closed": "text-bg-dark",
    "withdrawn": "text-bg-light border",
    "merged": "text-bg-light border",
}


@register.simple_tag
def deadline_badge(need: Need) -> SafeString:
    """剩余 N 个工作日 / 今日到期 / 已超期 N 天, or nothing when no deadline runs."""
    status = deadlines.deadline_status(need, now=clock.now(), calendar=deadlines.cached_calendar())
    if not status.label:
        return SafeString("")
    return format_html(
        '<span class="badge {}" data-deadline="{}">{}</span>', status.css, status.kind, status.label
    )


@register.filter
def join_list(items: Iterable[object]) -> str:
    """`{{ units|join_list }}`: 甲、乙 in Chinese, "A, B" in English."""
    return text.join_list(items)


@register.simple_tag
def status_badge(need: Need) -> SafeString:
    return format_html(
        '<span class="badge {}" data-status="{}">{}</span>',
        STATUS_CSS.get(need.status, "text-bg-light"),
        need.status,
        need.get_status_display(),
    )


@register.simple_tag
def select_options(options: Iterable[Any], selected: object = None) -> SafeString:
    """The `<option>`s of a filter's list (`ledger_forms.Option`s), `selected` marked, retired
    ones said so. Built in Python, not in a template loop: a city's lists hold thousands of
    areas and hundreds of units, and a loop over them was most of the ledger page's time."""
    # html.escape, not Django's escape (the same output): its lazy-string wrapper cost more
    # than the escaping itself over a city's hundreds of units.
    retired = html.escape(_("（已停用）"))
    parts = []
    for option in options:
        mark = " selected" if option.id == selected else ""
        label = html.escape(option.label)
        if not option.active:
            label = f"{label} {retired}"
        parts.append(f'<option value="{int(option.id)}"{mark}>{label}</option>')
    return mark_safe("".join(parts))  # noqa: S308 - every value above is escaped or an int
