"""INSERTs built once (wenxu.lib.inserts): the rows Django's own INSERT writes, the statement
built once and prepared on PostgreSQL, an expression's value returned and set, and the
database's errors raised as Django's with nothing written."""

from typing import Any

import pytest
from django.db import IntegrityError, connection, models, transaction
from django.db.models.expressions import RawSQL
from django.test.utils import CaptureQueriesContext

from wenxu.lib import clock, inserts
from wenxu.needs.models import NeedEvent
from wenxu.residents.models import Requester

pytestmark = pytest.mark.django_db


def _requester() -> Requester:
    return Requester(
        kind=Requester.Kind.HOUSEHOLD,
        name="王*",
        phone="13812345678",
        id_number="110101199001011234",
        address="东河村 3 组",
        confidential=True,
    )


def _django_insert(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the models write through Django's own INSERT again."""
    monkeypatch.setattr(inserts.BuiltInserts, "_do_insert", models.Model._do_insert)  # type: ignore[attr-defined]


def _stored(model: type[models.Model], pk: int) -> dict[str, Any]:
    row = model._default_manager.filter(pk=pk).values().get()
    return {k: v for k, v in row.items() if k != "id"}


def test_a_row_is_written_as_djangos_own_insert_writes_it(monkeypatch, time_machine):
    time_machine.move_to("2026-10-10 09:30:00+08:00", tick=False)
    ours = _requester()
    ours.save()
    _django_insert(monkeypatch)
    djangos = _requester()
    djangos.save()

    assert ours.pk is not None
    assert djangos.pk == ours.pk + 1
    assert _stored(Requester, ours.pk) == _stored(Requester, djangos.pk)
    # what save() sets (the blind index) and what the field sets (auto_now_add) are there
    assert _stored(Requester, ours.pk)["phone_index"]
    assert ours.created_at == djangos.created_at


def test_the_statement_is_built_once_and_prepared_on_postgresql(world):
    need = world.register()
    seq = NeedEvent.objects.filter(need=need).count()

    with CaptureQueriesContext(connection) as queries:
        for i in (1, 2, 3):
            NeedEvent.objects.create(
                need=need,
                seq=seq + i,
                actor=world.officer,  # as the registration's event: the same parameter types
                action="progress",
                note=f"第{i}次",
                created_at=clock.now(),
            )

    assert len(queries) == 3
    built = [key for key in inserts._statements if key[0] is NeedEvent]
    assert len(built) == 1
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements "
                "WHERE statement LIKE 'INSERT INTO \"needs_needevent\"%%'"
            )
            assert cursor.fetchone() == (1,)
    notes = NeedEvent.objects.filter(need=need, seq__gt=seq).values_list("note", flat=True)
    assert list(notes) == ["第1次", "第2次", "第3次"]


def test_an_expressions_value_is_returned_and_set(world):
    need = world.register()
    event = NeedEvent(
        need=need,
        seq=99,
        action="progress",
        note=RawSQL("%s || %s", ("很", "好")),
        created_at=clock.now(),
    )

    with CaptureQueriesContext(connection) as queries:
        event.save()

    assert event.note == "很好"
    assert len(queries) == 1  # not read back
    assert NeedEvent.objects.get(pk=event.pk).note == "很好"


def test_the_databases_error_is_djangos_and_nothing_is_written(world):
    need = world.register()
    count = NeedEvent.objects.count()

    with pytest.raises(IntegrityError), transaction.atomic():
        NeedEvent.objects.create(need=need, seq=1, action="progress", created_at=clock.now())

    assert NeedEvent.objects.count() == count


def test_a_model_whose_key_is_made_in_python_is_written_and_returns_nothing():
    # django-tasks-db's rows take a UUID made in Python: Django returns no column for them.
    from django_tasks_db.models import DBTaskResult, get_date_max

    row: DBTaskResult[Any, Any] = DBTaskResult(
        args_kwargs={"args": ["很好"], "kwargs": {}},
        task_path="wenxu.notify.tasks.deliver_registration",
        run_after=get_date_max(),
        backend_name="default",
    )
    fields = [f for f in DBTaskResult._meta.local_concrete_fields if not f.generated]

    returned = inserts.insert(row, "default", fields, [])

    assert returned == []
    stored = DBTaskResult.objects.get(pk=row.pk)
    assert stored.args_kwargs == {"args": ["很好"], "kwargs": {}}
    assert stored.enqueued_at is not None  # auto_now_add, as save() sets it
