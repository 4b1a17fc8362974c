from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AuditConfig(AppConfig):
    name = "wenxu.audit"
    verbose_name = pgettext_lazy("app", "安全审计")
