"""What pages keep between requests (ADR 0026): the configuration generation changes with every
change of a watched table, however it is made, and a change is seen at the next request."""

from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import mark_safe

from wenxu.accounts.models import ApiToken, Membership, User
from wenxu.accounts.services import TOKEN_TOUCH_INTERVAL, api_token_issue, api_token_revoke
from wenxu.core import frames, generation
from wenxu.core.models import Generation
from wenxu.core.tests.frames_helpers import same_but_tokens
from wenxu.needs.models import Category, DeadlineRule
from wenxu.needs.views import ledger as ledger_views
from wenxu.organisations.models import Area, Unit


def _value() -> int:
    return Generation.objects.get(name=generation.NAME).value


def _changes(action: Any) -> bool:
    before = _value()
    action()
    return _value() != before


def test_the_migration_leaves_a_generation(db: None) -> None:
    assert _value() > 0


@pytest.mark.parametrize("table", ["organisations_area", "organisations_unit", "needs_category"])
def test_plain_sql_on_a_watched_table_changes_the_generation(world: Any, table: str) -> None:
    with connection.cursor() as cursor:
        assert _changes(lambda: cursor.execute(f"UPDATE {table} SET name = name || 'x'"))  # noqa: S608
        assert _changes(lambda: cursor.execute(f"UPDATE {table} SET name = name"))  # noqa: S608


def test_memberships_permissions_and_groups_change_the_generation(world: Any) -> None:
    user = world.outsider
    permission = Permission.objects.get(
        codename="reveal_personal_data", content_type__app_label="residents"
    )
    group = Group.objects.create(name="查看人")

    assert _changes(lambda: Membership.objects.create(user=user, role="officer", area=world.town_b))
    assert _changes(lambda: Membership.objects.filter(user=user).update(role="leader"))
    assert _changes(lambda: Membership.objects.filter(user=user).delete())
    assert _changes(lambda: user.user_permissions.add(permission))
    assert _changes(lambda: user.user_permissions.remove(permission))
    assert _changes(lambda: group.permissions.add(permission))
    assert _changes(lambda: user.groups.add(group))
    assert _changes(lambda: group.delete())  # its links go with it


def test_reference_tables_change_the_generation(world: Any) -> None:
    assert _changes(lambda: Area.objects.create(name="新村", level="village", parent=world.town_b))
    assert _changes(lambda: Unit.objects.filter(pk=world.housing.pk).update(active=False))
    assert _changes(lambda: Category.objects.create(name="教育"))
    assert _changes(
        lambda: DeadlineRule.objects.create(
            urgency="normal",
            response_value=2,
            response_unit="workdays",
            resolve_value=7,
            resolve_unit="workdays",
            category=world.cat_water,
        )
    )


def test_other_tables_leave_the_generation_alone(world: Any) -> None:
    assert not _changes(lambda: world.register())
    assert not _changes(lambda: world.officer.api_tokens.create(expires_at=timezone.now()))


def test_users_change_the_generation_but_a_login_does_not(world: Any) -> None:
    user = world.outsider
    # a login writes last_login alone (update_last_login): kept users stay kept
    assert not _changes(lambda: User.objects.filter(pk=user.pk).update(last_login=timezone.now()))
    assert not _changes(lambda: Client().force_login(user))
    # anything else about a user is read again at the next request
    assert _changes(lambda: User.objects.filter(pk=user.pk).update(display_name="某"))
    assert _changes(lambda: User.objects.filter(pk=user.pk).update(is_active=False))
    assert _changes(
        lambda: User.objects.filter(pk=user.pk).update(last_login=timezone.now(), is_staff=True)
    )
    assert _changes(lambda: User.objects.filter(pk=user.pk).delete())
    assert _changes(lambda: User.objects.create(username="new_user"))


def test_nothing_is_kept_outside_a_request(db: None) -> None:
    calls: list[int] = []

    def build() -> int:
        calls.append(1)
        return len(calls)

    assert generation.current() is None
    assert generation.remember("test", 1, build) == 1
    assert generation.remember("test", 1, build) == 2


def test_the_process_keeps_a_bounded_number_of_entries() -> None:
    kept = generation.Kept(3)
    for key in range(5):
        kept.put(key, key)
    assert len(kept) == 3
    assert kept.get(0) is generation._MISSING
    assert kept.get(4) == 4


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_new_membership_is_seen_at_the_next_request(world: Any) -> None:
    need = world.register()  # in 东河镇's grid
    url = reverse("needs:detail", args=[need.number])
    client = _client(world.officer_b)  # 西岭乡's officer
    assert client.get(url).status_code == 404

    ledger = reverse("needs:ledger")
    assert need.number not in client.get(ledger).content.decode()

    membership = Membership.objects.create(user=world.officer_b, role="officer", area=world.town_a)
    assert client.get(url).status_code == 200
    assert need.number in client.get(ledger).content.decode()

    membership.delete()
    assert client.get(url).status_code == 404
    assert need.number not in client.get(ledger).content.decode()


def test_a_moved_area_moves_what_its_viewers_see(world: Any) -> None:
    need = world.register(area=world.grid_b, actor=world.officer_b)  # 西岭乡, not 东河镇
    url = reverse("needs:detail", args=[need.number])
    client = _client(world.officer)  # 东河镇's officer
    assert client.get(url).status_code == 404

    world.village_b.parent = world.town_a  # 西岭村 now belongs to 东河镇
    world.village_b.save()
    assert client.get(url).status_code == 200


def test_a_permission_taken_away_is_gone_at_the_next_request(world: Any) -> None:
    from wenxu.needs.services import RequesterInput

    need = world.assigned(requester=RequesterInput(name="赵大明", phone="13912345678"))
    url = reverse("needs:detail", args=[need.number])
    permission = Permission.objects.get(
        codename="reveal_personal_data", content_type__app_label="residents"
    )
    world.dispatcher.user_permissions.add(permission)
    client = _client(world.dispatcher)
    assert 'data-testid="requester-reveal"' in client.get(url).content.decode()

    world.dispatcher.user_permissions.remove(permission)
    assert 'data-testid="requester-reveal"' not in client.get(url).content.decode()

    group = Group.objects.create(name="查看人")
    group.permissions.add(permission)
    world.dispatcher.groups.add(group)
    assert 'data-testid="requester-reveal"' in client.get(url).content.decode()
    group.permissions.remove(permission)
    assert 'data-testid="requester-reveal"' not in client.get(url).content.decode()


def test_a_renamed_unit_is_shown_at_the_next_request(world: Any) -> None:
    need = world.assigned()
    client = _client(world.dispatcher)
    url = reverse("needs:detail", args=[need.number])
    assert "县住建局" in client.get(url).content.decode()
    assert "县住建局" in client.get(reverse("needs:ledger")).content.decode()

    Unit.objects.filter(pk=world.housing.pk).update(short_name="县建设局")
    assert "县建设局" in client.get(url).content.decode()
    assert "县建设局" in client.get(reverse("needs:ledger")).content.decode()


def test_a_page_reads_what_it_kept_once_and_then_only_the_generation(world: Any) -> None:
    world.assigned()
    client = _client(world.handler)
    url = reverse("needs:ledger")
    with CaptureQueriesContext(connection) as cold:
        client.get(url)
    with CaptureQueriesContext(connection) as warm:
        client.get(url)
    kept_tables = (
        "accounts_membership",
        "accounts_user",
        "organisations_unit",
        "needs_category",
        "auth_permission",
    )

    def reads(captured: CaptureQueriesContext, table: str) -> int:
        # The query's own table (its first FROM), not a subquery of a need's scope.
        return sum(
            1
            for q in captured.captured_queries
            if q["sql"].partition(" FROM ")[2].startswith(f'"{table}"')
        )

    assert any(reads(cold, table) for table in kept_tables)
    assert not any(reads(warm, table) for table in kept_tables), [
        q["sql"][:120] for q in warm.captured_queries
    ]
    # the generation comes with the session's read (ADR 0032)
    assert reads(warm, "core_generation") == 0
    assert reads(warm, "django_session") == 1
    assert any('"core_generation"' in q["sql"] for q in warm.captured_queries)


def test_the_ledgers_filter_panel_is_kept_per_choice_of_filters_typed_text_in_holes(
    world: Any,
) -> None:
    # given a dispatcher's ledger, once filtered by a status and then searched for words
    client = _client(world.dispatcher)
    url = reverse("needs:ledger")

    def panels() -> int:
        return sum(
            1
            for key in ledger_views._PANELS.snapshot()
            if isinstance(key, tuple) and key[0] == "fragment"
        )

    ledger_views._PANELS.clear()
    client.get(url, {"status": "assigned"})
    client.get(url, {"status": "assigned"})
    kept_for_choices = panels()
    for word in ("路灯", "供水", '<b>"噪音"</b>&'):
        page = client.get(url, {"q": word, "date_from": "2026-03-01"}).content.decode()
        assert f'name="q" value="{escape(word)}"' in page  # the panel shows the word typed
        assert 'name="date_from" value="2026-03-01"' in page

    # then each choice of filters is kept once, whatever words and dates are typed
    assert kept_for_choices == 1
    assert panels() == 2


def test_a_kept_filter_panel_is_the_panel_rendered_afresh(
    world: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given ledgers filtered by choices and by typed text (markup-like text too)
    client = _client(world.dispatcher)
    url = reverse("needs:ledger")
    queries = [
        {},
        {"status": "assigned", "overdue": "1"},
        {"q": '路灯 <i>"x"</i> & y', "date_from": "2026-03-01", "date_to": "2026-03-31"},
    ]
    kept = []
    for query in queries:
        client.get(url, query)
        kept.append(client.get(url, query).content.decode())

    # when the panels are rendered with the values in place
    def plain(template_name, context, *, key, holes, store=None):
        return mark_safe(render_to_string(template_name, context(holes)))  # noqa: S308

    monkeypatch.setattr(frames, "render_kept", plain)
    fresh = [client.get(url, query).content.decode() for query in queries]

    # then the pages are the same but for the CSRF tokens' masks
    for a, b in zip(kept, fresh, strict=True):
        assert same_but_tokens(a) == same_but_tokens(b)


def _deactivate(user: User) -> None:
    User.objects.filter(pk=user.pk).update(is_active=False)


def _new_password(user: User) -> None:
    user.set_password("Another-passw0rd")
    user.save()


@pytest.mark.parametrize("change", [_deactivate, _new_password], ids=["deactivated", "password"])
def test_a_kept_user_is_signed_out_at_the_next_request_after(world: Any, change: Any) -> None:
    # given a signed-in handler whose user is kept
    client = _client(world.handler)
    url = reverse("needs:ledger")
    assert client.get(url).status_code == 200
    assert client.get(url).status_code == 200
    # when the account is deactivated, or its password changed elsewhere
    change(User.objects.get(pk=world.handler.pk))
    # then the next request is sent to the login page
    response = client.get(url)
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


def test_a_renamed_user_is_shown_by_the_next_page(world: Any) -> None:
    client = _client(world.handler)
    url = reverse("needs:ledger")
    client.get(url)
    User.objects.filter(pk=world.handler.pk).update(display_name="新名字")
    assert "新名字" in client.get(url).content.decode()


def test_tokens_change_the_generation_but_their_use_does_not(world: Any) -> None:
    _raw, token = api_token_issue(user=world.officer)
    tokens = ApiToken.objects.filter(pk=token.pk)
    assert not _changes(lambda: tokens.update(last_used_at=timezone.now()))
    assert _changes(lambda: tokens.update(revoked_at=timezone.now()))
    assert _changes(lambda: tokens.delete())


def test_an_api_client_token_is_read_once_then_kept_until_revoked(world: Any) -> None:
    raw, token = api_token_issue(user=world.officer)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    with CaptureQueriesContext(connection) as first:
        assert client.get("/api/v1/needs").status_code == 200
    with CaptureQueriesContext(connection) as second:
        assert client.get("/api/v1/needs").status_code == 200

    def tokens_read(captured: CaptureQueriesContext) -> int:
        return sum(
            1
            for q in captured.captured_queries
            if q["sql"].startswith("SELECT") and '"accounts_apitoken"' in q["sql"]
        )

    # the forced-change check (LoginStepsMiddleware) and the authentication share one read
    assert tokens_read(first) == 1
    assert tokens_read(second) == 0
    api_token_revoke(token=token)
    assert client.get("/api/v1/needs").status_code == 401


def test_a_token_used_often_is_written_once_a_minute(world: Any) -> None:
    raw, token = api_token_issue(user=world.officer)
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        client.get("/api/v1/needs")
        first = ApiToken.objects.get(pk=token.pk).last_used_at
        assert first is not None
        with CaptureQueriesContext(connection) as again:
            client.get("/api/v1/needs")
        assert not [q for q in again.captured_queries if q["sql"].startswith("UPDATE")]
        traveller.shift(TOKEN_TOUCH_INTERVAL)
        client.get("/api/v1/needs")
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first + TOKEN_TOUCH_INTERVAL


@pytest.mark.parametrize("label", sorted(generation.KEPT_MODELS))
def test_a_kept_row_read_alone_is_the_row_read_with_others(world: Any, label: str) -> None:
    # given two rows of each watched table (a lone miss is read by a statement compiled once)
    from django.apps import apps

    model = apps.get_model(label)
    if label == "accounts.ApiToken":
        api_token_issue(user=world.handler)
        api_token_issue(user=world.officer)
    if label == "needs.DeadlineRule":
        for urgency in ("normal", "urgent"):
            DeadlineRule.objects.get_or_create(
                category=None,
                urgency=urgency,
                defaults={
                    "response_value": 1,
                    "response_unit": "workdays",
                    "resolve_value": 5,
                    "resolve_unit": "workdays",
                },
            )
    first, second = model.objects.order_by("pk").values_list("pk", flat=True)[:2]

    # when one is read alone and again with the other
    alone = generation.kept_instances(model, [first])[first]
    together = generation.kept_instances(model, [first, second])[first]

    # then every field holds the same value, and an unknown id is absent
    names = [field.attname for field in model._meta.concrete_fields]
    assert [getattr(alone, n) for n in names] == [getattr(together, n) for n in names]
    assert generation.kept_instances(model, [-1]) == {}
