"""Retention (issue #9 item 3): `wenxu retention [--dry-run]` anonymises requesters whose every
need settled longer ago than WENXU_RETENTION_DAYS, and nobody else."""

from dataclasses import dataclass
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command

from wenxu.audit import actions
from wenxu.audit.models import AuditEntry
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.residents.models import ANONYMISED_NAME, Requester
from wenxu.residents.retention import cutoff_for


def who(need: Need) -> Requester:
    """The need's requester as stored now."""
    return Requester.objects.get(needs__pk=need.pk)


def person(name: str, phone: str) -> services.RequesterInput:
    return services.RequesterInput(name=name, phone=phone, address="东河村一组")


def closed(world: Any, requester: services.RequesterInput) -> Need:
    need = world.replied(requester=requester)
    return services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        resolved="yes",
        satisfaction="satisfied",
        channel="phone",
    )


@dataclass
class Ledger:
    old_closed: Need
    old_withdrawn: Need
    recent_closed: Need
    old_but_active: Need
    merged_into_active: Need
    one_old_one_recent: Need


@pytest.fixture
def ledger(world: Any, settings: Any) -> Ledger:
    settings.WENXU_RETENTION_DAYS = 1095
    long_ago = clock.now() - timedelta(days=4 * 365)
    with clock.travel(long_ago):
        old_closed = closed(world, person("赵一", "13800000001"))
        withdrawn = world.register(requester=person("钱二", "13800000002"))
        withdrawn = services.need_withdraw(
            actor=world.dispatcher, need=withdrawn, version=withdrawn.version, reason="重复登记"
        )
        active = world.in_progress(requester=person("孙三", "13800000003"))
        merged = world.register(requester=person("李四", "13800000004"))
        merged = services.need_merge(
            actor=world.dispatcher, need=merged, version=merged.version, into=active
        )
        first_of_two = closed(world, person("周五", "13800000005"))
    with clock.travel(clock.now() - timedelta(days=10)):
        recent = closed(world, person("吴六", "13800000006"))
        second_of_two = closed(world, person("周五", "13800000005"))
    # One requester with two needs: the recent one keeps the old one's requester too.
    Need.objects.filter(pk=second_of_two.pk).update(requester_id=first_of_two.requester_id)
    return Ledger(old_closed, withdrawn, recent, active, merged, first_of_two)


def run(*args: str) -> str:
    out = StringIO()
    call_command("retention", *args, stdout=out)
    return out.getvalue()


def names() -> dict[int, str]:
    return dict(Requester.objects.values_list("pk", "name"))


def test_dry_run_lists_the_requesters_masked_and_changes_nothing(ledger):
    before = names()

    out = run("--dry-run")

    assert f"#{ledger.old_closed.requester_id} 赵*" in out
    assert f"#{ledger.old_withdrawn.requester_id} 钱*" in out
    assert ledger.old_closed.number in out
    assert "已办结" in out
    assert "已撤销" in out
    for kept in ("孙*", "李*", "周*", "吴*"):
        assert kept not in out
    assert "共 2 位诉求人、2 件诉求" in out
    assert "未作任何修改" in out
    # Masked: no name or phone in full.
    assert "赵一" not in out
    assert "13800000001" not in out
    assert names() == before
    assert not AuditEntry.objects.filter(action=actions.RETENTION).exists()


def test_run_anonymises_exactly_the_settled_requesters_and_is_idempotent(ledger):
    out = run()

    assert "已匿名化 2 位诉求人" in out
    anonymised = {pk for pk, name in names().items() if name == ANONYMISED_NAME}
    assert anonymised == {ledger.old_closed.requester_id, ledger.old_withdrawn.requester_id}
    gone = who(ledger.old_closed)
    assert (gone.phone, gone.id_number, gone.address) == ("", "", "")
    # Kept: an active need, a need merged into an active one, a recent one, and a requester
    # with one old and one recent need.
    kept = who(ledger.merged_into_active)
    assert (kept.name, kept.phone) == ("李四", "13800000004")
    assert who(ledger.old_but_active).name == "孙三"
    assert who(ledger.recent_closed).name == "吴六"
    assert who(ledger.one_old_one_recent).name == "周五"
    # The needs stay in the ledger.
    assert Need.objects.get(pk=ledger.old_closed.pk).status == "closed"
    entry = AuditEntry.objects.get(action=actions.RETENTION)
    assert entry.detail["requesters"] == 2
    assert entry.detail["before"] == cutoff_for(1095).date().isoformat()

    again = run()

    assert "已匿名化 0 位诉求人" in again
    assert AuditEntry.objects.filter(action=actions.RETENTION).count() == 1


def test_settled_merge_target_lets_the_merged_requester_go(ledger, world):
    # When the need it was merged into settles (long enough ago), the merged need's requester
    # is anonymised too.
    target = ledger.old_but_active
    with clock.travel(clock.now() - timedelta(days=4 * 365 - 5)):
        target = services.need_reply(
            actor=world.handler,
            need=target,
            version=None,
            outcome="resolved",
            reply_text="已修复。",
        )
        services.need_callback(
            actor=world.officer,
            need=target,
            version=target.version,
            resolved="yes",
            satisfaction="satisfied",
            channel="phone",
        )

    run("--batch", "1")

    assert who(ledger.merged_into_active).name == ANONYMISED_NAME
    assert who(target).name == ANONYMISED_NAME
    assert AuditEntry.objects.filter(action=actions.RETENTION).count() == 4  # one per batch


def test_retention_zero_keeps_everything(ledger, settings):
    settings.WENXU_RETENTION_DAYS = 0
    before = names()

    out = run()

    assert "永久保存" in out
    assert names() == before
