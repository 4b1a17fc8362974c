"""Querysets compiled once per connection (wenxu.lib.prepared): the same rows and related
objects as the queryset itself, compiled once per connection, and refused when their SQL
would not be the same for every id."""

import threading
from typing import Any

import pytest
from django.db import connection, connections
from django.db.models import Count
from django.db.models.sql.compiler import SQLCompiler

from wenxu.lib.prepared import Prepared
from wenxu.needs.models import Need
from wenxu.needs.services.register import RequesterInput


def _need_page() -> Prepared[Need]:
    return Prepared(
        Need,
        lambda pk: Need.objects.filter(pk=pk).select_related("requester", "visit", "recorded_by"),
    )


def _fields(obj: Any) -> dict[str, Any]:
    return {f.attname: getattr(obj, f.attname) for f in obj._meta.concrete_fields}


def test_rows_and_related_objects_are_the_querysets(world: Any) -> None:
    # given a need with a requester and one without (its joins find nothing)
    with_requester = world.register(requester=RequesterInput(name="张三", phone="13800001234"))
    without = world.register()
    prepared = _need_page()

    for need in (with_requester, without):
        # when it is read both ways
        expected = (
            Need.objects.filter(pk=need.pk)
            .select_related("requester", "visit", "recorded_by")
            .get()
        )
        got = prepared.first(need.pk)

        # then every field and every related object is the same, already loaded
        assert got is not None
        assert _fields(got) == _fields(expected)
        for name in ("requester", "visit", "recorded_by"):
            assert Need._meta.get_field(name).is_cached(got)  # type: ignore[union-attr]
            related, wanted = getattr(got, name), getattr(expected, name)
            assert (related and _fields(related)) == (wanted and _fields(wanted))
        assert got._state.db == expected._state.db
    assert with_requester.requester is not None
    again = prepared.first(with_requester.pk)
    assert again is not None
    assert again.requester is not None
    assert again.requester.name == "张三"  # decrypted as usual


def test_an_unknown_id_reads_nothing(world: Any) -> None:
    assert _need_page().first(987_654_321) is None
    assert _need_page().all(987_654_321) == []


def test_it_compiles_once_per_connection(world: Any, monkeypatch) -> None:
    need = world.register()
    prepared = _need_page()
    compiled = 0
    as_sql = SQLCompiler.as_sql

    def counting(self, *args, **kwargs):
        nonlocal compiled
        compiled += 1
        return as_sql(self, *args, **kwargs)

    monkeypatch.setattr(SQLCompiler, "as_sql", counting)
    for _ in range(3):
        assert getattr(prepared.first(need.pk), "pk", None) == need.pk
    assert compiled == 1

    # another thread has a connection of its own, and compiles for it
    seen: list[object] = []

    def other() -> None:
        try:
            seen.append(prepared.first(-1))
        finally:
            connections.close_all()

    if connection.vendor == "sqlite" and str(connection.settings_dict["NAME"]).startswith(
        "file:memorydb"
    ):
        pytest.skip("the in-memory test database is not shared with other threads")
    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen == [None]
    assert compiled == 2


@pytest.mark.parametrize(
    "build",
    [
        lambda pk: Need.objects.filter(pk=pk).prefetch_related("events"),
        lambda pk: Need.objects.filter(pk=pk).annotate(n=Count("events")),
        lambda pk: Need.objects.filter(pk=pk).values("title"),
        lambda pk: Need.objects.filter(version=3),  # the id not in it
    ],
)
def test_querysets_whose_sql_is_not_only_their_id_are_refused(world: Any, build) -> None:
    with pytest.raises(ValueError, match="Prepared takes"):
        Prepared(Need, build).first(1)


def test_a_scoped_look_up_is_the_viewers_own(world: Any) -> None:
    """`need_get_for_user` keeps each viewer's compiled scope apart: a colleague with the very
    same memberships does not see what only its recorder may, and a membership taken away is
    gone at the next look-up on the same connection."""
    from wenxu.accounts.models import Membership, User
    from wenxu.needs.exceptions import NotFound
    from wenxu.needs.selectors import need_get_for_user

    # given a need of 西岭乡 recorded by the 住建局 handler, and a colleague of the same unit
    need = world.register(area=world.grid_b, actor=world.officer_b)
    Need.objects.filter(pk=need.pk).update(recorded_by=world.handler)
    colleague = User.objects.create_user(username="colleague", password="x")
    unit = world.handler.memberships.get().unit
    Membership.objects.create(user=colleague, role="handler", unit=unit)

    # then the recorder finds it and the colleague, right after on the same connection, not
    assert need_get_for_user(user=world.handler, number=need.number).pk == need.pk
    with pytest.raises(NotFound):
        need_get_for_user(user=User.objects.get(pk=colleague.pk), number=need.number)

    # and 西岭乡's officer loses it with the membership
    assert need_get_for_user(user=world.officer_b, number=need.number).pk == need.pk
    Need.objects.filter(pk=need.pk).update(recorded_by=world.handler)
    world.officer_b.memberships.all().delete()
    with pytest.raises(NotFound):
        need_get_for_user(user=User.objects.get(pk=world.officer_b.pk), number=need.number)
