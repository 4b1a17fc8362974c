"""Channels: how one message leaves the building (ADR 0012).

Each function sends one text and returns a `Receipt`, or raises `Failure`: `transient` failures
(timeouts, connection errors, HTTP 408/429/5xx, a robot's rate-limit code) are retried by
`wenxu.notify.sending` with backoff, the others are not. Every HTTP call uses
`WENXU_OUTBOX_TIMEOUT_SECONDS`, follows no redirect (a webhook URL carries its credential) and
uses only the standard library. Reasons are written for the admin's "最近错误" column; the caller
masks anything personal or secret that a provider echoes back.

SMS (`WENXU_SMS_BACKEND`)
-------------------------
* ``console`` (default): nothing is sent; the masked recipient and the text (with any rating
  link shortened to ``/r/…``) are logged on ``wenxu.notify``, and the message counts as sent.
  For trials and development.
* ``http``: a generic provider contract, so that a deployment can put a small adapter in front
  of 阿里云短信, 腾讯云短信 or a government SMS gateway::

      POST <WENXU_SMS_URL>
      Authorization: Bearer <WENXU_SMS_TOKEN>
      Idempotency-Key: <message key>
      Content-Type: application/json; charset=utf-8

      {"to": "13812345678", "text": "【问需】您反映的…", "ref": "<message key>"}

  Answer 2xx to accept the message, optionally with a JSON body ``{"id": "<provider id>"}``
  (stored as the message's 服务商编号). Answer 429 or 5xx (or time out) for "try again later",
  any other 4xx for "never" (bad number, blocked content, bad token). The same message is
  always sent with the same ``Idempotency-Key`` and ``ref``: after a crash between the
  provider's answer and wenxu's record, the message is sent again once its claim is stale
  (`sending.stale_after()`: at least ten minutes), and the adapter should drop a key it has
  already accepted.

E-mail: Django's mail framework (`WENXU_EMAIL_URL`, from `DEFAULT_FROM_EMAIL`).

企业微信群机器人: ``POST <webhook_url>`` with ``{"msgtype": "text", "text": {"content": …}}``;
``errcode`` 0 is success, 45009 (too frequent) and -1 (busy) are transient. The content may
be at most 2048 bytes of UTF-8 (longer is refused for good, errcode 40058).

钉钉群机器人: the same payload; with a 加签 secret the URL gets
``&timestamp=<ms>&sign=<urlencode(base64(hmac_sha256(secret, f"{timestamp}\\n{secret}")))>``;
``errcode`` 0 is success, 130101 (too frequent) and -1 (busy) are transient. The timestamp is
the real wall time, never `clock.now()`: `clock.travel` (demo data, imports) shifts that clock,
and DingTalk refuses a timestamp more than an hour away from its own. DingTalk documents no
byte limit for text as tight as WeCom's; we cut at 4000 bytes, enough for any notification
and short enough to read in a group chat.

Robot texts longer than their limit are cut (`fit_bytes`) at a character boundary, with "…".
"""

import base64
import hashlib
import hmac
import http.client
import json
import logging
import re
import smtplib
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.translation import gettext as _

logger = logging.getLogger("wenxu.notify")

# A signed rating-link token (`django.core.signing`: URL-safe base64 and colons).
RATING_PATH = re.compile(r"/r/[A-Za-z0-9_:\-]+")
_MAX_RESPONSE = 64 * 1024
_SNIPPET = 200
WECOM_TRANSIENT = frozenset({-1, 45009})
DINGTALK_TRANSIENT = frozenset({-1, 130101})
# Text content limits in UTF-8 bytes (WeCom's is documented; DingTalk's is our choice).
WECOM_MAX_BYTES = 2048
DINGTALK_MAX_BYTES = 4000
ELLIPSIS = "…"


class Failure(Exception):
    """The message was not sent; `transient` ones are worth another try later."""

    def __init__(self, reason: str, *, transient: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


@dataclass(frozen=True)
class Receipt:
    provider_id: str = ""


def shorten_links(text: str) -> str:
    """The text with every rating link's token cut: safe for logs."""
    return RATING_PATH.sub("/r/…", text)


# --- HTTP ---------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 3xx surfaces as an HTTPError and is reported, not followed


_opener = urllib.request.build_opener(_NoRedirect)


def _snippet(raw: bytes) -> str:
    # Generous: the caller masks phones and tokens, then cuts to the column's 500 characters,
    # so a number is never cut in half before it can be recognised.
    text = raw[:1000].decode("utf-8", errors="replace").strip()
    return f"：{text}" if text else ""


def post_json(url: str, payload: dict[str, Any], *, headers: dict[str, str] | None = None) -> Any:
    """POST `payload` as JSON; the decoded JSON answer of a 2xx response (None if not JSON)."""
    if urllib.parse.urlsplit(url).scheme not in {"http", "https"}:
        raise Failure(_("发送地址不是 http(s) 地址，请检查配置。"), transient=False)
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})},
    )
    timeout = settings.WENXU_OUTBOX_TIMEOUT_SECONDS
    try:
        with _opener.open(request, timeout=timeout) as response:
            raw = response.read(_MAX_RESPONSE)
    except urllib.error.HTTPError as error:
        status = error.code
        body = error.read(_MAX_RESPONSE) if error.fp is not None else b""
        transient = status in {408, 429} or status >= 500
        if 300 <= status < 400:
            reason = _("服务商返回跳转（HTTP %(status)s），请检查发送地址。") % {"status": status}
        else:
            reason = f"HTTP {status}{_snippet(body)}"
        raise Failure(reason, transient=transient) from None
    except TimeoutError:
        raise Failure(
            _("服务商在 %(seconds)s 秒内没有响应（超时）。") % {"seconds": timeout}, transient=True
        ) from None
    except urllib.error.URLError as error:
        if isinstance(error.reason, TimeoutError):
            raise Failure(
                _("连接服务商超时（%(seconds)s 秒）。") % {"seconds": timeout}, transient=True
            ) from None
        raise Failure(
            _("无法连接服务商：%(reason)s") % {"reason": error.reason}, transient=True
        ) from None
    except (http.client.HTTPException, OSError) as error:
        raise Failure(
            _("与服务商的连接中断：%(error)s") % {"error": type(error).__name__}, transient=True
        ) from None
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError:
        return None


# --- SMS ----------------------------------------------------------------------------------


def sms_send(*, phone: str, text: str, key: str, to_masked: str) -> Receipt:
    """Send a text message to a mainland mobile number through `WENXU_SMS_BACKEND`."""
    if settings.WENXU_SMS_BACKEND == "console":
        logger.info("sms console to=%s text=%s", to_masked, shorten_links(text))
        return Receipt()
    if settings.WENXU_SMS_BACKEND != "http" or not settings.WENXU_SMS_URL:
        raise Failure(
            _("短信通道未配置：请设置 WENXU_SMS_BACKEND 和 WENXU_SMS_URL。"), transient=False
        )
    answer = post_json(
        settings.WENXU_SMS_URL,
        {"to": phone, "text": text, "ref": key},
        headers={
            "Authorization": f"Bearer {settings.WENXU_SMS_TOKEN}",
            "Idempotency-Key": key,
        },
    )
    provider_id = answer.get("id") if isinstance(answer, dict) else None
    return Receipt(provider_id=str(provider_id)[:100] if provider_id is not None else "")


# --- E-mail -------------------------------------------------------------------------------


def email_send(*, address: str, subject: str, text: str) -> Receipt:
    """Send an e-mail through Django's configured backend."""
    connection = get_connection(timeout=settings.WENXU_OUTBOX_TIMEOUT_SECONDS)
    email = EmailMessage(
        subject=subject,
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[address],
        connection=connection,
    )
    try:
        email.send()
    except smtplib.SMTPRecipientsRefused:
        raise Failure(_("邮件服务器拒收该收件地址，请核对邮箱。"), transient=False) from None
    except (smtplib.SMTPServerDisconnected, smtplib.SMTPConnectError) as error:
        raise Failure(
            _("无法连接邮件服务器：%(error)s") % {"error": type(error).__name__}, transient=True
        ) from None
    except smtplib.SMTPResponseException as error:
        transient = 400 <= error.smtp_code < 500
        raise Failure(
            _("邮件服务器拒绝发送（%(code)s）。") % {"code": error.smtp_code}, transient=transient
        ) from None
    except smtplib.SMTPException as error:
        raise Failure(
            _("邮件发送失败：%(error)s") % {"error": type(error).__name__}, transient=False
        ) from None
    except OSError as error:  # timeouts and refused connections
        raise Failure(
            _("无法连接邮件服务器：%(error)s") % {"error": type(error).__name__}, transient=True
        ) from None
    return Receipt()


# --- Group robots -------------------------------------------------------------------------


def _robot_answer(answer: Any, *, name: str, transient_codes: frozenset[int]) -> Receipt:
    if not isinstance(answer, dict) or "errcode" not in answer:
        raise Failure(_("%(robot)s返回了无法识别的响应。") % {"robot": name}, transient=True)
    try:
        code = int(answer["errcode"])
    except (TypeError, ValueError):
        code = -1
    if code == 0:
        return Receipt()
    message = str(answer.get("errmsg", ""))[:_SNIPPET]
    if code in transient_codes:
        reason = _("%(robot)s限流或繁忙（errcode %(code)s：%(message)s），稍后重试。")
    else:
        reason = _("%(robot)s拒绝了消息（errcode %(code)s：%(message)s），请检查机器人配置。")
    raise Failure(
        reason % {"robot": name, "code": code, "message": message},
        transient=code in transient_codes,
    )


def fit_bytes(text: str, max_bytes: int) -> str:
    """The text, cut to at most `max_bytes` of UTF-8 at a character boundary and ended by "…"."""
    encoded = text.encode("utf-8")
    if len(encoded) <= max_bytes:
        return text
    room = max(max_bytes - len(ELLIPSIS.encode("utf-8")), 0)
    # "ignore" drops only the partial character left at the cut: the input is valid UTF-8.
    kept = encoded[:room].decode("utf-8", errors="ignore").rstrip()
    return kept + ELLIPSIS


def _text_payload(text: str, *, max_bytes: int) -> dict[str, Any]:
    return {"msgtype": "text", "text": {"content": fit_bytes(text, max_bytes)}}


def wecom_send(*, webhook_url: str, text: str) -> Receipt:
    """企业微信群机器人 text message (cut to 2048 bytes)."""
    answer = post_json(webhook_url, _text_payload(text, max_bytes=WECOM_MAX_BYTES))
    return _robot_answer(answer, name=_("企业微信机器人"), transient_codes=WECOM_TRANSIENT)


def dingtalk_sign(*, secret: str, timestamp_ms: int) -> str:
    """钉钉 加签: base64(HMAC-SHA256(key=secret, msg="<timestamp>\\n<secret>")), URL-encoded."""
    digest = hmac.new(
        secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest))


def dingtalk_url(webhook_url: str, secret: str, *, timestamp_ms: int | None = None) -> str:
    """The webhook URL, signed with `timestamp` and `sign` when the robot has a secret."""
    if not secret:
        return webhook_url
    if timestamp_ms is None:
        timestamp_ms = time.time_ns() // 1_000_000  # wall time: see the module docstring
    sign = dingtalk_sign(secret=secret, timestamp_ms=timestamp_ms)
    separator = "&" if "?" in webhook_url else "?"
    return f"{webhook_url}{separator}timestamp={timestamp_ms}&sign={sign}"


def dingtalk_send(
    *, webhook_url: str, secret: str, text: str, timestamp_ms: int | None = None
) -> Receipt:
    """钉钉群机器人 text message (cut to 4000 bytes), signed when the robot has a secret."""
    answer = post_json(
        dingtalk_url(webhook_url, secret, timestamp_ms=timestamp_ms),
        _text_payload(text, max_bytes=DINGTALK_MAX_BYTES),
    )
    return _robot_answer(answer, name=_("钉钉机器人"), transient_codes=DINGTALK_TRANSIENT)
