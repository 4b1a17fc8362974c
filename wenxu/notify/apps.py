from django.apps import AppConfig


class NotifyConfig(AppConfig):
    name = "wenxu.notify"
    verbose_name = "通知"
