"""`/api/v1/auth/token`: exchange a username and password for a bearer token, or revoke one."""

from typing import Any

from django.contrib.auth import authenticate
from django.http import HttpRequest
from django.utils import timezone
from ninja import Router, Status

from wenxu.accounts import services as account_services
from wenxu.accounts.models import User
from wenxu.api import schemas as s
from wenxu.api.auth import BearerTokenAuth
from wenxu.api.errors import InvalidCredentials

router = Router(tags=["auth"])


@router.post(
    "/token",
    auth=None,
    response={200: s.TokenOut, 401: s.ErrorOut, 422: s.InvalidOut},
    operation_id="token_issue",
    summary="用用户名和密码换取访问令牌",
)
def token_issue(request: HttpRequest, payload: s.TokenIn) -> dict[str, Any]:
    """The raw token is shown only in this response; send it as `Authorization: Bearer <token>`."""
    user = authenticate(request, username=payload.username, password=payload.password)
    if not isinstance(user, User) or not user.is_active:
        raise InvalidCredentials()
    raw, token = account_services.api_token_issue(user=user, name=payload.name)
    return {"token": raw, "expires_at": timezone.localtime(token.expires_at)}


@router.delete(
    "/token",
    auth=BearerTokenAuth(),
    response={204: None, 401: s.ErrorOut},
    operation_id="token_revoke",
    summary="吊销当前使用的访问令牌",
)
def token_revoke(request: HttpRequest) -> Status[None]:
    account_services.api_token_revoke(token=request.wenxu_api_token)  # type: ignore[attr-defined]
    return Status(204, None)
