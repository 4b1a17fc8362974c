"""Who may call: client API keys, rate limits, the jurisdiction, and the language of errors.

Discovery and services are public (with an `api_key`, a service definition lists the places
that key may report in). Posting needs a key with the `create` action; reading requests needs
`read`: wenxu's requests are residents' own matters, and even masked they should reach only
systems the county chose (docs/api/open311.md). Every keyed call counts against the key's
per-minute limit. The key is read from the `X-Api-Key` header (recommended: query strings end up
in access logs), else from `api_key` in the form body of a POST or the query string (the spec's).

Every answer is the spec's error object, never an HTML page: refusals (`Open311Error`), domain
errors, unreadable requests (400, 413) and, logged, unexpected failures (500).
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps

from django.conf import settings
from django.core.exceptions import BadRequest, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from wenxu.api.open311.params import Open311Error, refuse_nul, text
from wenxu.api.open311.render import errors_response
from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.integrations.services import api_client_authenticate, api_client_throttle
from wenxu.lib import ratelimit
from wenxu.needs.exceptions import DomainError, InvalidInput, NotFound, NotPermitted

logger = logging.getLogger(__name__)

View = Callable[..., HttpResponse]
KEY_HEADER = "X-Api-Key"


def api_key(request: HttpRequest) -> str:
    """The raw key: the `X-Api-Key` header, else `api_key` in a POST's form, else the query."""
    raw = request.headers.get(KEY_HEADER, "").strip()
    if raw:
        return raw
    if request.method == "POST":
        raw = text(request.POST, "api_key")
        if raw:
            return raw
    return text(request.GET, "api_key")


def unreadable(error: Exception) -> Open311Error:
    """A request Django could not read: too large (413), too many fields or otherwise (400)."""
    if isinstance(error, RequestDataTooBig):
        return Open311Error(413, _("请求体过大，请精简后重试。"))
    return Open311Error(400, _("无法读取请求：参数过多或格式不对。"))


def domain_error(error: DomainError) -> Open311Error:
    if isinstance(error, InvalidInput):
        messages = [m for field_messages in error.errors.values() for m in field_messages]
        return Open311Error(400, *(messages or [error.message]))
    if isinstance(error, NotFound):
        return Open311Error(404, error.message)
    if isinstance(error, NotPermitted):
        return Open311Error(403, error.message)
    return Open311Error(409, error.message)


def _arguments(request: HttpRequest) -> str:
    return text(request.POST, "jurisdiction_id") or text(request.GET, "jurisdiction_id")


def check_jurisdiction(request: HttpRequest) -> None:
    """With WENXU_OPEN311_JURISDICTION set, another `jurisdiction_id` is not found (404)."""
    ours = settings.WENXU_OPEN311_JURISDICTION
    given = _arguments(request)
    if ours and given and given != ours:
        raise Open311Error(
            404,
            _("未找到 jurisdiction_id=%(given)s；本接口服务的是 %(ours)s。")
            % {"given": given, "ours": ours},
        )


def authenticate(request: HttpRequest, action: str | None) -> ApiClient:
    """The key's client, counted against its rate limit; 403 without a usable key or when the
    key may not take `action` (None: any action will do), 429 over the limit."""
    raw = api_key(request)
    if not raw:
        raise Open311Error(403, _("缺少 api_key：请向系统管理员申请接口密钥。"))
    client = api_client_authenticate(raw=raw)
    if client is None:
        raise Open311Error(403, _("api_key 无效、已吊销或已过期。"))
    if not api_client_throttle(client=client):
        raise Open311Error(
            429,
            _("请求过于频繁：该接口密钥每分钟最多 %(n)d 次请求，请稍后再试。")
            % {"n": client.rate_limit},
        )
    if action is not None and not client.may(action):
        label = ClientAction(action).label
        raise Open311Error(403, _("该接口密钥无权执行“%(action)s”。") % {"action": label})
    return client


def optional_client(request: HttpRequest) -> ApiClient | None:
    return authenticate(request, None) if api_key(request) else None


@contextmanager
def request_language(request: HttpRequest) -> Iterator[None]:
    """Messages in the caller's language: Accept-Language (or the language cookie) decides, as
    in the v1 API; Chinese when neither names a language wenxu speaks."""
    with translation.override(translation.get_language_from_request(request)):
        yield


def open311_view(*methods: str) -> Callable[[View], View]:
    """A GeoReport endpoint: `fmt` from the URL, only `methods`, errors as the spec's object."""

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        def wrapper(
            request: HttpRequest, *args: object, fmt: str, **kwargs: object
        ) -> HttpResponse:
            allowed = [*methods, "HEAD"] if "GET" in methods else list(methods)
            with request_language(request):
                try:
                    try:
                        if request.method not in allowed:
                            raise Open311Error(
                                405,
                                _("此地址不支持 %(method)s 请求。") % {"method": request.method},
                            )
                        refuse_nul(request.path, request.GET)
                        if request.method == "POST":
                            refuse_nul(request.POST)
                        check_jurisdiction(request)
                        return view(request, *args, fmt=fmt, **kwargs)
                    except (SuspiciousOperation, BadRequest) as exc:
                        raise unreadable(exc) from exc
                    except DomainError as exc:
                        raise domain_error(exc) from exc
                    except Http404 as exc:
                        raise Open311Error(404, _("未找到。")) from exc
                except Open311Error as error:
                    response = errors_response(fmt, error.status, error.descriptions)
                    if error.status == 429:
                        response["Retry-After"] = str(ratelimit.retry_after(window=60))
                    if error.status == 405:
                        response["Allow"] = ", ".join(allowed)
                    return response
                except Exception:
                    logger.exception("Open311 %s %s failed", request.method, request.path)
                    return errors_response(
                        fmt, 500, [_("服务器内部错误，请稍后重试；如持续出现，请联系系统管理员。")]
                    )

        return wrapper

    return decorate
