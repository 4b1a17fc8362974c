"""`Idempotency-Key` on the API's POST requests (issue #8 §3): a retry gets the first answer.

A client that is not sure its POST arrived (a timeout, a dropped connection) sends it again with
the same `Idempotency-Key` header. The first request's answer is stored; a retry with the same
key and the same body (and path) gets that answer again, with `Idempotent-Replayed: true`, and
nothing runs twice. The same key with another body or path is refused (422); a retry while the
first is still being answered gets 409. Keys are per credential (bearer token or session user)
and kept `WENXU_IDEMPOTENCY_HOURS`; the sweep deletes older ones. Server errors (5xx) are not
kept: the key can be used again. Requests without the header are untouched, and so are file
uploads (multipart): they carry a `client_uuid` that makes a retry answer the same record.

Written as middleware rather than per endpoint so that every POST under /api/ gets the same
rule, including ones added later.
"""

import hashlib
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _

from wenxu.api.models import IdempotentRequest
from wenxu.lib import clock

HEADER = "Idempotency-Key"
MAX_KEY = 255


def _principal(request: HttpRequest) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth:
        return "token:" + hashlib.sha256(auth.encode()).hexdigest()[:64]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(
        {"code": code, "message": message}, status=status, json_dumps_params={"ensure_ascii": False}
    )


def _replay(row: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(bytes(row.body), status=row.status, content_type=row.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if (
            key is None
            or request.method != "POST"
            or not request.path.startswith("/api/")
            or request.content_type == "multipart/form-data"
        ):
            return self.get_response(request)
        key = key.strip()
        if not key or len(key) > MAX_KEY:
            return _error(
                422,
                "idempotency_key_invalid",
                _("Idempotency-Key 须为 1 到 %(n)s 个字符。") % {"n": MAX_KEY},
            )
        principal = _principal(request)
        if principal is None:  # not signed in: the API answers 401 as usual, nothing kept
            return self.get_response(request)
        digest = hashlib.sha256(request.body).hexdigest()
        row = self._claim(principal, key, request, digest)
        if isinstance(row, HttpResponse):
            return row
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotentRequest.objects.filter(pk=row.pk).delete()
            raise
        if response.status_code >= 500 or getattr(response, "streaming", False):
            IdempotentRequest.objects.filter(pk=row.pk).delete()
            return response
        IdempotentRequest.objects.filter(pk=row.pk).update(
            status=response.status_code,
            content_type=response.get("Content-Type", ""),
            body=response.content,
        )
        return response

    def _claim(
        self, principal: str, key: str, request: HttpRequest, digest: str, *, again: bool = True
    ) -> IdempotentRequest | HttpResponse:
        """This request's row, written before it runs (the unique key makes a concurrent
        retry find it), or the answer to give instead of running it."""
        try:
            with transaction.atomic():
                return IdempotentRequest.objects.create(
                    principal=principal,
                    key=key,
                    method=request.method or "POST",
                    path=request.path,
                    body_hash=digest,
                    created_at=clock.now(),
                )
        except IntegrityError:
            pass
        earlier = IdempotentRequest.objects.filter(principal=principal, key=key).first()
        if earlier is None and again:  # deleted meanwhile (a server error, the purge): once more
            return self._claim(principal, key, request, digest, again=False)
        if earlier is None:
            return _error(
                409,
                "idempotency_in_progress",
                _("使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。"),
            )
        if earlier.path != request.path or earlier.body_hash != digest:
            return _error(
                422,
                "idempotency_key_reused",
                _("该 Idempotency-Key 已用于另一个请求（地址或内容不同）；新的请求请换一个键。"),
            )
        if earlier.status is None:
            return _error(
                409,
                "idempotency_in_progress",
                _("使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。"),
            )
        return _replay(earlier)


def idempotency_purge() -> int:
    """Delete the keys older than WENXU_IDEMPOTENCY_HOURS (the sweep's stage)."""
    cutoff = clock.now() - timedelta(hours=settings.WENXU_IDEMPOTENCY_HOURS)
    deleted, _rows = IdempotentRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted
