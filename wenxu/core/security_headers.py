"""The Permissions-Policy header (Django's SecurityMiddleware sends the other security headers,
django-csp the Content-Security-Policy; issue #9, ADR 0018)."""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase


def permissions_policy(features: dict[str, list[str]]) -> str:
    """`camera=(self), microphone=()` from {"camera": ["self"], "microphone": []}."""
    return ", ".join(
        f"{feature}=({' '.join(allow)})" for feature, allow in sorted(features.items())
    )


class PermissionsPolicyMiddleware:
    """Sends `settings.WENXU_PERMISSIONS_POLICY` with every response that has none yet."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response
        self.header = permissions_policy(settings.WENXU_PERMISSIONS_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        if self.header:
            response.headers.setdefault("Permissions-Policy", self.header)
        return response
