"""Writers appending at the same time still make one unbroken chain (the head row's lock)."""

import threading

import pytest
from django.db import connection, transaction

from wenxu.audit import actions
from wenxu.audit.models import AuditEntry
from wenxu.audit.services import audit_record
from wenxu.audit.verify import audit_verify

THREADS = 4
EACH = 10


@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_make_one_unbroken_chain():
    # Given: several threads, released together, each appending entries (the first appends also
    # race to create the head row)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(number: int) -> None:
        try:
            start.wait()
            for n in range(EACH):
                if n % 2:  # half of them inside a longer transaction, as services do
                    with transaction.atomic():
                        audit_record(action=actions.EXPORT, actor=None, detail={"w": number})
                else:
                    audit_record(action=actions.LOGIN, actor=None, detail={"w": number})
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then: every append is there, numbered 1…N without a gap, and the chain verifies
    assert errors == []
    seqs = list(AuditEntry.objects.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, THREADS * EACH + 1))
    result = audit_verify()
    assert result.ok, result.message
    assert result.checked == THREADS * EACH


@pytest.mark.django_db
def test_an_entry_written_in_a_transaction_that_rolls_back_leaves_no_gap():
    def failing_work() -> None:
        with transaction.atomic():
            audit_record(action=actions.EXPORT, actor=None)
            raise RuntimeError("the caller's work failed")

    audit_record(action=actions.LOGIN, actor=None)
    with pytest.raises(RuntimeError):
        failing_work()
    audit_record(action=actions.LOGOUT, actor=None)

    assert list(AuditEntry.objects.order_by("seq").values_list("seq", "action")) == [
        (1, actions.LOGIN),
        (2, actions.LOGOUT),
    ]
    assert audit_verify().ok
