"""Open311 GeoReport v2 under /open311/v2/ (included by wenxu/urls.py); docs/api/open311.md.

The format is the suffix of the resource, as the spec prescribes: /services.json, /services.xml.
"""

from django.urls import URLPattern, URLResolver, re_path

from wenxu.api.open311 import views

FMT = r"\.(?P<fmt>json|xml)$"

urlpatterns: list[URLPattern | URLResolver] = [
    re_path(r"^discovery" + FMT, views.discovery, name="open311-discovery"),
    re_path(r"^services" + FMT, views.services, name="open311-services"),
    re_path(r"^services/(?P<code>[^/]+?)" + FMT, views.service_definition, name="open311-service"),
    re_path(r"^requests" + FMT, views.requests, name="open311-requests"),
    re_path(r"^requests/(?P<number>[^/]+?)" + FMT, views.request_detail, name="open311-request"),
    re_path(r"^tokens/(?P<token>[^/]+?)" + FMT, views.token, name="open311-token"),
    re_path(r"^(?P<rest>.*)$", views.not_found, name="open311-not-found"),
]
