from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class VisitsConfig(AppConfig):
    name = "wenxu.visits"
    verbose_name = pgettext_lazy("app", "走访问需")
