from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "wenxu.organisations"
    verbose_name = "区划与单位"
