"""/submit: online submission by residents, off by default (to be built)."""

from django.http import Http404, HttpRequest, HttpResponse


def submit(request: HttpRequest) -> HttpResponse:
    raise Http404


def submit_areas(request: HttpRequest) -> HttpResponse:
    raise Http404
