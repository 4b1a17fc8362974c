"""Signing in (issue #9; ADR 0017): the password, then the steps a login may owe (a two-factor
code, or its enrolment; a new password), each on its own page, in wenxu.accounts.security's
order. LoginStepsMiddleware keeps a session that owes a step on that step's page.
"""

from datetime import datetime
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.password_validation import password_validators_help_texts
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods

from wenxu.accounts import lockout, security
from wenxu.accounts.forms import OtpForm, PasswordForm
from wenxu.accounts.middleware import IDLE_REASON, STEP_URLS
from wenxu.accounts.models import User


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _safe_next(request: HttpRequest) -> str:
    """The `next` of the request when it stays on this site, else the home page."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _continue(request: HttpRequest, user: User, next_url: str) -> HttpResponse:
    """On to the next step the login owes, or to `next_url` when it owes nothing more."""
    step = None if security.login_done(request) else security.pending_step(request, user)
    if step is None:
        if not security.login_done(request):
            security.mark_login_done(request, user)
        return HttpResponseRedirect(next_url)
    return HttpResponseRedirect(f"{reverse(STEP_URLS[step])}?{urlencode({'next': next_url})}")


def _locked_until(request: HttpRequest, user: User) -> datetime | None:
    """When this user may try again from here (None: not locked)."""
    ends = [
        lockout.locked_until(username=user.get_username(), ip_address=lockout.client_ip(request)),
        security.code_locked_until(user),
    ]
    return max((end for end in ends if end is not None), default=None)


def _locked(request: HttpRequest, user: User) -> HttpResponse:
    """Too many wrong codes or passwords: the session ends, and the login page says when to
    retry."""
    username = user.get_username()
    until = _locked_until(request, user)
    logout(request)
    return lockout.locked_response(request, username, until)


def _code_step_locked(request: HttpRequest, user: User) -> bool:
    return (
        lockout.is_locked(request, user.get_username())
        or security.code_locked_until(user) is not None
    )


WRONG_CODE = gettext_lazy("动态口令不正确或已过期，请输入手机应用中当前显示的 6 位数字。")


class SignInView(LoginView):
    """Django's login page, with the idle-timeout notice and the login's further steps."""

    template_name = "accounts/login.html"

    def get_context_data(self, **kwargs: object) -> dict[str, object]:
        context = super().get_context_data(**kwargs)
        if self.request.GET.get("reason") == IDLE_REASON:
            context["idle_message"] = _("长时间未操作，已自动退出，请重新登录")
        return context

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        user = form.get_user()
        assert isinstance(user, User)
        auth_login(self.request, user)
        return _continue(self.request, user, self.get_success_url())


@never_cache
@login_required
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def otp_verify(request: HttpRequest) -> HttpResponse:
    """The second step: a code from the user's authenticator app."""
    user = _user(request)
    next_url = _safe_next(request)
    if security.pending_step(request, user) != security.Step.OTP_VERIFY:
        return _continue(request, user, next_url)
    form = OtpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if _code_step_locked(request, user):
            return _locked(request, user)
        if form.is_valid():
            device = security.otp_check(request=request, user=user, token=form.cleaned_data["code"])
            if device is not None:
                security.otp_session_verified(request, device)
                return _continue(request, _user(request), next_url)
            if _code_step_locked(request, user):
                return _locked(request, user)
            form.add_error("code", str(WRONG_CODE))
        status = 422
    return render(
        request, "accounts/otp_verify.html", {"form": form, "next": next_url}, status=status
    )


@never_cache
@login_required
@sensitive_post_parameters("code")
@require_http_methods(["GET", "POST"])
def otp_setup(request: HttpRequest) -> HttpResponse:
    """Binding an authenticator app: a QR code (and the key, to type in), confirmed by one
    code from the app. Required at level 3 for admins and leaders; open to everyone."""
    user = _user(request)
    next_url = _safe_next(request)
    if security.confirmed_device(user) is not None:
        if security.pending_step(request, user) == security.Step.OTP_VERIFY:
            return _continue(request, user, next_url)
        return render(request, "accounts/otp_setup.html", {"enrolled": True, "next": next_url})
    device = security.otp_enrol_start(user=user)
    form = OtpForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if _code_step_locked(request, user):
            return _locked(request, user)
        if form.is_valid():
            confirmed = security.otp_enrol_confirm(
                request=request, user=user, token=form.cleaned_data["code"]
            )
            if confirmed is not None:
                security.otp_session_verified(request, confirmed)
                messages.success(
                    request, _("已绑定动态口令。以后每次登录，输入密码后还需输入 6 位动态口令。")
                )
                return _continue(request, _user(request), next_url)
            if _code_step_locked(request, user):
                return _locked(request, user)
            form.add_error("code", str(WRONG_CODE))
        status = 422
    context = {
        "form": form,
        "next": next_url,
        "mandatory": security.otp_mandatory(user),
        "qr_svg": security.otp_qr_svg(device, title=_("用身份验证器应用扫描此二维码")),
        "secret": security.otp_secret(device),
    }
    return render(request, "accounts/otp_setup.html", context, status=status)


@never_cache
@login_required
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    """A new password, chosen by the user (required after an administrator set one)."""
    user = _user(request)
    next_url = _safe_next(request)
    form = PasswordForm(user, request.POST or None)
    status = 200
    if request.method == "POST":
        if lockout.is_locked(request, user.get_username()):
            return _locked(request, user)
        if form.is_valid():
            security.password_change(
                request=request, user=user, password=form.cleaned_data["new_password1"]
            )
            update_session_auth_hash(request, user)
            messages.success(request, _("密码已修改。其他设备上的登录和原有的访问令牌已失效。"))
            return _continue(request, _user(request), next_url)
        wrong_old = form.has_error("old_password", "password_incorrect")
        if wrong_old and security.old_password_failed(request=request, user=user):
            return _locked(request, user)
        status = 422
    context = {
        "form": form,
        "next": next_url,
        "forced": security.must_change_password(user),
        "rules": password_validators_help_texts(),
    }
    return render(request, "accounts/password_change.html", context, status=status)
