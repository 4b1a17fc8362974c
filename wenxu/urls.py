from django.contrib import admin
from django.urls import include, path

from wenxu.api.api import api

admin.site.site_header = "问需 · 系统管理"
admin.site.site_title = "问需"
admin.site.index_title = "系统管理"

urlpatterns = [
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("wenxu.accounts.urls")),
    path("", include("wenxu.core.urls")),
]
