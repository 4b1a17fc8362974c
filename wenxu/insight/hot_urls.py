"""Hot topics (issue #7 §2): the 热点 page and on-demand runs."""

from django.urls import URLPattern, path

from wenxu.insight import hot_views

urlpatterns: list[URLPattern] = [
    path("hot/", hot_views.hot_page, name="hot"),
    path("hot/runs/<int:pk>/", hot_views.hot_run_status, name="hot_run_status"),
    path("hot/<int:pk>/", hot_views.hot_group, name="hot_group"),
]
