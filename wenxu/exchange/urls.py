from django.urls import path

from wenxu.exchange import views

app_name = "exchange"

urlpatterns = [
    path("exports/ledger/", views.ledger_export, name="ledger_export"),
    path("exports/jobs/<int:pk>/", views.job, name="job"),
    path("exports/jobs/<int:pk>/download/", views.job_download, name="job_download"),
]
