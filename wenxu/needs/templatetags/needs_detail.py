"""Template helpers for the need detail page."""

from django import template
from django.urls import reverse
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

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
