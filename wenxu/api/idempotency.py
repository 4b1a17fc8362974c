"""`Idempotency-Key` on the API's POST requests (issue #8 §3): a retry gets the first answer.

A client that is not sure its POST arrived (a timeout, a dropped connection) sends it again with
the same `Idempotency-Key` header. The first request's answer is stored; a retry with the same
key and the same body (and path) gets that answer again, with `Idempotent-Replayed: true`, and
nothing runs twice. The same key with another body or path is refused (422); a retry while the
first is still being answered gets 409. Keys are per credential (bearer token or session user;
for Open311 the client key, once it is known to be valid) and kept `WENXU_IDEMPOTENCY_HOURS`;
the sweep deletes older ones.

Not kept, so the key can be used again and nobody can fill the table without a credential:
server errors (5xx), rate-limit refusals (429), refusals of the credential (401, 403), requests
without a valid credential (no row at all) and the answers of credential-issuing endpoints
(`/api/v1/auth/…`: a raw token must never be stored). Requests without the header are
untouched, and so are v1 file uploads (multipart): they carry a `client_uuid` that makes a
retry answer the same record.

Written as middleware rather than per endpoint so that every POST under /api/ gets the same
rule, including ones added later. Open311's `POST /open311/v2/requests.{json,xml}` gets it too,
form-encoded or multipart: there the credential is the client key (`X-Api-Key` or `api_key`),
the body is compared as its decoded fields (a multipart body's boundary differs at each
attempt), and the middleware's own refusals come in the spec's error format of the requested
suffix (docs/api/open311.md). A body Django refuses to read (too large, too many fields) is an
API error (413, 400), not Django's HTML page.
"""

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import BadRequest, SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import translation
from django.utils.translation import gettext as _

from wenxu.api.models import IdempotentRequest
from wenxu.api.open311.access import api_key, unreadable
from wenxu.api.open311.render import errors_response
from wenxu.integrations.services import api_client_authenticate
from wenxu.lib import clock

HEADER = "Idempotency-Key"
MAX_KEY = 255
MAX_PATH = 500  # IdempotentRequest.path
OPEN311_POSTS = {"/open311/v2/requests.json": "json", "/open311/v2/requests.xml": "xml"}
# Endpoints whose answers hold a credential: never stored, so never replayed either.
CREDENTIAL_PATHS = ("/api/v1/auth/",)
# Answers not kept: the key may be used again (server errors are not kept either).
NOT_KEPT = frozenset({401, 403, 429})


def _path(request: HttpRequest) -> str:
    """The path inside the application (a deployment under a URL prefix has the same)."""
    return request.path_info


def _open311_format(request: HttpRequest) -> str | None:
    return OPEN311_POSTS.get(_path(request))


def _principal(request: HttpRequest) -> str | None:
    """Whose key this is, or None when the request has no usable credential (then the view
    answers 401 or 403 and nothing is kept)."""
    if _open311_format(request) is not None:
        # The key is checked first, so that a wrong key leaves no row; the view counts the call
        # against the rate limit and checks the action.
        client = api_client_authenticate(raw=api_key(request))
        return f"apiclient:{client.pk}" if client is not None else None
    auth = request.headers.get("Authorization", "")
    if auth:
        return "token:" + hashlib.sha256(auth.encode()).hexdigest()[:64]
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return None


def _digest(request: HttpRequest) -> str:
    """The body's fingerprint: its bytes, or for Open311 its decoded fields (and the query's,
    and any files'), so that two multipart posts of the same fields are the same request."""
    if _open311_format(request) is None:
        return hashlib.sha256(request.body).hexdigest()
    files = {
        name: [
            [f.name or "", hashlib.sha256(b"".join(f.chunks())).hexdigest()]
            for f in request.FILES.getlist(name)
        ]
        for name in request.FILES
    }
    fields = {
        "form": sorted((k, request.POST.getlist(k)) for k in request.POST),
        "query": sorted((k, request.GET.getlist(k)) for k in request.GET),
        "files": sorted(files.items()),
    }
    return hashlib.sha256(json.dumps(fields, ensure_ascii=False).encode()).hexdigest()


def _error(request: HttpRequest, status: int, code: str, message: str) -> HttpResponse:
    fmt = _open311_format(request)
    if fmt is not None:
        return errors_response(fmt, status, [message])
    return JsonResponse(
        {"code": code, "message": message}, status=status, json_dumps_params={"ensure_ascii": False}
    )


def _unreadable(request: HttpRequest, exc: Exception) -> HttpResponse:
    """Django's refusal to read the body (RequestDataTooBig, TooManyFieldsSent, …) as an API
    error rather than its HTML 400 page."""
    error = unreadable(exc)
    code = "payload_too_large" if error.status == 413 else "bad_request"
    return _error(request, error.status, code, error.descriptions[0])


def _replay(row: IdempotentRequest) -> HttpResponse:
    response = HttpResponse(bytes(row.body), status=row.status, content_type=row.content_type)
    response["Idempotent-Replayed"] = "true"
    return response


def _applies(request: HttpRequest) -> bool:
    path = _path(request)
    if request.method != "POST" or path.startswith(CREDENTIAL_PATHS):
        return False
    if path in OPEN311_POSTS:
        return True  # form-encoded or multipart alike
    return path.startswith("/api/") and request.content_type != "multipart/form-data"


class IdempotencyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        key = request.headers.get(HEADER)
        if key is None or not _applies(request):
            return self.get_response(request)
        if _open311_format(request) is not None:
            # Open311 answers in the caller's language (the locale middleware does so only for
            # /api/); the view does the same for its own messages.
            with translation.override(translation.get_language_from_request(request)):
                return self._handle(request, key)
        return self._handle(request, key)

    def _handle(self, request: HttpRequest, key: str) -> HttpResponse:
        key = key.strip()
        if not key or len(key) > MAX_KEY:
            return _error(
                request,
                422,
                "idempotency_key_invalid",
                _("Idempotency-Key 须为 1 到 %(n)s 个字符。") % {"n": MAX_KEY},
            )
        if not key.isprintable():  # a NUL or another control character: the database refuses
            return _error(
                request,
                422,
                "idempotency_key_invalid",
                _("Idempotency-Key 不能包含控制字符（如 U+0000）。"),
            )
        if len(_path(request)) > MAX_PATH:  # no such endpoint: let the URL resolver answer
            return self.get_response(request)
        try:
            digest = _digest(request)
            principal = _principal(request)
        except (SuspiciousOperation, BadRequest) as exc:
            return _unreadable(request, exc)
        if principal is None:  # not signed in: the API answers 401 (Open311: 403), nothing kept
            return self.get_response(request)
        row = self._claim(principal, key, request, digest)
        if isinstance(row, HttpResponse):
            return row
        try:
            response = self.get_response(request)
        except BaseException:
            IdempotentRequest.objects.filter(pk=row.pk).delete()
            raise
        # Server errors, rate-limit and credential refusals are not kept: a retry may succeed.
        if (
            response.status_code >= 500
            or response.status_code in NOT_KEPT
            or getattr(response, "streaming", False)
        ):
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
                    path=_path(request),
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
                request,
                409,
                "idempotency_in_progress",
                _("使用该 Idempotency-Key 的请求仍在处理中，请稍后重试。"),
            )
        if earlier.path != _path(request) or earlier.body_hash != digest:
            return _error(
                request,
                422,
                "idempotency_key_reused",
                _("该 Idempotency-Key 已用于另一个请求（地址或内容不同）；新的请求请换一个键。"),
            )
        if earlier.status is None:
            return _error(
                request,
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
