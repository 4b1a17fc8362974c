"""`{% export_columns as columns %}`, `{% export_sync_limit %}` and `{% export_may_reveal %}`
for the ledger's 导出 menu."""

from typing import Any

from django import template

from wenxu.accounts.models import User
from wenxu.exchange import columns, ledger, services

register = template.Library()


@register.simple_tag
def export_columns() -> tuple[columns.Column, ...]:
    return columns.COLUMNS


@register.simple_tag
def export_sync_limit() -> int:
    return services.SYNC_LIMIT


@register.simple_tag(takes_context=True)
def export_may_reveal(context: Any) -> bool:
    """Whether the menu offers 包含完整个人信息 (the export checks again)."""
    user = context.get("user")
    return isinstance(user, User) and ledger.may_reveal_personal_data(user)
