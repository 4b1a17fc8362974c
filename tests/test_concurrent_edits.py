"""Two people edit the same need at the same moment (issue #9 item 7): one wins, the other is
told "该记录已被他人修改，请刷新" (HTTP 409) and nothing is lost; two identical transitions at once
leave one event.

`tests/test_concurrency.py` covers two dispatchers assigning through the service; these add the
paths a person or a client actually takes (the API and the need's page), two different handlers,
the retry after refreshing, and identical transitions.

They run on both databases: on PostgreSQL the two transactions overlap for real and the row lock
(SELECT … FOR UPDATE) orders them; on SQLite (the embedded default) IMMEDIATE transactions
serialise them. Either way the second writer must find the version moved and refuse.
"""

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connections
from django.test import Client

from wenxu.accounts import services as account_services
from wenxu.needs import services
from wenxu.needs.exceptions import DomainError
from wenxu.needs.models import Need, NeedEvent

pytestmark = pytest.mark.django_db(transaction=True)

STALE = "该记录已被他人修改，请刷新"


def at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Runs the calls in threads released together; returns each one's result or exception,
    in the order given."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as error:
            results[index] = error
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=pair) for pair in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results


def outcome(result: Any) -> str:
    if isinstance(result, DomainError):
        return result.code
    if isinstance(result, BaseException):
        raise result
    return "ok"


def in_progress_with_co_unit(world: Any) -> Need:
    """In progress at 住建局 (`handler`), with 交通局 (`handler_other`) as co unit: two different
    handlers may both add progress notes."""
    need = world.register()
    need = services.need_assign(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        lead_unit=world.housing,
        co_units=[world.transport],
    )
    return services.need_accept(actor=world.handler, need=need, version=need.version)


def notes(need: Need) -> list[str]:
    return list(
        NeedEvent.objects.filter(need=need, action="progress")
        .order_by("seq")
        .values_list("note", flat=True)
    )


def api(user: Any) -> Client:
    raw, _token = account_services.api_token_issue(user=user)
    return Client(headers={"Authorization": f"Bearer {raw}"})


def post_json(client: Client, path: str, body: dict[str, Any]) -> Any:
    return client.post("/api/v1" + path, body, content_type="application/json")


def test_two_handlers_noting_progress_at_once_one_wins_and_the_other_retries(world):
    # Given a need in progress that two handlers of two units both see at version v
    need = in_progress_with_co_unit(world)
    seen = need.version

    # when both record progress at the same moment
    results = at_once(
        lambda: services.need_progress(
            actor=world.handler, need=need.pk, version=seen, note="已联系施工队"
        ),
        lambda: services.need_progress(
            actor=world.handler_other, need=need.pk, version=seen, note="交通局已派人查看"
        ),
    )

    # then exactly one is written, the other refused as stale, with the message people read
    assert sorted(outcome(r) for r in results) == ["ok", "stale_version"]
    loser = next(r for r in results if isinstance(r, DomainError))
    assert loser.message == STALE
    won, lost = (
        ("已联系施工队", "交通局已派人查看")
        if outcome(results[0]) == "ok"
        else ("交通局已派人查看", "已联系施工队")
    )
    need.refresh_from_db()
    assert need.version == seen + 1
    assert notes(need) == [won]
    # and the one refused, after refreshing, writes their note: nothing is lost
    loser_actor = world.handler if lost == "已联系施工队" else world.handler_other
    services.need_progress(actor=loser_actor, need=need.pk, version=need.version, note=lost)
    assert notes(need) == [won, lost]
    assert Need.objects.get(pk=need.pk).version == seen + 2


def test_two_api_clients_on_the_same_version_one_gets_409_in_chinese_and_retries(world):
    need = in_progress_with_co_unit(world)
    seen = need.version
    path = f"/needs/{need.number}/progress"
    lead, co = api(world.handler), api(world.handler_other)

    responses = at_once(
        lambda: post_json(lead, path, {"version": seen, "note": "主办：已联系施工队"}),
        lambda: post_json(co, path, {"version": seen, "note": "协办：已派人查看"}),
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    refused = next(r for r in responses if r.status_code == 409)
    assert refused.json() == {"code": "stale_version", "message": STALE}
    accepted = next(r for r in responses if r.status_code == 200)
    assert accepted.json()["version"] == seen + 1
    won_note = "主办：已联系施工队" if responses[0].status_code == 200 else "协办：已派人查看"
    assert notes(need) == [won_note]

    # the refused client refreshes (GET) and sends its note again on the version it now sees
    loser = co if responses[0].status_code == 200 else lead
    lost_note = "协办：已派人查看" if loser is co else "主办：已联系施工队"
    fresh = loser.get(f"/api/v1/needs/{need.number}").json()
    assert fresh["version"] == seen + 1
    again = post_json(loser, path, {"version": fresh["version"], "note": lost_note})
    assert again.status_code == 200
    assert notes(need) == [won_note, lost_note]


def test_two_pages_submitting_on_the_same_version_one_gets_409_and_keeps_the_text(world):
    need = in_progress_with_co_unit(world)
    seen = need.version
    url = f"/needs/{need.number}/progress/"
    pages = []
    for user in (world.handler, world.handler_other):
        client = Client()
        client.force_login(user)
        pages.append(client)

    responses = at_once(
        lambda: pages[0].post(url, {"version": seen, "note": "甲：已联系施工队"}),
        lambda: pages[1].post(url, {"version": seen, "note": "乙：已派人查看"}),
    )

    assert sorted(r.status_code for r in responses) == [302, 409]
    refused = next(r for r in responses if r.status_code == 409)
    html = refused.content.decode()
    assert STALE in html
    kept = "乙：已派人查看" if responses[0].status_code == 302 else "甲：已联系施工队"
    assert kept in html  # the page gives back what they typed, on the current version
    assert f'name="version" value="{seen + 1}"' in html
    assert notes(need) == ["甲：已联系施工队" if kept.startswith("乙") else "乙：已派人查看"]


def test_two_identical_accepts_at_once_leave_one_event(world):
    # Given an assigned need, and the handler's double tap (two requests, same version)
    need = world.assigned()
    seen = need.version
    path = f"/needs/{need.number}/accept"
    first, second = api(world.handler), api(world.handler)

    responses = at_once(
        lambda: post_json(first, path, {"version": seen}),
        lambda: post_json(second, path, {"version": seen}),
    )

    assert sorted(r.status_code for r in responses) == [200, 409]
    assert NeedEvent.objects.filter(need=need, action="accept").count() == 1
    need.refresh_from_db()
    assert (need.status, need.version) == ("in_progress", seen + 1)


def test_two_identical_replies_without_a_version_leave_one_event(world):
    # A caller without a version (the system, a sweep) is stopped by the transition table.
    need = world.in_progress()

    def reply() -> Need:
        return services.need_reply(
            actor=world.handler,
            need=need.pk,
            version=None,
            outcome="resolved",
            reply_text="已更换路灯，恢复照明。",
        )

    results = at_once(reply, reply)

    assert sorted(outcome(r) for r in results) == ["illegal_transition", "ok"]
    assert NeedEvent.objects.filter(need=need, action="reply").count() == 1
    assert Need.objects.get(pk=need.pk).status == "replied"
