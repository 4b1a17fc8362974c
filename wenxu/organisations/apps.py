from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class OrganisationsConfig(AppConfig):
    name = "wenxu.organisations"
    verbose_name = pgettext_lazy("app", "区划与单位")
