"""Which messages each need event produces, and what they say (issue #5, items 4 and 5).

Residents get a text message per event when they gave a phone; staff alerts go in-app, by
e-mail and to group robots. No body carries the requester's name or phone.
"""

from datetime import timedelta

import pytest
import time_machine

from wenxu.accounts.models import Membership, User
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need, NeedEvent, RatingLink, ReopenRequest
from wenxu.needs.services import RequesterInput
from wenxu.needs.sweeps import sweep
from wenxu.notify import messages
from wenxu.notify.models import Delivery, Message, Notification, Robot
from wenxu.notify.services import notify_for_event

SITE = "https://wx.example.cn"
NAME, PHONE = "张三丰", "13812345678"


@pytest.fixture(autouse=True)
def _site(settings, monkeypatch):
    settings.WENXU_SITE_URL = SITE
    # Sending is another helper's concern (and would call robots' webhooks): messages stay
    # pending here, so each test sees exactly what was written.
    monkeypatch.setattr("wenxu.notify.sending.send_due", lambda **kwargs: 0)


@pytest.fixture
def run_on_commit(django_capture_on_commit_callbacks):
    """Run on-commit work (the event's delivery task) as production does after the commit."""

    def run(action):
        with django_capture_on_commit_callbacks(execute=True):
            return action()

    return run


def _register(world, run, **overrides):
    values = {"requester": RequesterInput(name=NAME, phone=PHONE)}
    values.update(overrides)
    return run(lambda: world.register(**values))


def _sms(need, template):
    return list(Message.objects.filter(need=need, template=template, channel="sms"))


def _assert_no_personal_data():
    for message in Message.objects.all():
        for text in (message.body, message.subject, message.to_masked):
            assert PHONE not in text, message.key
            assert NAME not in text, message.key
    for note in Notification.objects.all():
        assert PHONE not in note.message
        assert NAME not in note.message


def _to_replied(world, run, need):
    need = run(
        lambda: services.need_assign(
            actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
        )
    )
    need = run(lambda: services.need_accept(actor=world.handler, need=need, version=need.version))
    return run(
        lambda: services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="resolved",
            reply_text="已更换路灯，恢复照明。",
        )
    )


# --------------------------------------------------------------------------- resident texts


def test_registered_text_gives_the_tracking_code_and_link(world, run_on_commit):
    need = _register(world, run_on_commit)

    [sms] = _sms(need, "registered")
    code = need.tracking_code
    assert sms.body == (
        f"您反映的“村口路灯不亮”已登记，查询码{code}，请妥善保存。"
        f"办理进度：{SITE}/track?code={code}"
    )
    assert sms.to_masked == "138****5678"
    assert sms.requester == need.requester
    event = NeedEvent.objects.get(need=need, action="register")
    assert sms.key == f"registered:e{event.pk}:sms:r{need.requester_id}"
    _assert_no_personal_data()


def test_replied_text_gives_the_outcome_and_a_rating_link_placeholder(world, run_on_commit):
    need = _to_replied(world, run_on_commit, _register(world, run_on_commit))

    [sms] = _sms(need, "replied")
    assert sms.body == (
        f"您反映的“村口路灯不亮”已答复：问题已解决。详情：{SITE}/track?code={need.tracking_code}"
        " 请评价办理结果：{link}"
    )
    assert sms.rating_link == RatingLink.objects.get(need=need, replied_at=need.replied_at)
    _assert_no_personal_data()


def test_planned_reply_text_says_when_the_resident_hears_again(world, run_on_commit):
    need = _register(world, run_on_commit)
    need = run_on_commit(
        lambda: services.need_assign(
            actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
        )
    )
    need = services.need_accept(actor=world.handler, need=need, version=need.version)
    followup = clock.today() + timedelta(days=30)
    need = run_on_commit(
        lambda: services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="planned",
            reply_text="已列入明年改造计划。",
            followup_date=followup,
        )
    )
    [sms] = _sms(need, "replied")
    assert f"正在创造条件推动解决，{followup.month}月{followup.day}日前再告知您进展" in sms.body


def test_reopened_and_fulfilled_texts(world, run_on_commit):
    need = _to_replied(world, run_on_commit, _register(world, run_on_commit))
    need = run_on_commit(
        lambda: services.need_reopen(
            actor=world.dispatcher, need=need, version=need.version, reason="群众反映又坏了"
        )
    )
    [reopened] = _sms(need, "reopened")
    assert reopened.body == (
        f"您反映的“村口路灯不亮”已重新交办，我们将抓紧办理。进度：{SITE}/track?code="
        f"{need.tracking_code}"
    )

    need = run_on_commit(
        lambda: services.need_reply(
            actor=world.handler,
            need=need,
            version=need.version,
            outcome="planned",
            reply_text="明年改造",
            followup_date=clock.today() + timedelta(days=5),
        )
    )
    need = services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="partly",
        satisfaction="basic",
    )
    need = run_on_commit(
        lambda: services.need_fulfil(
            actor=world.handler, need=need, version=need.version, note="已改造完成"
        )
    )
    [fulfilled] = _sms(need, "fulfilled")
    assert fulfilled.body == (
        f"您反映的“村口路灯不亮”，承诺事项已兑现，诉求已办结。详情：{SITE}/track?code="
        f"{need.tracking_code}"
    )
    assert len(_sms(need, "replied")) == 2  # one per reply, each its own event


def test_declined_reopen_text_gives_the_reason_masked(world, run_on_commit):
    # given a resident who rated the reply 不满意 by the link
    need = _to_replied(world, run_on_commit, _register(world, run_on_commit))
    link = RatingLink.objects.get(need=need)
    run_on_commit(lambda: services.need_rate(link=link, resolved="no", satisfaction="dissatisfied"))
    request = ReopenRequest.objects.get(need=need)
    need.refresh_from_db()
    # when the dispatcher declines, quoting a phone number in the reason
    run_on_commit(
        lambda: services.reopen_request_decline(
            actor=world.dispatcher,
            request=request,
            version=need.version,
            reason=f"已现场核实路灯正常，如有疑问请联系{PHONE}",
        )
    )
    # then the resident is told why, and the number is masked
    [sms] = _sms(need, "reopen_declined")
    assert sms.body.startswith(
        "您对“村口路灯不亮”的重办申请经审核不予重办，理由：已现场核实路灯正常"
    )
    assert "138****5678" in sms.body
    _assert_no_personal_data()


def test_topic_progress_text():
    text = messages.sms_topic_progress(
        topic_title="东河镇路灯集中整治", progress="已完成第一批120盏更换", link=f"{SITE}/t/1"
    )
    assert text == (
        f"您关心的“东河镇路灯集中整治”有新进展：已完成第一批120盏更换。详情：{SITE}/t/1"
    )


def test_requester_without_phone_gets_no_text(world, run_on_commit):
    need = _register(world, run_on_commit, requester=RequesterInput(name=NAME))
    assert not Message.objects.filter(need=need, channel="sms").exists()
    need = _register(world, run_on_commit, requester=None)
    assert not Message.objects.filter(need=need, channel="sms").exists()


def test_confidential_requester_still_gets_their_own_texts(world, run_on_commit):
    need = _register(
        world, run_on_commit, requester=RequesterInput(name=NAME, phone=PHONE, confidential=True)
    )
    [sms] = _sms(need, "registered")
    assert sms.to_masked == "138****5678"


def test_title_quoting_the_resident_is_masked_and_truncated(world, run_on_commit):
    need = _register(
        world, run_on_commit, title=f"{NAME}反映家门口路灯坏了一个多月请尽快修复，电话{PHONE}"
    )
    [sms] = _sms(need, "registered")
    assert "“张**反映家门口路灯坏了一个多…”" in sms.body
    _assert_no_personal_data()


def test_retried_delivery_writes_nothing_twice(world, run_on_commit):
    need = _register(world, run_on_commit)
    event = NeedEvent.objects.get(need=need, action="register")
    before = (Message.objects.count(), Notification.objects.count())
    assert notify_for_event(event_id=event.pk) == 0
    assert notify_for_event(event_id=event.pk) == 0
    assert (Message.objects.count(), Notification.objects.count()) == before
    assert Delivery.objects.filter(event=event).count() == 1


# --------------------------------------------------------------------------- staff alerts


def _with_email(user, address):
    user.email = address
    user.save(update_fields=["email"])
    return user


def test_assignment_reaches_the_lead_unit_in_app_by_email_and_robot(world, run_on_commit):
    _with_email(world.handler, "handler@housing.example.cn")
    unit_robot = Robot.objects.create(
        kind="wecom", name="住建局工作群", webhook_url="https://robot.invalid/1", unit=world.housing
    )
    Robot.objects.create(
        kind="dingtalk",
        name="交通局工作群",
        webhook_url="https://robot.invalid/2",
        unit=world.transport,
    )
    need = world.register()
    need = run_on_commit(
        lambda: services.need_assign(
            actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
        )
    )
    event = NeedEvent.objects.get(need=need, action="assign")

    note = Notification.objects.get(event=event)
    assert note.recipient == world.handler
    assert note.message.startswith(f"【新交办】{need.number}「村口路灯不亮」已交办县住建局")
    [mail] = Message.objects.filter(template="assigned", channel="email")
    assert (mail.user, mail.key) == (
        world.handler,
        f"assigned:e{event.pk}:email:u{world.handler.pk}",
    )
    assert mail.subject == f"【新交办】{need.number}"
    assert f"{SITE}/needs/{need.number}/" in mail.body
    [robot] = Message.objects.filter(template="assigned", channel__in=["wecom", "dingtalk"])
    assert robot.robot == unit_robot


def test_staff_without_an_email_address_get_no_email(world, run_on_commit):
    need = world.register()
    run_on_commit(
        lambda: services.need_assign(
            actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
        )
    )
    assert Notification.objects.filter(recipient=world.handler).exists()
    assert not Message.objects.filter(channel="email").exists()


def test_extension_request_reaches_dispatchers_by_email_and_their_area_robot(world, run_on_commit):
    _with_email(world.dispatcher, "dispatch@county.example.cn")
    county_robot = Robot.objects.create(
        kind="wecom", name="县调度群", webhook_url="https://robot.invalid/3", area=world.county
    )
    Robot.objects.create(
        kind="wecom", name="西岭乡调度群", webhook_url="https://robot.invalid/4", area=world.town_b
    )
    need = world.in_progress()
    run_on_commit(
        lambda: services.need_request_extension(
            actor=world.handler, need=need, version=need.version, days=3, reason="需协调电力部门"
        )
    )
    [mail] = Message.objects.filter(template="extension_requested", channel="email")
    assert mail.user == world.dispatcher
    assert "县住建局申请延期3个工作日，请审批" in mail.body
    [robot] = Message.objects.filter(template="extension_requested", channel="wecom")
    assert robot.robot == county_robot  # not the other township's group


def test_reopen_request_reaches_the_dispatchers(world, run_on_commit):
    _with_email(world.dispatcher, "dispatch@county.example.cn")
    need = _to_replied(world, run_on_commit, _register(world, run_on_commit))
    link = RatingLink.objects.get(need=need)
    run_on_commit(
        lambda: services.need_rate(link=link, resolved="no", satisfaction="very_dissatisfied")
    )
    event = NeedEvent.objects.get(need=need, action="request_reopen")
    assert Notification.objects.filter(event=event, recipient=world.dispatcher).exists()
    [mail] = Message.objects.filter(template="reopen_requested")
    assert "群众评价：未解决、非常不满意，申请重办" in mail.body
    _assert_no_personal_data()


# --------------------------------------------------------------------------- sweep-made messages


def test_unrated_reply_gets_one_callback_request_after_the_configured_days(
    world, run_on_commit, settings
):
    settings.WENXU_CALLBACK_REQUEST_DAYS = 3
    need = _to_replied(world, run_on_commit, _register(world, run_on_commit))
    with time_machine.travel(need.replied_at + timedelta(days=2, hours=23)):
        sweep()
    assert not _sms(need, "callback_request")
    with time_machine.travel(need.replied_at + timedelta(days=3, hours=1)):
        for _ in range(3):
            sweep()
    [sms] = _sms(need, "callback_request")
    assert sms.body == "您反映的“村口路灯不亮”已答复，请告诉我们是否解决、是否满意：{link}"
    assert sms.rating_link == RatingLink.objects.get(need=need)


def test_rated_reply_gets_no_callback_request(world, run_on_commit):
    need = _to_replied(world, run_on_commit, _register(world, run_on_commit))
    services.need_rate(
        link=RatingLink.objects.get(need=need), resolved="yes", satisfaction="satisfied"
    )
    with time_machine.travel(need.replied_at + timedelta(days=4)):
        sweep()
    assert not _sms(need, "callback_request")


def test_sweep_catches_up_messages_of_an_event_whose_delivery_never_ran(world):
    # given a registration whose delivery task was lost (no on-commit callbacks run here)
    need = world.register(requester=RequesterInput(name=NAME, phone=PHONE))
    event = NeedEvent.objects.get(need=need, action="register")
    assert not Delivery.objects.filter(event=event).exists()
    # when the sweep comes by a few minutes later, several times
    with time_machine.travel(event.created_at + timedelta(minutes=5)):
        assert sweep().caught_up >= 1
        sweep()
    # then the resident's text and the dispatchers' notification exist once
    assert len(_sms(need, "registered")) == 1
    assert Notification.objects.filter(event=event, recipient=world.dispatcher).count() == 1
    assert Delivery.objects.filter(event=event).count() == 1


def test_catch_up_leaves_old_and_fresh_events_alone(world):
    need = world.register(requester=RequesterInput(name=NAME, phone=PHONE))
    event = NeedEvent.objects.get(need=need, action="register")
    with time_machine.travel(event.created_at + timedelta(seconds=30)):
        assert sweep().caught_up == 0  # its own task is normally under way
    with time_machine.travel(event.created_at + timedelta(hours=49)):
        assert sweep().caught_up == 0  # beyond the catch-up window
    assert not _sms(need, "registered")


# --------------------------------------------------------------------------- daily digest


def test_daily_digest_per_unit_once_a_day_after_the_hour(world, settings):
    settings.WENXU_DIGEST_HOUR = 8
    _with_email(world.handler, "handler@housing.example.cn")
    quiet_handler = _with_email(
        User.objects.create_user(username="water", password="x"), "w@water.example.cn"
    )
    water = world.transport_roads
    Membership.objects.create(user=quiet_handler, role="handler", unit=water)
    robot = Robot.objects.create(
        kind="wecom", name="住建局工作群", webhook_url="https://robot.invalid/1", unit=world.housing
    )
    from wenxu.needs.tests.helpers import at

    with time_machine.travel(at(2026, 3, 2, 10), tick=False):  # Monday
        waiting = world.assigned()
        world.in_progress()
    with time_machine.travel(at(2026, 3, 3, 7, 59), tick=False):
        assert sweep().digests == 0  # before the hour
    with time_machine.travel(at(2026, 3, 3, 8, 1), tick=False):
        assert sweep().digests == 2  # the handler's e-mail and the unit's robot
        assert sweep().digests == 0
    with time_machine.travel(at(2026, 3, 3, 15), tick=False):
        assert sweep().digests == 0
    mails = Message.objects.filter(template="digest", channel="email")
    assert [m.user for m in mails] == [world.handler]  # nothing to report for 养护中心
    assert mails[0].key == f"digest:u{world.housing.pk}:2026-03-03:email:u{world.handler.pk}"
    assert mails[0].body.startswith(
        "【每日汇总 3月3日】县住建局：昨日新交办2件，待签收1件，24小时内到期0件，已超期0件。"
    )
    assert Message.objects.get(template="digest", robot=robot)
    assert waiting.status == "assigned"
    with time_machine.travel(at(2026, 3, 4, 9), tick=False):
        assert sweep().digests == 2  # the next day's
    assert Need.objects.count() == 2


def test_requesters_of_merged_needs_hear_of_the_reply_about_their_own_need(world, run_on_commit):
    # given a duplicate from another resident merged into the need
    need = _register(world, run_on_commit)
    duplicate = _register(
        world,
        run_on_commit,
        title="路灯坏了没人修",
        requester=RequesterInput(name="李四", phone="13900001111"),
    )
    run_on_commit(
        lambda: services.need_merge(
            actor=world.dispatcher, need=duplicate, version=duplicate.version, into=need
        )
    )

    # when the need is replied, and the reply event's delivery runs again (a retried task)
    need = _to_replied(world, run_on_commit, Need.objects.get(pk=need.pk))
    reply = NeedEvent.objects.get(need=need, action="reply")
    notify_for_event(event_id=reply.pk)

    # then the other resident gets one text about their own need, without a rating link
    [other] = _sms(duplicate, "replied")
    code = duplicate.tracking_code
    assert other.body == (
        f"您反映的“路灯坏了没人修”已答复：问题已解决。详情：{SITE}/track?code={code}"
    )
    assert other.rating_link is None
    assert other.to_masked == "139****1111"
    # and the need's own requester still gets theirs with the rating link
    [own] = _sms(need, "replied")
    assert own.rating_link is not None
    assert "李四" not in own.body
    assert "13900001111" not in own.body
    _assert_no_personal_data()
