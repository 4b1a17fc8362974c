"""Similar needs (issue #7 §1): partials for capture and the need page."""

from django.urls import URLPattern, path

from wenxu.insight import similar_views

urlpatterns: list[URLPattern] = [
    path("similar/capture/", similar_views.similar_capture, name="similar_capture"),
    path("similar/needs/<str:number>/", similar_views.similar_need, name="similar_need"),
]
