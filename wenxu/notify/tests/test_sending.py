"""Sending the outbox: claiming, address resolution, retries with backoff, masking (ADR 0012)."""

import logging
from datetime import timedelta

import pytest
import time_machine
from django.urls import reverse

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.rating import rating_link_issue, rating_token, rating_url
from wenxu.needs.tests.helpers import at
from wenxu.notify import channels, sending
from wenxu.notify.models import Message, Robot
from wenxu.notify.tests.fake_provider import FakeProvider, Reply, running

PHONE = "13812345678"
MASKED = "138****5678"
PENDING, SENDING, SENT, FAILED, CANCELLED = (
    Message.Status.PENDING,
    Message.Status.SENDING,
    Message.Status.SENT,
    Message.Status.FAILED,
    Message.Status.CANCELLED,
)


@pytest.fixture
def provider():
    with running(FakeProvider(default=Reply(200, {"id": "sms-1"}))) as fake:
        yield fake


@pytest.fixture
def robots():
    with running(FakeProvider(default=Reply(200, {"errcode": 0, "errmsg": "ok"}))) as fake:
        yield fake


@pytest.fixture
def http_sms(settings, provider):
    settings.WENXU_SMS_BACKEND = "http"
    settings.WENXU_SMS_URL = provider.url("/sms")
    settings.WENXU_SMS_TOKEN = "sms-token-s3cret"
    settings.WENXU_SMS_SIGNATURE = "【问需】"
    settings.WENXU_OUTBOX_TIMEOUT_SECONDS = 2.0
    return provider


@pytest.fixture
def requester_need(world):
    return world.register(requester=services.RequesterInput(name="张三丰", phone=PHONE))


def sms(need, *, key="sms:test", body="您反映的问题已登记，查询码 ABC123。", **fields):
    values = {
        "key": key,
        "channel": "sms",
        "template": "registered",
        "need": need,
        "requester": need.requester,
        "to_masked": MASKED,
        "body": body,
        "created_at": clock.now(),
        "next_attempt_at": clock.now(),
    }
    values.update(fields)
    return Message.objects.create(**values)


def refreshed(message):
    message.refresh_from_db()
    return message


# --- console and HTTP SMS ------------------------------------------------------------------


def test_console_sms_is_sent_and_logs_only_the_masked_phone_and_no_link_token(
    world, caplog, settings
):
    settings.WENXU_SMS_BACKEND = "console"
    settings.WENXU_SMS_SIGNATURE = "【问需】"
    # given a replied need with a rating link and a message that carries it
    need = world.replied(requester=services.RequesterInput(name="张三丰", phone=PHONE))
    link = rating_link_issue(need)
    message = sms(need, body="已答复，请评价：{link} 谢谢。", rating_link=link, template="reply")
    caplog.set_level(logging.INFO, logger="wenxu.notify")

    # when the outbox is sent through the console backend
    assert sending.send_due() == 1

    # then it counts as sent, and the log has the masked phone but neither the phone nor token
    message = refreshed(message)
    assert message.status == SENT
    assert message.sent_at is not None
    assert message.attempts == 1
    assert MASKED in caplog.text
    assert "/r/…" in caplog.text
    assert "【问需】已答复" in caplog.text
    assert PHONE not in caplog.text
    assert rating_token(link) not in caplog.text
    assert f"message={message.pk}" in caplog.text
    assert "template=reply" in caplog.text


def test_http_sms_sends_bearer_token_idempotency_key_and_records_provider_id(
    requester_need, http_sms
):
    message = sms(requester_need, key="sms:registered:42")

    assert sending.send_due() == 1

    (request,) = http_sms.requests
    assert request.path == "/sms"
    assert request.headers["authorization"] == "Bearer sms-token-s3cret"
    assert request.headers["idempotency-key"] == "sms:registered:42"
    assert request.json == {
        "to": PHONE,
        "text": "【问需】您反映的问题已登记，查询码 ABC123。",
        "ref": "sms:registered:42",
    }
    message = refreshed(message)
    assert (message.status, message.provider_id, message.last_error) == (SENT, "sms-1", "")


def test_phone_is_normalised_before_it_goes_to_the_provider(world, http_sms):
    need = world.register(requester=services.RequesterInput(name="李四", phone="138 1234 5678"))
    need.requester.phone = "+86 138-1234-5678"  # as an import might have stored it
    need.requester.save(update_fields=["phone"])
    sms(need)

    assert sending.send_due() == 1
    assert http_sms.requests[0].json["to"] == PHONE


def test_server_error_is_retried_after_the_backoff_and_not_before(requester_need, http_sms):
    http_sms.reply(Reply(500, {"error": "busy"}))
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as traveller:
        message = sms(requester_need)

        # when the first attempt meets a 500
        assert sending.send_due() == 0

        # then the message waits a minute, with the reason recorded
        message = refreshed(message)
        assert message.status == PENDING
        assert message.attempts == 1
        assert message.next_attempt_at == at(2026, 3, 2, 10, 1)
        assert message.last_error.startswith("HTTP 500")

        # and a sweep 30 seconds later sends nothing
        traveller.shift(timedelta(seconds=30))
        assert sending.send_due() == 0
        assert len(http_sms.requests) == 1

        # and the sweep after the backoff sends it
        traveller.shift(timedelta(seconds=31))
        assert sending.send_due() == 1
    message = refreshed(message)
    assert (message.status, message.attempts, message.last_error) == (SENT, 2, "")
    assert len(http_sms.requests) == 2


def test_rate_limited_429_is_transient(requester_need, http_sms):
    http_sms.reply(Reply(429, {"error": "slow down"}))
    message = sms(requester_need)

    sending.send_due()

    assert refreshed(message).status == PENDING


def test_client_error_fails_at_once_and_masks_what_the_provider_echoes(
    requester_need, http_sms, caplog
):
    caplog.set_level(logging.INFO, logger="wenxu.notify")
    http_sms.reply(Reply(400, {"error": f"invalid number {PHONE}, token sms-token-s3cret"}))
    message = sms(requester_need)

    assert sending.send_due() == 0

    message = refreshed(message)
    assert message.status == FAILED
    assert message.attempts == 1
    assert "HTTP 400" in message.last_error
    assert MASKED in message.last_error
    for secret in (PHONE, "sms-token-s3cret"):
        assert secret not in message.last_error
        assert secret not in caplog.text
    assert "outcome=failed" in caplog.text
    # and it is never tried again
    with time_machine.travel(clock.now() + timedelta(days=1)):
        assert sending.send_due() == 0
    assert len(http_sms.requests) == 1


def test_timeout_is_transient(requester_need, http_sms, settings):
    settings.WENXU_OUTBOX_TIMEOUT_SECONDS = 0.2
    http_sms.reply(Reply(200, {"id": "late"}, delay=1.0))
    message = sms(requester_need)

    assert sending.send_due() == 0

    message = refreshed(message)
    assert message.status == PENDING
    assert "超时" in message.last_error
    assert message.next_attempt_at > clock.now()


def test_connection_refused_is_transient(requester_need, settings):
    with running() as gone:
        url = gone.url("/sms")
    settings.WENXU_SMS_BACKEND = "http"
    settings.WENXU_SMS_URL = url  # the server has stopped: nothing listens on its port
    message = sms(requester_need)

    assert sending.send_due() == 0

    message = refreshed(message)
    assert message.status == PENDING
    assert "无法连接服务商" in message.last_error


def test_transient_failure_at_max_attempts_fails_for_good(requester_need, http_sms, settings):
    settings.WENXU_OUTBOX_MAX_ATTEMPTS = 3
    http_sms.default = Reply(503, {"error": "down"})
    with time_machine.travel(at(2026, 3, 2, 10), tick=False) as traveller:
        message = sms(requester_need)
        for _ in range(5):
            sending.send_due()
            traveller.shift(timedelta(hours=5))

    message = refreshed(message)
    assert message.status == FAILED
    assert message.attempts == 3
    assert "已尝试 3 次" in message.last_error
    assert len(http_sms.requests) == 3


def test_an_unexpected_error_keeps_the_message_for_a_retry(requester_need, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError(f"bug while sending to {kwargs['phone']}")

    monkeypatch.setattr(channels, "sms_send", broken)
    message = sms(requester_need)

    assert sending.send_due() == 0

    message = refreshed(message)
    assert message.status == PENDING
    assert message.last_error.startswith("RuntimeError")
    assert "test_sending.py" in message.last_error
    assert PHONE not in message.last_error


def test_backoff_grows_and_is_capped():
    minutes = [sending.backoff(n) / timedelta(minutes=1) for n in range(1, 9)]
    assert minutes == [1, 5, 15, 60, 240, 240, 240, 240]


# --- claiming ------------------------------------------------------------------------------


def test_send_due_twice_sends_once(requester_need, http_sms):
    message = sms(requester_need)

    assert sending.send_due(ids=[message.pk]) == 1
    assert sending.send_due(ids=[message.pk]) == 0
    assert sending.send_due() == 0

    assert len(http_sms.requests) == 1
    assert refreshed(message).attempts == 1


def test_message_claimed_by_another_worker_is_not_sent(requester_need, http_sms):
    message = sms(requester_need, status=SENDING, claimed_at=clock.now() - timedelta(minutes=2))

    assert sending.send_due() == 0

    assert http_sms.requests == []
    assert refreshed(message).status == SENDING


def test_stale_sending_message_is_claimed_again(requester_need, http_sms):
    # given a worker that crashed mid-send eleven minutes ago
    message = sms(
        requester_need,
        status=SENDING,
        attempts=1,
        claimed_at=clock.now() - timedelta(minutes=11),
    )

    assert sending.send_due() == 1

    message = refreshed(message)
    assert (message.status, message.attempts) == (SENT, 2)
    # the provider sees the same idempotency key as the lost attempt did
    assert http_sms.requests[0].headers["idempotency-key"] == message.key


def test_only_one_of_two_workers_wins_the_claim(requester_need):
    message = sms(requester_need)

    first = sending._claim(message.pk)
    second = sending._claim(message.pk)

    assert first is not None
    assert second is None
    message = refreshed(message)
    assert (message.status, message.attempts, message.claimed_at) == (SENDING, 1, first)


def test_a_lost_claim_does_not_overwrite_the_new_owner(requester_need, http_sms):
    # given a message that another worker re-claimed while this one was still sending
    message = sms(requester_need)
    claimed_at = sending._claim(message.pk)
    assert claimed_at is not None
    Message.objects.filter(pk=message.pk).update(claimed_at=claimed_at + timedelta(minutes=11))

    # when the first worker finishes
    assert sending._send_claimed(message.pk, claimed_at=claimed_at)

    # then its outcome is not written over the new claim
    assert refreshed(message).status == SENDING


def test_future_messages_wait_and_ids_limit_what_is_sent(requester_need, http_sms):
    later = sms(requester_need, key="later", next_attempt_at=clock.now() + timedelta(hours=1))
    first = sms(requester_need, key="first")
    second = sms(requester_need, key="second")

    assert sending.send_due(ids=[first.pk, later.pk]) == 1

    assert [r.json["ref"] for r in http_sms.requests] == ["first"]
    assert refreshed(second).status == PENDING
    assert refreshed(later).status == PENDING
    assert sending.send_due(limit=1) == 1


# --- addresses and bodies ------------------------------------------------------------------


def test_link_placeholder_is_filled_for_the_provider_but_not_stored(world, http_sms):
    need = world.replied(requester=services.RequesterInput(name="张三丰", phone=PHONE))
    link = rating_link_issue(need)
    message = sms(need, body="请评价本次办理：{link}", rating_link=link)

    sending.send_due()

    assert http_sms.requests[0].json["text"] == f"【问需】请评价本次办理：{rating_url(link)}"
    message = refreshed(message)
    assert message.body == "请评价本次办理：{link}"
    assert rating_token(link) not in message.last_error


def test_rating_link_token_echoed_by_the_provider_is_not_stored_or_logged(world, http_sms, caplog):
    caplog.set_level(logging.INFO, logger="wenxu.notify")
    need = world.replied(requester=services.RequesterInput(name="张三丰", phone=PHONE))
    link = rating_link_issue(need)
    message = sms(need, body="请评价本次办理：{link}", rating_link=link)
    http_sms.reply(
        Reply(422, {"error": f"rejected text to {PHONE}: 请评价本次办理：{rating_url(link)}"})
    )

    sending.send_due()

    message = refreshed(message)
    assert message.status == FAILED
    assert "HTTP 422" in message.last_error
    for secret in (rating_token(link), PHONE):
        assert secret not in message.last_error
        assert secret not in caplog.text


def test_used_rating_link_cancels_the_message(world, http_sms):
    need = world.replied(requester=services.RequesterInput(name="张三丰", phone=PHONE))
    link = rating_link_issue(need)
    link.used_at = clock.now()
    link.save(update_fields=["used_at"])
    message = sms(need, body="请评价：{link}", rating_link=link)

    sending.send_due()

    assert refreshed(message).status == CANCELLED
    assert http_sms.requests == []


def test_requester_without_phone_fails_with_a_clear_message(world, http_sms):
    need = world.register(requester=services.RequesterInput(name="张三丰"))
    message = sms(need)

    assert sending.send_due() == 0

    message = refreshed(message)
    assert message.status == FAILED
    assert message.last_error == "群众没有登记手机号，无法发送短信：请补充联系电话后重新发送。"
    assert http_sms.requests == []


def test_landline_cannot_receive_a_text(world, http_sms):
    need = world.register(requester=services.RequesterInput(name="张三丰", phone="0571-88886666"))
    message = sms(need)

    sending.send_due()

    message = refreshed(message)
    assert message.status == FAILED
    assert "固定电话" in message.last_error
    assert "88886666" not in message.last_error


def test_email_goes_through_django_mail_with_subject_and_body(world, mailoutbox, settings):
    settings.DEFAULT_FROM_EMAIL = "wenxu@example.org"
    world.handler.email = "handler@example.org"
    world.handler.save(update_fields=["email"])
    message = Message.objects.create(
        key="email:1",
        channel="email",
        template="assigned",
        user=world.handler,
        to_masked="han***@example.org",
        subject="新交办诉求 WX-2026-000001",
        body="村口路灯不亮\n请在期限内签收。",
        created_at=clock.now(),
        next_attempt_at=clock.now(),
    )

    assert sending.send_due() == 1

    (email,) = mailoutbox
    assert email.to == ["handler@example.org"]
    assert email.from_email == "wenxu@example.org"
    assert email.subject == "新交办诉求 WX-2026-000001"
    assert email.body == "村口路灯不亮\n请在期限内签收。"
    assert refreshed(message).status == SENT


def test_email_without_subject_uses_the_first_line_and_without_address_fails(world, mailoutbox):
    world.handler.email = "handler@example.org"
    world.handler.save(update_fields=["email"])
    common = {
        "channel": "email",
        "template": "digest",
        "to_masked": "h***",
        "body": "今日待办 3 件\n详情见系统。",
        "created_at": clock.now(),
        "next_attempt_at": clock.now(),
    }
    Message.objects.create(key="email:a", user=world.handler, **common)
    no_address = Message.objects.create(key="email:b", user=world.dispatcher, **common)

    assert sending.send_due() == 1

    assert [m.subject for m in mailoutbox] == ["今日待办 3 件"]
    no_address = refreshed(no_address)
    assert no_address.status == FAILED
    assert "邮箱" in no_address.last_error


def robot_message(of, **fields):
    values = {
        "key": f"robot:{of.pk}:{fields.pop('suffix', 1)}",
        "channel": of.kind,
        "template": "assigned",
        "robot": of,
        "to_masked": of.name,
        "body": "新交办：村口路灯不亮（张*，138****5678）",
        "created_at": clock.now(),
        "next_attempt_at": clock.now(),
    }
    values.update(fields)
    return Message.objects.create(**values)


def test_wecom_robot_message_is_sent_and_rate_limit_is_retried(world, robots):
    robot = Robot.objects.create(
        kind="wecom",
        name="住建局群",
        webhook_url=robots.url("/cgi-bin/webhook/send?key=wecom-key-123"),
        unit=world.housing,
    )
    robots.reply(Reply(200, {"errcode": 45009, "errmsg": "api freq out of limit"}))
    limited = robot_message(robot, suffix=1)
    sent = robot_message(robot, suffix=2)

    assert sending.send_due() == 1

    assert robots.requests[0].query == {"key": ["wecom-key-123"]}
    assert robots.requests[1].json == {
        "msgtype": "text",
        "text": {"content": "新交办：村口路灯不亮（张*，138****5678）"},
    }
    limited = refreshed(limited)
    assert limited.status == PENDING
    assert "45009" in limited.last_error
    assert "wecom-key-123" not in limited.last_error
    assert refreshed(sent).status == SENT


def test_robot_rejection_is_permanent(world, robots):
    robot = Robot.objects.create(
        kind="dingtalk", name="调度群", webhook_url=robots.url(), area=world.county
    )
    robots.reply(Reply(200, {"errcode": 310000, "errmsg": "keywords not in content"}))
    message = robot_message(robot)

    sending.send_due()

    message = refreshed(message)
    assert message.status == FAILED
    assert "310000" in message.last_error


def test_inactive_robot_cancels_and_a_deleted_one_fails(world, robots):
    robot = Robot.objects.create(
        kind="wecom", name="住建局群", webhook_url=robots.url(), unit=world.housing, active=False
    )
    cancelled = robot_message(robot)
    orphan = robot_message(robot, suffix=2, robot=None)

    assert sending.send_due() == 0

    assert refreshed(cancelled).status == CANCELLED
    assert "停用" in refreshed(cancelled).last_error
    assert refreshed(orphan).status == FAILED
    assert robots.requests == []


# --- resend and admin ----------------------------------------------------------------------


def test_resend_requeues_failed_and_cancelled_messages_only(requester_need, http_sms):
    failed = sms(requester_need, key="a", status=FAILED, attempts=6, last_error="HTTP 400")
    cancelled = sms(requester_need, key="b", status=CANCELLED)
    sent = sms(requester_need, key="c", status=SENT, attempts=1)

    count = sending.message_resend(message_ids=[failed.pk, cancelled.pk, sent.pk])

    assert count == 2
    failed = refreshed(failed)
    assert (failed.status, failed.attempts, failed.last_error) == (PENDING, 0, "")
    assert failed.next_attempt_at <= clock.now()
    assert refreshed(cancelled).status == PENDING
    assert refreshed(sent).status == SENT


def test_admin_resend_action_queues_and_sends_after_commit(
    requester_need, http_sms, client, django_capture_on_commit_callbacks
):
    root = User.objects.create_superuser("root", password="pw-root-secret")
    client.force_login(root)
    failed = sms(requester_need, status=FAILED, attempts=6, last_error="HTTP 503")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:notify_message_changelist"),
            {"action": "resend", "_selected_action": [failed.pk]},
            follow=True,
        )

    assert response.status_code == 200
    assert "已将 1 条消息重新放入发送队列" in response.content.decode()
    assert refreshed(failed).status == SENT
    assert len(http_sms.requests) == 1


def test_admin_lists_masked_messages_and_hides_robot_secrets(
    requester_need, client, world, provider
):
    root = User.objects.create_superuser("root", password="pw-root-secret")
    client.force_login(root)
    sms(requester_need)
    robot = Robot.objects.create(
        kind="dingtalk",
        name="调度群",
        webhook_url=provider.url("/robot/send?access_token=tok"),
        secret="SECabcdef123456",
        area=world.county,
    )

    messages_page = client.get(reverse("admin:notify_message_changelist")).content.decode()
    robots_page = client.get(reverse("admin:notify_robot_changelist")).content.decode()
    robot_form = client.get(reverse("admin:notify_robot_change", args=[robot.pk])).content.decode()

    assert MASKED in messages_page
    assert PHONE not in messages_page
    assert "调度群" in robots_page
    assert "SECabcdef123456" not in robots_page
    assert "SECabcdef123456" not in robot_form


def test_admin_robot_form_keeps_the_secret_when_left_blank(client, world, provider):
    root = User.objects.create_superuser("root", password="pw-root-secret")
    client.force_login(root)
    robot = Robot.objects.create(
        kind="dingtalk",
        name="调度群",
        webhook_url="https://oapi.dingtalk.com/robot/send?access_token=tok",
        secret="SECabcdef123456",
        area=world.county,
    )

    response = client.post(
        reverse("admin:notify_robot_change", args=[robot.pk]),
        {
            "name": "县调度群",
            "kind": "dingtalk",
            "webhook_url": robot.webhook_url,
            "secret": "",
            "area": world.county.pk,
            "active": "on",
        },
    )

    assert response.status_code == 302
    robot.refresh_from_db()
    assert (robot.name, robot.secret) == ("县调度群", "SECabcdef123456")


# --- review fixes: superseded links, stale claims, masked webhook URLs ---------------------


def _rated_by_phone(world, need):
    services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="yes",
        satisfaction="satisfied",
    )


def _reopened_and_replied_again(world, need):
    _rated_by_phone(world, need)
    need.refresh_from_db()
    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="群众电话反映仍未解决"
    )
    with time_machine.travel(clock.now() + timedelta(hours=1)):
        services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="已重新修复。",
        )


@pytest.mark.parametrize("supersede", [_rated_by_phone, _reopened_and_replied_again])
def test_queued_rating_sms_is_cancelled_when_the_reply_no_longer_awaits_a_rating(
    world, http_sms, supersede
):
    # given a rating SMS queued (or waiting for a retry) with a still unused, unexpired link
    need = world.replied(requester=services.RequesterInput(name="张三丰", phone=PHONE))
    link = rating_link_issue(need)
    message = sms(need, body="请评价：{link}", rating_link=link)

    # when the reply is meanwhile rated by phone (or reopened and answered anew)
    supersede(world, need)

    # then the SMS is not sent: its link would only say "no longer needed"
    sending.send_due()
    message = refreshed(message)
    assert message.status == CANCELLED
    assert "不再等待评价" in message.last_error
    assert http_sms.requests == []
    link.refresh_from_db()
    assert link.used_at is None  # the link itself was never used: only the reply moved on


def test_stale_claim_threshold_follows_the_outbox_timeout(requester_need, http_sms, settings):
    # given a timeout of 2 minutes (slow SMTP): a claim must outlast many of them
    settings.WENXU_OUTBOX_TIMEOUT_SECONDS = 120
    assert sending.stale_after() == timedelta(minutes=20)
    message = sms(
        requester_need, status=SENDING, attempts=1, claimed_at=clock.now() - timedelta(minutes=11)
    )

    # when another worker looks 11 minutes after the claim, the claim is still alive
    assert sending.send_due() == 0
    assert sending._claim(message.pk) is None
    assert http_sms.requests == []

    # and only after 20 minutes is it taken for a crashed worker's
    Message.objects.filter(pk=message.pk).update(claimed_at=clock.now() - timedelta(minutes=21))
    assert sending.send_due() == 1
    assert refreshed(message).status == SENT


def test_stale_claim_threshold_is_never_below_ten_minutes(settings):
    settings.WENXU_OUTBOX_TIMEOUT_SECONDS = 0.5
    assert sending.stale_after() == timedelta(minutes=10)


def test_admin_robot_list_masks_the_webhook_credential_and_the_form_keeps_it(client, world):
    root = User.objects.create_superuser("root", password="pw-root-secret")
    client.force_login(root)
    key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"
    token = "dt0123456789abcdef0123456789abcdef"
    wecom = Robot.objects.create(
        kind="wecom",
        name="住建局群",
        webhook_url=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={key}",
        unit=world.housing,
    )
    Robot.objects.create(
        kind="dingtalk",
        name="调度群",
        webhook_url=f"https://oapi.dingtalk.com/robot/send?access_token={token}",
        area=world.county,
    )

    page = client.get(reverse("admin:notify_robot_changelist")).content.decode()
    form = client.get(reverse("admin:notify_robot_change", args=[wecom.pk])).content.decode()

    # the list shows where each robot posts, with the credential masked but for its end
    assert "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***5aaa" in page
    assert "https://oapi.dingtalk.com/robot/send?access_token=***cdef" in page
    assert key not in page
    assert token not in page
    # the change form keeps the whole URL, to be edited
    assert key in form


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://h.example/send?key=short", "https://h.example/send?key=***"),
        ("https://h.example/send?a=1&token=x#frag", "https://h.example/send?a=***&token=***"),
        ("https://u:pass1234@h.example/send", "https://***@h.example/send"),
        ("https://h.example/send?bare-secret", "https://h.example/send?***"),
        ("https://h.example/send", "https://h.example/send"),
    ],
)
def test_webhook_url_masking(url, shown):
    from wenxu.notify.admin import mask_webhook_url

    assert mask_webhook_url(url) == shown
