"""`/track`: a resident follows their need with the tracking code and the phone's last digits."""

from typing import Any

from django.test import Client

from conftest import World
from wenxu.needs import services
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.rating import rating_link_issue
from wenxu.needs.services import RequesterInput
from wenxu.public import views

PHONE = "13912345678"


def _replied(world: World, **overrides: Any) -> Need:
    need = world.replied(requester=RequesterInput(name="张三", phone=PHONE), **overrides)
    return need


def _track(client: Client, code: str, tail: str = "") -> Any:
    return client.get("/track", {"code": code, "phone_tail": tail})


def test_code_and_phone_digits_show_the_reply_without_staff_or_internal_notes(
    world: World, client: Client
) -> None:
    # Given a replied need with an internal progress note
    need = world.in_progress(requester=RequesterInput(name="张三", phone=PHONE))
    services.need_progress(
        actor=world.handler, need=need, version=need.version, note="内部：联系了施工队老李"
    )
    need.refresh_from_db()
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已更换路灯，恢复照明。",
        followup_date=None,
    )

    response = _track(client, need.tracking_code.lower(), "5678")

    html = response.content.decode()
    assert response.status_code == 200
    assert "已更换路灯，恢复照明。" in html
    assert "县住建局" in html  # the unit answers to the resident
    assert "已答复" in html
    assert "联系了施工队" not in html
    assert str(world.handler) not in html
    assert str(world.officer) not in html
    assert "张三" not in html
    assert PHONE not in html
    assert response["Referrer-Policy"] == "no-referrer"


def test_wrong_digits_and_wrong_code_look_exactly_the_same(world: World, client: Client) -> None:
    need = _replied(world)

    wrong_tail = _track(client, need.tracking_code, "0000")
    no_tail = _track(client, need.tracking_code, "")
    wrong_code = _track(client, "ACDE3467", "5678")

    def body(response: Any, code: str, tail: str) -> str:
        html: str = response.content.decode()
        return html.replace(code, "CODE").replace(f'value="{tail}"', "")

    assert wrong_tail.status_code == no_tail.status_code == wrong_code.status_code == 200
    assert body(wrong_tail, need.tracking_code, "0000") == body(wrong_code, "ACDE3467", "5678")
    assert body(no_tail, need.tracking_code, "") == body(wrong_code, "ACDE3467", "5678")
    assert "已更换路灯" not in wrong_tail.content.decode()


def test_without_a_phone_on_record_the_code_alone_shows_the_status_only(
    world: World, client: Client
) -> None:
    need = world.replied()  # no requester

    response = _track(client, need.tracking_code)
    with_digits = _track(client, need.tracking_code, "1234")

    html = response.content.decode()
    assert 'data-testid="tracked-status"' in html
    assert "已答复" in html
    assert "已更换路灯" not in html  # the reply needs the phone's digits
    assert 'data-testid="tracked-steps"' not in html
    assert 'data-testid="tracked"' not in with_digits.content.decode()


def test_repeated_wrong_digits_lock_the_code_for_a_while(world: World, client: Client) -> None:
    need = _replied(world)
    limit, _window = views.FAILURES_PER_CODE
    for _ in range(limit):
        assert _track(client, need.tracking_code, "0000").status_code == 200

    locked = _track(client, need.tracking_code, "5678")

    assert locked.status_code == 429
    assert "已更换路灯" not in locked.content.decode()


def test_many_lookups_from_one_address_are_slowed_down(world: World, client: Client) -> None:
    limit, _window = views.LOOKUPS_PER_ADDRESS
    codes = [f"ACDE34{n:02d}" for n in range(limit)]
    for code in codes:
        assert _track(client, code, "1234").status_code == 200

    assert _track(client, "ACDE3499", "1234").status_code == 429


def test_a_merged_need_shows_the_progress_of_the_need_it_went_into(
    world: World, client: Client
) -> None:
    target = world.register(title="同一路段路灯不亮")
    need = world.register(requester=RequesterInput(name="李四", phone=PHONE))
    services.need_merge(actor=world.dispatcher, need=need, version=need.version, into=target)
    target.refresh_from_db()
    services.need_assign(
        actor=world.dispatcher, need=target, version=target.version, lead_unit=world.housing
    )

    html = _track(client, need.tracking_code, "5678").content.decode()

    assert "合并办理" in html
    assert "已交办" in html
    assert "县住建局" in html


def test_a_merged_requester_does_not_see_the_other_residents_rating_as_their_own(
    world: World, client: Client
) -> None:
    # Given a need merged into another resident's need, which that resident rated unsatisfied
    target = world.register(requester=RequesterInput(name="王五", phone="13700001111"))
    need = world.register(requester=RequesterInput(name="李四", phone=PHONE))
    services.need_merge(actor=world.dispatcher, need=need, version=need.version, into=target)
    target = Need.objects.get(pk=target.pk)
    target = services.need_assign(
        actor=world.dispatcher, need=target, version=target.version, lead_unit=world.housing
    )
    target = services.need_accept(actor=world.handler, need=target, version=target.version)
    target = services.need_reply(
        actor=world.handler,
        need=target,
        version=target.version,
        outcome="resolved",
        reply_text="已更换路灯，恢复照明。",
    )
    target = services.need_rate(
        link=rating_link_issue(target), resolved="no", satisfaction="dissatisfied"
    )
    pending = _track(client, need.tracking_code, "5678").content.decode()
    services.reopen_request_decline(
        actor=world.dispatcher,
        request=ReopenRequest.objects.get(need=target),
        version=target.version,
        reason="经现场核实，路灯已正常照明。",
    )

    # When the merged requester follows their own need
    declined = _track(client, need.tracking_code, "5678").content.decode()
    theirs = _track(client, target.tracking_code, "1111").content.decode()

    # Then they see what was done, in neutral words, and nothing of the other's request
    for html in (pending, declined):
        assert "合并办理" in html
        assert "群众评价了办理结果" in html
        assert "群众对办理结果不满意，申请重办" in html
        assert "您评价了办理结果" not in html
        assert "您对办理结果不满意" not in html
        assert 'data-testid="tracked-reopen"' not in html
    assert "经现场核实" not in declined
    # while the resident who rated still sees it as theirs, with the reason
    assert "您对办理结果不满意，申请重办" in theirs
    assert "不予重办：经现场核实，路灯已正常照明。" in theirs


def test_the_page_opens_empty_and_is_not_cached(client: Client, db: None) -> None:
    response = client.get("/track")
    assert response.status_code == 200
    assert 'data-testid="track-error"' not in response.content.decode()
    assert "no-cache" in response["Cache-Control"] or "max-age=0" in response["Cache-Control"]
