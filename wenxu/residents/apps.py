from django.apps import AppConfig


class ResidentsConfig(AppConfig):
    name = "wenxu.residents"
    verbose_name = "诉求人"
