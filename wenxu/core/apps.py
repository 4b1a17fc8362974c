from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "wenxu.core"
    verbose_name = "站点"
