"""The "所属专题" card on the need page (needs/detail.html includes topics/_need_slot.html)."""

from typing import Any

from django import template

from wenxu.accounts.models import User
from wenxu.topics import selectors

register = template.Library()


@register.inclusion_tag("topics/_need_card.html", takes_context=True)
def topics_need_card(context: template.Context, need: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    if not isinstance(user, User) or need is None:
        return {"show": False}
    topics = selectors.topics_for_need(user=user, need=need)
    may_attach = selectors.may_create(user)
    return {
        "show": bool(topics) or may_attach,
        "need": need,
        "topics": topics,
        "may_attach": may_attach,
    }
