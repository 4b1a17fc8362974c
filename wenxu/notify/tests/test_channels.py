"""The channels one by one: robots' payloads and error codes, DingTalk signing, HTTP, e-mail."""

import base64
import hashlib
import hmac
import smtplib
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.mail.backends.base import BaseEmailBackend

from wenxu.lib import clock
from wenxu.notify import channels, sending
from wenxu.notify.models import Message, Robot
from wenxu.notify.tests.fake_provider import FakeProvider, Reply, running

SECRET = "SEC0123456789abcdef"
FIXED = datetime(2026, 3, 2, 2, 0, 0, 123000, tzinfo=UTC)
FIXED_MS = 1772416800123


@pytest.fixture
def robots(settings):
    settings.WENXU_OUTBOX_TIMEOUT_SECONDS = 2.0
    with running(FakeProvider(default=Reply(200, {"errcode": 0, "errmsg": "ok"}))) as fake:
        yield fake


def expected_sign(timestamp_ms: int, secret: str) -> str:
    """DingTalk's 加签, recomputed here from its documentation, independently of the code."""
    to_sign = f"{timestamp_ms}\n{secret}".encode()
    return base64.b64encode(hmac.new(secret.encode(), to_sign, hashlib.sha256).digest()).decode()


def robot_message(robot, body="新交办：村口路灯不亮"):
    return Message.objects.create(
        key=f"robot:{robot.pk}:{body}",
        channel=robot.kind,
        template="assigned",
        robot=robot,
        to_masked=robot.name,
        body=body,
        created_at=clock.now(),
        next_attempt_at=clock.now(),
    )


# --- 钉钉 -----------------------------------------------------------------------------------


def test_dingtalk_signed_url_carries_timestamp_and_hmac_sign(world, robots):
    assert int(FIXED.timestamp() * 1000) == FIXED_MS
    robot = Robot.objects.create(
        kind="dingtalk",
        name="县调度群",
        webhook_url=robots.url("/robot/send?access_token=dt-token"),
        secret=SECRET,
        area=world.county,
    )
    with time_machine.travel(FIXED, tick=False):
        message = robot_message(robot)
        assert sending.send_due() == 1

    (request,) = robots.requests
    assert request.query["access_token"] == ["dt-token"]
    assert request.query["timestamp"] == [str(FIXED_MS)]
    assert request.query["sign"] == [expected_sign(FIXED_MS, SECRET)]
    assert request.json == {"msgtype": "text", "text": {"content": "新交办：村口路灯不亮"}}
    message.refresh_from_db()
    assert message.status == Message.Status.SENT


def test_dingtalk_sign_is_url_encoded():
    # a sign with "+", "/" or "=" must survive the query string
    url = channels.dingtalk_url(
        "https://oapi.dingtalk.com/robot/send?access_token=x", SECRET, timestamp_ms=FIXED_MS
    )
    raw_sign = url.split("&sign=")[1]
    assert "+" not in raw_sign
    assert "/" not in raw_sign
    assert "=" not in raw_sign
    assert url.startswith("https://oapi.dingtalk.com/robot/send?access_token=x&timestamp=")


def test_dingtalk_without_secret_posts_to_the_plain_url(world, robots):
    robot = Robot.objects.create(
        kind="dingtalk", name="县调度群", webhook_url=robots.url("/robot/send"), area=world.county
    )
    robot_message(robot)

    sending.send_due()

    assert robots.requests[0].query == {}


def test_dingtalk_rate_limit_is_transient_and_other_codes_are_not(world, robots):
    robot = Robot.objects.create(
        kind="dingtalk", name="县调度群", webhook_url=robots.url(), secret=SECRET, area=world.county
    )
    robots.reply(
        Reply(200, {"errcode": 130101, "errmsg": "send too fast"}),
        Reply(200, {"errcode": 310000, "errmsg": "sign not match"}),
    )
    limited = robot_message(robot, body="一")
    refused = robot_message(robot, body="二")

    assert sending.send_due() == 0

    limited.refresh_from_db()
    refused.refresh_from_db()
    assert (limited.status, refused.status) == (Message.Status.PENDING, Message.Status.FAILED)
    assert "130101" in limited.last_error
    assert "310000" in refused.last_error
    assert SECRET not in refused.last_error
    assert "sign=" not in refused.last_error


# --- 企业微信 -------------------------------------------------------------------------------


def test_wecom_payload_and_error_codes(robots):
    url = robots.url("/cgi-bin/webhook/send?key=k1")
    robots.reply(
        Reply(200, {"errcode": 0, "errmsg": "ok"}),
        Reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
        Reply(200, {"errcode": 93000, "errmsg": "invalid webhook url"}),
        Reply(200, None),
    )

    assert channels.wecom_send(webhook_url=url, text="你好") == channels.Receipt()
    with pytest.raises(channels.Failure) as limited:
        channels.wecom_send(webhook_url=url, text="你好")
    with pytest.raises(channels.Failure) as refused:
        channels.wecom_send(webhook_url=url, text="你好")
    with pytest.raises(channels.Failure) as garbled:
        channels.wecom_send(webhook_url=url, text="你好")

    assert robots.requests[0].json == {"msgtype": "text", "text": {"content": "你好"}}
    assert robots.requests[0].headers["content-type"].startswith("application/json")
    assert limited.value.transient
    assert not refused.value.transient
    assert "93000" in refused.value.reason
    assert garbled.value.transient


# --- HTTP ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "transient"),
    [(500, True), (502, True), (503, True), (429, True), (408, True), (400, False), (401, False)],
)
def test_http_status_decides_whether_to_retry(robots, status, transient):
    robots.reply(Reply(status, {"error": "x"}))

    with pytest.raises(channels.Failure) as failure:
        channels.post_json(robots.url(), {})

    assert failure.value.transient is transient
    assert failure.value.reason.startswith(f"HTTP {status}")


def test_redirects_are_not_followed(robots):
    robots.reply(Reply(307, None))

    with pytest.raises(channels.Failure) as failure:
        channels.post_json(robots.url(), {"a": 1})

    assert not failure.value.transient
    assert "跳转" in failure.value.reason
    assert len(robots.requests) == 1


def test_non_http_urls_are_refused_without_a_request():
    with pytest.raises(channels.Failure) as failure:
        channels.post_json("file:///etc/passwd", {})

    assert not failure.value.transient


def test_http_timeout_uses_the_outbox_setting(robots, settings):
    settings.WENXU_OUTBOX_TIMEOUT_SECONDS = 0.2
    robots.reply(Reply(200, {"errcode": 0}, delay=1.0))

    with pytest.raises(channels.Failure) as failure:
        channels.post_json(robots.url(), {})

    assert failure.value.transient
    assert "0.2" in failure.value.reason


def test_sms_http_backend_without_url_is_a_configuration_error(settings):
    settings.WENXU_SMS_BACKEND = "http"
    settings.WENXU_SMS_URL = ""

    with pytest.raises(channels.Failure) as failure:
        channels.sms_send(phone="13812345678", text="x", key="k", to_masked="138****5678")

    assert not failure.value.transient
    assert "WENXU_SMS_URL" in failure.value.reason


def test_sms_without_provider_id_is_still_sent(robots, settings):
    settings.WENXU_SMS_BACKEND = "http"
    settings.WENXU_SMS_URL = robots.url("/sms")
    robots.reply(Reply(202, None))

    receipt = channels.sms_send(phone="13812345678", text="x", key="k", to_masked="138****5678")

    assert receipt == channels.Receipt(provider_id="")


# --- e-mail --------------------------------------------------------------------------------


class RaisingBackend(BaseEmailBackend):
    error: Exception = OSError()

    def send_messages(self, email_messages):
        raise type(self).error


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"no such user")}), False),
        (smtplib.SMTPServerDisconnected("gone"), True),
        (smtplib.SMTPDataError(451, b"try later"), True),
        (smtplib.SMTPDataError(554, b"rejected"), False),
        (TimeoutError(), True),
        (ConnectionRefusedError(), True),
    ],
)
def test_email_errors_are_classified(settings, error, transient):
    settings.EMAIL_BACKEND = "wenxu.notify.tests.test_channels.RaisingBackend"
    RaisingBackend.error = error

    with pytest.raises(channels.Failure) as failure:
        channels.email_send(address="a@example.org", subject="s", text="t")

    assert failure.value.transient is transient
    assert "a@example.org" not in failure.value.reason


# --- review fixes: wall-clock DingTalk timestamps, robot text limits ------------------------


def test_dingtalk_signs_with_wall_time_even_when_the_domain_clock_travels(world, robots):
    # given a robot with a secret, and demo data written with the domain clock moved to the past
    robot = Robot.objects.create(
        kind="dingtalk",
        name="县调度群",
        webhook_url=robots.url("/robot/send?access_token=dt-token"),
        secret=SECRET,
        area=world.county,
    )
    before = time.time_ns() // 1_000_000
    with clock.travel(clock.now() - timedelta(days=30)):
        robot_message(robot)
        # when the message is sent
        assert sending.send_due() == 1
    after = time.time_ns() // 1_000_000

    # then the timestamp is the real time (DingTalk refuses one more than an hour off)
    (request,) = robots.requests
    (timestamp,) = request.query["timestamp"]
    assert before <= int(timestamp) <= after
    assert request.query["sign"] == [expected_sign(int(timestamp), SECRET)]


def test_dingtalk_send_accepts_a_fixed_timestamp(robots):
    channels.dingtalk_send(
        webhook_url=robots.url("/robot/send"), secret=SECRET, text="x", timestamp_ms=FIXED_MS
    )

    assert robots.requests[0].query["timestamp"] == [str(FIXED_MS)]
    assert robots.requests[0].query["sign"] == [expected_sign(FIXED_MS, SECRET)]


def sent_content(provider: FakeProvider) -> str:
    return str(provider.requests[-1].json["text"]["content"])


def test_long_wecom_text_is_cut_to_2048_bytes_at_a_character_boundary(robots):
    # "a" first, so that the cut falls inside a three-byte character
    text = "a" + "村口路灯不亮" * 200
    assert len(text.encode()) > 2048

    channels.wecom_send(webhook_url=robots.url("/cgi-bin/webhook/send?key=k"), text=text)

    content = sent_content(robots)
    assert len(content.encode("utf-8")) <= 2048
    assert len(content.encode("utf-8")) > 2040  # cut near the limit, not far before it
    assert content.endswith("…")
    assert text.startswith(content[:-1])


def test_long_dingtalk_text_is_cut_to_4000_bytes(robots):
    text = "新交办：" + "路" * 2000
    channels.dingtalk_send(webhook_url=robots.url("/robot/send"), secret="", text=text)

    content = sent_content(robots)
    assert 3990 < len(content.encode("utf-8")) <= 4000
    assert content.endswith("…")
    assert text.startswith(content[:-1])


def test_robot_text_within_the_limit_is_sent_whole(robots):
    text = "路" * 682 + "ab"  # exactly 2048 bytes
    assert len(text.encode()) == 2048

    channels.wecom_send(webhook_url=robots.url(), text=text)

    assert sent_content(robots) == text


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("abcdef", 6, "abcdef"),
        ("abcdefg", 6, "abc…"),  # "…" is three bytes
        ("路路路", 8, "路…"),  # 路 is three bytes: a second one would end half-cut
        ("ab路", 4, "a…"),
        ("😀😀", 6, "…"),  # no room for a four-byte character
    ],
)
def test_fit_bytes(text, limit, expected):
    assert channels.fit_bytes(text, limit) == expected
