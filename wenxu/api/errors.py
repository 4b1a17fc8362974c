"""Every error the API answers, mapped in this one place.

Shape: `{"code": …, "message": …}`; 422 adds `"errors": {field: [messages]}`. Messages follow
the request's language (zh-hans by default, English with `Accept-Language: en`).

| exception                                   | status | code                       |
|---------------------------------------------|--------|----------------------------|
| IllegalTransition                           | 409    | illegal_transition         |
| StaleVersion                                | 409    | stale_version              |
| NotPermitted                                | 403    | not_permitted              |
| NotFound (need out of scope or unknown)     | 404    | not_found                  |
| InvalidInput, Django ValidationError        | 422    | invalid                    |
| ninja ValidationError, unreadable JSON body | 422    | invalid                    |
| text with a NUL character (body, query)     | 422    | invalid                    |
| no or bad credentials                       | 401    | unauthenticated            |
| wrong username or password (`/auth/token`)  | 401    | invalid_credentials        |
| two-factor code missing / wrong             | 401    | otp_required / otp_invalid |
| two-factor code needed but not enrolled     | 403    | otp_enrolment_required     |
| password set by an admin not changed yet    | 403    | password_change_required   |
| too many failed logins (with Retry-After)   | 429    | locked_out                 |
| session without CSRF token                  | 403    | csrf_failed                |
"""

import json
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.parser import Parser

from wenxu.accounts.security import password_change_message
from wenxu.accounts.services import TokenRefusal
from wenxu.lib.text import join_list
from wenxu.needs.exceptions import DomainError, InvalidInput

if TYPE_CHECKING:
    from ninja import NinjaAPI


class CsrfFailed(HttpError):
    def __init__(self) -> None:
        super().__init__(403, "CSRF check failed")


class InvalidCredentials(Exception):
    """Wrong username or password at `POST /auth/token`."""


class LoginRefused(Exception):
    """The password was right but the login owes a step the API cannot take (issue #9)."""

    status = 401
    code = "unauthenticated"

    def message(self) -> str:
        return _("请先登录。")


class OtpRequired(LoginRefused):
    code = "otp_required"

    def message(self) -> str:
        return _("此账号已开启两步验证：请在请求中加上 otp 字段（身份验证器应用中的 6 位数字）。")


class InvalidOtp(LoginRefused):
    code = "otp_invalid"

    def message(self) -> str:
        return _("动态口令不正确或已过期，请输入身份验证器应用中当前显示的 6 位数字。")


class OtpEnrolmentRequired(LoginRefused):
    status = 403
    code = "otp_enrolment_required"

    def message(self) -> str:
        return _(
            "此账号须开启两步验证：请先在网页上登录并绑定动态口令（/accounts/otp/setup/），"
            "再获取访问令牌。"
        )


class PasswordChangeRequired(LoginRefused):
    status = 403
    code = "password_change_required"

    def message(self) -> str:
        return password_change_message()


class LockedOut(Exception):
    """Too many failed logins of this username from this address (django-axes)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after = retry_after


class MalformedBody(ValueError):
    """The request body is not JSON."""


NUL = "\x00"


def _nul_fields(value: Any, path: tuple[str, ...] = ()) -> Iterator[str]:
    """The dotted names of the strings in `value` that hold a NUL character (`needs.0.title`)."""
    if isinstance(value, str):
        if NUL in value:
            yield ".".join(path) or "body"
    elif isinstance(value, dict):
        for key, item in value.items():
            # A key with a NUL is no field name the API knows: the body's fault as a whole.
            yield from _nul_fields(item, (*path, str(key)) if NUL not in str(key) else ())
    elif isinstance(value, list):
        # Objects in a list are named by their place (`needs.1.title`), plain values by the
        # list (`status`), as `readable_errors` names them.
        for index, item in enumerate(value):
            yield from _nul_fields(item, (*path, str(index)) if isinstance(item, dict) else path)


def refuse_nul(data: Any) -> None:
    """No text the API stores or searches may hold a NUL character: PostgreSQL cannot keep
    one (it answered 500), and no person types one. 422 on each field that has one."""
    fields = list(dict.fromkeys(_nul_fields(data)))
    if fields:
        message = _("不能包含空字符（U+0000），请删除后重试。")
        raise InvalidInput({field: [message] for field in fields})


class JsonParser(Parser):
    """Ninja's parser, but a body that is not JSON raises `MalformedBody` (mapped to 422), and
    text with a NUL character, in the body, the query or a form, `InvalidInput` (422).
    (Django already drops unprintable characters from the names of uploaded files.)"""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        try:
            data: dict[str, Any] = json.loads(request.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedBody(str(exc)) from exc
        refuse_nul(data)
        return data

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        refuse_nul({key: data.getlist(key) for key in data})
        return super().parse_querydict(data, list_fields, request)


def _error(
    api: "NinjaAPI",
    request: HttpRequest,
    status: int,
    code: str,
    message: str,
    errors: dict[str, list[str]] | None = None,
) -> HttpResponse:
    body: dict[str, Any] = {"code": code, "message": message}
    if errors is not None:
        body["errors"] = errors
    return api.create_response(request, body, status=status)


def _invalid(
    api: "NinjaAPI", request: HttpRequest, errors: dict[str, list[str]], message: str = ""
) -> HttpResponse:
    if not message:
        message = _("提交的内容有误，请检查：%(fields)s。") % {"fields": join_list(errors)}
    return _error(api, request, 422, "invalid", message, errors)


# --------------------------------------------------------------------------- pydantic → people


def _field_name(loc: Iterable[Any]) -> str:
    """("body", "payload", "requester", "phone") → "requester.phone"; ("query", "q") → "q"."""
    parts = list(loc)
    source = parts.pop(0) if parts else ""
    if source == "body" and parts:
        parts.pop(0)  # the endpoint's parameter name, e.g. "payload"
    names = [str(part) for part in parts if not isinstance(part, int)]
    return ".".join(names) or "body"


def _expected(ctx: dict[str, Any]) -> str:
    return str(ctx.get("expected", "")).replace(" or ", ", ").replace("'", "")


def _readable(error: dict[str, Any]) -> str:
    """A person's message for one pydantic error, instead of pydantic's English."""
    kind = error.get("type", "")
    ctx: dict[str, Any] = error.get("ctx") or {}
    if kind == "missing":
        return _("此项为必填项。")
    if kind in {"int_parsing", "int_type", "int_from_float"}:
        return _("请填写整数。")
    if kind in {"float_parsing", "float_type", "decimal_parsing", "decimal_type"}:
        return _("请填写数字。")
    if kind in {"bool_parsing", "bool_type"}:
        return _("请填写 true 或 false。")
    if kind in {"string_type", "string_unicode"}:
        return _("请填写文本。")
    if kind.startswith("date_") or kind.startswith("datetime_"):
        return _("日期格式应为 YYYY-MM-DD。")
    if kind in {"enum", "literal_error"}:
        return _("取值无效，可选值：%(expected)s。") % {"expected": _expected(ctx)}
    if kind == "string_too_long":
        return _("最多 %(max)s 个字。") % {"max": ctx.get("max_length")}
    if kind == "string_too_short":
        return _("至少 %(min)s 个字。") % {"min": ctx.get("min_length")}
    if kind == "too_long":
        return _("最多 %(max)s 项。") % {"max": ctx.get("max_length")}
    if kind == "greater_than_equal":
        return _("不能小于 %(limit)s。") % {"limit": ctx.get("ge")}
    if kind == "greater_than":
        return _("须大于 %(limit)s。") % {"limit": ctx.get("gt")}
    if kind == "less_than_equal":
        return _("不能大于 %(limit)s。") % {"limit": ctx.get("le")}
    if kind == "less_than":
        return _("须小于 %(limit)s。") % {"limit": ctx.get("lt")}
    if kind in {"list_type", "tuple_type", "set_type"}:
        return _("应为列表。")
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return _("应为 JSON 对象。")
    if kind == "extra_forbidden":
        return _("不支持此字段，请检查字段名。")
    return _("格式不正确。")


def readable_errors(raw: Iterable[dict[str, Any]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in raw:
        field = _field_name(error.get("loc", ()))
        message = _readable(error)
        if field == "body" and error.get("type") == "missing":
            message = _("请求内容不能为空，请提交 JSON 对象。")
        messages = errors.setdefault(field, [])
        if message not in messages:
            messages.append(message)
    return errors


# --------------------------------------------------------------------------- handlers


def install_exception_handlers(api: "NinjaAPI") -> None:
    @api.exception_handler(DomainError)
    def on_domain_error(request: HttpRequest, exc: DomainError) -> HttpResponse:
        if isinstance(exc, InvalidInput):
            return _invalid(api, request, exc.errors, exc.message)
        return _error(api, request, exc.status_code, exc.code, exc.message)

    @api.exception_handler(DjangoValidationError)
    def on_django_validation_error(
        request: HttpRequest, exc: DjangoValidationError
    ) -> HttpResponse:
        if hasattr(exc, "error_dict"):
            errors = {
                ("body" if field == NON_FIELD_ERRORS else field): messages
                for field, messages in exc.message_dict.items()
            }
        else:
            errors = {"body": exc.messages}
        return _invalid(api, request, errors)

    @api.exception_handler(NinjaValidationError)
    def on_validation_error(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
        return _invalid(api, request, readable_errors(exc.errors))

    @api.exception_handler(AuthenticationError)
    def on_authentication_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        refusal = getattr(request, "wenxu_bad_token", None)
        if refusal == TokenRefusal.PASSWORD_CHANGED:
            message = _("令牌已失效（密码已更改），请重新获取。")
        elif refusal is not None:
            message = _("访问令牌无效、已过期或已吊销，请重新获取令牌。")
        else:
            message = _("请先登录，或在 Authorization 头中提供访问令牌（Bearer）。")
        response = _error(api, request, 401, "unauthenticated", message)
        response["WWW-Authenticate"] = 'Bearer realm="wenxu"'
        return response

    @api.exception_handler(InvalidCredentials)
    def on_invalid_credentials(request: HttpRequest, exc: InvalidCredentials) -> HttpResponse:
        return _error(api, request, 401, "invalid_credentials", _("用户名或密码错误。"))

    @api.exception_handler(LoginRefused)
    def on_login_refused(request: HttpRequest, exc: LoginRefused) -> HttpResponse:
        response = _error(api, request, exc.status, exc.code, exc.message())
        if exc.status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="wenxu"'
        return response

    @api.exception_handler(LockedOut)
    def on_locked_out(request: HttpRequest, exc: LockedOut) -> HttpResponse:
        response = _error(api, request, 429, "locked_out", exc.message)
        response["Retry-After"] = str(exc.retry_after)
        return response

    @api.exception_handler(HttpError)
    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        if isinstance(exc.__cause__, MalformedBody):
            return _invalid(api, request, {"body": [_("请求内容不是有效的 JSON。")]})
        if isinstance(exc.__cause__, InvalidInput):  # raised while the body was parsed
            return _invalid(api, request, exc.__cause__.errors, exc.__cause__.message)
        if isinstance(exc, CsrfFailed):
            message = _("CSRF 校验失败：请刷新页面后重试，或改用访问令牌。")
            return _error(api, request, 403, "csrf_failed", message)
        return _error(api, request, exc.status_code, "http_error", str(exc))

    @api.exception_handler(Http404)
    def on_404(request: HttpRequest, exc: Http404) -> HttpResponse:
        return _error(api, request, 404, "not_found", _("未找到。"))
