from django.urls import URLPattern, path

from wenxu.insight import hot_urls, routing_urls, signal_urls, similar_urls, views

app_name = "insight"

urlpatterns: list[URLPattern] = [
    path("stats/", views.stats, name="stats"),
    *similar_urls.urlpatterns,
    *hot_urls.urlpatterns,
    *routing_urls.urlpatterns,
    *signal_urls.urlpatterns,
]
