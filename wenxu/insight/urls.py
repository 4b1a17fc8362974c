from django.urls import URLPattern, path

from wenxu.insight import views

app_name = "insight"

urlpatterns: list[URLPattern] = [
    path("stats/", views.stats, name="stats"),
]
