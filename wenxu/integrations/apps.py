from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class IntegrationsConfig(AppConfig):
    name = "wenxu.integrations"
    verbose_name = pgettext_lazy("app", "对接")
