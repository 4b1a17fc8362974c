from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class TopicsConfig(AppConfig):
    name = "wenxu.topics"
    verbose_name = pgettext_lazy("app", "专题")
