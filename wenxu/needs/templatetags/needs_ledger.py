"""`{% ledger_rows page.needs assignable as rows %}`: the ledger page's rows, `rows.table` (the
table for md and wider) and `rows.cards` (the phone cards).

Built in Python, not in a template loop: a row read through the template engine (two layouts,
a dozen tags and filters each, a URL reversed, a translation looked up per row) was a third of
the ledger page's server time (9 of 30 ms of CPU), and `format_html` still a tenth. Each need's
pieces (badges, names, dates, link) are worked out once and written into both layouts; the
words and badges that repeat (statuses, urgencies) once per page. Every value from a need or a
translation passes through `_e` (HTML-escaped, quotes included) before it joins the markup.
"""

import html
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import clock, text
from wenxu.lib.workdays import WorkCalendar
from wenxu.needs import deadlines
from wenxu.needs.models import Need, Urgency
from wenxu.needs.selectors import requester_name_for_viewer
from wenxu.needs.states import Status
from wenxu.needs.templatetags.needs_ui import STATUS_CSS

register = template.Library()

_NUMBER_SLOT = "WX-0000-000000"  # reversed once; each row's number takes its place
_MINUTE = "%Y-%m-%d %H:%M"
_URGENCY_CSS = {Urgency.URGENT: "text-bg-danger", Urgency.COMPLEX: "text-bg-secondary"}


@dataclass(frozen=True)
class LedgerRows:
    table: SafeString
    cards: SafeString


def _e(value: object) -> str:
    return html.escape(str(value))


@dataclass(frozen=True)
class _Page:
    """What every row of a page shares, worked out once: the fixed words and badges, the
    moment and calendar the deadline badges are reckoned with, the link to a need."""

    viewer: User | None
    url: str
    now: datetime
    calendar: WorkCalendar
    status: dict[str, str]
    urgency: dict[str, str]
    supervised: str
    co: str
    lead: str
    registered: str
    requester: str
    pick: str  # "选择 %(number)s"

    @classmethod
    def build(cls, viewer: User | None) -> "_Page":
        return cls(
            viewer=viewer,
            url=reverse("needs:detail", args=[_NUMBER_SLOT]),
            now=clock.now(),
            calendar=deadlines.cached_calendar(),
            status={
                value: f'<span class="badge {STATUS_CSS.get(value, "text-bg-light")}" '
                f'data-status="{value}">{_e(label)}</span>'
                for value, label in Status.choices
            },
            urgency={
                value: f'<span class="badge {css}">{_e(Urgency(value).label)}</span>'
                for value, css in _URGENCY_CSS.items()
            },
            supervised=f'<span class="badge text-bg-danger">{_e(_("督办"))}</span>',
            co=_e(_("协办：")),
            lead=_e(_("主办：")),
            registered=_e(_("登记")),
            requester=_e(_("诉求人")),
            pick=_("选择 %(number)s"),
        )


@dataclass(frozen=True)
class _Row:
    """What both layouts show of one need, escaped and ready to place."""

    need: Need
    number: str
    url: str
    title: str
    badges: tuple[str, str, str, str]  # status, deadline, urgency, supervised ("" when none)
    category: str
    area: str
    lead: str
    co_units: str
    requester: str
    registered: datetime


def _local(moment: datetime, pattern: str) -> str:
    return timezone.localtime(moment).strftime(pattern)


def _deadline(need: Need, page: _Page) -> str:
    due = deadlines.deadline_status(need, now=page.now, calendar=page.calendar)
    if not due.label:
        return ""
    return f'<span class="badge {due.css}" data-deadline="{due.kind}">{_e(due.label)}</span>'


def _row(need: Need, page: _Page) -> _Row:
    co_names: list[str] = getattr(need, "co_unit_names", [])
    number = _e(need.number)
    requester = requester_name_for_viewer(page.viewer, need) if page.viewer else ""
    return _Row(
        need=need,
        number=number,
        url=_e(page.url.replace(_NUMBER_SLOT, need.number)),
        title=_e(need.title),
        badges=(
            page.status.get(need.status) or _e(need.status),
            _deadline(need, page),
            page.urgency.get(need.urgency, ""),
            page.supervised if need.supervised and need.is_active else "",
        ),
        category=_e(need.category) if need.category else "",
        area=_e(need.area),
        lead=_e(need.lead_unit) if need.lead_unit else "",
        co_units=_e(text.join_list(co_names)) if co_names else "",
        requester=_e(requester),
        registered=need.registered_at,
    )


def _pick(row: _Row, page: _Page, prefix: str, css: str) -> str:
    label = _e(page.pick % {"number": row.need.number})
    return (
        f'<input class="{css}" type="checkbox" name="need" value="{row.number}:'
        f'{int(row.need.version)}" id="pick-{prefix}-{row.number}" aria-label="{label}">'
    )


def _table_row(row: _Row, page: _Page, assignable: Collection[str]) -> str:
    status, deadline, urgency, supervised = row.badges
    pick = ""
    if assignable:
        box = _pick(row, page, "t", "form-check-input") if row.need.number in assignable else ""
        pick = f"<td>{box}</td>"
    category = f" · {row.category}" if row.category else ""
    due = '<span class="text-body-secondary">—</span>'
    if row.need.resolve_due:
        due = (
            f'<div class="small text-body-secondary">{_local(row.need.resolve_due, _MINUTE)}</div>'
        )
    co = (
        f'<div class="small text-body-secondary">{page.co}{row.co_units}</div>'
        if row.co_units
        else ""
    )
    return (
        f'<tr data-need="{row.number}">{pick}'
        f'<td class="text-break"><a class="fw-semibold text-decoration-none" href="{row.url}">'
        f"{row.title}</a> {urgency}"
        f'<div class="small text-body-secondary"><span class="font-monospace">{row.number}</span>'
        f"{category}</div></td>"
        f'<td class="text-nowrap">{status}{" " + supervised if supervised else ""}</td>'
        f'<td class="text-nowrap">{deadline}{due}</td>'
        f'<td><span class="text-nowrap">{row.lead or "—"}</span>{co}</td>'
        f'<td class="d-none d-lg-table-cell text-nowrap">{row.area}</td>'
        f'<td class="d-none d-xl-table-cell text-nowrap">{row.requester or "—"}</td>'
        f'<td class="d-none d-lg-table-cell text-nowrap small">'
        f"{_local(row.registered, '%Y-%m-%d %H:%M')}</td></tr>"
    )


def _card(row: _Row, page: _Page, assignable: Collection[str]) -> str:
    pick = ""
    if row.need.number in assignable:
        box = _pick(row, page, "c", "form-check-input fs-4 mt-0")
        pick = f'<label class="flex-shrink-0 pe-1" for="pick-c-{row.number}">{box}</label>'
    where = row.area + (f" · {row.category}" if row.category else "")
    if row.need.requester is not None:
        where += f' · <span class="text-nowrap">{page.requester} {row.requester}</span>'
    owners = ""
    if row.lead:
        co = f" · {page.co}{row.co_units}" if row.co_units else ""
        owners = f"{page.lead}{row.lead}{co} · "
    return (
        f'<li class="card" data-need="{row.number}"><div class="card-body p-3 d-flex gap-2">{pick}'
        '<div class="flex-grow-1 min-w-0">'
        f'<div class="d-flex flex-wrap gap-1 mb-1">{" ".join(row.badges)}</div>'
        f'<a class="fw-semibold text-decoration-none text-break d-block" href="{row.url}">'
        f"{row.title}</a>"
        f'<div class="small text-body-secondary font-monospace">{row.number}</div>'
        f'<div class="small text-body-secondary text-break">{where}</div>'
        f'<div class="small text-break">{owners}{page.registered} '
        f"{_local(row.registered, '%Y-%m-%d')}</div>"
        "</div></div></li>"
    )


@register.simple_tag(takes_context=True)
def ledger_rows(context: Any, needs: list[Need], assignable: Collection[str]) -> LedgerRows:
    """Both layouts of the page's needs; `assignable`: the numbers a checkbox is offered for."""
    user = context.get("user")
    page = _Page.build(user if isinstance(user, User) else None)
    rows = [_row(need, page) for need in needs]
    # Safe: every value from a need or a translation went through `_e` above.
    return LedgerRows(
        table=mark_safe("".join(_table_row(row, page, assignable) for row in rows)),  # noqa: S308
        cards=mark_safe("".join(_card(row, page, assignable) for row in rows)),  # noqa: S308
    )
