"""Template helpers for the need detail page."""

from django import template
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from wenxu.needs.models import Need
from wenxu.needs.timeline import TimelineEntry

register = template.Library()


@register.filter
def timeline_text(item: TimelineEntry) -> SafeString:
    """The entry's words, escaped, with the ledger number it names (merge) as a link."""
    if not item.link or item.link not in item.text:
        return SafeString(escape(item.text))
    before, _sep, after = item.text.partition(item.link)
    link = format_html(
        '<a href="{}" class="font-monospace">{}</a>',
        reverse("needs:detail", args=[item.link]),
        item.link,
    )
    return mark_safe(escape(before) + link + escape(after))  # noqa: S308 - parts escaped above


@register.simple_tag
def observed_badge(need: Need) -> SafeString:
    """望闻问切 · 待群众确认, or 望闻问切 · 群众已确认 <date>; nothing for a need voiced by the
    resident."""
    if not need.is_observed:
        return SafeString("")
    if need.observed_confirmed_at is None:
        return format_html(
            '<span class="badge text-bg-warning" data-observed="pending">{}</span>',
            _("望闻问切 · 待群众确认"),
        )
    day = timezone.localtime(need.observed_confirmed_at).date()
    return format_html(
        '<span class="badge text-bg-success" data-observed="confirmed">{}</span>',
        _("望闻问切 · 群众已确认 %(date)s") % {"date": day.isoformat()},
    )
