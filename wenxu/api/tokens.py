"""`/api/v1/auth/token`: exchange a username and password for a bearer token, or revoke one.

The same rules as the login page (issue #9; ADR 0017): repeated failures lock the username
from the caller's address (429 with `Retry-After`); a user who signs in with a two-factor code
sends it as `otp`; a user whose password an administrator set must change it on the web first.
"""

from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Router, Status

from wenxu.accounts import lockout, security
from wenxu.accounts import services as account_services
from wenxu.accounts.models import User
from wenxu.api import schemas as s
from wenxu.api.auth import BearerTokenAuth
from wenxu.api.errors import (
    InvalidCredentials,
    InvalidOtp,
    LockedOut,
    OtpEnrolmentRequired,
    OtpRequired,
    PasswordChangeRequired,
)

router = Router(tags=["auth"])


class TokenIn(s.TokenIn):
    otp: str = Field(
        "",
        max_length=12,
        description=(
            "动态口令：已开启两步验证的账号（WENXU_SECURITY_LEVEL=3 时的系统管理员和领导，"
            "以及自愿绑定的账号）须填写身份验证器应用中当前显示的 6 位数字；其他账号不填"
        ),
    )


def _locked_out(request: HttpRequest, username: str) -> LockedOut:
    message, seconds = lockout.api_locked_message(request, username)
    return LockedOut(message, seconds)


@router.post(
    "/token",
    auth=None,
    response={
        200: s.TokenOut,
        401: s.ErrorOut,
        403: s.ErrorOut,
        422: s.InvalidOut,
        429: s.ErrorOut,
    },
    operation_id="token_issue",
    summary="用用户名和密码换取访问令牌",
)
def token_issue(request: HttpRequest, payload: TokenIn) -> dict[str, Any]:
    """The raw token is shown only in this response; send it as `Authorization: Bearer <token>`.

    401 `invalid_credentials`: wrong username or password. 401 `otp_required` / `otp_invalid`:
    the account uses a two-factor code; send the current one as `otp`. 403
    `otp_enrolment_required`: the account must use a code but has not bound an app yet (do it
    on the web). 403 `password_change_required`: an administrator set the password; change it
    on the web first. 429 `locked_out`: too many failures (`WENXU_LOGIN_FAILURE_LIMIT`) of this
    username from this address; wait for `Retry-After` seconds. Wrong passwords and wrong codes
    count alike.
    """
    user = authenticate(request, username=payload.username, password=payload.password)
    if getattr(request, "axes_locked_out", False):
        raise _locked_out(request, payload.username)
    if not isinstance(user, User) or not user.is_active:
        raise InvalidCredentials()
    if security.otp_required(user):
        if security.confirmed_device(user) is None:
            raise OtpEnrolmentRequired()
        if not payload.otp.strip():
            raise OtpRequired()
        code_locked = security.code_locked_until(user)
        if code_locked is not None:  # too many wrong codes, from any address: 429, not 401
            raise LockedOut(*lockout.retry_message(code_locked))
        if security.otp_check(request=request, user=user, token=payload.otp) is None:
            if getattr(request, "axes_locked_out", False):
                raise _locked_out(request, payload.username)
            raise InvalidOtp()
    if security.must_change_password(user):
        raise PasswordChangeRequired()
    lockout.forget_failures(request, user.get_username())
    raw, token = account_services.api_token_issue(user=user, name=payload.name)
    return {"token": raw, "expires_at": timezone.localtime(token.expires_at)}


@router.delete(
    "/token",
    # A user who must change the password may still revoke the token.
    auth=BearerTokenAuth(refuse_forced_password_change=False),
    response={204: None, 401: s.ErrorOut},
    operation_id="token_revoke",
    summary="吊销当前使用的访问令牌",
)
def token_revoke(request: HttpRequest) -> Status[None]:
    account_services.api_token_revoke(token=request.wenxu_api_token)  # type: ignore[attr-defined]
    return Status(204, None)
