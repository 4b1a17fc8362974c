from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class NeedsConfig(AppConfig):
    name = "wenxu.needs"
    verbose_name = pgettext_lazy("app", "诉求台账")
