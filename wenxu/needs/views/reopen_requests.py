"""Dispatchers decide on residents' reopen requests (to be built)."""

from django.http import Http404, HttpRequest, HttpResponse


def reopen_requests(request: HttpRequest) -> HttpResponse:
    raise Http404


def reopen_request_decide(request: HttpRequest, pk: int) -> HttpResponse:
    raise Http404
