from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class PublicConfig(AppConfig):
    name = "wenxu.public"
    verbose_name = pgettext_lazy("app", "群众端")
