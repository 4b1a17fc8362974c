from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "wenxu.api"
    verbose_name = "接口"
