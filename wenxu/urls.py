from django.contrib import admin
from django.contrib.auth.decorators import login_required
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from django.views.generic import RedirectView

from wenxu.api.api import api

admin.site.site_header = _("问需 · 系统管理")
admin.site.site_title = _("问需")
admin.site.index_title = pgettext_lazy("admin site", "系统管理")

urlpatterns = [
    path("api/v1/", api.urls),
    path("open311/v2/", include("wenxu.api.open311.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    # The admin's own form would skip the audit entry and the forced change: use 修改密码.
    path(
        "admin/password_change/",
        login_required(RedirectView.as_view(pattern_name="account_password")),
    ),
    path("admin/", admin.site.urls),
    path("accounts/", include("wenxu.accounts.urls")),
    path("", include("wenxu.needs.urls")),
    path("", include("wenxu.visits.urls")),
    path("", include("wenxu.public.urls")),
    path("", include("wenxu.exchange.urls")),
    path("", include("wenxu.insight.urls")),
    path("topics/", include("wenxu.topics.urls")),
    path("integrations/", include("wenxu.integrations.urls")),
    path("integrations/webhooks/", include("wenxu.integrations.webhook_urls")),
    path("", include("wenxu.insight.report_urls")),
    path("", include("wenxu.core.urls")),
]
