from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class NotifyConfig(AppConfig):
    name = "wenxu.notify"
    verbose_name = pgettext_lazy("app", "通知")
