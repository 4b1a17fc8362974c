"""A name for each web request, carried by every log line it causes (issue #10, monitoring).

`RequestIdMiddleware` takes the proxy's `X-Request-ID` (nginx: `$request_id`, see
deploy/nginx/wenxu_proxy.conf) when it looks like one, or makes one, and answers with it; the
`RequestIdFilter` on every log handler puts it on each record as `request_id` (the JSON lines
write it; text lines leave it out). Outside a request (the worker, commands) there is none.
"""

import logging
import re
import secrets
from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
# What a proxy's id may look like: anything else (too long, spaces, control characters, text a
# client made up to write into the logs) is replaced by an id of our own.
_VALID = re.compile(r"[A-Za-z0-9._-]{8,64}")
_current: ContextVar[str | None] = ContextVar("wenxu_request_id", default=None)


def current() -> str | None:
    return _current.get()


class RequestIdMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        given = request.headers.get(HEADER, "")
        request_id = given if _VALID.fullmatch(given) else secrets.token_hex(8)
        token = _current.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current.get()
        if request_id is not None and not hasattr(record, "request_id"):
            record.request_id = request_id
        return True
