"""`{% export_columns as columns %}` and `{% export_sync_limit %}` for the ledger's 导出 menu."""

from django import template

from wenxu.exchange import columns, services

register = template.Library()


@register.simple_tag
def export_columns() -> tuple[columns.Column, ...]:
    return columns.COLUMNS


@register.simple_tag
def export_sync_limit() -> int:
    return services.SYNC_LIMIT
