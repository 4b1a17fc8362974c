"""Domain errors. The web and API layers map them to HTTP in one place each.

Messages are for people: they say what is wrong and what to do, in the active language.
"""

from django.utils.translation import gettext as _


class DomainError(Exception):
    status_code = 400
    code = "error"

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message or self.default_message()

    def default_message(self) -> str:
        return _("操作失败。")


class IllegalTransition(DomainError):
    status_code = 409
    code = "illegal_transition"


class AlreadyReminded(IllegalTransition):
    """The sweep's reminder for this deadline was sent already (by an overlapping sweep)."""

    code = "already_reminded"


class StaleVersion(DomainError):
    status_code = 409
    code = "stale_version"

    def default_message(self) -> str:
        return _("该记录已被他人修改，请刷新")


class NotPermitted(DomainError):
    status_code = 403
    code = "not_permitted"

    def default_message(self) -> str:
        return _("您没有权限执行此操作。")


class NotFound(DomainError):
    status_code = 404
    code = "not_found"

    def default_message(self) -> str:
        return _("未找到该诉求，或您无权查看。")


class InvalidInput(DomainError):
    status_code = 422
    code = "invalid"

    def __init__(self, errors: dict[str, list[str]]) -> None:
        self.errors = errors
        first = next(iter(errors.values()))[0] if errors else _("输入有误。")
        super().__init__(first)


class IdempotencyConflict(DomainError):
    """A client-generated UUID (or idempotency key) already names a different record."""

    status_code = 409
    code = "idempotency_conflict"

    def default_message(self) -> str:
        return _("该客户端编号已用于另一条内容不同的记录，未作任何修改。请为新记录生成新的编号。")
