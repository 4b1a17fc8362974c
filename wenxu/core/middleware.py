"""Chinese first: pages are in Chinese unless the user chose English (language cookie).

Browsers in government offices often send `Accept-Language: en-US` whatever their users read,
so pages ignore that header. The APIs (v1 and Open311) honour it, because API clients set it
on purpose.
"""

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

from wenxu.needs.exceptions import NotFound, NotPermitted

_SUPPORTED = {code for code, _name in settings.LANGUAGES}


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith(("/api/", "/open311/")):
            super().process_request(request)
            return
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in _SUPPORTED else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()


class DomainErrorMiddleware:
    """Pages answer domain errors the views did not handle: 404 for needs out of scope (never
    403, which would reveal that the need exists), 403 for actions the role may not take."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/"):
            return None
        if isinstance(exception, NotFound):
            raise Http404(exception.message) from exception
        if isinstance(exception, NotPermitted):
            raise PermissionDenied(exception.message) from exception
        return None
