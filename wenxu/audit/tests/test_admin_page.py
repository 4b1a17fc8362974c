"""The security log in the admin: readable by superusers and administrators, changeable by
nobody."""

import pytest
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import User
from wenxu.audit import actions
from wenxu.audit.models import AuditEntry
from wenxu.audit.services import audit_record

pytestmark = pytest.mark.django_db

LIST = "admin:audit_auditentry_changelist"


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def root(db: None) -> User:
    return User.objects.create_superuser("root", password="pw-root-secret")


@pytest.fixture
def entries(world):
    audit_record(action=actions.EXPORT, actor=world.dispatcher, target="export:ledger")
    audit_record(action=actions.REVEAL, actor=world.leader, target="need:WX-2026-000001")
    return AuditEntry.objects.order_by("seq")


def test_a_superuser_lists_filters_and_searches_the_log(root, entries):
    client = _client(root)

    page = client.get(reverse(LIST))
    filtered = client.get(reverse(LIST), {"action__exact": actions.REVEAL})
    searched = client.get(reverse(LIST), {"q": "dispatcher"})

    assert page.status_code == 200
    text = page.content.decode()
    assert "查看个人信息" in text  # the action's label
    assert "need:WX-2026-000001" in text
    assert "need:WX-2026-000001" in filtered.content.decode()
    assert "export:ledger" not in filtered.content.decode()
    assert "export:ledger" in searched.content.decode()
    assert "need:WX-2026-000001" not in searched.content.decode()


def test_nobody_may_add_change_or_delete_an_entry_not_even_a_superuser(root, entries):
    client = _client(root)
    entry = entries.first()
    assert entry is not None
    change_url = reverse("admin:audit_auditentry_change", args=[entry.pk])

    detail = client.get(change_url)
    assert detail.status_code == 200  # a read-only view
    assert 'name="_save"' not in detail.content.decode()
    assert client.get(reverse("admin:audit_auditentry_add")).status_code == 403
    assert client.post(change_url, {"target": "changed"}).status_code == 403
    deleting = client.post(
        reverse("admin:audit_auditentry_delete", args=[entry.pk]), {"post": "yes"}
    )
    assert deleting.status_code == 403
    bulk = client.post(
        reverse(LIST),
        {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    assert AuditEntry.objects.filter(pk=entry.pk, target=entry.target).exists()


def test_a_staff_administrator_reads_the_log_and_other_staff_do_not(world, entries):
    User.objects.filter(pk__in=[world.admin.pk, world.leader.pk]).update(is_staff=True)
    admin_user = User.objects.get(pk=world.admin.pk)
    leader = User.objects.get(pk=world.leader.pk)

    assert _client(admin_user).get(reverse(LIST)).status_code == 200
    assert _client(leader).get(reverse(LIST)).status_code == 403
    assert _client(world.outsider).get(reverse(LIST)).status_code == 302  # to the admin login
