"""`{% about_unit_facts need %}`: the need page's 被批评/投诉单位 row (issue #9); and
`{% requester_name need %}` for lists.

Says which unit a criticism or complaint is about and whether it was disclosed to it, and links
dispatchers over the need to the page where they correct it or decide to disclose it
(`views.disclosure`, which checks everything again).
"""

from typing import Any

from django import template

from wenxu.accounts.models import User
from wenxu.needs import permissions
from wenxu.needs.models import Need
from wenxu.needs.selectors import requester_name_for_viewer
from wenxu.needs.states import ABOUT_UNIT_KINDS, Action

register = template.Library()


@register.inclusion_tag("needs/detail/_about_unit.html", takes_context=True)
def about_unit_facts(context: Any, need: Need) -> dict[str, Any]:
    user = context.get("user")
    may_decide = (
        isinstance(user, User)
        and (need.about_unit_id is not None or need.kind in ABOUT_UNIT_KINDS)
        and permissions.may_take(user, need, Action.DISCLOSE_TO_UNIT)
    )
    return {"need": need, "may_decide": may_decide}


@register.simple_tag(takes_context=True)
def requester_name(context: Any, need: Need) -> str:
    """The requester's masked name for the viewer, or 保密 for the staff of a unit the need
    criticises (issue #9); "" without a requester. Reads nothing the list has not loaded."""
    user = context.get("user")
    if not isinstance(user, User):
        return ""
    return requester_name_for_viewer(user, need)
