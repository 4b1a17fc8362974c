from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class ResidentsConfig(AppConfig):
    name = "wenxu.residents"
    verbose_name = pgettext_lazy("app", "诉求人")
