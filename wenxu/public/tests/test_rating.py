"""`/r/<token>`: a resident rates a reply; `/track` then shows what became of a reopen request."""

import re
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from conftest import World
from wenxu.needs import services
from wenxu.needs.models import Need, RatingLink, ReopenRequest
from wenxu.needs.rating import rating_link_issue, rating_token
from wenxu.needs.services import RequesterInput
from wenxu.public import rating

pytestmark = pytest.mark.django_db

NAME, PHONE = "张三丰", "13812345678"


def _replied(world: World, **overrides: Any) -> Need:
    need = world.in_progress(requester=RequesterInput(name=NAME, phone=PHONE), **overrides)
    need = services.need_progress(
        actor=world.handler, need=need, version=need.version, note="内部：施工队老李明天到"
    )
    return services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已更换路灯，恢复照明。",
    )


def _url(need: Need) -> str:
    return f"/r/{rating_token(rating_link_issue(need))}"


def _private(html: str, world: World) -> list[str]:
    """Personal data and staff names that must never reach a resident's page."""
    words = [NAME, PHONE, str(world.handler), str(world.officer), str(world.dispatcher), "老李"]
    return [word for word in words if word in html]


def test_page_shows_the_reply_and_the_form_without_names_or_phone(
    world: World, client: Client
) -> None:
    need = _replied(world)

    response = client.get(_url(need))

    html = response.content.decode()
    assert response.status_code == 200
    assert need.title in html
    assert need.tracking_code in html
    assert "青山县住房和城乡建设局" in html
    assert "已更换路灯，恢复照明。" in html
    assert "问题已解决" in html
    for level in ("非常满意", "满意", "基本满意", "不满意", "非常不满意"):
        assert f">{level}</label>" in html
    assert "同意在回音墙匿名公开办理结果" in html
    assert "csrfmiddlewaretoken" in html
    assert _private(html, world) == []
    assert response["Referrer-Policy"] == "same-origin"  # the token stays on this site


def test_satisfied_answer_thanks_and_closes(world: World, client: Client) -> None:
    need = _replied(world)

    response = client.post(
        _url(need),
        {"resolved": "yes", "satisfaction": "very_satisfied", "public_consent": "on"},
    )

    html = response.content.decode()
    need.refresh_from_db()
    assert response.status_code == 200
    assert "感谢您的评价" in html
    assert 'data-testid="rate-reopen-sent"' not in html
    assert (need.status, need.public_consent) == ("closed", True)


def test_unsatisfied_answer_says_a_reopen_request_was_sent(world: World, client: Client) -> None:
    need = _replied(world)

    response = client.post(
        _url(need),
        {"resolved": "no", "satisfaction": "very_dissatisfied", "comment": "晚上还是黑的"},
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="rate-reopen-sent"' in html
    assert f"/track?code={need.tracking_code}" in html
    assert _private(html, world) == []
    request = ReopenRequest.objects.get(need=need)
    assert (request.state, request.comment) == ("pending", "晚上还是黑的")


def test_missing_answer_keeps_what_was_typed_and_uses_nothing(world: World, client: Client) -> None:
    need = _replied(world)

    response = client.post(
        _url(need), {"resolved": "partly", "comment": "只修好了一盏", "public_consent": "on"}
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "请选择满意程度。" in html
    assert "只修好了一盏" in html
    assert re.search(r'<input type="radio" name="resolved" value="partly"[^>]* checked>', html)
    assert re.search(r'name="public_consent"[^>]* checked', html)
    assert RatingLink.objects.get(need=need).used_at is None
    need.refresh_from_db()
    assert need.status == "replied"


def test_a_used_link_says_thank_you_and_shows_nothing(world: World, client: Client) -> None:
    need = _replied(world)
    url = _url(need)
    client.post(url, {"resolved": "yes", "satisfaction": "satisfied"})

    again = client.post(url, {"resolved": "no", "satisfaction": "very_dissatisfied"})
    opened = client.get(url)

    for response in (again, opened):
        html = response.content.decode()
        assert response.status_code == 200
        assert "您已经评价过，谢谢" in html
        assert need.title not in html
        assert "已更换路灯" not in html
    assert not ReopenRequest.objects.exists()


def test_an_expired_link_says_so_and_shows_nothing(world: World, client: Client) -> None:
    need = _replied(world)
    url = _url(need)
    link = RatingLink.objects.get(need=need)

    with time_machine.travel(link.expires_at + timedelta(minutes=1), tick=False):
        response = client.get(url)

    html = response.content.decode()
    assert response.status_code == 410
    assert "链接已过期" in html
    assert "/track" in html
    assert need.title not in html


def test_a_forged_token_is_an_invalid_link(world: World, client: Client) -> None:
    need = _replied(world)
    token = rating_token(rating_link_issue(need))

    for bad in (token[:-3] + "abc", "1", "x" * 300):
        response = client.get(f"/r/{bad}")
        html = response.content.decode()
        assert response.status_code == 404
        assert "链接无效" in html
        assert need.title not in html


def test_a_reply_rated_by_phone_meanwhile_needs_no_rating(world: World, client: Client) -> None:
    need = _replied(world)
    url = _url(need)
    services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="yes",
        satisfaction="satisfied",
    )

    html = client.get(url).content.decode()

    assert "无需再评价" in html
    assert need.title not in html


def test_many_requests_from_one_address_are_slowed_down(world: World, client: Client) -> None:
    need = _replied(world)
    limit, _window = rating.REQUESTS_PER_ADDRESS
    for n in range(limit):
        assert client.get(f"/r/forged{n}").status_code == 404

    response = client.get(_url(need))

    assert response.status_code == 429
    assert need.title not in response.content.decode()


def test_genuine_links_from_one_address_are_never_slowed_down(world: World, client: Client) -> None:
    # Given many residents behind one carrier address opening their rating links
    limit, _window = rating.REQUESTS_PER_ADDRESS
    url = _url(_replied(world))

    statuses = {client.get(url).status_code for _ in range(limit + 5)}
    forged = client.get("/r/forged")

    # Then every genuine open is served, and none of them counted against the address
    assert statuses == {200}
    assert forged.status_code == 404


def test_a_post_without_the_csrf_token_is_refused_and_uses_nothing(world: World) -> None:
    need = _replied(world)
    url = _url(need)
    client = Client(enforce_csrf_checks=True)

    response = client.post(url, {"resolved": "no", "satisfaction": "very_dissatisfied"})

    assert response.status_code == 403
    assert RatingLink.objects.get(need=need).used_at is None
    assert Need.objects.get(pk=need.pk).status == "replied"
    assert not ReopenRequest.objects.exists()


# --------------------------------------------------------------------------- /track


def _track(client: Client, need: Need) -> str:
    html: str = client.get(
        "/track", {"code": need.tracking_code, "phone_tail": "5678"}
    ).content.decode()
    return html


def test_track_shows_a_pending_reopen_request(world: World, client: Client) -> None:
    need = _replied(world)
    client.post(_url(need), {"resolved": "no", "satisfaction": "dissatisfied", "comment": "没修"})

    html = _track(client, need)

    assert "您已申请重办，等待处理" in html
    assert "您对办理结果不满意，申请重办" in html
    assert _private(html, world) == []


def test_track_shows_the_decline_reason_but_not_who_declined(world: World, client: Client) -> None:
    need = _replied(world)
    client.post(_url(need), {"resolved": "no", "satisfaction": "dissatisfied"})
    need.refresh_from_db()
    services.reopen_request_decline(
        actor=world.dispatcher,
        request=ReopenRequest.objects.get(need=need),
        version=need.version,
        reason="经现场核实，路灯已正常照明。",
    )

    html = _track(client, need)
    code_only = client.get("/track", {"code": need.tracking_code}).content.decode()

    assert "不予重办：经现场核实，路灯已正常照明。" in html
    assert "您已申请重办" not in html
    assert _private(html, world) == []
    assert "经现场核实" not in code_only  # the phone's digits are needed for the reason


def test_track_shows_the_reopened_need_with_its_new_deadline(world: World, client: Client) -> None:
    need = _replied(world)
    client.post(_url(need), {"resolved": "no", "satisfaction": "dissatisfied"})
    need.refresh_from_db()
    need = services.reopen_request_accept(
        actor=world.dispatcher,
        request=ReopenRequest.objects.get(need=need),
        version=need.version,
    )

    html = _track(client, need)

    assert "办理中" in html
    assert "已重新办理" in html
    assert need.resolve_due is not None
    assert f"{timezone.localtime(need.resolve_due):%Y-%m-%d %H:%M}" in html
    assert "您已申请重办" not in html
    assert _private(html, world) == []


def test_a_links_token_is_the_same_whenever_it_is_written(world: World) -> None:
    # A retried text message must carry the same link as the first try (and a forged one none).
    need = world.replied()
    link = rating_link_issue(need)
    first = rating_token(link)
    with time_machine.travel(timezone.now() + timedelta(hours=5)):
        assert rating_token(link) == first
    from wenxu.needs.rating import rating_link_from_token

    assert rating_link_from_token(first) == link
    assert rating_link_from_token(first[:-1] + ("A" if first[-1] != "A" else "B")) is None
