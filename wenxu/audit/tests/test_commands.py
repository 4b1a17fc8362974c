"""`wenxu audit_verify` and `wenxu audit_prune`: output, exit codes, refusals."""

import os
import subprocess
import sys
from datetime import date, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.utils import timezone

from wenxu.audit import actions
from wenxu.audit.models import AuditEntry, AuditHead
from wenxu.audit.services import AuditRefused, audit_prune, latest_prunable_date
from wenxu.audit.tests.helpers import chain_of, forge, sql, swap_seqs
from wenxu.audit.verify import Kind, audit_verify

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command(*args, stdout=out, stderr=out)
    except SystemExit as exit:
        return int(exit.code or 0), out.getvalue()
    return 0, out.getvalue()


def _old_chain(days_ago: int, count: int) -> None:
    with time_machine.travel(timezone.now() - timedelta(days=days_ago), tick=False):
        chain_of(count)


# --------------------------------------------------------------------------- audit_verify


def test_verify_command_prints_the_count_and_exits_0_on_a_whole_chain():
    chain_of(3)

    code, output = _run("audit_verify")

    assert code == 0
    assert output.strip() == "审计日志完整：共 3 条（第 1–3 条）。"


def test_verify_command_prints_the_first_problem_and_exits_1():
    chain_of(4)
    swap_seqs(2, 3)

    code, output = _run("audit_verify")

    assert code == 1
    assert "第 2 条记录的顺序被改动过" in output


def test_verify_command_from_seq_and_its_bad_value():
    chain_of(4)
    sql("DELETE FROM {t} WHERE seq = %s", [1])

    assert _run("audit_verify")[0] == 1
    assert _run("audit_verify", "--from-seq", "3") == (0, "审计日志完整：共 2 条（第 3–4 条）。\n")
    with pytest.raises(CommandError, match="正整数"):
        call_command("audit_verify", "--from-seq", "0")


# --------------------------------------------------------------------------- audit_prune


def test_keep_days_under_180_is_refused_at_start_up(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    env.update(WENXU_DATA_DIR=str(tmp_path), WENXU_AUDIT_KEEP_DAYS="179")
    run = subprocess.run(
        [sys.executable, "-c", "import wenxu.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode != 0
    assert "ImproperlyConfigured" in run.stderr
    assert "WENXU_AUDIT_KEEP_DAYS must be at least 180" in run.stderr


def test_prune_refuses_a_date_that_would_delete_entries_younger_than_the_keep_period():
    _old_chain(200, 2)
    chain_of(1)
    too_late = latest_prunable_date() + timedelta(days=1)

    with pytest.raises(CommandError, match="至少保留 180 天"):
        call_command("audit_prune", "--before", too_late.isoformat())
    with pytest.raises(CommandError, match="至少保留 180 天"):
        call_command("audit_prune", "--before", too_late.isoformat(), "--dry-run")

    assert AuditEntry.objects.count() == 3


@override_settings(WENXU_AUDIT_KEEP_DAYS=365)
def test_prune_honours_a_longer_keep_period():
    _old_chain(200, 2)

    with pytest.raises(AuditRefused):
        audit_prune(before=timezone.localdate() - timedelta(days=190))

    assert AuditEntry.objects.count() == 2


def test_prune_refuses_a_date_it_cannot_read():
    with pytest.raises(CommandError, match="日期格式不正确"):
        call_command("audit_prune", "--before", "2026-13-01")


def test_prune_dry_run_lists_and_deletes_nothing():
    _old_chain(300, 3)

    code, output = _run("audit_prune", "--before", latest_prunable_date().isoformat(), "--dry-run")

    assert code == 0
    assert "第 1–3 条，共 3 条" in output
    assert "试运行" in output
    assert AuditEntry.objects.count() == 3


def test_prune_deletes_old_entries_moves_the_base_and_the_chain_still_verifies():
    _old_chain(300, 3)
    _old_chain(250, 2)
    chain_of(2)  # young: kept
    cutoff = (timezone.now() - timedelta(days=270)).date()

    code, output = _run("audit_prune", "--before", cutoff.isoformat())

    assert code == 0
    assert "已删除：第 1–3 条，共 3 条" in output
    assert list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True)) == [4, 5, 6, 7, 8]
    head = AuditHead.objects.get()
    assert head.base_seq == 3
    pruned = AuditEntry.objects.get(seq=8)
    assert pruned.action == actions.AUDIT_PRUNE
    assert pruned.detail["deleted"] == 3
    assert pruned.detail["base_seq"] == 3
    assert pruned.detail["base_hash"] == head.base_hash
    result = audit_verify()
    assert result.ok, result.message
    assert (result.first_seq, result.last_seq) == (4, 8)

    # And again, later: only the next old stretch goes, and the chain still verifies.
    audit_prune(before=latest_prunable_date())
    assert AuditEntry.objects.filter(seq__lte=5).count() == 0
    assert audit_verify().ok


def test_prune_with_nothing_old_enough_changes_nothing():
    chain_of(2)

    code, output = _run("audit_prune", "--before", latest_prunable_date().isoformat())

    assert code == 0
    assert "没有可清理的记录" in output
    assert AuditEntry.objects.count() == 2
    assert AuditHead.objects.get().base_seq == 0


def test_prune_refuses_a_broken_chain_so_that_the_evidence_stays():
    _old_chain(300, 4)
    sql("UPDATE {t} SET detail = %s WHERE seq = %s", ['{"n": 0}', 2])

    with pytest.raises(CommandError, match="校验未通过"):
        call_command("audit_prune", "--before", latest_prunable_date().isoformat())

    assert AuditEntry.objects.count() == 4


def test_a_start_cut_off_behind_wenxus_back_is_reported_even_with_the_base_moved():
    _old_chain(300, 4)
    third = AuditEntry.objects.get(seq=2)
    sql("DELETE FROM {t} WHERE seq <= %s", [2])
    AuditHead.objects.filter(pk=1).update(base_seq=2, base_hash=third.hash)

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.BASE, 3)


def test_a_start_deleted_after_a_prune_is_reported():
    _old_chain(300, 2)
    _old_chain(100, 3)
    audit_prune(before=latest_prunable_date())  # deletes 1–2, writes 6
    sql("DELETE FROM {t} WHERE seq = %s", [3])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.DELETED, 3)


def test_a_forged_prune_entry_before_the_base_does_not_hide_a_cut_off_start():
    entries = chain_of(10)
    sql("DELETE FROM {t} WHERE seq <= %s", [7])
    AuditHead.objects.filter(pk=1).update(base_seq=7, base_hash=entries[6].hash)
    forge(-5, actions.AUDIT_PRUNE, {"base_seq": 7, "base_hash": entries[6].hash})

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.BASE, 8)
    assert "没有与之对应的清理记录" in result.message


def test_deleting_every_entry_and_moving_the_base_to_the_end_is_reported():
    entries = chain_of(10)
    sql("DELETE FROM {t}")
    AuditHead.objects.filter(pk=1).update(base_seq=10, base_hash=entries[-1].hash)
    forge(0, actions.AUDIT_PRUNE, {"base_seq": 10, "base_hash": entries[-1].hash})

    result = audit_verify()

    assert result.problem is not None
    assert result.problem.kind == Kind.BASE
    assert "共 0 条" not in result.message
    code, output = _run("audit_verify")
    assert code == 1
    assert "没有与之对应的清理记录" in output


def test_a_forged_prune_entry_after_the_base_fails_its_hash():
    entries = chain_of(10)
    sql("DELETE FROM {t} WHERE seq <= %s", [7])
    AuditHead.objects.filter(pk=1).update(base_seq=6, base_hash=entries[5].hash)
    forge(7, actions.AUDIT_PRUNE, {"base_seq": 6, "base_hash": entries[5].hash})

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 7)


def test_an_entry_at_or_before_the_base_is_reported():
    _old_chain(300, 2)
    chain_of(2)
    audit_prune(before=latest_prunable_date())  # deletes 1–2, writes 5
    assert audit_verify().ok
    forge(1, actions.EXPORT, {"n": 1})

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.BASE, 1)
    assert "第 1 条记录在日志的起点（第 3 条）之前" in result.message


def test_an_entry_with_a_seq_below_one_is_reported_before_any_prune():
    chain_of(3)
    forge(-5, actions.EXPORT, {"n": 0})

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.BASE, -5)


def test_a_head_deleted_after_a_prune_is_rebuilt_with_its_base_and_the_entries_verify():
    _old_chain(300, 2)
    chain_of(2)
    audit_prune(before=latest_prunable_date())  # deletes 1–2, writes 5
    AuditHead.objects.all().delete()

    chain_of(1)  # 6 records the rebuild, 7 is this one

    head = AuditHead.objects.get()
    assert (head.base_seq, head.last_seq) == (2, 7)
    assert AuditEntry.objects.get(seq=6).action == actions.AUDIT_HEAD_REBUILT
    result = audit_verify()
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.HEAD, 6)
    assert result.checked == 5  # 3–7: every entry verified
    assert audit_verify(from_seq=7).ok
    with pytest.raises(AuditRefused):
        audit_prune(before=latest_prunable_date())


def test_the_latest_prunable_date_is_keep_days_ago():
    assert latest_prunable_date() == timezone.localdate() - timedelta(days=180)
    assert isinstance(latest_prunable_date(), date)
