"""URLs of the monthly report (月报); see wenxu/insight/report*.py."""

from django.urls import URLPattern, path

from wenxu.insight import report_views

app_name = "report"

urlpatterns: list[URLPattern] = [
    path("stats/report/", report_views.report_page, name="page"),
    path("stats/report.xlsx", report_views.report_xlsx, name="xlsx"),
]
