from django.apps import AppConfig


class NeedsConfig(AppConfig):
    name = "wenxu.needs"
    verbose_name = "诉求台账"
