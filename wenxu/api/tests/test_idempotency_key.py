"""`Idempotency-Key` on API POSTs: a retry gets the first answer and nothing runs twice."""

import threading
import uuid
from datetime import timedelta
from typing import Any

import time_machine
from django.utils import timezone

from conftest import World
from wenxu.api.idempotency import idempotency_purge
from wenxu.api.models import IdempotentRequest
from wenxu.api.tests.conftest import Api
from wenxu.needs.models import Need, NeedEvent


def _need(world: World, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "村口路灯不亮",
        "description": "村口三盏路灯坏了一个多月。",
        "kind": "help",
        "source": "hotline",
        "area": world.grid_a.pk,
    }
    body.update(overrides)
    return body


def test_the_same_key_and_body_store_one_need_and_answer_the_same(world: World, api_as):
    api: Api = api_as(world.officer)
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first = api.post("/needs", _need(world), headers=key)
    again = api.post("/needs", _need(world), headers=key)

    assert first.status_code == 201, first.content
    assert again.status_code == 201
    assert again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Need.objects.count() == 1
    assert NeedEvent.objects.count() == 1


def test_the_same_key_with_another_body_is_refused_and_changes_nothing(world: World, api_as):
    api: Api = api_as(world.officer)
    key = {"Idempotency-Key": "retry-1"}
    api.post("/needs", _need(world), headers=key)

    other = api.post("/needs", _need(world, title="另一件事"), headers=key)

    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_key_reused"
    assert "Idempotency-Key" in other.json()["message"]
    assert Need.objects.count() == 1


def test_keys_belong_to_the_credential_that_used_them(world: World, api_as):
    key = {"Idempotency-Key": "shared-key"}
    mine = api_as(world.officer).post("/needs", _need(world), headers=key)
    theirs = api_as(world.dispatcher).post("/needs", _need(world), headers=key)

    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["number"] != theirs.json()["number"]
    assert Need.objects.count() == 2


def test_a_retry_while_the_first_is_still_answered_gets_409(world: World, api_as):
    api: Api = api_as(world.officer)
    first = api.post("/needs", _need(world), headers={"Idempotency-Key": "slow"})
    assert first.status_code == 201
    # (as the row looks while the first request is still running)
    IdempotentRequest.objects.filter(key="slow").update(status=None, body=b"")

    again = api.post("/needs", _need(world), headers={"Idempotency-Key": "slow"})

    assert again.status_code == 409
    assert again.json()["code"] == "idempotency_in_progress"
    assert Need.objects.count() == 1


def test_refusals_are_replayed_too_and_requests_without_a_key_are_untouched(world: World, api_as):
    api: Api = api_as(world.officer)
    bad = _need(world, title="")
    first = api.post("/needs", bad, headers={"Idempotency-Key": "bad"})
    again = api.post("/needs", bad, headers={"Idempotency-Key": "bad"})
    assert first.status_code == again.status_code == 422
    assert again["Idempotent-Replayed"] == "true"

    api.post("/needs", _need(world))
    api.post("/needs", _need(world))
    assert Need.objects.count() == 2
    assert IdempotentRequest.objects.count() == 1


def test_a_blank_or_overlong_key_is_refused(world: World, api_as):
    api: Api = api_as(world.officer)
    for key in (" ", "k" * 256):
        response = api.post("/needs", _need(world), headers={"Idempotency-Key": key})
        assert response.status_code == 422
        assert response.json()["code"] == "idempotency_key_invalid"
    assert Need.objects.count() == 0


def test_actions_replay_instead_of_reporting_a_conflict(world: World, api_as):
    need = world.register()
    api: Api = api_as(world.dispatcher)
    body = {"lead_unit": world.housing.pk, "version": need.version}
    key = {"Idempotency-Key": "assign-1"}

    first = api.post(f"/needs/{need.number}/assign", body, headers=key)
    again = api.post(f"/needs/{need.number}/assign", body, headers=key)

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert NeedEvent.objects.filter(need=need, action="assign").count() == 1


def test_old_keys_are_purged_and_can_be_used_again(world: World, api_as, settings):
    settings.WENXU_IDEMPOTENCY_HOURS = 24
    api: Api = api_as(world.officer)
    api.post("/needs", _need(world), headers={"Idempotency-Key": "old"})
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert idempotency_purge() == 1
    assert api.post("/needs", _need(world), headers={"Idempotency-Key": "old"}).status_code == 201
    assert Need.objects.count() == 2


def test_the_worker_purges_old_keys_after_each_sweep(monkeypatch):
    from wenxu.core.management.commands.worker import sweep_loop
    from wenxu.needs.sweeps import SweepResult

    stop = threading.Event()
    purges: list[int] = []

    def purge() -> int:
        purges.append(1)
        if len(purges) == 2:
            stop.set()
        return 0

    monkeypatch.setattr("wenxu.needs.sweeps.sweep", lambda **kwargs: SweepResult())
    monkeypatch.setattr("wenxu.api.idempotency.idempotency_purge", purge)
    thread = threading.Thread(target=sweep_loop, args=(stop, 0.01), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert len(purges) == 2
