from datetime import timedelta

import pytest

from wenxu.api.tests.conftest import Lifecycle
from wenxu.lib import clock
from wenxu.needs.models import Need, NeedEvent


def _snapshot(need):
    fresh = Need.objects.get(pk=need.pk)
    return (
        fresh.version,
        fresh.status,
        NeedEvent.objects.filter(need=fresh).count(),
        fresh.lead_unit_id,
        fresh.resolve_due,
        fresh.reply_text,
    )


def _register_body(world, **overrides):
    body = {
        "title": "村道坑洼",
        "description": "东河村到镇上的村道有多处坑洼，雨天积水。",
        "kind": "help",
        "source": "visit",
        "area": world.grid_a.pk,
        "category": world.cat_roads.pk,
        "urgency": "normal",
        "nature_tags": ["urgent", "worrying"],
        "address": "东河村村口",
        "latitude": "30.1234567",
        "longitude": "120.7654321",
        "requester": {"name": "赵六", "phone": "13612345678", "confidential": False},
        "handling": "routine",
    }
    body.update(overrides)
    return body


# --------------------------------------------------------------------------- register


def test_officer_registers_a_need(world, api_as):
    response = api_as(world.officer).post("/needs", _register_body(world))

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "registered"
    assert body["number"].startswith("WX-")
    assert body["nature_tags"] == ["urgent", "worrying"]
    assert body["category"]["id"] == world.cat_roads.pk
    assert body["address"] == "东河村村口"
    assert body["version"] == 1
    assert [e["action"] for e in body["events"]] == ["register"]
    need = Need.objects.get(number=body["number"])
    assert str(need.latitude) == "30.123457"
    assert need.recorded_by == world.officer


def test_dispatcher_registers_a_need_anywhere_in_the_county(world, api_as):
    response = api_as(world.dispatcher).post("/needs", _register_body(world, area=world.grid_b.pk))

    assert response.status_code == 201


def test_officer_registers_on_the_spot_closed_when_resident_confirms(world, api_as):
    body = _register_body(
        world,
        handling="on_the_spot",
        reply_text="现场联系养护队填平坑洼。",
        confirmed=True,
        satisfaction="very_satisfied",
    )

    response = api_as(world.officer).post("/needs", body)

    assert response.status_code == 201
    need = response.json()
    assert need["status"] == "closed"
    assert need["handling"] == "on_the_spot"
    assert need["outcome"] == "resolved"
    assert need["callback"]["satisfaction"] == "very_satisfied"
    assert need["callback"]["channel"] == "on_site"


def test_on_the_spot_without_confirmation_is_replied(world, api_as):
    body = _register_body(world, handling="on_the_spot", reply_text="已现场解释政策。")

    response = api_as(world.officer).post("/needs", body)

    assert response.status_code == 201
    assert response.json()["status"] == "replied"


def test_on_the_spot_without_reply_text_is_422(world, api_as):
    response = api_as(world.officer).post("/needs", _register_body(world, handling="on_the_spot"))

    assert response.status_code == 422
    assert "reply_text" in response.json()["errors"]
    assert not Need.objects.exists()


def test_on_the_spot_fields_on_routine_need_are_refused(world, api_as):
    response = api_as(world.officer).post(
        "/needs", _register_body(world, satisfaction="satisfied", confirmed=True)
    )

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"satisfaction", "confirmed"}
    assert not Need.objects.exists()


@pytest.mark.parametrize("persona", ["handler", "leader", "admin", "outsider"])
def test_roles_that_do_not_register_get_403(world, api_as, persona):
    response = api_as(getattr(world, persona)).post("/needs", _register_body(world))

    assert response.status_code == 403
    assert response.json()["code"] == "not_permitted"
    assert not Need.objects.exists()


def test_dispatcher_cannot_register_on_the_spot(world, api_as):
    body = _register_body(world, handling="on_the_spot", reply_text="现场处理")

    response = api_as(world.dispatcher).post("/needs", body)

    assert response.status_code == 403


def test_officer_registering_outside_their_area_gets_422_on_area(world, api_as):
    response = api_as(world.officer_b).post("/needs", _register_body(world))

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["area"]
    assert not Need.objects.exists()


@pytest.mark.parametrize("field", ["area", "category"])
def test_unknown_reference_id_on_register_is_422_on_that_field(world, api_as, field):
    response = api_as(world.officer).post("/needs", _register_body(world, **{field: 987654}))

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field]
    assert "987654" in body["errors"][field][0]
    assert not Need.objects.exists()


def test_blank_title_is_422_with_the_services_message(world, api_as):
    response = api_as(world.officer).post("/needs", _register_body(world, title="  "))

    assert response.status_code == 422
    assert response.json()["errors"] == {"title": ["请填写标题。"]}
    assert response.json()["message"] == "请填写标题。"


def test_wrong_types_and_missing_fields_get_readable_chinese_messages(world, api_as):
    response = api_as(world.officer).post(
        "/needs",
        {
            "title": 7,
            "kind": "rumour",
            "area": "东河村",
            "nature_tags": "urgent",
            "requester": {"phone": 1380000},
            "colour": "red",
        },
    )

    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert body["errors"] == {
        "title": ["请填写文本。"],
        "description": ["此项为必填项。"],
        "kind": [
            "取值无效，可选值：consult, help, complaint, report, suggestion, criticism, praise。"
        ],
        "source": ["此项为必填项。"],
        "area": ["请填写整数。"],
        "nature_tags": ["应为列表。"],
        "requester.phone": ["请填写文本。"],
        "colour": ["不支持此字段，请检查字段名。"],
    }
    assert "Input should" not in response.content.decode()
    assert not Need.objects.exists()


def test_body_that_is_not_json_is_422(world, api_as):
    response = api_as(world.officer).post("/needs", raw="{title: 路灯")

    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid",
        "message": "提交的内容有误，请检查：body。",
        "errors": {"body": ["请求内容不是有效的 JSON。"]},
    }


def test_empty_body_is_422(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).post(f"/needs/{need.number}/withdraw", raw=" ")

    assert response.status_code == 422


def test_chinese_is_sent_as_utf8_not_escaped(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).get(f"/needs/{need.number}")

    assert "村口路灯不亮".encode() in response.content
    assert response["Content-Type"] == "application/json; charset=utf-8"


def test_json_that_is_not_an_object_is_422(world, api_as):
    response = api_as(world.officer).post("/needs", [1, 2])

    assert response.status_code == 422
    assert response.json()["errors"] == {"body": ["应为 JSON 对象。"]}


# --------------------------------------------------------------------------- every action


def test_dispatcher_assigns_with_lead_and_co_units(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).act(
        need, "assign", lead_unit=world.housing.pk, co_units=[world.town_a_gov.pk]
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "assigned"
    assert body["lead_unit"]["id"] == world.housing.pk
    assert body["co_units"] == [{"id": world.town_a_gov.pk, "name": "东河镇人民政府"}]
    assert body["response_due"]
    assert body["resolve_due"]
    assert body["version"] == need.version + 1


def test_assign_with_unknown_units_is_422_on_those_fields(world, api_as, life):
    need = life.registered()
    before = _snapshot(need)

    response = api_as(world.dispatcher).act(
        need, "assign", lead_unit=424242, co_units=[world.transport.pk, 434343]
    )

    assert response.status_code == 422
    errors = response.json()["errors"]
    assert set(errors) == {"lead_unit", "co_units"}
    assert "434343" in errors["co_units"][0]
    assert _snapshot(need) == before


def test_handler_accepts(world, api_as, life):
    need = life.assigned()

    response = api_as(world.handler).act(need, "accept")

    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"
    assert response.json()["responded_at"]


def test_handler_returns_and_still_sees_the_result(world, api_as, life):
    need = life.in_progress()

    response = api_as(world.handler).act(need, "return", reason="不属于住建职责，应由交通局办理")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "registered"
    assert body["lead_unit"] is None
    assert body["events"][-1]["note"] == "不属于住建职责，应由交通局办理"
    # The need has left the handler's scope with the return.
    assert api_as(world.handler).get(f"/needs/{need.number}").status_code == 404


def test_handler_records_progress(world, api_as, life):
    need = life.in_progress()

    response = api_as(world.handler).act(need, "progress", note="已联系供电所，明天更换灯泡")

    assert response.status_code == 200
    assert response.json()["status"] == "in_progress"
    assert response.json()["events"][-1]["action"] == "progress"


def test_co_unit_handler_records_progress_but_cannot_reply(world, api_as, life):
    need = life.registered()
    api_as(world.dispatcher).act(
        need, "assign", lead_unit=world.housing.pk, co_units=[world.transport.pk]
    )
    api_as(world.handler).act(need, "accept")
    co = api_as(world.handler_other)

    assert co.act(need, "progress", note="交通局配合封路").status_code == 200
    response = co.act(need, "reply", outcome="resolved", reply_text="已处理")
    assert response.status_code == 403


def test_handler_requests_and_dispatcher_approves_an_extension(world, api_as, life):
    need = life.in_progress()
    original_due = need.resolve_due

    requested = api_as(world.handler).act(need, "request-extension", days=3, reason="需等待材料")
    approved = api_as(world.dispatcher).act(need, "approve-extension", note="同意")

    assert requested.status_code == 200
    assert requested.json()["extension_pending_days"] == 3
    assert approved.status_code == 200
    body = approved.json()
    assert body["extension_count"] == 1
    assert body["extension_pending_days"] is None
    assert Need.objects.get(pk=need.pk).resolve_due > original_due


def test_dispatcher_denies_an_extension(world, api_as, life):
    need = life.extension_pending()

    response = api_as(world.dispatcher).act(need, "deny-extension", reason="时限内可以完成")

    assert response.status_code == 200
    assert response.json()["extension_pending_days"] is None
    assert response.json()["extension_count"] == 0


def test_extension_days_beyond_the_rule_is_422_on_days(world, api_as, life):
    need = life.in_progress()
    before = _snapshot(need)

    response = api_as(world.handler).act(need, "request-extension", days=99, reason="太忙")

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["days"]
    assert _snapshot(need) == before


def test_handler_replies(world, api_as, life):
    need = life.in_progress()

    response = api_as(world.handler).act(
        need, "reply", outcome="explained", reply_text="该路段已列入明年改造计划，已向群众解释。"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "replied"
    assert body["outcome"] == "explained"
    assert body["replied_at"]


def test_planned_reply_without_followup_date_is_422_on_followup_date(world, api_as, life):
    need = life.in_progress()
    before = _snapshot(need)

    response = api_as(world.handler).act(need, "reply", outcome="planned", reply_text="争取资金")

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["followup_date"]
    assert _snapshot(need) == before


def test_bad_date_is_422_with_the_expected_format(world, api_as, life):
    need = life.in_progress()

    response = api_as(world.handler).act(
        need, "reply", outcome="planned", reply_text="争取资金", followup_date="下个月"
    )

    assert response.status_code == 422
    assert response.json()["errors"] == {"followup_date": ["日期格式应为 YYYY-MM-DD。"]}


def test_officer_calls_back_and_closes(world, api_as, life):
    need = life.replied()

    response = api_as(world.officer).act(
        need, "callback", resolved="yes", satisfaction="satisfied", channel="visit", comment="满意"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "closed"
    assert body["callback"]["resolved"] == "yes"


@pytest.mark.parametrize(
    "blank", [{}, {"resolved": None, "satisfaction": None}, {"resolved": "", "satisfaction": ""}]
)
def test_unreachable_callback_needs_no_verdict(world, api_as, life, blank):
    need = life.replied()

    response = api_as(world.officer).act(need, "callback", channel="unreachable", **blank)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "closed"
    assert body["callback"]["channel"] == "unreachable"
    assert (body["callback"]["resolved"], body["callback"]["satisfaction"]) == (None, None)


def test_unreachable_callback_with_a_verdict_is_422(world, api_as, life):
    need = life.replied()

    response = api_as(world.officer).act(
        need, "callback", channel="unreachable", resolved="no", satisfaction="dissatisfied"
    )

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"resolved", "satisfaction"}


def test_callback_reaching_the_resident_still_needs_a_verdict(world, api_as, life):
    need = life.replied()

    response = api_as(world.officer).act(need, "callback", channel="phone")

    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"resolved", "satisfaction"}
    assert Need.objects.get(pk=need.pk).status == "replied"


def test_planned_promise_is_followed_then_fulfilled_by_handler(world, api_as, life):
    need = life.in_progress()
    followup = (clock.today() + timedelta(days=20)).isoformat()
    handler = api_as(world.handler)
    handler.act(need, "reply", outcome="planned", reply_text="已申请资金", followup_date=followup)

    called = api_as(world.officer).act(
        need, "callback", resolved="partly", satisfaction="basic", channel="phone"
    )
    fulfilled = handler.act(need, "fulfil", note="资金到位，道路已修好，已告知群众")

    assert called.json()["status"] == "following"
    assert called.json()["followup_date"] == followup
    assert fulfilled.status_code == 200
    assert fulfilled.json()["status"] == "closed"


def test_dispatcher_reopens_a_replied_need(world, api_as, life):
    need = life.replied()

    response = api_as(world.dispatcher).act(need, "reopen", reason="群众反映灯又坏了")

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "in_progress"
    assert body["reopen_count"] == 1
    assert body["outcome"] is None


def test_reopen_may_name_another_lead_unit(world, api_as, life):
    need = life.replied()

    response = api_as(world.dispatcher).act(
        need, "reopen", reason="应由交通局办理", lead_unit=world.transport.pk
    )

    assert response.status_code == 200
    assert response.json()["lead_unit"]["id"] == world.transport.pk


@pytest.mark.parametrize("persona", ["dispatcher", "leader"])
def test_dispatcher_and_leader_supervise(world, api_as, life, persona):
    need = life.in_progress()

    response = api_as(getattr(world, persona)).act(need, "supervise", note="请加快办理")

    assert response.status_code == 200
    assert response.json()["supervised"] is True
    assert response.json()["status"] == "in_progress"


def test_leader_reminds_without_changing_status(world, api_as, life):
    need = life.assigned()

    response = api_as(world.leader).act(need, "remind")

    assert response.status_code == 200
    assert response.json()["status"] == "assigned"
    assert response.json()["events"][-1] == {
        **response.json()["events"][-1],
        "action": "remind",
        "note": "请抓紧办理。",
        "actor": "县领导",
    }


def test_dispatcher_merges_a_duplicate(world, api_as, life):
    target = life.assigned()
    duplicate = life.registered()

    response = api_as(world.dispatcher).act(duplicate, "merge", into=target.number)

    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "merged"
    assert body["merged_into"] == target.number
    target_events = api_as(world.dispatcher).get(f"/needs/{target.number}").json()["events"]
    assert target_events[-1]["action"] == "merged_from"


def test_merge_into_unknown_number_is_422_on_into(world, api_as, life):
    need = life.registered()
    before = _snapshot(need)

    response = api_as(world.dispatcher).act(need, "merge", into="WX-2000-000001")

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["into"]
    assert _snapshot(need) == before


def test_merge_into_need_out_of_callers_scope_is_422_on_into(world, api_as, life):
    # The handler cannot see the target, so for them it does not exist: 422, not a 404 leak.
    source = life.in_progress()
    hidden = life.registered()
    before = _snapshot(source)

    response = api_as(world.handler).act(source, "merge", into=hidden.number)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["into"]
    assert _snapshot(source) == before


def test_merge_into_itself_is_422_on_into(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).act(need, "merge", into=need.number)

    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["into"]


def test_dispatcher_withdraws(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).act(need, "withdraw", reason="群众撤回诉求")

    assert response.status_code == 200
    assert response.json()["status"] == "withdrawn"


# --------------------------------------------------------------------------- refusals


def test_illegal_transition_is_409_and_changes_nothing(world, api_as, life):
    need = life.registered()
    before = _snapshot(need)

    response = api_as(world.dispatcher).act(need, "reopen", reason="再办一次")

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "illegal_transition"
    assert "已登记" in body["message"]
    assert _snapshot(need) == before


def test_stale_version_is_409_and_changes_nothing(world, api_as, life):
    need = life.assigned()
    seen = need.version
    api_as(world.dispatcher).act(need, "supervise", note="请尽快签收")  # someone else's edit
    before = _snapshot(need)

    response = api_as(world.handler).act(need, "accept", version=seen)

    assert response.status_code == 409
    assert response.json() == {"code": "stale_version", "message": "该记录已被他人修改，请刷新"}
    assert _snapshot(need) == before


def test_invalid_input_is_422_and_changes_nothing(world, api_as, life):
    need = life.in_progress()
    before = _snapshot(need)

    response = api_as(world.handler).act(need, "return", reason="   ")

    assert response.status_code == 422
    assert response.json() == {
        "code": "invalid",
        "message": "请填写退回理由。",
        "errors": {"reason": ["请填写退回理由。"]},
    }
    assert _snapshot(need) == before


def test_missing_version_is_422_on_version(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).post(f"/needs/{need.number}/withdraw", {"reason": "重复"})

    assert response.status_code == 422
    assert response.json()["errors"] == {"version": ["此项为必填项。"]}


def test_wrong_role_is_403_and_changes_nothing(world, api_as, life):
    need = life.registered()
    before = _snapshot(need)

    response = api_as(world.officer).act(need, "withdraw", reason="不想办了")

    assert response.status_code == 403
    assert response.json()["code"] == "not_permitted"
    assert "撤销" in response.json()["message"]
    assert _snapshot(need) == before


def test_unknown_action_is_404(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).act(need, "approve")

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    assert "approve-extension" in response.json()["message"]


# --------------------------------------------------------------------------- language


def test_messages_are_chinese_by_default(world, api_as, life):
    need = life.registered()

    response = api_as(world.dispatcher).act(need, "reopen", reason="再办")

    assert response["Content-Language"] == "zh-hans"
    assert response.json()["message"] == "诉求当前状态为“已登记”，不能执行“重办”。"


@pytest.mark.parametrize(
    ("action", "body", "status", "code"),
    [
        ("reopen", {"reason": "再办"}, 409, "illegal_transition"),
        ("withdraw", {"reason": ""}, 422, "invalid"),
        ("withdraw", {"reason": "x", "version": 99}, 409, "stale_version"),
    ],
)
def test_accept_language_en_keeps_codes_and_answers_in_english(
    world, api_as, life, action, body, status, code
):
    need = life.registered()

    response = api_as(world.dispatcher).act(need, action, headers={"Accept-Language": "en"}, **body)

    # Until the English catalogue exists the text may still be Chinese; the code is the contract.
    assert response.status_code == status
    assert response["Content-Language"] == "en"
    assert response.json()["code"] == code
    assert response.json()["message"]


def test_accept_language_en_also_applies_to_malformed_input(world, api_as):
    response = api_as(world.officer).post("/needs", {"title": 1}, headers={"Accept-Language": "en"})

    assert response.status_code == 422
    assert response["Content-Language"] == "en"
    assert response.json()["code"] == "invalid"
    assert set(response.json()["errors"]) >= {"title", "description", "kind", "area"}


def test_out_of_scope_wins_over_every_other_error(world, api_as):
    theirs = Lifecycle(world, "b").registered()

    response = api_as(world.officer).act(theirs, "reopen", version=99, reason="")

    assert response.status_code == 404
