"""Locking out repeated failed logins (issue #9; django-axes; ADR 0017).

`WENXU_LOGIN_FAILURE_LIMIT` (5) failures of one username from one address, each within
`WENXU_LOGIN_LOCKOUT_MINUTES` (15) of the one before, lock that (username, address) pair for
`WENXU_LOGIN_LOCKOUT_MINUTES` from the last failure. Wrong passwords (login page, admin login,
`POST /api/v1/auth/token`, the old password on the change page) and wrong two-factor codes count
alike. Attempts while locked are refused without checking the password and do not extend the
lock. The address is the client's (wenxu.lib.clientip: behind `WENXU_TRUSTED_PROXIES`, from
X-Forwarded-For); an IPv6 client counts by its /64, which one subscriber usually holds whole.

Axes finds the lockout; this module answers it: the login page with a Chinese message saying
when to try again, or for the API the API's error body with 429 and `Retry-After`. Unlocking:
the admin's "解除登录锁定" action on users, axes' "Access attempts" list in the admin, or
`wenxu axes_reset_username NAME`.
"""

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Max, Sum
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import ngettext
from django_otp.plugins.otp_totp.models import TOTPDevice

from wenxu.accounts.models import User
from wenxu.lib import clientip

IPV6_PREFIX = 64


def client_ip(request: HttpRequest) -> str | None:
    """The address a lockout is keyed by: the client's (X-Forwarded-For is believed only from
    `WENXU_TRUSTED_PROXIES`), an IPv6 one as its /64 network (one subscriber's, so that
    walking through its addresses does not dodge the lock)."""
    address = clientip.client_address(request)
    if address is None:
        return None
    if address.version == 6 and getattr(address, "ipv4_mapped", None) is None:
        network = ipaddress.ip_network(f"{address}/{IPV6_PREFIX}", strict=False)
        return str(network.network_address)
    return str(address)


def cool_off() -> timedelta:
    return timedelta(minutes=settings.WENXU_LOGIN_LOCKOUT_MINUTES)


def locked_until(*, username: str, ip_address: str | None) -> datetime | None:
    """When the lock of (`username`, `ip_address`) ends, or None when the pair is not locked."""
    now = timezone.now()
    attempts = AccessAttempt.objects.filter(
        username=username, ip_address=ip_address, attempt_time__gte=now - cool_off()
    )
    summary = attempts.aggregate(last=Max("attempt_time"), failures=Sum("failures_since_start"))
    if summary["last"] is None or (summary["failures"] or 0) < settings.WENXU_LOGIN_FAILURE_LIMIT:
        return None
    until: datetime = summary["last"] + cool_off()
    return until if until > now else None


def is_locked(request: HttpRequest, username: str) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": username})


def count_failure(request: HttpRequest, username: str) -> bool:
    """Count one failure of `username` from this request's address (a wrong two-factor code)
    towards the lockout; True when it locked the pair."""
    AxesProxyHandler.user_login_failed(
        sender=User, credentials={"username": username}, request=request
    )
    return bool(getattr(request, "axes_locked_out", False))


def forget_failures(request: HttpRequest, username: str) -> None:
    """A complete login (password, and the code when one is asked) clears the pair's
    failures: the count is of consecutive failures."""
    reset(ip=client_ip(request), username=username)


def unlock(*, username: str) -> int:
    """Lift every lock of `username`, from any address, and of their code step (the wrong-code
    count of their devices); the number of records removed or reset."""
    removed: int = reset(username=username)
    devices: int = TOTPDevice.objects.filter(
        user__username=username, throttling_failure_count__gt=0
    ).update(throttling_failure_count=0, throttling_failure_timestamp=None)
    return removed + devices


def _username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    if credentials and credentials.get("username"):
        return str(credentials["username"])
    return str(request.POST.get("username", ""))[:150]


def retry_message(until: datetime | None) -> tuple[str, int]:
    """The sentence telling when to try again, and the seconds until then."""
    now = timezone.now()
    if until is None or until <= now:
        until = now + cool_off()
    seconds = max(1, math.ceil((until - now).total_seconds()))
    minutes = max(1, math.ceil(seconds / 60))
    at = timezone.localtime(until).strftime("%H:%M")
    message = ngettext(
        "登录失败次数过多，账号已暂时锁定。请在 %(minutes)d 分钟后（%(at)s 以后）再试；"
        "如需立即解锁，请联系系统管理员。",
        "登录失败次数过多，账号已暂时锁定。请在 %(minutes)d 分钟后（%(at)s 以后）再试；"
        "如需立即解锁，请联系系统管理员。",
        minutes,
    ) % {"minutes": minutes, "at": at}
    return message, seconds


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """`AXES_LOCKOUT_CALLABLE`: what a locked-out login attempt gets."""
    if original_response is not None and original_response.status_code == 429:
        return original_response  # the view has answered the lockout already (API, codes)
    username = _username(request, credentials)
    until = locked_until(username=username, ip_address=client_ip(request))
    return locked_response(request, username, until)


def locked_response(request: HttpRequest, username: str, until: datetime | None) -> HttpResponse:
    """The lockout answer (429) saying when to try again: the API's error body, or the login
    page with the Chinese sentence."""
    message, seconds = retry_message(until)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(
            {"code": "locked_out", "message": message}, status=429
        )
    else:
        form = AuthenticationForm(request, initial={"username": username})
        context = {"form": form, "lockout_message": message, "next": request.POST.get("next", "")}
        response = render(request, "accounts/login.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def lockout_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The username failures count under: as typed, without NUL, cut to the 150 characters a
    username can have (Django's login forms pass any length; axes' table holds 255, and
    PostgreSQL refuses a longer value with a 500)."""
    value = (credentials or {}).get("username")
    if value is None:
        value = request.POST.get("username", "")
    return str(value).replace("\x00", "")[:150]


def api_locked_message(request: HttpRequest, username: str) -> tuple[str, int]:
    """The lockout sentence and the seconds to wait, for the API's 429."""
    return retry_message(locked_until(username=username, ip_address=client_ip(request)))
