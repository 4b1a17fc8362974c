"""The need detail page (诉求详情) and its action forms.

`/needs/<number>/` shows the need; `/needs/<number>/<action>/` posts one action to its service.
"""

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test.utils import CaptureQueriesContext

from wenxu.accounts.models import Membership, User
from wenxu.lib import clock
from wenxu.needs import permissions, selectors, services, timeline
from wenxu.needs.models import Attachment, Need, NeedEvent
from wenxu.needs.services.oversight import OVERDUE
from wenxu.needs.tests.detail_helpers import NOW, PERSONAS, STATES, actions_services_accept
from wenxu.needs.tests.helpers import at, closed, following, state_of, with_pending_extension

STALE = "该记录已被他人修改，请刷新"


@pytest.fixture
def now(time_machine):
    time_machine.move_to(NOW, tick=False)
    return time_machine


def _page(client, user, need, **params):
    client.force_login(user)
    return client.get(f"/needs/{need.number}/", params)


def _post(client, user, need, action, data):
    client.force_login(user)
    return client.post(f"/needs/{need.number}/{action}/", data)


def _forms_on(html: str) -> list[str]:
    return re.findall(r'<details class="wx-action[^"]*" id="act-[\w-]+" data-action="(\w+)"', html)


def _form_html(html: str, action: str) -> str:
    match = re.search(rf'<form [^>]*data-form="{action}">(.*?)</form>', html, re.S)
    assert match, f"no {action} form on the page"
    return match.group(1)


def _version_in(form_html: str) -> int:
    match = re.search(r'name="version" value="(\d+)"', form_html)
    assert match
    return int(match.group(1))


def _flash(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


# --------------------------------------------------------------------------- reading


def test_detail_shows_every_field_with_the_requester_masked(world, client):
    need = world.register(
        requester=services.RequesterInput(name="张三丰", phone="13812345678"),
        address="东河村村口",
        latitude="30.123456",
        longitude="120.654321",
        nature_tags=["urgent", "hoped_for"],
        urgency="urgent",
    )
    for persona in ("officer", "dispatcher", "leader"):
        html = _page(client, getattr(world, persona), need).content.decode()
        assert "138****5678" in html
        assert "张**" in html
        assert "13812345678" not in html
        assert "张三丰" not in html
    assert need.title in html
    assert "东河村村口三盏路灯坏了一个多月" in html
    assert "道路与照明" in html
    area = re.search(r'data-testid="area">(.*?)</dd>', html, re.S)
    assert area
    assert re.sub(r"<[^>]+>|\s", "", area.group(1)) == "青山县/东河镇/东河村/东河村第一网格"
    assert "30.123456, 120.654321" in html
    assert 'data-testid="urgency">紧急<' in html
    assert ">急<" in html
    assert ">盼<" in html
    assert need.tracking_code in html


def test_confidential_requester_shows_only_confidential(world, client):
    need = world.register(
        requester=services.RequesterInput(name="李四", phone="13900001111", confidential=True)
    )
    html = _page(client, world.dispatcher, need).content.decode()
    requester = re.search(r'data-testid="requester">(.*?)</dd>', html, re.S)
    assert requester
    assert "（保密）" in requester.group(1)
    assert not re.search(r"\d", requester.group(1))  # not even a masked phone
    assert "李" not in html


def test_handling_section_shows_units_deadlines_and_flags(world, client, now):
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport],
    )
    need = services.need_accept(actor=world.handler, need=need, version=need.version)
    need = services.need_supervise(
        actor=world.leader, need=need, version=need.version, note="本周内解决"
    )
    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=3, reason="需协调电力部门"
    )
    html = _page(client, world.dispatcher, need).content.decode()
    assert "青山县住房和城乡建设局" in html
    assert "青山县交通运输局" in html
    assert "2026-03-23 23:59" in html  # resolve due, local time: 5 working days after 3-16
    assert 'data-deadline="ok"' in html  # the deadline badge
    assert 'data-testid="supervised"' in html
    assert 'data-testid="extension-pending"' in html
    assert "需协调电力部门" in html


def test_merged_need_links_to_its_target_and_the_target_back(world, client):
    duplicate = world.register(title="村口路灯坏了")
    target = world.register()
    services.need_merge(
        actor=world.dispatcher, need=duplicate, version=duplicate.version, into=target
    )
    html = _page(client, world.dispatcher, duplicate).content.decode()
    assert f'href="/needs/{target.number}/"' in html
    html = _page(client, world.dispatcher, target).content.decode()
    assert f'href="/needs/{duplicate.number}/"' in html


def test_a_target_lists_only_the_merged_needs_its_viewer_may_see(world, client):
    # given a need of 西岭乡 merged into one of 东河镇
    theirs = world.register(area=world.grid_b, actor=world.officer_b, title="西岭乡路灯")
    target = world.register()
    services.need_merge(actor=world.dispatcher, need=theirs, version=theirs.version, into=target)

    # then 东河镇's officer sees the target without it (its number, in the timeline, unlinked),
    # the county's dispatcher with it
    officers = _page(client, world.officer, target).content.decode()
    dispatchers = _page(client, world.dispatcher, target).content.decode()
    assert f'href="/needs/{theirs.number}/"' not in officers
    assert "西岭乡路灯" not in officers
    assert f'href="/needs/{theirs.number}/"' in dispatchers
    assert "西岭乡路灯" in dispatchers


def test_reply_and_callback_are_shown(world, client):
    need = closed(world)
    html = _page(client, world.dispatcher, need).content.decode()
    assert "已更换路灯，恢复照明。" in html
    callback = re.search(r'data-testid="reply">(.*?)</section>', html, re.S)
    assert callback
    assert "电话回访" in callback.group(1)
    assert '<dd class="col-8 col-sm-9">满意</dd>' in callback.group(1)


def test_attachments_are_listed_through_the_scoped_view(world, client):
    need = world.register()
    item = Attachment.objects.create(
        need=need,
        kind="document",
        file="attachments/2026/03/x.pdf",
        original_name="村民联名信.pdf",
        content_type="application/pdf",
        size=2048,
        uploaded_at=clock.now(),
    )
    html = _page(client, world.dispatcher, need).content.decode()
    assert "村民联名信.pdf" in html
    assert f'href="/needs/{need.number}/attachments/{item.pk}/"' in html


@pytest.mark.parametrize(
    ("state", "lacking"),
    [
        ("registered", ["officer_b", "handler", "handler_other", "handler_roads", "outsider"]),
        ("assigned", ["officer_b", "handler_other", "handler_roads", "outsider"]),
    ],
)
def test_out_of_scope_answers_404_everywhere(world, client, now, state, lacking):
    need = STATES[state](world, now)
    for persona in lacking:
        user = getattr(world, persona)
        assert not selectors.need_queryset_for_user(user=user).filter(pk=need.pk).exists()
        assert _page(client, user, need).status_code == 404, persona
        before = state_of(need)
        posted = _post(client, user, need, "withdraw", {"version": need.version, "reason": "x"})
        assert posted.status_code == 404, persona
        assert client.get(f"/needs/{need.number}/assign/").status_code == 404, persona
        assert state_of(need) == before


def test_anonymous_is_sent_to_login(world, client):
    need = world.register()
    response = client.get(f"/needs/{need.number}/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_unknown_action_answers_404(world, client):
    need = world.register()
    assert _post(client, world.dispatcher, need, "frobnicate", {}).status_code == 404
    assert client.get(f"/needs/{need.number}/frobnicate/").status_code == 404
    assert _post(client, world.dispatcher, need, "register", {}).status_code == 404


def test_unknown_need_answers_404(world, client):
    client.force_login(world.dispatcher)
    assert client.get("/needs/WX-2099-999999/").status_code == 404


# --------------------------------------------------------------------------- which forms


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("state", list(STATES))
def test_each_role_sees_exactly_the_forms_it_may_use(world, client, now, state, persona):
    need = STATES[state](world, now)
    user = getattr(world, persona)
    response = _page(client, user, need)
    if not selectors.need_queryset_for_user(user=user).filter(pk=need.pk).exists():
        assert response.status_code == 404
        return
    assert response.status_code == 200
    target = world.register(title="另一条诉求")
    expected = actions_services_accept(user, need, target)
    assert _forms_on(response.content.decode()) == expected
    assert permissions.available_actions(user, need) == expected


def test_the_first_form_is_open_and_open_picks_another(world, client):
    need = world.in_progress()
    html = _page(client, world.handler, need).content.decode()
    assert re.search(r'data-action="reply" open', html)
    assert not re.search(r'data-action="progress" open', html)
    html = _page(client, world.handler, need, open="request-extension").content.decode()
    assert re.search(r'data-action="request_extension" open', html)
    assert not re.search(r'data-action="reply" open', html)


def test_get_on_an_action_url_opens_the_page_with_that_form(world, client):
    need = world.in_progress()
    client.force_login(world.handler)
    response = client.get(f"/needs/{need.number}/progress/")
    assert response.status_code == 302
    assert response["Location"] == f"/needs/{need.number}/?open=progress#act-progress"


# --------------------------------------------------------------------------- acting


@dataclass(frozen=True)
class Post:
    action: str
    setup: Callable[[Any], Need]
    actor: str
    data: Callable[[Any], dict[str, Any]]
    then: Callable[[Any, Need], bool]
    message: str

    def __str__(self) -> str:
        return self.action


def _other(world: Any) -> Need:
    need: Need = world.register(title="同一路段路灯不亮")
    return need


POSTS = [
    Post(
        "assign",
        lambda w: w.register(),
        "dispatcher",
        lambda w: {"lead_unit": w.housing.pk, "co_units": [w.transport.pk]},
        lambda w, n: n.status == "assigned" and list(n.co_units.all()) == [w.transport],
        "已交办给 县住建局",
    ),
    Post(
        "accept",
        lambda w: w.assigned(),
        "handler",
        lambda w: {},
        lambda w, n: n.status == "in_progress",
        "已签收",
    ),
    Post(
        "return",
        lambda w: w.assigned(),
        "handler",
        lambda w: {"reason": "应由交通局办理"},
        lambda w, n: n.status == "registered" and n.lead_unit is None,
        "已退回",
    ),
    Post(
        "progress",
        lambda w: w.in_progress(),
        "handler",
        lambda w: {"note": "已联系电工"},
        lambda w, n: n.events.filter(action="progress", note="已联系电工").exists(),
        "已记录办理进展",
    ),
    Post(
        "request-extension",
        lambda w: w.in_progress(),
        "handler",
        lambda w: {"days": "3", "reason": "需协调电力部门"},
        lambda w, n: n.extension_pending_days == 3,
        "已提交延期申请",
    ),
    Post(
        "approve-extension",
        with_pending_extension,
        "dispatcher",
        lambda w: {"note": ""},
        lambda w, n: n.extension_count == 1 and n.extension_pending_days is None,
        "已批准延期",
    ),
    Post(
        "deny-extension",
        with_pending_extension,
        "dispatcher",
        lambda w: {"reason": "时限足够"},
        lambda w, n: n.extension_count == 0 and n.extension_pending_days is None,
        "已驳回延期申请",
    ),
    Post(
        "reply",
        lambda w: w.in_progress(),
        "handler",
        lambda w: {
            "outcome": "planned",
            "reply_text": "已列入明年改造计划",
            "followup_date": (clock.today() + timedelta(days=30)).isoformat(),
        },
        lambda w, n: (
            (n.status, n.outcome, n.followup_date is not None) == ("replied", "planned", True)
        ),
        "已答复",
    ),
    Post(
        "callback",
        lambda w: w.replied(),
        "officer",
        lambda w: {"channel": "phone", "resolved": "yes", "satisfaction": "satisfied"},
        lambda w, n: n.status == "closed" and n.callback_satisfaction == "satisfied",
        "诉求办结",
    ),
    Post(
        "fulfil",
        following,
        "handler",
        lambda w: {"note": "路灯已更换"},
        lambda w, n: n.status == "closed" and n.fulfilled_at is not None,
        "已确认兑现承诺",
    ),
    Post(
        "reopen",
        closed,
        "dispatcher",
        lambda w: {"reason": "群众反映又坏了", "lead_unit": w.transport.pk},
        lambda w, n: n.status == "in_progress" and n.lead_unit == w.transport,
        "已重办",
    ),
    Post(
        "supervise",
        lambda w: w.in_progress(),
        "leader",
        lambda w: {"note": "本周内解决"},
        lambda w, n: n.supervised,
        "已督办",
    ),
    Post(
        "remind",
        lambda w: w.in_progress(),
        "leader",
        lambda w: {"note": ""},
        lambda w, n: n.events.filter(action="remind").exists(),
        "已催办",
    ),
    Post(
        "merge",
        lambda w: w.register(),
        "dispatcher",
        lambda w: {"into": _other(w).number},
        lambda w, n: n.status == "merged" and n.merged_into is not None,
        "已合并到 WX-",
    ),
    Post(
        "withdraw",
        lambda w: w.register(),
        "dispatcher",
        lambda w: {"reason": "重复登记"},
        lambda w, n: n.status == "withdrawn",
        "已撤销",
    ),
]


@pytest.mark.parametrize("case", POSTS, ids=str)
def test_each_action_posts_to_its_service_and_redirects_with_a_message(world, client, case):
    need = case.setup(world)
    actor = getattr(world, case.actor)
    response = _post(
        client, actor, need, case.action, {**case.data(world), "version": need.version}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    need.refresh_from_db()
    assert case.then(world, need)
    assert any(case.message in message for message in _flash(response))
    if case.action == "return":
        # handed back out of the handler's unit: the page would be 404, so the ledger it is
        assert response["Location"] == "/ledger/"
    else:
        assert response["Location"] == f"/needs/{need.number}/"


def test_the_flash_message_and_the_updated_timeline_show_after_the_redirect(world, client):
    need = world.in_progress()
    _post(client, world.handler, need, "progress", {"version": need.version, "note": "已联系电工"})
    html = client.get(f"/needs/{need.number}/").content.decode()
    assert "已记录办理进展。" in html
    assert "办理进展：已联系电工" in html


@pytest.mark.parametrize(
    ("setup", "persona", "action", "data"),
    [
        (lambda w: w.register(), "leader", "assign", {"lead_unit": "1"}),
        (lambda w: w.in_progress(), "officer", "reply", {"outcome": "resolved"}),
        (lambda w: w.in_progress(), "dispatcher", "progress", {"note": "x"}),
        (lambda w: w.replied(), "handler", "callback", {"channel": "phone"}),
    ],
)
def test_role_that_may_not_take_the_action_gets_403_and_nothing_changes(
    world, client, setup, persona, action, data
):
    need = setup(world)
    before = state_of(need)
    response = _post(client, getattr(world, persona), need, action, {**data, "version": 1})
    assert response.status_code == 403
    assert state_of(need) == before


def test_htmx_parts_are_refused_to_roles_that_may_not_take_the_action(world, client):
    need = world.register()
    client.force_login(world.leader)
    assert client.get(f"/needs/{need.number}/assign/", HTTP_HX_REQUEST="true").status_code == 403
    assert client.get(f"/needs/{need.number}/merge/", HTTP_HX_REQUEST="true").status_code == 403


# --------------------------------------------------------------------------- refused


def test_stale_version_keeps_the_typed_text_and_shows_the_fresh_need(world, client):
    # given a handler who opened the page, and a leader who supervised the need meanwhile
    need = world.in_progress()
    seen = need.version
    services.need_supervise(actor=world.leader, need=need, version=seen, note="本周内解决")
    before = state_of(need)
    typed = '路灯已修好 <b>"全部"</b> & 恢复照明'
    # when the handler submits the reply typed on the stale page
    response = _post(
        client,
        world.handler,
        need,
        "reply",
        {"version": seen, "outcome": "resolved", "reply_text": typed},
    )
    # then nothing changed, the message says why, and everything typed is still there
    assert response.status_code == 409
    assert state_of(need) == before
    html = response.content.decode()
    assert STALE in html
    form = _form_html(html, "reply")
    assert "路灯已修好 &lt;b&gt;&quot;全部&quot;&lt;/b&gt; &amp; 恢复照明" in form
    assert re.search(r'value="resolved"[^>]*checked', form)
    assert typed not in html  # escaped, never raw
    assert 'data-testid="supervised"' in html  # the fresh state of the need
    assert re.search(r'data-action="reply" open', html)
    # and submitting the kept form once more applies it to the need as now shown
    fresh = _version_in(form)
    assert fresh == seen + 1
    again = _post(
        client,
        world.handler,
        need,
        "reply",
        {"version": fresh, "outcome": "resolved", "reply_text": typed},
    )
    assert again.status_code == 302
    need.refresh_from_db()
    assert (need.status, need.reply_text) == ("replied", typed)


def test_stale_form_for_an_action_no_longer_possible_keeps_the_text_read_only(world, client):
    need = world.in_progress()
    seen = need.version
    services.need_reply(
        actor=world.handler, need=need, version=seen, outcome="resolved", reply_text="已修好"
    )
    response = _post(
        client, world.handler, need, "progress", {"version": seen, "note": "明天上午施工"}
    )
    assert response.status_code == 409
    html = response.content.decode()
    assert STALE in html
    form = _form_html(html, "progress")
    assert "明天上午施工" in form
    assert 'data-testid="kept-input"' in form
    assert 'type="submit"' not in form  # shown to copy, not to submit again


def test_missing_version_counts_as_stale(world, client):
    need = world.in_progress()
    before = state_of(need)
    response = _post(client, world.handler, need, "progress", {"note": "已联系电工"})
    assert response.status_code == 409
    assert STALE in response.content.decode()
    assert state_of(need) == before


def test_illegal_transition_shows_its_message_and_keeps_the_input(world, client, time_machine):
    # given a page opened before the deadline and submitted after it
    time_machine.move_to(at(2026, 3, 2, 9), tick=False)
    need = world.in_progress()  # due 2026-03-09 end of day
    time_machine.move_to(at(2026, 3, 10, 9), tick=False)
    before = state_of(need)
    response = _post(
        client,
        world.handler,
        need,
        "request-extension",
        {"version": need.version, "days": "3", "reason": "需协调电力部门"},
    )
    assert response.status_code == 409
    assert state_of(need) == before
    html = response.content.decode()
    assert "已超过办结时限，不能再申请延期。" in html
    form = _form_html(html, "request_extension")
    assert "需协调电力部门" in form
    assert 'value="3"' in form


@pytest.mark.parametrize(
    ("setup", "persona", "action", "form", "data", "error", "kept"),
    [
        (
            lambda w: w.in_progress(),
            "handler",
            "reply",
            "reply",
            {"outcome": "planned", "reply_text": "明年纳入改造计划"},
            "“创造条件推动”须填写下次跟进日期。",
            "明年纳入改造计划",
        ),
        (
            lambda w: w.in_progress(),
            "handler",
            "reply",
            "reply",
            {"outcome": "resolved", "reply_text": "   "},
            "请填写答复内容。",
            'value="resolved"',
        ),
        (
            lambda w: w.replied(),
            "officer",
            "callback",
            "callback",
            {"channel": "unreachable", "resolved": "yes", "comment": "电话无人接听"},
            "未能联系到群众时，“是否解决”请留空。",
            "电话无人接听",
        ),
        (
            lambda w: w.replied(),
            "officer",
            "callback",
            "callback",
            {"channel": "phone", "comment": "群众说还没修"},
            "请选择满意度（五级）。",
            "群众说还没修",
        ),
        (
            lambda w: w.in_progress(),
            "handler",
            "request-extension",
            "request_extension",
            {"days": "三天", "reason": "需协调电力部门"},
            "整数",
            "需协调电力部门",
        ),
        (
            lambda w: w.in_progress(),
            "handler",
            "request-extension",
            "request_extension",
            {"days": "99", "reason": "需协调电力部门"},
            "延期天数须在 1 到 10 个工作日之间。",
            'value="99"',
        ),
        (
            lambda w: w.register(),
            "dispatcher",
            "assign",
            "assign",
            {"lead_unit": ""},
            "请选择主办单位。",
            "",
        ),
        (
            lambda w: w.register(),
            "dispatcher",
            "merge",
            "merge",
            {"into": "WX-2099-999999"},
            "找不到编号为 WX-2099-999999 的诉求，或您无权查看。",
            'value="WX-2099-999999"',
        ),
        (
            lambda w: w.register(),
            "dispatcher",
            "withdraw",
            "withdraw",
            {"reason": ""},
            "请填写撤销理由。",
            "",
        ),
    ],
)
def test_invalid_input_keeps_what_was_typed_and_shows_the_error_in_chinese(
    world, client, setup, persona, action, form, data, error, kept
):
    need = setup(world)
    before = state_of(need)
    response = _post(
        client, getattr(world, persona), need, action, {**data, "version": need.version}
    )
    assert response.status_code == 422
    assert state_of(need) == before
    html = _form_html(response.content.decode(), form)
    assert error in html
    assert kept in html
    assert "is-invalid" in html or 'data-error-for="' in html
    assert STALE not in response.content.decode()


def test_assign_with_an_unknown_unit_is_a_field_error(world, client):
    need = world.register()
    response = _post(
        client, world.dispatcher, need, "assign", {"version": need.version, "lead_unit": "99999"}
    )
    assert response.status_code == 422
    assert 'data-error-for="lead_unit"' in _form_html(response.content.decode(), "assign")


def test_lead_unit_ticked_as_co_unit_too_is_a_field_error(world, client):
    need = world.register()
    data = {"version": need.version, "lead_unit": world.housing.pk, "co_units": [world.housing.pk]}
    response = _post(client, world.dispatcher, need, "assign", data)
    assert response.status_code == 422
    form = _form_html(response.content.decode(), "assign")
    assert "协办单位不能与主办单位相同。" in form
    assert re.search(rf'value="{world.housing.pk}"[^>]*checked', form)


def test_need_gone_from_scope_meanwhile_answers_404_and_gives_back_the_typed_text(world, client):
    # given a handler typing a reply while a colleague of the same unit returns the need
    need = world.in_progress()
    colleague = User.objects.create_user(username="handler_2", password="pw")
    Membership.objects.create(user=colleague, role="handler", unit=world.housing)
    services.need_return(actor=colleague, need=need, version=need.version, reason="应由交通局办理")
    before = state_of(need)
    # when the handler submits
    response = _post(
        client,
        world.handler,
        need,
        "reply",
        {"version": need.version, "outcome": "resolved", "reply_text": "已更换路灯 <b>ok</b>"},
    )
    # then 404, as for any need out of scope, and the typed text is there to copy
    assert response.status_code == 404
    html = response.content.decode()
    assert "已更换路灯 &lt;b&gt;ok&lt;/b&gt;" in html
    assert need.title not in html
    assert state_of(need) == before


# --------------------------------------------------------------------------- live parts


def test_assign_preview_shows_the_due_dates_from_the_rules(world, client, time_machine):
    # Monday 2026-09-28: 5 working days skip the National Day holiday and end on Saturday
    # 2026-10-10, an adjusted working day (DESIGN §4).
    time_machine.move_to(at(2026, 9, 28, 10), tick=False)
    need = world.register()
    events = need.events.count()
    client.force_login(world.dispatcher)
    part = client.get(f"/needs/{need.number}/assign/", HTTP_HX_REQUEST="true")
    assert part.status_code == 200
    html = part.content.decode()
    assert "<html" not in html
    assert re.search(r'data-testid="preview-response">2026-09-29 23:59<', html)
    assert re.search(r'data-testid="preview-resolve">2026-10-10 23:59<', html)
    assert "5 个工作日" in html
    # the page shows the same preview, and nothing was stored
    page = client.get(f"/needs/{need.number}/").content.decode()
    assert 'data-testid="preview-resolve">2026-10-10 23:59<' in page
    need.refresh_from_db()
    assert (need.status, need.resolve_due, need.events.count()) == ("registered", None, events)


def test_assign_preview_counts_hours_for_urgent_needs(world, client, time_machine):
    time_machine.move_to(at(2026, 3, 2, 10, 30), tick=False)
    need = world.register(urgency="urgent")
    client.force_login(world.dispatcher)
    html = client.get(f"/needs/{need.number}/assign/", HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="preview-response">2026-03-02 12:30<' in html
    assert 'data-testid="preview-resolve">2026-03-03 10:30<' in html


def test_merge_suggestions_search_active_needs_within_scope(world, client):
    need = world.register()
    same_road = world.register(title="同一路段路灯不亮")
    world.register(actor=world.officer_b, area=world.grid_b, title="西岭村路灯不亮")
    gone = world.register(title="路灯已撤销的一条")
    services.need_withdraw(actor=world.dispatcher, need=gone, version=gone.version, reason="重复")
    # a dispatcher of 东河镇 only
    local = User.objects.create_user(username="dispatcher_a", password="pw")
    Membership.objects.create(user=local, role="dispatcher", area=world.town_a)
    client.force_login(local)
    html = client.get(
        f"/needs/{need.number}/merge/", {"into": "路灯"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert f'data-merge-into="{same_road.number}"' in html
    assert "西岭村路灯不亮" not in html  # out of scope
    assert gone.number not in html  # not active
    assert f'data-merge-into="{need.number}"' not in html  # not itself
    by_number = client.get(
        f"/needs/{need.number}/merge/", {"into": same_road.number[-6:]}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert same_road.number in by_number
    nothing = client.get(
        f"/needs/{need.number}/merge/", {"into": "没有这种诉求"}, HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "范围内没有与“没有这种诉求”匹配的办理中诉求。" in nothing


# --------------------------------------------------------------------------- cost


def _queries(client, need) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(f"/needs/{need.number}/").status_code == 200
    return len(ctx.captured_queries)


@pytest.mark.parametrize(
    ("setup", "persona"),
    [
        (lambda w: w.register(), "dispatcher"),  # assign preview, unit lists
        (lambda w: w.in_progress(), "handler"),  # extension rule lookups
        (lambda w: w.replied(), "officer"),
    ],
)
def test_detail_query_count_does_not_grow_with_the_events(
    world, client, django_assert_max_num_queries, setup, persona
):
    need = setup(world)
    client.force_login(getattr(world, persona))
    _queries(client, need)  # warm the display calendar cache (deadlines.cached_calendar)
    few = _queries(client, need)
    for i in range(30):
        need = services.need_remind(
            actor=world.leader, need=need, version=need.version, note=f"第{i}次"
        )
    with django_assert_max_num_queries(18):
        many = _queries(client, need)
    assert many == few


# --------------------------------------------------------------------------- timeline


def test_timeline_never_shows_raw_event_data(world, client):
    need = closed(world)
    need = services.need_reopen(
        actor=world.dispatcher, need=need, version=need.version, reason="又坏了"
    )
    html = _page(client, world.dispatcher, need).content.decode()
    timeline = html.split('data-testid="timeline"')[1]
    for raw in ("previous_reply", "lead_unit", "calendar_version", "{", "resolve_due"):
        assert raw not in timeline
    assert NeedEvent.objects.filter(need=need).count() == timeline.count("<li ")


def _sentences(need: Need) -> list[str]:
    return [item.sentence for item in timeline.timeline(need.events.all())]


def test_timeline_tells_the_whole_life_of_a_need_in_plain_words(world, time_machine):
    time_machine.move_to(at(2026, 3, 2, 9, 12), tick=False)
    need = world.register(requester=services.RequesterInput(name="张三丰", phone="13812345678"))
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport, world.town_a_gov],
    )
    time_machine.move_to(at(2026, 3, 2, 10, 5), tick=False)
    need = services.need_accept(actor=world.handler, need=need, version=need.version)
    need = services.need_progress(
        actor=world.handler_other, need=need, version=need.version, note="已勘察现场"
    )
    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=3, reason="需协调电力部门"
    )
    need = services.need_deny_extension(
        actor=world.dispatcher, need=need, version=need.version, reason="时限足够"
    )
    need = services.need_request_extension(
        actor=world.handler, need=need, version=need.version, days=2, reason="材料未到"
    )
    need = services.need_approve_extension(actor=world.dispatcher, need=need, version=need.version)
    need = services.need_supervise(
        actor=world.leader, need=need, version=need.version, note="本周内解决"
    )
    need = services.need_remind(actor=world.leader, need=need, version=need.version)
    time_machine.move_to(at(2026, 3, 3, 16, 40), tick=False)
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="planned",
        reply_text="已列入改造计划",
        followup_date=date(2026, 4, 1),
    )
    need = services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="partly",
        satisfaction="basic",
        comment="希望尽快",
    )
    need = services.need_fulfil(
        actor=world.handler, need=need, version=need.version, note="路灯已更换"
    )
    need = services.need_reopen(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        reason="又坏了",
        lead_unit=world.transport,
    )
    need = services.need_return(
        actor=world.handler_other, need=need, version=need.version, reason="应由住建局办理"
    )
    target = world.register(title="同一路段路灯不亮")
    need = services.need_merge(actor=world.dispatcher, need=need, version=need.version, into=target)

    assert _sentences(need) == [
        "2026-03-02 09:12 王网格 登记诉求",
        "2026-03-02 09:12 调度员 交办给 县住建局（协办：县交通局、东河镇），办结时限 3月9日",
        "2026-03-02 10:05 住建承办人 签收，开始办理",
        "2026-03-02 10:05 交通承办人 办理进展：已勘察现场",
        "2026-03-02 10:05 住建承办人 申请延期 3 个工作日，理由：需协调电力部门",
        "2026-03-02 10:05 调度员 驳回延期申请（3 个工作日），理由：时限足够",
        "2026-03-02 10:05 住建承办人 申请延期 2 个工作日，理由：材料未到",
        "2026-03-02 10:05 调度员 批准延期 2 个工作日，办结时限由 3月9日 延至 3月11日",
        "2026-03-02 10:05 县领导 督办：本周内解决",
        "2026-03-02 10:05 县领导 催办：请抓紧办理。",
        "2026-03-03 16:40 住建承办人 答复群众（创造条件推动），下次跟进 4月1日，"
        "答复内容：已列入改造计划",
        "2026-03-03 16:40 王网格 回访（电话回访）：部分解决，基本满意；承诺事项转入跟进；"
        "群众意见：希望尽快",
        "2026-03-03 16:40 住建承办人 兑现承诺，诉求办结，兑现情况：路灯已更换",
        "2026-03-03 16:40 调度员 重办，交 县交通局 重新办理，办结时限 3月10日，理由：又坏了",
        "2026-03-03 16:40 交通承办人 将诉求退回调度（原主办：县交通局），理由：应由住建局办理",
        f"2026-03-03 16:40 调度员 将本诉求合并到 {target.number}，诉求人随之跟进该诉求",
    ]
    assert _sentences(target)[-1] == f"2026-03-03 16:40 调度员 将 {need.number} 并入本诉求"
    # no personal data of the requester, however the events came about
    assert not [s for s in _sentences(need) if "张" in s or "138" in s]


def test_timeline_of_on_the_spot_urgent_unreachable_expired_swept_and_withdrawn(
    world, time_machine
):
    time_machine.move_to(at(2026, 3, 2, 9, 12), tick=False)
    spot = services.need_register_on_the_spot(
        actor=world.officer,
        title="井盖松动",
        description="已现场固定",
        kind="help",
        source="visit",
        area=world.grid_a,
        reply_text="已现场固定井盖",
    )
    confirmed = services.need_register_on_the_spot(
        actor=world.officer,
        title="井盖松动",
        description="已现场固定",
        kind="help",
        source="visit",
        area=world.grid_a,
        reply_text="已现场固定井盖",
        confirmed=True,
        satisfaction="very_satisfied",
    )
    urgent = world.assigned(urgency="urgent")
    unreachable = world.replied()
    unreachable = services.need_callback(
        actor=world.officer, need=unreachable, version=unreachable.version, channel="unreachable"
    )
    expired = world.replied()
    withdrawn = world.register()
    withdrawn = services.need_withdraw(
        actor=world.dispatcher, need=withdrawn, version=withdrawn.version, reason="重复登记"
    )
    time_machine.move_to(at(2026, 3, 20, 9), tick=False)
    expired = services.need_expire_callback(need=expired)
    swept = services.need_remind(actor=None, need=urgent, version=None, kind=OVERDUE)

    assert _sentences(spot)[-1] == (
        "2026-03-02 09:12 王网格 马上就办：现场解决并答复群众，办理情况：已现场固定井盖"
    )
    assert _sentences(confirmed)[-1] == (
        "2026-03-02 09:12 王网格 马上就办：现场解决，群众当场确认（非常满意），"
        "办理情况：已现场固定井盖"
    )
    assert _sentences(urgent)[1] == "2026-03-02 09:12 调度员 交办给 县住建局，办结时限 3月3日 09:12"
    assert _sentences(unreachable)[-1] == "2026-03-02 09:12 王网格 回访：未能联系到群众；诉求办结"
    assert _sentences(expired)[-1] == "2026-03-20 09:00 系统 回访期限已过，未能联系到群众；诉求办结"
    assert _sentences(swept)[-1] == "2026-03-20 09:00 系统 已超过办结时限，已督办"
    assert _sentences(withdrawn)[-1] == "2026-03-02 09:12 调度员 撤销诉求，理由：重复登记"
    last = withdrawn.events.order_by("seq").last()
    assert last is not None
    assert timeline.event_sentence(last) == ("2026-03-02 09:12 调度员 撤销诉求，理由：重复登记")


def test_timeline_names_a_deadline_in_another_year_with_its_year(world, time_machine):
    time_machine.move_to(at(2026, 12, 29, 10), tick=False)
    need = world.assigned()
    # 12-30, 12-31, (1-1 New Year's Day), 1-4, 1-5, 1-6
    assert _sentences(need)[1] == "2026-12-29 10:00 调度员 交办给 县住建局，办结时限 2027年1月6日"


@pytest.mark.parametrize("english", [False, True])
def test_timeline_times_read_as_the_date_filter_writes_them(world, english):
    # given events at times with and without microseconds, in the viewer's time zone
    from django.template.defaultfilters import date as date_filter
    from django.utils import translation

    need = world.replied()
    NeedEvent.objects.filter(need=need, seq=1).update(
        created_at=datetime(2026, 3, 1, 16, 5, 0, tzinfo=UTC)
    )
    with translation.override("en" if english else "zh-hans"):
        # when the timeline is built
        entries = timeline.timeline(NeedEvent.objects.filter(need=need))
        # then its texts are the page's former `|date` output, to the character
        for entry in entries:
            assert entry.at_text == date_filter(entry.at, "Y-m-d H:i")
            assert entry.at_iso == date_filter(entry.at, "c")
    assert entries[0].at_text == "2026-03-02 00:05"  # UTC+8
    assert entries[0].at_iso == "2026-03-02T00:05:00+08:00"
    assert any(entry.at.microsecond for entry in entries[1:])
