from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InsightConfig(AppConfig):
    name = "wenxu.insight"
    verbose_name = _("统计分析")
