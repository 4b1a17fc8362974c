from django.apps import AppConfig
from django.utils.translation import pgettext_lazy


class AccountsConfig(AppConfig):
    name = "wenxu.accounts"
    verbose_name = pgettext_lazy("app", "账号与权限")
