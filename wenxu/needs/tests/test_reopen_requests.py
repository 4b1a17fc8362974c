"""群众评价 and 重办申请: the rating by link, the dispatcher's decision, and the list page."""

from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from conftest import World
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.exceptions import IllegalTransition, InvalidInput, NotPermitted, StaleVersion
from wenxu.needs.models import Need, NeedEvent, RatingLink, ReopenRequest
from wenxu.needs.rating import rating_link_from_token, rating_link_issue, rating_token
from wenxu.needs.services import RequesterInput
from wenxu.needs.states import Action, Status

pytestmark = pytest.mark.django_db


def _replied(world: World, outcome: str = "resolved", **overrides: Any) -> Need:
    overrides.setdefault("requester", RequesterInput(name="张三丰", phone="13812345678"))
    return world.replied(outcome=outcome, **overrides)


def _rate_unsatisfied(world: World, **overrides: Any) -> tuple[Need, ReopenRequest]:
    need = _replied(world, **overrides)
    need = services.need_rate(
        link=rating_link_issue(need),
        resolved="no",
        satisfaction="dissatisfied",
        comment="路灯还是不亮",
    )
    return need, ReopenRequest.objects.get(need=need)


def _events(need: Need, action: str) -> list[NeedEvent]:
    return list(NeedEvent.objects.filter(need=need, action=action))


# --------------------------------------------------------------------------- need_rate


def test_satisfied_rating_closes_the_need_and_uses_the_link(world: World) -> None:
    need = _replied(world)
    link = rating_link_issue(need)

    need = services.need_rate(
        link=link, resolved="yes", satisfaction="satisfied", public_consent=True
    )

    link.refresh_from_db()
    assert need.status == Status.CLOSED
    assert (need.callback_channel, need.callback_satisfaction) == ("online", "satisfied")
    assert need.public_consent is True
    assert Need.objects.get(pk=need.pk).public_consent is True
    assert link.used_at is not None
    assert not ReopenRequest.objects.exists()
    assert _events(need, Action.REQUEST_REOPEN) == []


def test_rating_a_planned_reply_moves_it_to_following(world: World) -> None:
    need = _replied(world, outcome="planned")

    need = services.need_rate(link=rating_link_issue(need), resolved="partly", satisfaction="basic")

    assert need.status == Status.FOLLOWING
    assert need.public_consent is False


def test_unsatisfied_rating_creates_one_request_and_one_event(world: World) -> None:
    need, request = _rate_unsatisfied(world)

    assert need.status == Status.CLOSED
    assert request.state == ReopenRequest.State.PENDING
    assert (request.resolved, request.satisfaction, request.comment) == (
        "no",
        "dissatisfied",
        "路灯还是不亮",
    )
    (event,) = _events(need, Action.REQUEST_REOPEN)
    assert event.actor is None
    assert event.note == "路灯还是不亮"
    assert event.data["request"] == request.pk
    assert (event.data["resolved"], event.data["satisfaction"]) == ("no", "dissatisfied")
    assert event.from_status == event.to_status == Status.CLOSED


@pytest.mark.parametrize(
    ("resolved", "satisfaction", "requested"),
    [
        ("yes", "very_dissatisfied", True),
        ("no", "basic", True),
        ("partly", "basic", False),
        ("yes", "very_satisfied", False),
    ],
)
def test_what_counts_as_unsatisfied(
    world: World, resolved: str, satisfaction: str, requested: bool
) -> None:
    need = _replied(world)
    services.need_rate(link=rating_link_issue(need), resolved=resolved, satisfaction=satisfaction)
    assert ReopenRequest.objects.filter(need=need).exists() is requested


def test_second_submit_of_the_same_link_is_refused_and_changes_nothing(world: World) -> None:
    need, _request = _rate_unsatisfied(world)
    link = RatingLink.objects.get(need=need)
    before = (Need.objects.get(pk=need.pk).version, NeedEvent.objects.count(), link.used_at)

    with pytest.raises(services.RatingLinkUsed) as exc:
        services.need_rate(link=link, resolved="yes", satisfaction="very_satisfied")

    link.refresh_from_db()
    assert "已经评价过" in exc.value.message
    assert (Need.objects.get(pk=need.pk).version, NeedEvent.objects.count(), link.used_at) == (
        before
    )
    assert ReopenRequest.objects.count() == 1


def test_a_stale_link_object_still_counts_once(world: World) -> None:
    # Two submits holding the same (unused) link object, one after the other: the second sees
    # the row's state. (Two at the same moment: tests/test_concurrency.py, on PostgreSQL.)
    need = _replied(world)
    link = rating_link_issue(need)
    stale = RatingLink.objects.get(pk=link.pk)
    services.need_rate(link=link, resolved="yes", satisfaction="satisfied")

    with pytest.raises(services.RatingLinkUsed):
        services.need_rate(link=stale, resolved="no", satisfaction="very_dissatisfied")

    assert len(_events(need, Action.CALLBACK)) == 1


def test_expired_link_is_refused(world: World) -> None:
    need = _replied(world)
    link = rating_link_issue(need)

    with (
        time_machine.travel(link.expires_at + timedelta(seconds=1), tick=False),
        pytest.raises(services.RatingLinkExpired),
    ):
        services.need_rate(link=link, resolved="yes", satisfaction="satisfied")

    link.refresh_from_db()
    assert link.used_at is None
    assert Need.objects.get(pk=need.pk).status == Status.REPLIED


def test_need_no_longer_replied_is_refused(world: World) -> None:
    # Given the resident was already called back by phone
    need = _replied(world)
    link = rating_link_issue(need)
    services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="yes",
        satisfaction="satisfied",
    )

    with pytest.raises(services.RatingSuperseded) as exc:
        services.need_rate(link=link, resolved="no", satisfaction="very_dissatisfied")

    assert "评价过" in exc.value.message
    assert not ReopenRequest.objects.exists()
    link.refresh_from_db()
    assert link.used_at is None


def test_invalid_answer_is_refused_and_leaves_the_link_unused(world: World) -> None:
    need = _replied(world)
    link = rating_link_issue(need)

    with pytest.raises(InvalidInput) as exc:
        services.need_rate(link=link, resolved="maybe", satisfaction="")

    assert set(exc.value.errors) == {"resolved", "satisfaction"}
    link.refresh_from_db()
    assert link.used_at is None
    assert Need.objects.get(pk=need.pk).status == Status.REPLIED


def test_forged_or_altered_token_finds_no_link(world: World) -> None:
    need = _replied(world)
    token = rating_token(rating_link_issue(need))

    assert rating_link_from_token(token) is not None
    assert rating_link_from_token(token[:-2] + "xx") is None
    assert rating_link_from_token("1") is None


# --------------------------------------------------------------------------- the decision


def test_accept_reopens_with_a_new_deadline_and_marks_the_request(world: World) -> None:
    need, request = _rate_unsatisfied(world)
    later = clock.now() + timedelta(days=2)

    with time_machine.travel(later, tick=False):
        need = services.reopen_request_accept(
            actor=world.dispatcher, request=request, version=need.version
        )

    request.refresh_from_db()
    assert need.status == Status.IN_PROGRESS
    assert need.reopen_count == 1
    assert need.resolve_due is not None
    assert need.resolve_due > later
    assert (request.state, request.decided_by) == (ReopenRequest.State.ACCEPTED, world.dispatcher)
    assert request.decided_at is not None
    (event,) = _events(need, Action.REOPEN)
    assert "路灯还是不亮" in event.note  # the default reason quotes the resident


def test_accept_may_hand_the_need_to_another_unit(world: World) -> None:
    need, request = _rate_unsatisfied(world)

    need = services.reopen_request_accept(
        actor=world.dispatcher,
        request=request.pk,
        version=need.version,
        reason="改由交通局办理",
        lead_unit=world.transport,
    )

    assert need.lead_unit == world.transport
    assert _events(need, Action.REOPEN)[0].note == "改由交通局办理"


def test_decline_requires_a_reason_and_records_it(world: World) -> None:
    need, request = _rate_unsatisfied(world)

    with pytest.raises(InvalidInput) as exc:
        services.reopen_request_decline(
            actor=world.dispatcher, request=request, version=need.version, reason="  "
        )
    assert "reason" in exc.value.errors
    request.refresh_from_db()
    assert request.state == ReopenRequest.State.PENDING

    need = services.reopen_request_decline(
        actor=world.dispatcher,
        request=request,
        version=need.version,
        reason="路灯已修复，经现场核实正常照明",
    )

    request.refresh_from_db()
    assert need.status == Status.CLOSED
    assert request.state == ReopenRequest.State.DECLINED
    assert request.decline_reason == "路灯已修复，经现场核实正常照明"
    (event,) = _events(need, Action.DECLINE_REOPEN)
    assert (event.actor, event.note) == (world.dispatcher, "路灯已修复，经现场核实正常照明")


def test_a_request_decided_twice_is_refused_and_changes_nothing(world: World) -> None:
    need, request = _rate_unsatisfied(world)
    need = services.reopen_request_decline(
        actor=world.dispatcher, request=request, version=need.version, reason="已核实办结"
    )
    before = (need.version, NeedEvent.objects.count())

    with pytest.raises(IllegalTransition) as exc:
        services.reopen_request_accept(
            actor=world.dispatcher, request=request, version=need.version
        )
    assert "已处理" in exc.value.message
    with pytest.raises(IllegalTransition):
        services.reopen_request_decline(
            actor=world.dispatcher, request=request, version=need.version, reason="再次"
        )

    need.refresh_from_db()
    request.refresh_from_db()
    assert (need.version, NeedEvent.objects.count()) == before
    assert (need.status, request.state) == (Status.CLOSED, ReopenRequest.State.DECLINED)


def test_a_stale_version_is_refused(world: World) -> None:
    need, request = _rate_unsatisfied(world)

    with pytest.raises(StaleVersion):
        services.reopen_request_accept(
            actor=world.dispatcher, request=request, version=need.version - 1
        )

    request.refresh_from_db()
    assert request.state == ReopenRequest.State.PENDING


@pytest.mark.parametrize("persona", ["handler", "officer", "leader", "outsider"])
def test_only_a_dispatcher_decides(world: World, persona: str) -> None:
    need, request = _rate_unsatisfied(world)
    actor = getattr(world, persona)

    with pytest.raises(NotPermitted):
        services.reopen_request_accept(actor=actor, request=request, version=need.version)
    with pytest.raises(NotPermitted):
        services.reopen_request_decline(
            actor=actor, request=request, version=need.version, reason="不予重办"
        )

    request.refresh_from_db()
    assert request.state == ReopenRequest.State.PENDING
    assert Need.objects.get(pk=need.pk).status == Status.CLOSED


def test_reopening_from_the_need_page_answers_the_pending_request(world: World) -> None:
    # Given a pending request, and the dispatcher reopens the need from its own page instead
    need, request = _rate_unsatisfied(world)
    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="直接重办"
    )

    # Then the request is answered by that reopen, by that dispatcher
    request.refresh_from_db()
    assert (request.state, request.decided_by) == (ReopenRequest.State.ACCEPTED, world.dispatcher)
    assert request.decided_at is not None

    # and an unsatisfied rating of the next reply leaves one new request waiting
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已重新维修",
    )
    services.need_rate(link=rating_link_issue(need), resolved="no", satisfaction="dissatisfied")
    request.refresh_from_db()
    assert request.state == ReopenRequest.State.ACCEPTED
    assert ReopenRequest.objects.filter(need=need, state="pending").count() == 1


@pytest.mark.parametrize("how", ["withdraw", "merge"])
def test_a_pending_request_is_closed_when_the_need_is_withdrawn_or_merged(
    world: World, how: str
) -> None:
    # Given a promise being followed, which the resident asked to have handled again
    need, request = _rate_unsatisfied(world, outcome="planned")
    assert need.status == Status.FOLLOWING
    later = clock.now() + timedelta(hours=3)

    # When a dispatcher withdraws it, or merges it into another need
    with time_machine.travel(later, tick=False):
        if how == "withdraw":
            services.need_withdraw(
                actor=world.dispatcher, need=need, version=need.version, reason="群众已搬离"
            )
            expected = "诉求已撤销：群众已搬离"
        else:
            target = world.register(title="同一路段路灯不亮")
            services.need_merge(
                actor=world.dispatcher, need=need, version=need.version, into=target
            )
            expected = f"诉求已合并到 {target.number}"

    # Then the request no longer waits for a decision, and says why
    request.refresh_from_db()
    assert request.state == ReopenRequest.State.DECLINED
    assert request.decline_reason == expected
    assert request.decided_by == world.dispatcher
    assert request.decided_at == later
    assert not ReopenRequest.objects.filter(state="pending").exists()


# --------------------------------------------------------------------------- the pages


def test_list_shows_pending_requests_in_scope_with_the_residents_words(
    world: World, client: Client
) -> None:
    need, _request = _rate_unsatisfied(world)
    client.force_login(world.dispatcher)

    html = client.get("/reopen-requests/").content.decode()

    assert need.number in html
    assert "路灯还是不亮" in html
    assert "不满意" in html
    assert 'data-form="accept"' in html
    assert 'data-form="decline"' in html
    assert 'data-testid="reopen-new-due"' in html
    assert "张三丰" not in html
    assert "13812345678" not in html


@pytest.mark.parametrize("persona", ["outsider", "officer_b", "handler_other"])
def test_list_is_empty_and_deciding_is_404_out_of_scope(
    world: World, client: Client, persona: str
) -> None:
    need, request = _rate_unsatisfied(world)
    client.force_login(getattr(world, persona))

    html = client.get("/reopen-requests/").content.decode()
    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "decline", "version": need.version, "reason": "不予重办"},
    )

    assert need.number not in html
    assert "路灯还是不亮" not in html
    assert 'data-testid="reopen-empty"' in html
    assert response.status_code == 404
    request.refresh_from_db()
    assert request.state == ReopenRequest.State.PENDING


def test_other_area_dispatcher_sees_nothing(world: World, client: Client) -> None:
    from wenxu.accounts.models import Membership, User

    other = User.objects.create_user(username="dispatcher_b", password="pw-dispatcher_b")
    Membership.objects.create(user=other, role="dispatcher", area=world.town_b)
    need, request = _rate_unsatisfied(world)
    client.force_login(other)

    html = client.get("/reopen-requests/").content.decode()
    decide = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "accept", "version": need.version},
    )

    assert need.number not in html
    assert decide.status_code == 404


def test_handler_in_scope_reads_but_may_not_decide(world: World, client: Client) -> None:
    need, request = _rate_unsatisfied(world)
    client.force_login(world.handler)

    html = client.get("/reopen-requests/").content.decode()
    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "accept", "version": need.version},
    )

    assert 'data-testid="reopen-read-only"' in html
    assert 'data-form="accept"' not in html
    assert response.status_code == 403
    request.refresh_from_db()
    assert request.state == ReopenRequest.State.PENDING


def test_a_dispatcher_elsewhere_who_handles_the_unit_gets_no_forms(
    world: World, client: Client, django_assert_max_num_queries: Any
) -> None:
    # Given a user who dispatches in 西岭乡 and handles for the unit leading a 东河镇 need
    from wenxu.accounts.models import Membership

    Membership.objects.create(user=world.handler, role="dispatcher", area=world.town_b)
    need, request = _rate_unsatisfied(world)
    client.force_login(world.handler)

    # When they open the list and the need page's panel
    html = client.get("/reopen-requests/").content.decode()
    panel = client.get(
        "/reopen-requests/", {"need": need.number}, HTTP_HX_REQUEST="true"
    ).content.decode()

    # Then they read the request but are offered no decision they would be refused
    assert need.number in html
    for page in (html, panel):
        assert 'data-testid="reopen-read-only"' in page
        assert 'data-form="accept"' not in page
        assert 'data-form="decline"' not in page
    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "decline", "version": need.version, "reason": "不予重办"},
    )
    assert response.status_code == 403


def test_decline_form_tells_the_dispatcher_the_resident_reads_the_reason(
    world: World, client: Client
) -> None:
    _rate_unsatisfied(world)
    client.force_login(world.dispatcher)

    html = client.get("/reopen-requests/").content.decode()

    assert "这段话会原样显示在群众的查询页面和短信里" in html
    assert "不要写工作人员的姓名、电话等个人信息" in html


def test_accept_through_the_page_redirects_with_the_new_deadline(
    world: World, client: Client
) -> None:
    need, request = _rate_unsatisfied(world)
    client.force_login(world.dispatcher)

    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "accept", "version": need.version, "reason": "", "lead_unit": ""},
        follow=True,
    )

    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/reopen-requests/"
    assert "已同意重办" in html
    assert 'data-testid="reopen-empty"' in html
    need.refresh_from_db()
    assert need.status == Status.IN_PROGRESS


def test_decline_from_the_need_page_returns_there(world: World, client: Client) -> None:
    need, request = _rate_unsatisfied(world)
    client.force_login(world.dispatcher)

    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "decline", "version": need.version, "reason": "已核实", "next": "need"},
    )

    assert response.status_code == 302
    assert response["Location"] == f"/needs/{need.number}/"


def test_decline_without_reason_keeps_the_form_open_with_the_error(
    world: World, client: Client
) -> None:
    need, request = _rate_unsatisfied(world)
    client.force_login(world.dispatcher)

    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "decline", "version": need.version, "reason": ""},
    )

    html = response.content.decode()
    assert response.status_code == 422
    assert "请填写不予重办的理由" in html
    assert 'data-decision="decline" open' in html
    request.refresh_from_db()
    assert request.state == ReopenRequest.State.PENDING


def test_stale_submit_keeps_what_was_typed(world: World, client: Client) -> None:
    # Given a promise being followed, and the need changed after the page was opened
    need, request = _rate_unsatisfied(world, outcome="planned")
    seen = need.version
    services.need_supervise(actor=world.leader, need=need, version=need.version, note="关注")
    client.force_login(world.dispatcher)

    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "decline", "version": seen, "reason": "经核实路灯已正常"},
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "该记录已被他人修改，请刷新" in html
    assert "经核实路灯已正常" in html
    request.refresh_from_db()
    assert request.state == ReopenRequest.State.PENDING


def test_decided_meanwhile_says_so_and_keeps_the_text(world: World, client: Client) -> None:
    need, request = _rate_unsatisfied(world)
    services.reopen_request_accept(actor=world.dispatcher, request=request, version=need.version)
    client.force_login(world.dispatcher)

    response = client.post(
        f"/reopen-requests/{request.pk}/decide/",
        {"decision": "decline", "version": need.version, "reason": "我写的理由"},
    )

    html = response.content.decode()
    assert response.status_code == 409
    assert "该记录已被他人修改，请刷新" in html
    assert "已处理" in html
    assert "我写的理由" in html
    assert 'data-testid="kept-input"' in html


def test_list_query_count_does_not_grow_with_the_requests(world: World, client: Client) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def fewest() -> tuple[int, str]:
        # Twice, keeping the fewer: a periodic refresh (the calendar cached for 60 s, the
        # session's last-seen touched once a minute) can fall into one request on a slow
        # machine, never into two in a row.
        counts = []
        for _ in range(2):
            with CaptureQueriesContext(connection) as queries:
                page = client.get("/reopen-requests/")
            counts.append(len(queries))
        return min(counts), page.content.decode()

    client.force_login(world.dispatcher)
    _rate_unsatisfied(world)
    client.get("/reopen-requests/")  # warm the display calendar
    few_queries, few = fewest()
    for n in range(6):
        need, _request = _rate_unsatisfied(world)
        if n % 2:  # co units are read for the viewer's roles over each need
            need.co_units.add(world.transport)
    many_queries, many = fewest()
    assert few.count('data-testid="reopen-request"') == 1
    assert many.count('data-testid="reopen-request"') == 7
    assert many.count('data-form="decline"') == 7
    assert many_queries == few_queries <= 12


def test_need_page_shows_the_pending_request_and_htmx_loads_its_forms(
    world: World, client: Client
) -> None:
    need, _request = _rate_unsatisfied(world)
    client.force_login(world.dispatcher)

    page = client.get(f"/needs/{need.number}/").content.decode()
    forms = client.get(
        "/reopen-requests/", {"need": need.number}, HTTP_HX_REQUEST="true"
    ).content.decode()

    assert 'data-testid="need-reopen-request"' in page
    assert "路灯还是不亮" in page
    assert 'data-form="accept"' in forms
    assert 'name="next" value="need"' in forms
    assert "<html" not in forms


def test_need_page_leaves_out_a_declined_request(world: World, client: Client) -> None:
    need, request = _rate_unsatisfied(world)
    client.force_login(world.dispatcher)
    assert 'data-testid="need-reopen-request"' in client.get(f"/needs/{need.number}/").text

    services.reopen_request_decline(
        actor=world.dispatcher, request=request, version=need.version, reason="已现场核实修复"
    )

    assert 'data-testid="need-reopen-request"' not in client.get(f"/needs/{need.number}/").text


def test_home_counts_pending_requests_for_dispatchers_only(world: World, client: Client) -> None:
    _rate_unsatisfied(world)
    client.force_login(world.dispatcher)
    html = client.get("/").content.decode()
    assert 'data-testid="count-reopen-requests">1<' in html
    assert 'href="/reopen-requests/"' in html  # the nav link

    client.force_login(world.handler)
    assert 'data-testid="count-reopen-requests"' not in client.get("/").content.decode()
