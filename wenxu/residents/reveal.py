"""Revealing a requester's personal data to a permitted viewer, and the trace it leaves (issue #9).

Everything wenxu shows is masked (`wenxu.lib.masking`) unless the viewer holds
`residents.reveal_personal_data` (granted in the admin to users or groups; superusers hold it).
`may_reveal_personal_data` is the one place that asks. The permission never widens what a user
sees: a need out of scope stays 404, and a confidential (保密) requester, or one whose need
criticises the viewer's own unit, is not revealed to someone who sees the need only as staff of a
unit (`Viewer.identity_hidden`); area-side roles (officer, dispatcher, leader or admin over the
need's area) and the officer who recorded the need may.

Every reveal writes an entry to the security log (`audit_record(action=REVEAL, …)`) with the
reason and the fields shown, never the values; nothing revealed goes into URLs, sessions,
messages or logs.
"""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from wenxu.accounts.models import AREA_ROLES, User
from wenxu.accounts.selectors import scopes_for_user
from wenxu.audit import actions
from wenxu.audit.services import audit_record
from wenxu.needs.exceptions import InvalidInput, NotFound, NotPermitted
from wenxu.needs.models import Need
from wenxu.needs.selectors import need_queryset_for_user, requester_withheld
from wenxu.residents.models import Requester

PERMISSION = "residents.reveal_personal_data"
REASON_MIN = 2
REASON_MAX = 200
# The requester's fields a reveal can show, in the order a page shows them.
FIELDS = ("name", "phone", "id_number", "address")

# A reason is kept in the security log: it must not carry what it reveals. After NFKC and
# without separators between digits, a mainland mobile or an 18-character ID is refused.
_MOBILE = re.compile(r"(?<!\d)(?:(?:00)?86)?1[3-9]\d{9}(?!\d)")
_ID_NUMBER = re.compile(r"(?<![0-9])\d{17}[0-9X](?![0-9])", re.IGNORECASE)
_DIGIT_SEPARATORS = re.compile(r"(?<=\d)[\s\-.·—_/]+(?=\d)")


def may_reveal_personal_data(user: User) -> bool:
    """Whether `user` may see requesters' names, phones, ID numbers and addresses unmasked.

    The one place that decides: the `residents.reveal_personal_data` permission (directly or
    through a group; superusers hold every permission), asked afresh each time.
    """
    return bool(user.is_active and user.has_perm(PERMISSION))


def clean_reason(reason: str) -> str:
    """The reason as it is logged; raises `InvalidInput` on the field `reason` otherwise."""
    text = (reason or "").strip()
    if not text:
        problem = _("请填写查看原因（%(min)d–%(max)d 个字），查看记录会写入安全日志。")
    elif len(text) < REASON_MIN:
        problem = _("查看原因至少 %(min)d 个字。")
    elif len(text) > REASON_MAX:
        problem = _("查看原因不能超过 %(max)d 个字。")
    elif "\x00" in text:
        problem = _("查看原因含有无法保存的字符，请重新填写。")
    elif _carries_personal_data(text):
        problem = _("查看原因中请不要填写电话号码或证件号码。")
    else:
        return text
    raise InvalidInput({"reason": [problem % {"min": REASON_MIN, "max": REASON_MAX}]})


def _carries_personal_data(text: str) -> bool:
    flat = _DIGIT_SEPARATORS.sub("", unicodedata.normalize("NFKC", text))
    return bool(_MOBILE.search(flat) or _ID_NUMBER.search(flat))


@dataclass(frozen=True)
class Viewer:
    """What decides, for one user, whether a requester's identity may be shown to them at all."""

    user: User
    area_paths: tuple[str, ...]

    @classmethod
    def of(cls, user: User) -> "Viewer":
        scopes = scopes_for_user(user)
        return cls(
            user=user,
            area_paths=tuple(s.area_path for s in scopes if s.area_path and s.role in AREA_ROLES),
        )

    def sees_from_area(self, need: Need) -> bool:
        """Met the resident's side: recorded the need, or holds an area role over its area."""
        if need.recorded_by_id is not None and need.recorded_by_id == self.user.pk:
            return True
        return any(need.area.path.startswith(path) for path in self.area_paths)

    def identity_hidden(self, need: Need) -> bool:
        """Whether the requester's identity stays hidden from this viewer, permission or not:
        a confidential requester, or a need about the viewer's own unit, seen from a unit."""
        requester = need.requester
        if requester is None or self.sees_from_area(need):
            return False
        if requester.confidential:
            return True
        # Criticism of a unit (`Need.about_unit`): the staff on that unit's line never learn who
        # wrote it, disclosed or not (the needs app's one rule for it).
        return requester_withheld(self.user, need)


@dataclass(frozen=True)
class RevealedRequester:
    name: str
    phone: str
    id_number: str
    address: str
    kind: str
    kind_label: str
    confidential: bool

    @property
    def fields(self) -> list[str]:
        """The fields that hold something (what the reveal showed)."""
        return [name for name in FIELDS if getattr(self, name)]


def record_reveal(
    *,
    actor: User,
    target: str,
    reason: str,
    fields: Iterable[str],
    request: HttpRequest | None = None,
    extra: dict[str, object] | None = None,
) -> None:
    """The security log's entry for one reveal: who, when (the entry), what, why; no values."""
    detail: dict[str, object] = {"reason": reason, "fields": list(fields)}
    detail.update(extra or {})
    audit_record(action=actions.REVEAL, actor=actor, target=target, detail=detail, request=request)


def may_reveal_requester(user: User, need: Need) -> bool:
    """Whether the need page offers 查看完整信息 to `user` (a need they already see)."""
    return (
        need.requester is not None
        and may_reveal_personal_data(user)
        and not Viewer.of(user).identity_hidden(need)
    )


def requester_reveal_check(*, actor: User, need: Need) -> Requester:
    """The requester `actor` may reveal on `need`, or the refusal: `NotFound` (404) when the
    need is out of scope or has no requester, `NotPermitted` (403) without the permission or
    when the identity stays hidden from the actor. Nothing is logged: nothing is shown yet."""
    if not need_queryset_for_user(user=actor).filter(pk=need.pk).exists():
        raise NotFound()
    if not may_reveal_personal_data(actor):
        raise NotPermitted(_("您没有查看诉求人完整信息的权限，请联系系统管理员授权。"))
    requester = need.requester
    if requester is None:
        raise NotFound(_("该诉求没有登记诉求人。"))
    if Viewer.of(actor).identity_hidden(need):
        raise NotPermitted(_("该诉求人的身份不向承办单位公开（要求保密或涉及对本单位的批评）。"))
    return requester


def requester_reveal(
    *, actor: User, need: Need, reason: str, request: HttpRequest | None = None
) -> RevealedRequester:
    """The requester of `need` unmasked, for `actor`, with a new security-log entry each time.

    `need` is found through the scoping selector by the caller; `requester_reveal_check` asks
    again (404 / 403); then a missing or bad reason raises `InvalidInput` (422, field
    `reason`). The entry is written before anything is returned: no entry, no data.
    """
    requester = requester_reveal_check(actor=actor, need=need)
    text = clean_reason(reason)
    revealed = RevealedRequester(
        name=requester.name,
        phone=requester.phone,
        id_number=requester.id_number,
        address=requester.address,
        kind=requester.kind,
        kind_label=str(requester.get_kind_display()),
        confidential=requester.confidential,
    )
    with transaction.atomic():
        record_reveal(
            actor=actor,
            target=f"need:{need.number}",
            reason=text,
            fields=revealed.fields,
            request=request,
        )
    return revealed
