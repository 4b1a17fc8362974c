"""/r/<token>: the resident rates a reply (to be built)."""

from django.http import Http404, HttpRequest, HttpResponse


def rate(request: HttpRequest, token: str) -> HttpResponse:
    raise Http404
