"""What the messages say, and the outbox drafts that carry them (issue #5, ADR 0012).

Residents get short text messages (SMS, ≤ ~70 Chinese characters before the links where
possible); staff get the same one-line alert in-app, by e-mail and in their group robots.
Bodies never carry a requester's name or phone: staff texts name only the ledger number, the
title and the unit, and free text that may quote a resident (titles, a dispatcher's reason)
goes through `scrub`, which masks mobile numbers and the requester's own name.

A rating link is a credential: bodies carry the `{link}` placeholder, which the sender fills in
from the draft's `RatingLink` when sending.
"""

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import masking
from wenxu.needs.models import LedgerImportRow, Need, NeedEvent, RatingLink
from wenxu.needs.states import Action, CallbackResolved, Outcome, Satisfaction, Status
from wenxu.notify.models import Channel, Robot
from wenxu.notify.outbox import Draft
from wenxu.residents.models import Requester

LINK = "{link}"  # filled in by the sender from the draft's rating link
SMS_TITLE_CHARS = 16
STAFF_TITLE_CHARS = 40
REASON_CHARS = 60

# Any run of 7 or more digits (with spaces or dashes) may be a phone number: masked.
_DIGIT_RUN = re.compile(r"(?:\+?\d[\d\s-]{5,}\d)")


# --------------------------------------------------------------------------- helpers


def scrub(text: str, requester: Requester | None = None) -> str:
    """Free text made safe for a message body: phone-like digit runs and the requester's own
    name masked, line breaks folded."""
    text = " ".join((text or "").split())
    text = _DIGIT_RUN.sub(lambda m: masking.mask_phone(m.group(0)), text)
    name = (requester.name if requester else "").strip()
    if len(name) >= 2:
        text = text.replace(name, masking.mask_name(name))
    return text


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def title_of(need: Need, limit: int) -> str:
    return clip(scrub(need.title, need.requester), limit)


def track_url(need: Need) -> str:
    return f"{settings.WENXU_SITE_URL}/track?code={need.tracking_code}"


def staff_url(need: Need) -> str:
    return f"{settings.WENXU_SITE_URL}/needs/{need.number}/"


def local_time(moment: datetime | None) -> str:
    if moment is None:
        return _("未定")
    local = timezone.localtime(moment, timezone.get_default_timezone())
    return f"{local.month}月{local.day}日{local:%H:%M}"


def local_date(day: date) -> str:
    return f"{day.month}月{day.day}日"


def outcome_words(outcome: str, followup_date: date | None) -> str:
    """The reply's outcome in plain words for the resident."""
    if outcome == Outcome.RESOLVED:
        return _("问题已解决")
    if outcome == Outcome.EXPLAINED:
        return _("已向您作出解释说明")
    if outcome == Outcome.PLANNED:
        if followup_date is not None:
            return _("正在创造条件推动解决，%(day)s前再告知您进展") % {
                "day": local_date(followup_date)
            }
        return _("正在创造条件推动解决")
    if outcome == Outcome.REFERRED:
        return _("已转交有关部门办理")
    return _("已答复")


# --------------------------------------------------------------------------- resident texts


def sms_registered(need: Need) -> str:
    return _("您反映的“%(title)s”已登记，查询码%(code)s，请妥善保存。办理进度：%(track)s") % {
        "title": title_of(need, SMS_TITLE_CHARS),
        "code": need.tracking_code,
        "track": track_url(need),
    }


def sms_on_the_spot(need: Need, *, rate: bool) -> str:
    text = _("您反映的“%(title)s”已现场办理，查询码%(code)s，请妥善保存。") % {
        "title": title_of(need, SMS_TITLE_CHARS),
        "code": need.tracking_code,
    }
    if rate:
        return text + _("请评价：%(link)s") % {"link": LINK}
    return text + _("详情：%(track)s") % {"track": track_url(need)}


def sms_replied(need: Need, *, outcome: str, followup_date: date | None, rate: bool) -> str:
    text = _("您反映的“%(title)s”已答复：%(outcome)s。详情：%(track)s") % {
        "title": title_of(need, SMS_TITLE_CHARS),
        "outcome": outcome_words(outcome, followup_date),
        "track": track_url(need),
    }
    if rate:
        return text + _(" 请评价办理结果：%(link)s") % {"link": LINK}
    return text


def sms_callback_request(need: Need) -> str:
    return _("您反映的“%(title)s”已答复，请告诉我们是否解决、是否满意：%(link)s") % {
        "title": title_of(need, SMS_TITLE_CHARS),
        "link": LINK,
    }


def sms_reopened(need: Need) -> str:
    return _("您反映的“%(title)s”已重新交办，我们将抓紧办理。进度：%(track)s") % {
        "title": title_of(need, SMS_TITLE_CHARS),
        "track": track_url(need),
    }


def sms_fulfilled(need: Need) -> str:
    return _("您反映的“%(title)s”，承诺事项已兑现，诉求已办结。详情：%(track)s") % {
        "title": title_of(need, SMS_TITLE_CHARS),
        "track": track_url(need),
    }


def sms_reopen_declined(need: Need, reason: str) -> str:
    return _("您对“%(title)s”的重办申请经审核不予重办，理由：%(reason)s。详情：%(track)s") % {
        "title": title_of(need, SMS_TITLE_CHARS),
        "reason": clip(scrub(reason, need.requester), REASON_CHARS),
        "track": track_url(need),
    }


def sms_topic_progress(
    *, topic_title: str, progress: str, link: str, names: Iterable[str] = ()
) -> str:
    """专题进展: residents whose needs a topic (专题) groups hear of its measures' progress.

    Sent by `wenxu.topics.services` when a milestone completes (template `topic_milestone`) and
    when the topic closes (`topic_closed`), once per requester. The topic's title and progress
    are typed by staff and go to many residents: phone-like runs and every name in `names`
    (the requesters of all the topic's needs) are masked in them, so that one resident's name
    typed into a title never reaches another.
    """
    return _("您关心的“%(topic)s”有新进展：%(progress)s。详情：%(link)s") % {
        "topic": clip(_mask_names(scrub(topic_title), names), SMS_TITLE_CHARS),
        "progress": clip(_mask_names(scrub(progress), names), 40),
        "link": link,
    }


def _mask_names(text: str, names: Iterable[str]) -> str:
    """Each name of two characters or more masked (张三丰 → 张**), longest first so that a name
    containing another is masked whole."""
    for name in sorted({n.strip() for n in names}, key=len, reverse=True):
        if len(name) >= 2:
            text = text.replace(name, masking.mask_name(name))
    return text


# --------------------------------------------------------------------------- staff texts


@dataclass(frozen=True)
class StaffText:
    """One staff alert: `subject` for e-mail, `text` in-app and in robots; both without URL."""

    template: str
    subject: str
    text: str


def _head(need: Need) -> str:
    return f"{need.number}「{title_of(need, STAFF_TITLE_CHARS)}」"


def staff_text(event: NeedEvent, *, unit_name: str, area_name: str = "") -> StaffText | None:
    """The alert an event calls for, or None for events staff learn of in-app only."""
    need = event.need
    data = event.data or {}
    head = _head(need)
    unit = unit_name or _("主办单位")
    if event.action == Action.ASSIGN:
        return StaffText(
            "assigned",
            _("【新交办】%(number)s") % {"number": need.number},
            _("【新交办】%(head)s已交办%(unit)s，请于%(response)s前签收，%(resolve)s前办结。")
            % {
                "head": head,
                "unit": unit,
                "response": local_time(_moment(data.get("response_due")) or need.response_due),
                "resolve": local_time(_moment(data.get("resolve_due")) or need.resolve_due),
            },
        )
    if event.action == Action.REQUEST_EXTENSION:
        return StaffText(
            "extension_requested",
            _("【延期申请】%(number)s") % {"number": need.number},
            _("【延期申请】%(head)s%(unit)s申请延期%(days)s个工作日，请审批。")
            % {"head": head, "unit": unit, "days": data.get("days", "")},
        )
    if event.action == Action.REQUEST_REOPEN:
        parts: list[str] = []
        resolved = str(data.get("resolved") or "")
        satisfaction = str(data.get("satisfaction") or "")
        if resolved in CallbackResolved.values:
            parts.append(str(CallbackResolved(resolved).label))
        if satisfaction in Satisfaction.values:
            parts.append(str(Satisfaction(satisfaction).label))
        verdict = "、".join(parts)
        return StaffText(
            "reopen_requested",
            _("【群众申请重办】%(number)s") % {"number": need.number},
            _("【群众申请重办】%(head)s群众评价：%(verdict)s，申请重办，请审核决定。")
            % {"head": head, "verdict": verdict or _("不满意")},
        )
    if event.action != Action.REMIND:
        return None
    kind = data.get("kind")
    due = _due_of(event)
    if kind == "due_soon":
        return StaffText(
            "due_soon",
            _("【临期提醒】%(number)s") % {"number": need.number},
            _("【临期提醒】%(head)s将于%(due)s到期，请%(unit)s抓紧办理并答复。")
            % {"head": head, "due": local_time(due), "unit": unit},
        )
    if kind == "response_due_soon":
        return StaffText(
            "response_due_soon",
            _("【签收提醒】%(number)s") % {"number": need.number},
            _("【签收提醒】%(head)s请%(unit)s于%(due)s前签收。")
            % {"head": head, "unit": unit, "due": local_time(need.response_due)},
        )
    if kind == "response_overdue":
        return StaffText(
            "response_overdue",
            _("【超时未签收】%(number)s") % {"number": need.number},
            _("【超时未签收】%(head)s已过签收时限（%(due)s），%(unit)s仍未签收，已列入督办。")
            % {"head": head, "due": local_time(need.response_due), "unit": unit},
        )
    if kind == "overdue":
        return StaffText(
            "overdue",
            _("【超期督办】%(number)s") % {"number": need.number},
            _("【超期督办】%(head)s已过办结时限（%(due)s），%(unit)s仍未答复，已列入督办。")
            % {"head": head, "due": local_time(due), "unit": unit},
        )
    if kind == "escalated":
        return StaffText(
            "escalated",
            _("【逐级督办】%(number)s") % {"number": need.number},
            _(
                "【逐级督办·第%(level)s级】%(head)s超期（%(due)s）仍未答复，%(unit)s承办，请%(area)s督促办理。"
            )
            % {
                "level": data.get("level", ""),
                "head": head,
                "due": local_time(due),
                "unit": unit,
                "area": area_name or _("上级"),
            },
        )
    return None


def _moment(raw: object) -> datetime | None:
    if isinstance(raw, str) and "T" in raw:
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return None
    return None


def _due_of(event: NeedEvent) -> datetime | None:
    """The deadline a reminder was about (its cycle), else the need's current one."""
    return _moment((event.data or {}).get("due")) or event.need.resolve_due


@dataclass(frozen=True)
class DigestCounts:
    new: int = 0  # newly assigned yesterday
    waiting: int = 0  # awaiting acceptance
    soon: int = 0  # due within 24 hours
    overdue: int = 0

    def any(self) -> bool:
        return bool(self.new or self.waiting or self.soon or self.overdue)


def digest_text(*, unit_name: str, day: date, counts: DigestCounts) -> StaffText:
    return StaffText(
        "digest",
        _("【每日汇总】%(unit)s %(day)s") % {"unit": unit_name, "day": local_date(day)},
        _(
            "【每日汇总 %(day)s】%(unit)s：昨日新交办%(new)d件，待签收%(waiting)d件，"
            "24小时内到期%(soon)d件，已超期%(overdue)d件。"
        )
        % {
            "day": local_date(day),
            "unit": unit_name,
            "new": counts.new,
            "waiting": counts.waiting,
            "soon": counts.soon,
            "overdue": counts.overdue,
        },
    )


# --------------------------------------------------------------------------- drafts


def resident_drafts(event: NeedEvent) -> list[Draft]:
    """The text messages the event sends: to the requester, if they gave a phone, and for a
    reply, a reopen or a fulfilment also to the requesters of needs merged into this one (about
    their own need, whose tracking code shows this one's progress; without a rating link, which
    belongs to this need's requester).

    Confidential requesters get their own messages too: confidentiality hides them from staff
    and the public, not from themselves.
    """
    need = event.need
    if event.action == Action.REGISTER and _imported(need):
        # A need from an imported ledger was registered long ago on paper: "已登记" now would
        # puzzle the resident. Later events (a reply, a reopen) still tell them.
        return []
    drafts = _resident_drafts_for(event, need, rate_allowed=True)
    if event.action in {Action.REPLY, Action.REOPEN, Action.FULFIL}:
        told = {need.requester_id}
        merged = (
            Need.objects.filter(merged_into=need, status=Status.MERGED)
            .exclude(requester__isnull=True)
            .select_related("requester")
            .order_by("pk")
        )
        for other in merged:
            if other.requester_id in told:
                continue
            told.add(other.requester_id)
            drafts += _resident_drafts_for(event, other, rate_allowed=False)
    return drafts


def _imported(need: Need) -> bool:
    return LedgerImportRow.objects.filter(need=need).exists()


def _resident_drafts_for(event: NeedEvent, need: Need, *, rate_allowed: bool) -> list[Draft]:
    requester = need.requester
    if requester is None or not requester.has_phone():
        return []
    rating_link: RatingLink | None = None
    subject = event.need
    rate = rate_allowed and subject.status == Status.REPLIED and subject.replied_at is not None
    if event.action == Action.REGISTER:
        template, body = "registered", sms_registered(need)
    elif event.action == Action.REGISTER_ON_THE_SPOT:
        template, body = "registered", sms_on_the_spot(need, rate=rate)
    elif event.action == Action.REPLY:
        data = event.data or {}
        followup = data.get("followup_date")
        template = "replied"
        body = sms_replied(
            need,
            outcome=str(data.get("outcome") or subject.outcome),
            followup_date=date.fromisoformat(followup) if isinstance(followup, str) else None,
            rate=rate,
        )
    elif event.action == Action.REOPEN:
        template, body = "reopened", sms_reopened(need)
    elif event.action == Action.FULFIL:
        template, body = "fulfilled", sms_fulfilled(need)
    elif event.action == Action.DECLINE_REOPEN:
        template, body = "reopen_declined", sms_reopen_declined(need, event.note)
    else:
        return []
    if LINK in body:
        from wenxu.needs.rating import rating_link_issue

        rating_link = rating_link_issue(subject)
    return [
        Draft(
            key=f"{template}:e{event.pk}:{Channel.SMS}:r{requester.pk}",
            channel=Channel.SMS,
            template=template,
            to_masked=masking.mask_phone(requester.phone),
            body=body,
            need=need,
            requester=requester,
            rating_link=rating_link,
        )
    ]


def callback_request_draft(need: Need, link: RatingLink) -> Draft | None:
    """回访提醒: the resident has not rated the reply after some days; once per reply."""
    requester = need.requester
    if requester is None or not requester.has_phone() or need.replied_at is None:
        return None
    reply = int(need.replied_at.timestamp())
    return Draft(
        key=f"callback_request:n{need.pk}:{reply}:{Channel.SMS}:r{requester.pk}",
        channel=Channel.SMS,
        template="callback_request",
        to_masked=masking.mask_phone(requester.phone),
        body=sms_callback_request(need),
        need=need,
        requester=requester,
        rating_link=link,
    )


def staff_drafts(
    *,
    trigger: str,
    alert: StaffText,
    users: list[User],
    robots: list[Robot],
    need: Need | None,
    url: str,
) -> list[Draft]:
    """E-mail to each user with an address, and one message per group robot.

    `trigger` names the occasion (`e<event id>`, or `u<unit>:<date>` for a digest); the key is
    `<template>:<trigger>:<channel>:<recipient>`.
    """
    drafts: list[Draft] = []
    email_body = f"{alert.text}\n\n{url}\n\n" + _("（此邮件由问需系统自动发送，请勿直接回复。）")
    for user in sorted(users, key=lambda u: u.pk):
        if not user.is_active or not user.email:
            continue
        drafts.append(
            Draft(
                key=f"{alert.template}:{trigger}:{Channel.EMAIL}:u{user.pk}",
                channel=Channel.EMAIL,
                template=alert.template,
                to_masked=user.display_name or user.username,
                subject=alert.subject,
                body=email_body,
                need=need,
                user=user,
            )
        )
    for robot in sorted(robots, key=lambda r: r.pk):
        if not robot.active:
            continue
        drafts.append(
            Draft(
                key=f"{alert.template}:{trigger}:{robot.kind}:b{robot.pk}",
                channel=robot.kind,
                template=alert.template,
                to_masked=robot.name,
                subject=alert.subject,
                body=f"{alert.text}\n{url}",
                need=need,
                robot=robot,
            )
        )
    return drafts
