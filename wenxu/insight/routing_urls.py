"""Routing suggestions (issue #7 §4): the suggestion shown in the assign form."""

from django.urls import URLPattern, path

from wenxu.insight import routing_views

urlpatterns: list[URLPattern] = [
    path(
        "routing/needs/<str:number>/suggestion/",
        routing_views.suggest,
        name="routing_suggest",
    ),
]
