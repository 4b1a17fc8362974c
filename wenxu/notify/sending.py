"""Sending the outbox: claim due messages, send each through its channel, retry with backoff.

ADR 0012. `send_due` runs in the `send_messages` task (right after the messages were written)
and in the sweep every minute (retries). Concurrency: each message is claimed by a conditional
`UPDATE … WHERE status='pending' AND next_attempt_at <= now` and the row count says whether this
worker won it; the outcome is written by another conditional update on the claim, so a worker
that lost its claim (it took longer than `stale_after()`) cannot overwrite the new owner's result.
A message left in `sending` by a crash is claimed again after `stale_after()`; the SMS contract
carries the message key as `Idempotency-Key` so a provider can drop that rare duplicate.

`stale_after()` is tied to `WENXU_OUTBOX_TIMEOUT_SECONDS`: max(10 minutes, 10 × timeout). A
claim covers one message, but one send can wait for the timeout several times (SMTP connects,
greets, may STARTTLS and log in, then sends the envelope and the data: each step may take the
whole socket timeout), so a claim must outlast many timeouts, or a slow but living worker would
lose its message to another that sends it again. Raising the timeout raises the crash-recovery
delay with it.

No transaction spans a send: a provider call can take `WENXU_OUTBOX_TIMEOUT_SECONDS`, and no
lock is held meanwhile. The stored body is masked; the real phone, e-mail address and rating
link are looked up here, used for the one call, and never logged or stored (`_Scrubber`).
"""

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils.translation import gettext as _

from wenxu.lib import clock, masking
from wenxu.lib.phones import normalise_phone
from wenxu.needs.exceptions import IllegalTransition
from wenxu.needs.rating import rating_token, rating_url
from wenxu.needs.services.reopen import (
    RatingLinkExpired,
    RatingLinkUsed,
    RatingSuperseded,
    rating_link_problem,
)
from wenxu.notify import channels
from wenxu.notify.models import Channel, Message, Robot

logger = logging.getLogger("wenxu.notify")

# A claim older than `stale_after()` is taken to be a crashed worker's and claimed again.
MIN_STALE_AFTER = timedelta(minutes=10)
STALE_TIMEOUTS = 10  # how many provider timeouts a claim outlasts (see the module docstring)
# Wait before attempt n+1 after n failed attempts; the last value repeats.
BACKOFF_MINUTES = (1, 5, 15, 60, 240)
LINK_PLACEHOLDER = "{link}"

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Phone-like digit runs (mobiles with or without +86, landlines) in provider answers and errors.
_PHONE_LIKE = re.compile(r"(?<![\d])(?:\+?86[- ]?)?(?:1[3-9]\d{9}|0\d{2,3}-?\d{7,8})(?![\d])")
_CREDENTIAL_PARAM = re.compile(r"(?i)\b(access_token|key|token|sign|secret)=[^&\s\"']+")


def stale_after() -> timedelta:
    """How old a claim must be before the message is claimed again: max(10 min, 10 × timeout)."""
    timeout = timedelta(seconds=float(settings.WENXU_OUTBOX_TIMEOUT_SECONDS))
    return max(MIN_STALE_AFTER, STALE_TIMEOUTS * timeout)


def backoff(attempts: int) -> timedelta:
    """How long to wait after `attempts` failed attempts (1, 5, 15, 60, then 240 minutes)."""
    index = min(max(attempts, 1), len(BACKOFF_MINUTES)) - 1
    return timedelta(minutes=BACKOFF_MINUTES[index])


class _Cancelled(Exception):
    """The message should no longer be sent (nothing failed: its reason has gone)."""


@dataclass
class _Scrubber:
    """Removes what must not reach the error column or a log line."""

    replacements: dict[str, str] = field(default_factory=dict)

    def add(self, *secrets: str) -> None:
        for secret in secrets:
            if secret and len(secret) >= 4:
                self.replacements.setdefault(secret, "***")

    def add_phone(self, phone: str) -> None:
        if phone:
            self.replacements[phone] = masking.mask_phone(phone)

    def __call__(self, text: str) -> str:
        for secret in sorted(self.replacements, key=len, reverse=True):
            text = text.replace(secret, self.replacements[secret])
        text = channels.shorten_links(text)
        text = _CREDENTIAL_PARAM.sub(lambda m: f"{m.group(1)}=***", text)
        return _PHONE_LIKE.sub(lambda m: masking.mask_phone(m.group()), text)


def send_due(*, ids: Iterable[int] | None = None, limit: int = 200) -> int:
    """Send due messages (only `ids`, when given); returns how many were sent now."""
    now = clock.now()
    due = Q(status=Message.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=Message.Status.SENDING, claimed_at__lt=now - stale_after()
    )
    candidates = Message.objects.filter(due)
    if ids is not None:
        candidates = candidates.filter(pk__in=list(ids))
    pks = list(candidates.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    sent = 0
    for pk in pks:
        claimed_at = _claim(pk)
        if claimed_at is not None and _send_claimed(pk, claimed_at=claimed_at):
            sent += 1
    return sent


def _claim(pk: int) -> datetime | None:
    """Claim the message for this worker; the claim's time, or None if it is not ours."""
    now = clock.now()
    claim = {"status": Message.Status.SENDING, "claimed_at": now, "attempts": F("attempts") + 1}
    pending = Message.objects.filter(pk=pk, status=Message.Status.PENDING, next_attempt_at__lte=now)
    if pending.update(**claim) == 1:
        return now
    stale = Message.objects.filter(
        pk=pk, status=Message.Status.SENDING, claimed_at__lt=now - stale_after()
    )
    if stale.update(**claim) == 1:
        return now
    return None


def _send_claimed(pk: int, *, claimed_at: datetime) -> bool:
    """Send a message this worker has claimed and record the outcome; True when sent."""
    message = Message.objects.select_related("requester", "user", "robot", "rating_link__need").get(
        pk=pk
    )
    scrub = _Scrubber()
    scrub.add(settings.WENXU_SMS_TOKEN)
    max_attempts = settings.WENXU_OUTBOX_MAX_ATTEMPTS
    try:
        if message.attempts > max_attempts:  # a crash during the last attempt
            raise channels.Failure(
                _("发送中断且已达到最大尝试次数（%(max)s 次）。") % {"max": max_attempts},
                transient=False,
            )
        receipt = _deliver(message, scrub)
    except _Cancelled as cancelled:
        reason = scrub(str(cancelled))
        _finish(
            message,
            claimed_at,
            "cancelled",
            reason=reason,
            status=Message.Status.CANCELLED,
            last_error=reason[:500],
        )
        return False
    except channels.Failure as failure:
        reason = scrub(failure.reason)
        if failure.transient and message.attempts < max_attempts:
            retry_at = clock.now() + backoff(message.attempts)
            _finish(
                message,
                claimed_at,
                "retry",
                reason=reason,
                status=Message.Status.PENDING,
                next_attempt_at=retry_at,
                last_error=reason[:500],
            )
        else:
            if failure.transient:
                reason = _("已尝试 %(count)s 次仍未成功，不再重试。最后一次错误：%(reason)s") % {
                    "count": message.attempts,
                    "reason": reason,
                }
            _finish(
                message,
                claimed_at,
                "failed",
                reason=reason,
                status=Message.Status.FAILED,
                last_error=reason[:500],
            )
        return False
    except Exception as error:  # a defect: keep the message, retry later, say where it broke
        frame = error.__traceback__
        while frame is not None and frame.tb_next is not None:
            frame = frame.tb_next
        where = f"{frame.tb_frame.f_code.co_filename}:{frame.tb_lineno}" if frame else "?"
        reason = scrub(f"{type(error).__name__} ({where}): {error}")
        final = message.attempts >= max_attempts
        _finish(
            message,
            claimed_at,
            "failed" if final else "retry",
            reason=reason,
            status=Message.Status.FAILED if final else Message.Status.PENDING,
            next_attempt_at=clock.now() + backoff(message.attempts),
            last_error=reason[:500],
        )
        return False
    _finish(
        message,
        claimed_at,
        "sent",
        status=Message.Status.SENT,
        sent_at=clock.now(),
        provider_id=receipt.provider_id[:100],
        last_error="",
    )
    return True


def _finish(
    message: Message, claimed_at: datetime, outcome: str, *, reason: str = "", **fields: object
) -> None:
    """Record the outcome if the claim is still ours, and log one line about it."""
    still_ours = Message.objects.filter(
        pk=message.pk, status=Message.Status.SENDING, claimed_at=claimed_at
    ).update(**fields)
    log = logger.info if outcome in {"sent", "cancelled"} else logger.warning
    log(
        "outbox message=%s channel=%s template=%s to=%s outcome=%s attempt=%s%s%s",
        message.pk,
        message.channel,
        message.template,
        message.to_masked,
        outcome,
        message.attempts,
        f" error={reason}" if reason else "",
        "" if still_ours else " (claim lost: outcome not recorded)",
    )


# --- Resolution at send time ---------------------------------------------------------------


def _deliver(message: Message, scrub: _Scrubber) -> channels.Receipt:
    text = _text(message, scrub)
    if message.channel == Channel.SMS:
        phone = _mobile(message, scrub)
        signature = settings.WENXU_SMS_SIGNATURE
        if signature and not text.startswith(signature):
            text = signature + text
        return channels.sms_send(
            phone=phone, text=text, key=message.key, to_masked=message.to_masked
        )
    if message.channel == Channel.EMAIL:
        address = message.user.email.strip() if message.user is not None else ""
        if not address:
            raise channels.Failure(
                _("收件人没有登记电子邮箱，无法发送邮件：请在账号资料中补充邮箱后重新发送。"),
                transient=False,
            )
        scrub.add(address)
        lines = text.strip().splitlines()
        subject = message.subject or (lines[0][:200] if lines else "")
        return channels.email_send(address=address, subject=subject, text=text)
    if message.channel in {Channel.WECOM, Channel.DINGTALK}:
        robot = _robot(message, scrub)
        if robot.kind == Channel.WECOM:
            return channels.wecom_send(webhook_url=robot.webhook_url, text=text)
        return channels.dingtalk_send(webhook_url=robot.webhook_url, secret=robot.secret, text=text)
    raise channels.Failure(
        _("未知的发送渠道“%(channel)s”。") % {"channel": message.channel}, transient=False
    )


def _text(message: Message, scrub: _Scrubber) -> str:
    """The body to send: the stored (masked) body with the rating link filled in."""
    body = message.body
    if LINK_PLACEHOLDER not in body:
        return body
    link = message.rating_link
    if link is None:
        raise channels.Failure(
            _("消息中的评价链接已被删除，无法发送：请重新生成评价链接。"), transient=False
        )
    # Whatever makes the link useless on the rating page (used, expired, or the reply no longer
    # awaits a rating: rated by phone, reopened, withdrawn…) makes the message pointless.
    problem = rating_link_problem(link)
    if problem is not None:
        raise _Cancelled(_cancel_reason(problem))
    token = rating_token(link)
    scrub.add(token)
    return body.replace(LINK_PLACEHOLDER, rating_url(link))


def _cancel_reason(problem: IllegalTransition) -> str:
    """Why a message with this rating link is no longer sent, for the admin's error column."""
    if isinstance(problem, RatingLinkUsed):
        return _("群众已经评价过，评价链接不再发送。")
    if isinstance(problem, RatingLinkExpired):
        return _("评价链接已过期，不再发送。")
    if isinstance(problem, RatingSuperseded):
        return _("这次答复已不再等待评价（已回访、重办或撤回等），评价链接不再发送。")
    return _("评价链接已不能使用（%(reason)s），不再发送。") % {"reason": problem.message}


def _mobile(message: Message, scrub: _Scrubber) -> str:
    requester = message.requester
    raw = requester.phone.strip() if requester is not None else ""
    if not raw:
        raise channels.Failure(
            _("群众没有登记手机号，无法发送短信：请补充联系电话后重新发送。"), transient=False
        )
    scrub.add_phone(raw)
    try:
        phone = normalise_phone(raw)
    except ValidationError:
        raise channels.Failure(
            _("群众登记的联系电话格式不对，无法发送短信：请核对后重新发送。"), transient=False
        ) from None
    scrub.add_phone(phone)
    if not _MOBILE.fullmatch(phone):
        raise channels.Failure(
            _("群众登记的是固定电话，无法接收短信：请补充手机号后重新发送。"), transient=False
        )
    return phone


def _robot(message: Message, scrub: _Scrubber) -> Robot:
    robot = message.robot
    if robot is None:
        raise channels.Failure(_("群机器人已被删除，消息无法发送。"), transient=False)
    scrub.add(robot.webhook_url, robot.secret)
    if not robot.active:
        raise _Cancelled(_("群机器人“%(name)s”已停用，消息不再发送。") % {"name": robot.name})
    if robot.kind != message.channel:
        raise channels.Failure(
            _("群机器人“%(name)s”的类型与消息渠道不符，请检查机器人配置。") % {"name": robot.name},
            transient=False,
        )
    return robot


# --- Admin ---------------------------------------------------------------------------------


@transaction.atomic
def message_resend(*, message_ids: Iterable[int]) -> int:
    """Put failed or cancelled messages back in the queue for a fresh series of attempts.

    Returns how many were requeued; messages in any other status are left alone.
    """
    requeue = Message.objects.filter(
        pk__in=list(message_ids),
        status__in=[Message.Status.FAILED, Message.Status.CANCELLED],
    )
    pks = list(requeue.select_for_update().values_list("pk", flat=True))
    count = Message.objects.filter(pk__in=pks).update(
        status=Message.Status.PENDING,
        next_attempt_at=clock.now(),
        attempts=0,
        claimed_at=None,
        last_error="",
    )
    if pks:
        transaction.on_commit(lambda: _queue_sending(pks))
    return count


def _queue_sending(message_ids: list[int]) -> None:
    from wenxu.notify.tasks import send_messages

    send_messages.enqueue(message_ids)
