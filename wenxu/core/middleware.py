"""Chinese first: pages are in Chinese unless the user chose English (language cookie).

Browsers in government offices often send `Accept-Language: en-US` whatever their users read,
so pages ignore that header. The API honours it, because API clients set it on purpose.
"""

from django.conf import settings
from django.http import HttpRequest
from django.middleware.locale import LocaleMiddleware
from django.utils import translation

_SUPPORTED = {code for code, _name in settings.LANGUAGES}


class ChineseFirstLocaleMiddleware(LocaleMiddleware):
    def process_request(self, request: HttpRequest) -> None:
        if request.path.startswith("/api/"):
            super().process_request(request)
            return
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        language = chosen if chosen in _SUPPORTED else settings.LANGUAGE_CODE
        translation.activate(language)
        request.LANGUAGE_CODE = translation.get_language()
