"""`{% requester_reveal_control need %}`: the need page's 查看完整信息 control (issue #9).

Shown only to a viewer who may reveal this requester (`wenxu.residents.reveal`); the view that
answers it checks everything again.
"""

from typing import Any

from django import template

from wenxu.accounts.models import User
from wenxu.needs.models import Need
from wenxu.residents.reveal import REASON_MAX, REASON_MIN, may_reveal_requester

register = template.Library()


@register.inclusion_tag("needs/reveal/_control.html", takes_context=True)
def requester_reveal_control(context: Any, need: Need) -> dict[str, Any]:
    user = context.get("user")
    offered = isinstance(user, User) and may_reveal_requester(user, need)
    return {
        "need": need,
        "offered": offered,
        "reason_min": REASON_MIN,
        "reason_max": REASON_MAX,
        "csrf_token": context.get("csrf_token"),
    }
