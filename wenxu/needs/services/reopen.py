"""评价 and 群众申请重办: the resident's rating by link, and the dispatcher's decision on it.

`need_rate` records what a resident answered on the rating page (`/r/<token>`): it is the
callback (channel 网上评价), the link is used up, and an unsatisfied answer leaves a pending
`ReopenRequest`. A dispatcher then accepts it (`reopen_request_accept`: 重办 with a new
deadline) or declines it with a reason the resident will read (`reopen_request_decline`).

Concurrency: every function locks the need's row first (as every lifecycle service does), so a
rating and a decision on the same need are serialised; the link is used up with a conditional
update whose row count is checked, so a double submit counts once.
"""

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs.exceptions import IllegalTransition, NotPermitted
from wenxu.needs.models import Need, RatingLink, ReopenRequest
from wenxu.needs.services._core import (
    _begin,
    _lock,
    _may,
    _raise,
    _record,
    _required_text,
    actor_roles,
    scrub_for_need,
)
from wenxu.needs.services.closing import need_callback, need_reopen
from wenxu.needs.states import Action, CallbackChannel, CallbackResolved, Satisfaction, Status
from wenxu.organisations.models import Unit

COMMENT_MAX = 2000
UNSATISFIED = frozenset({Satisfaction.DISSATISFIED, Satisfaction.VERY_DISSATISFIED})
# A dispatcher decides only while the need rests on the rating that asked for the reopen.
DECIDABLE = frozenset({Status.FOLLOWING, Status.CLOSED})


# --------------------------------------------------------------------------- the rating link


class RatingLinkUsed(IllegalTransition):
    code = "rating_link_used"

    def default_message(self) -> str:
        return _("您已经评价过，谢谢。")


class RatingLinkExpired(IllegalTransition):
    code = "rating_link_expired"

    def default_message(self) -> str:
        return _("评价链接已过期。")


class RatingSuperseded(IllegalTransition):
    """The need no longer awaits this reply's rating (rated by phone, reopened, withdrawn…)."""

    code = "rating_superseded"

    def default_message(self) -> str:
        return _("这次答复已经通过回访等方式评价过，无需再评价，谢谢。")


def is_unsatisfied(*, resolved: str, satisfaction: str) -> bool:
    """An answer that asks for the matter to be handled again: not solved, or not satisfied."""
    return satisfaction in UNSATISFIED or resolved == CallbackResolved.NO


def rating_link_problem(
    link: RatingLink, *, need: Need | None = None, now: datetime | None = None
) -> IllegalTransition | None:
    """Why the link cannot be used now (used, expired, superseded), or None when it can."""
    need = need or link.need
    at = now or clock.now()
    if link.used_at is not None:
        return RatingLinkUsed()
    if at >= link.expires_at:
        return RatingLinkExpired()
    if need.status != Status.REPLIED or need.replied_at != link.replied_at:
        return RatingSuperseded()
    return None


@transaction.atomic
def need_rate(
    *,
    link: RatingLink,
    resolved: str,
    satisfaction: str,
    comment: str = "",
    public_consent: bool = False,
) -> Need:
    """The resident's rating of a reply: the callback, and a reopen request when unsatisfied."""
    need = _lock(link.need_id)
    fresh = RatingLink.objects.get(pk=link.pk)
    now = clock.now()
    problem = rating_link_problem(fresh, need=need, now=now)
    if problem is not None:
        raise problem
    resolved = (resolved or "").strip()
    satisfaction = (satisfaction or "").strip()
    comment = (comment or "").strip()
    errors: dict[str, list[str]] = {}
    if resolved not in CallbackResolved.values:
        errors["resolved"] = [_("请选择问题是否解决：已解决、部分解决或未解决。")]
    if satisfaction not in Satisfaction.values:
        errors["satisfaction"] = [_("请选择您对办理结果的满意程度。")]
    if len(comment) > COMMENT_MAX:
        errors["comment"] = [
            _("意见最多 %(n)d 字，请精简后再提交。") % {"n": COMMENT_MAX},
        ]
    _raise(errors)

    # Used up first, conditionally: of two submits racing past the checks, one counts.
    if RatingLink.objects.filter(pk=fresh.pk, used_at__isnull=True).update(used_at=now) != 1:
        raise RatingLinkUsed()
    need = need_callback(
        actor=None,
        need=need.pk,
        version=None,
        channel=CallbackChannel.ONLINE,
        resolved=resolved,
        satisfaction=satisfaction,
        comment=comment,
    )
    if public_consent and not need.public_consent:
        Need.objects.filter(pk=need.pk).update(public_consent=True)
        need.public_consent = True
    # No request is pending here: every way out of 跟进中/已办结 closes it (need_reopen as
    # accepted, need_withdraw and need_merge as declined), and the need is 已答复 again.
    if not is_unsatisfied(resolved=resolved, satisfaction=satisfaction):
        return need

    request = ReopenRequest(
        need=need,
        resolved=resolved,
        satisfaction=satisfaction,
        comment=scrub_for_need(need, comment),
        created_at=now,
    )
    request.full_clean()
    request.save()
    change = _begin(actor=None, need=need.pk, version=None, action=Action.REQUEST_REOPEN)
    change.note = comment
    change.data = {"resolved": resolved, "satisfaction": satisfaction, "request": request.pk}
    _record(change)
    return change.need


# --------------------------------------------------------------------------- the decision


def _request_id(request: ReopenRequest | int) -> int:
    return request if isinstance(request, int) else request.pk


def _pending_for(*, actor: User, request: ReopenRequest | int, action: str) -> ReopenRequest:
    """The request, locked behind its need, after the actor's right and its state are checked."""
    need_id = ReopenRequest.objects.values_list("need_id", flat=True).get(pk=_request_id(request))
    need = _lock(need_id)
    if not _may(action, actor_roles(actor, need)):
        raise NotPermitted(
            _("您的角色不能对该诉求执行“%(action)s”。") % {"action": Action(action).label}
        )
    locked = ReopenRequest.objects.select_for_update().get(pk=_request_id(request))
    if locked.state != ReopenRequest.State.PENDING:
        raise IllegalTransition(
            _("该重办申请已处理（%(state)s），无需再次处理。")
            % {"state": ReopenRequest.State(locked.state).label}
        )
    if need.status not in DECIDABLE:
        raise IllegalTransition(
            _("诉求当前状态为“%(status)s”，该重办申请已不能再处理。")
            % {"status": Status(need.status).label}
        )
    locked.need = need
    return locked


def default_accept_reason(request: ReopenRequest) -> str:
    """重办理由 when the dispatcher gives none: the resident's own words."""
    satisfaction = (
        str(Satisfaction(request.satisfaction).label) if request.satisfaction else _("不满意")
    )
    if request.comment:
        return _("群众评价“%(satisfaction)s”，申请重办。群众意见：“%(comment)s”") % {
            "satisfaction": satisfaction,
            "comment": request.comment,
        }
    return _("群众评价“%(satisfaction)s”，申请重办。") % {"satisfaction": satisfaction}


@transaction.atomic
def reopen_request_accept(
    *,
    actor: User,
    request: ReopenRequest | int,
    version: int | None,
    reason: str = "",
    lead_unit: Unit | None = None,
) -> Need:
    """同意重办: the need goes back to the unit (or another) with a new deadline."""
    pending = _pending_for(actor=actor, request=request, action=Action.REOPEN)
    need = need_reopen(
        actor=actor,
        need=pending.need_id,
        version=version,
        reason=(reason or "").strip() or default_accept_reason(pending),
        lead_unit=lead_unit,
    )
    pending.state = ReopenRequest.State.ACCEPTED
    pending.decided_by = actor
    pending.decided_at = clock.now()
    pending.save(update_fields=["state", "decided_by", "decided_at"])
    return need


@transaction.atomic
def reopen_request_decline(
    *,
    actor: User,
    request: ReopenRequest | int,
    version: int | None,
    reason: str,
) -> Need:
    """不予重办: the reason is recorded and shown to the resident on the tracking page."""
    pending = _pending_for(actor=actor, request=request, action=Action.DECLINE_REOPEN)
    change = _begin(
        actor=actor, need=pending.need_id, version=version, action=Action.DECLINE_REOPEN
    )
    errors: dict[str, list[str]] = {}
    text = _required_text(errors, "reason", reason, _("不予重办的理由"))
    _raise(errors)
    change.note = text
    change.data = {"request": pending.pk}
    _record(change)
    pending.state = ReopenRequest.State.DECLINED
    pending.decline_reason = change.note  # as the event keeps it (scrubbed)
    pending.decided_by = actor
    pending.decided_at = clock.now()
    pending.save(update_fields=["state", "decline_reason", "decided_by", "decided_at"])
    return change.need


__all__ = [
    "RatingLinkExpired",
    "RatingLinkUsed",
    "RatingSuperseded",
    "default_accept_reason",
    "is_unsatisfied",
    "need_rate",
    "rating_link_problem",
    "reopen_request_accept",
    "reopen_request_decline",
]
