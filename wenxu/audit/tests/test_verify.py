"""`audit_verify` finds the first edited, deleted or reordered entry, made with raw SQL."""

import pytest
from django.test import RequestFactory, override_settings

from wenxu.audit import actions
from wenxu.audit.models import AuditEntry, AuditHead
from wenxu.audit.services import audit_record
from wenxu.audit.tests.helpers import chain_of, sql, swap_seqs
from wenxu.audit.verify import Kind, audit_verify

pytestmark = pytest.mark.django_db


def test_an_untouched_chain_verifies_and_says_how_many_entries():
    chain_of(5)

    result = audit_verify()

    assert result.ok
    assert (result.checked, result.first_seq, result.last_seq) == (5, 1, 5)
    assert result.message == "审计日志完整：共 5 条（第 1–5 条）。"


def test_an_empty_log_verifies():
    assert audit_verify().ok
    assert audit_verify().checked == 0


def test_a_chain_longer_than_one_batch_verifies_across_the_batches():
    chain_of(7)

    assert audit_verify(batch_size=3).checked == 7
    assert audit_verify(batch_size=7).checked == 7


def test_an_edited_detail_is_reported_at_its_entry():
    chain_of(5)
    sql("UPDATE {t} SET detail = %s WHERE seq = %s", ['{"n": 99}', 3])

    result = audit_verify()

    assert not result.ok
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 3)
    assert "第 3 条记录的内容被修改过" in result.message
    assert result.checked == 2  # entries 1 and 2 were fine


def test_an_edited_action_is_reported_at_its_entry():
    chain_of(4)
    sql("UPDATE {t} SET action = %s WHERE seq = %s", [actions.LOGIN, 2])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 2)


def test_an_edited_time_or_actor_is_reported_too():
    chain_of(3)
    sql("UPDATE {t} SET actor_username = %s WHERE seq = %s", ["someone", 3])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 3)


def test_a_wrong_key_fails_at_the_first_entry_with_a_hint_about_the_key():
    chain_of(2)

    with override_settings(WENXU_AUDIT_KEY="another-key-of-at-least-32-characters!!"):
        result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 1)
    assert "WENXU_AUDIT_KEY" in result.message


def test_a_deleted_middle_entry_is_reported_by_its_seq():
    chain_of(5)
    sql("DELETE FROM {t} WHERE seq = %s", [3])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.DELETED, 3)
    assert "第 3 条记录缺失" in result.message


def test_several_deleted_entries_are_reported_as_a_range():
    chain_of(6)
    sql("DELETE FROM {t} WHERE seq IN (%s, %s)", [3, 4])

    result = audit_verify()

    assert result.problem is not None
    assert result.problem.seq == 3
    assert "第 3–4 条记录缺失" in result.message


def test_a_deleted_last_entry_is_reported_by_its_seq():
    chain_of(5)
    sql("DELETE FROM {t} WHERE seq = %s", [5])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.DELETED, 5)
    assert "第 5 条记录缺失" in result.message


def test_a_deletion_hidden_by_renumbering_the_rest_is_reported():
    chain_of(5)
    sql("DELETE FROM {t} WHERE seq = %s", [3])
    sql("UPDATE {t} SET seq = seq - 1 WHERE seq = %s", [4])
    sql("UPDATE {t} SET seq = seq - 1 WHERE seq = %s", [5])
    AuditHead.objects.filter(pk=1).update(last_seq=4)

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.DELETED, 3)
    assert "第 2 条和第 3 条之间有记录被删除" in result.message


def test_two_swapped_entries_are_reported_at_the_first_position():
    chain_of(6)
    swap_seqs(2, 5)

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.REORDERED, 2)
    # The entry now at 2 (written 5th) followed the one written 4th, which is still at 4.
    assert "原本接在现第 4 条之后" in result.message


def test_two_swapped_neighbours_are_reported():
    chain_of(4)
    swap_seqs(2, 3)

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.REORDERED, 2)


def test_the_first_problem_is_the_one_reported():
    chain_of(6)
    sql("DELETE FROM {t} WHERE seq = %s", [5])
    sql("UPDATE {t} SET detail = %s WHERE seq = %s", ['{"n": 0}', 2])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 2)


def test_a_head_moved_back_over_forged_or_kept_entries_is_reported():
    chain_of(4)
    AuditHead.objects.filter(pk=1).update(last_seq=3)

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.HEAD, 4)


def test_a_replaced_last_entry_with_the_head_left_alone_is_reported():
    entries = chain_of(3)
    AuditHead.objects.filter(pk=1).update(last_hash=entries[1].hash)

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.HEAD, 3)


def test_from_seq_checks_only_from_there_and_still_links_to_the_entry_before():
    chain_of(5)
    sql("UPDATE {t} SET detail = %s WHERE seq = %s", ['{"n": 0}', 1])

    assert not audit_verify().ok
    later = audit_verify(from_seq=3)
    assert later.ok
    assert (later.checked, later.first_seq, later.last_seq) == (3, 3, 5)

    swap_seqs(4, 5)
    result = audit_verify(from_seq=3)
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.REORDERED, 4)


def test_from_seq_after_a_reported_deletion_checks_the_rest_of_the_chain():
    chain_of(6)
    sql("DELETE FROM {t} WHERE seq IN (%s, %s)", [2, 3])

    full = audit_verify()
    assert full.problem is not None
    assert "第 2–3 条记录缺失" in full.message
    assert audit_verify(from_seq=2).problem == full.problem
    rest = audit_verify(from_seq=4)
    assert rest.ok
    assert (rest.first_seq, rest.last_seq) == (4, 6)
    sql("UPDATE {t} SET detail = %s WHERE seq = %s", ['{"n": 0}', 6])
    assert not audit_verify(from_seq=4).ok


def test_from_seq_past_the_end_checks_the_end():
    chain_of(2)

    result = audit_verify(from_seq=10)

    assert result.ok
    assert result.checked == 0


def test_addresses_and_awkward_text_verify_on_every_database():
    # IPv4-mapped IPv6 is written differently by Python and by the database; NUL and a lone
    # surrogate cannot be stored as they are: the HMAC must cover what the database keeps.
    for address in ("::ffff:10.0.0.1", "2001:DB8::1", "10.1.2.3", "not an address"):
        request = RequestFactory().get("/", REMOTE_ADDR=address)
        audit_record(
            action=actions.LOGIN_FAILED,
            actor=None,
            detail={"username": "a\x00b\ud800c", "big": 2**60, "ratio": 0.5, "深": {"x": [1]}},
            target="目标\x00",
            request=request,
        )

    assert audit_verify().ok
    assert AuditEntry.objects.get(seq=1).ip == "::ffff:10.0.0.1"
    assert AuditEntry.objects.get(seq=4).ip is None


def test_a_non_ascii_hash_is_reported_as_an_edit_not_a_crash():
    chain_of(3)
    sql("UPDATE {t} SET hash = %s WHERE seq = %s", ["é" * 64, 2])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 2)


def test_a_non_ascii_link_or_head_hash_is_reported_not_a_crash():
    chain_of(3)
    AuditHead.objects.filter(pk=1).update(last_hash="é" * 64)

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.HEAD, 3)
    sql("UPDATE {t} SET prev_hash = %s WHERE seq = %s", ["é" * 64, 2])
    result = audit_verify()
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 2)


def test_a_deleted_head_row_is_reported_and_rebuilt_from_the_entries_at_the_next_append():
    chain_of(3)
    AuditHead.objects.all().delete()

    missing = audit_verify()
    assert missing.problem is not None
    assert missing.problem.kind == Kind.HEAD
    assert "链头记录不存在" in missing.message
    assert missing.checked == 3

    entry = audit_record(action=actions.EXPORT, actor=None, target="t:4")

    assert entry.seq == 5
    rebuilt = AuditEntry.objects.get(seq=4)
    assert (rebuilt.action, rebuilt.detail) == (
        actions.AUDIT_HEAD_REBUILT,
        {"last_seq": 3, "base_seq": 0},
    )
    head = AuditHead.objects.get()
    assert (head.last_seq, head.last_hash) == (5, entry.hash)
    result = audit_verify()
    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.HEAD, 4)
    assert "链头记录曾被删除" in result.message
    assert result.checked == 5  # the entries themselves all verify
    assert audit_verify(from_seq=5).ok


def test_a_worse_problem_after_a_rebuilt_head_is_the_one_reported():
    chain_of(2)
    AuditHead.objects.all().delete()
    chain_of(2)  # 3 is the rebuild
    sql("UPDATE {t} SET detail = %s WHERE seq = %s", ['{"n": 0}', 4])

    result = audit_verify()

    assert result.problem is not None
    assert (result.problem.kind, result.problem.seq) == (Kind.EDITED, 4)


def test_a_missing_head_on_an_empty_log_is_a_fresh_start():
    AuditHead.objects.all().delete()

    assert audit_verify().ok
    assert audit_record(action=actions.EXPORT, actor=None).seq == 1
    assert not AuditEntry.objects.filter(action=actions.AUDIT_HEAD_REBUILT).exists()
