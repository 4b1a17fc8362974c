"""Session rules of issue #9 (ADR 0017): the idle timeout, and the login steps a session owes.

`IdleTimeoutMiddleware` signs a session out after `WENXU_SESSION_IDLE_MINUTES` without a
request (pages, htmx and API calls made with the session all count); the login page then says
why. `LoginStepsMiddleware` keeps a signed-in session that still owes a step (the two-factor
code, or a new password: wenxu.accounts.security) on that step's page until it is done. Both
leave bearer-token API calls alone (they have no session), except that a token of a user who
must change a password someone else chose is answered 403 (on the v1 API by its authentication,
wenxu.api.auth, which loads the token's user anyway).
"""

from collections.abc import Callable
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import Resolver404, resolve, reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts import security
from wenxu.accounts.models import User

LAST_SEEN = security.LAST_SEEN
# Last activity is written at most this often, so that not every request writes the session.
TOUCH_SECONDS = 60
IDLE_REASON = "idle"
API_PREFIXES = ("/api/", "/open311/")
# Its bearer tokens are refused by the API's own authentication (wenxu.api.auth.BearerTokenAuth),
# from the user its token lookup loads: a check here would read the token a second time.
V1_API_PREFIX = "/api/v1/"


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith(API_PREFIXES)


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _same_origin_path(request: HttpRequest, url: str) -> str | None:
    """The path (and query) of `url` when it is a page of this site, else None."""
    host = request.get_host()
    for scheme in ("http://", "https://"):
        if url.startswith(f"{scheme}{host}/"):
            return url[len(scheme) + len(host) :]
    return None


def _next_path(request: HttpRequest) -> str:
    """Where to come back to: the page itself for a GET; for htmx the page it was sent from;
    for a form sent with POST the page that held the form (its Referer, when it is ours),
    since the POST's own URL may answer nothing to a GET. Else the home page."""
    if request.method == "GET" and not _is_htmx(request):
        return request.get_full_path()
    if _is_htmx(request):
        source = request.headers.get("HX-Current-URL", "")
    else:
        source = request.headers.get("Referer", "")
    back = _same_origin_path(request, source)
    if back is not None and not urlsplit(back).path.startswith(reverse("logout")):
        return back
    return reverse(settings.LOGIN_REDIRECT_URL)


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    """A redirect the browser follows: htmx swaps nothing and loads `url` as a page."""
    if _is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def _api_error(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


class IdleTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.user.is_authenticated:
            now = int(timezone.now().timestamp())
            last = request.session.get(LAST_SEEN)
            if isinstance(last, int) and now - last > settings.WENXU_SESSION_IDLE_MINUTES * 60:
                if request.path == reverse("logout"):
                    logout(request)  # signing out anyway: the logout view answers as usual
                    return self.get_response(request)
                return self._signed_out(request)
            if not isinstance(last, int) or now - last >= TOUCH_SECONDS:
                request.session[LAST_SEEN] = now
        return self.get_response(request)

    def _signed_out(self, request: HttpRequest) -> HttpResponse:
        next_path = _next_path(request)
        logout(request)
        if _is_api(request):
            message = _("长时间未操作，已自动退出，请重新登录。")
            response = _api_error(401, "unauthenticated", message)
            response["WWW-Authenticate"] = 'Bearer realm="wenxu"'
            return response
        query = urlencode({"reason": IDLE_REASON, "next": next_path})
        return _redirect(request, f"{reverse('login')}?{query}")


STEP_URLS = {
    security.Step.OTP_ENROL: "account_otp_setup",
    security.Step.OTP_VERIFY: "account_otp",
    security.Step.PASSWORD_CHANGE: "account_password",
}
ALWAYS_OPEN = frozenset({"login", "logout", "set_language"})
# Public pages and files (no sign-in needed): a half-done login must not turn them into the step
# page, or the offline worker's registration and the residents' pages would break.
PUBLIC_URLS = frozenset({"visits:service_worker", "visits:manifest", "healthz"})
PUBLIC_NAMESPACES = frozenset({"public"})


class LoginStepsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if isinstance(user, User):
            refusal = self._session_step(request, user)
        elif _is_api(request):
            refusal = self._bearer_refusal(request)
        else:
            refusal = None
        return refusal or self.get_response(request)

    def _session_step(self, request: HttpRequest, user: User) -> HttpResponse | None:
        if security.login_done(request):
            return None
        step = security.pending_step(request, user)
        if step is None:
            security.mark_login_done(request, user)
            return None
        if request.path.startswith(settings.STATIC_URL or "/static/"):
            return None
        try:
            match = resolve(request.path_info)
        except Resolver404:
            url_name, view_name, namespace = None, "", ""
        else:
            url_name, view_name, namespace = match.url_name, match.view_name, match.namespace
        if url_name in ALWAYS_OPEN or url_name == STEP_URLS[step]:
            return None
        if view_name in PUBLIC_URLS or namespace in PUBLIC_NAMESPACES:
            return None
        if _is_api(request):
            if step == security.Step.PASSWORD_CHANGE:
                return _api_error(
                    403, "password_change_required", security.password_change_message()
                )
            return _api_error(401, "login_incomplete", _("请先在网页上完成登录（输入动态口令）。"))
        query = urlencode({"next": _next_path(request)})
        return _redirect(request, f"{reverse(STEP_URLS[step])}?{query}")

    def _bearer_refusal(self, request: HttpRequest) -> HttpResponse | None:
        scheme, _sep, raw = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or request.path.startswith(V1_API_PREFIX):
            return None
        if security.bearer_must_change_password(raw.strip()):
            return _api_error(403, "password_change_required", security.password_change_message())
        return None
