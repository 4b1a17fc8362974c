from wenxu.audit import actions
from wenxu.audit.models import AuditEntry, AuditHead
from wenxu.audit.services import audit_record


def test_entries_chain_one_after_another(world):
    first = audit_record(action=actions.LOGIN, actor=world.officer, target="user:1")
    second = audit_record(action=actions.EXPORT, actor=None, detail={"rows": 3, "x": 1.5})

    assert (first.seq, second.seq) == (1, 2)
    assert second.prev_hash == first.hash != ""
    head = AuditHead.objects.get()
    assert (head.last_seq, head.last_hash) == (2, second.hash)
    assert AuditEntry.objects.get(seq=1).actor_username == "officer"
