from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ExchangeConfig(AppConfig):
    name = "wenxu.exchange"
    verbose_name = _("台账导出")
