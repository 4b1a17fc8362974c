"""/wall: 回音墙, off by default (to be built)."""

from django.http import Http404, HttpRequest, HttpResponse


def wall(request: HttpRequest) -> HttpResponse:
    raise Http404
