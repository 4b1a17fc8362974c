"""Reads go to a read replica, writes and fresh reads to the primary (issue #10, ADR 0020).

The test settings add `replica1`, Django's test mirror of the primary: the same database through
a second connection. These tests turn the router on for it and record which alias ran each
query. They commit (transaction=True): a second connection sees only committed rows, as a real
replica does.
"""

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import connections, router, transaction
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from wenxu.core import db_router
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.needs.selectors import need_queryset_for_user
from wenxu.organisations.models import Area

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "replica1"])

MIDDLEWARE = "wenxu.core.db_router.PinPrimaryMiddleware"


@pytest.fixture(autouse=True)
def replicas(settings):
    settings.WENXU_READ_REPLICAS = ["replica1"]
    # The behaviour is tested here whatever MIDDLEWARE holds; that it is installed, below.
    if MIDDLEWARE not in settings.MIDDLEWARE:
        settings.MIDDLEWARE = [MIDDLEWARE, *settings.MIDDLEWARE]


@contextmanager
def queries() -> Iterator[tuple[CaptureQueriesContext, CaptureQueriesContext]]:
    with (
        CaptureQueriesContext(connections["default"]) as primary,
        CaptureQueriesContext(connections["replica1"]) as replica,
    ):
        yield primary, replica


def _reading(captured: CaptureQueriesContext, table: str) -> list[str]:
    return [
        q["sql"]
        for q in captured.captured_queries
        if q["sql"].lstrip().upper().startswith("SELECT") and f'"{table}"' in q["sql"]
    ]


def test_the_pinning_middleware_is_installed_before_the_session():
    from django.conf import settings

    from wenxu import settings as wenxu_settings

    # Before every middleware that reads the database (the session, the user), so that their
    # reads follow the request's pin too.
    installed = wenxu_settings.MIDDLEWARE
    assert MIDDLEWARE in installed
    assert installed.index(MIDDLEWARE) < installed.index(
        "django.contrib.sessions.middleware.SessionMiddleware"
    )
    assert settings.DATABASE_ROUTERS == ["wenxu.core.db_router.ReplicaRouter"]


def test_the_ledger_page_reads_needs_from_the_replica(world, client):
    world.assigned()
    client.force_login(world.dispatcher)

    with queries() as (primary, replica):
        response = client.get(reverse("needs:ledger"))

    assert response.status_code == 200
    assert "村口路灯不亮" in response.content.decode()
    assert _reading(replica, "needs_need")
    assert _reading(primary, "needs_need") == []
    assert db_router.PIN_COOKIE not in response.cookies  # a read pins nobody


def test_a_selector_read_goes_to_the_replica_when_replicas_are_allowed(world):
    world.register()

    with db_router.use_replicas(), queries() as (primary, replica):
        titles = list(need_queryset_for_user(user=world.dispatcher).values_list("title", flat=True))

    assert titles == ["村口路灯不亮"]
    assert _reading(replica, "needs_need")
    assert primary.captured_queries == []


def test_a_service_writes_and_reads_in_its_transaction_on_the_primary(world):
    need = world.register()

    with db_router.use_replicas(), queries() as (primary, replica):
        services.need_assign(
            actor=world.dispatcher, need=need, version=need.version, lead_unit=world.housing
        )

    assert _reading(primary, "needs_need")  # the row lock and the re-read
    assert any("UPDATE" in q["sql"] for q in primary.captured_queries)
    assert replica.captured_queries == []
    assert Need.objects.get(pk=need.pk).status == "assigned"


def test_reads_after_a_write_go_to_the_primary():
    county = Area.objects.create(code="990000", name="测试县", level="county")

    with db_router.use_replicas():
        with queries() as (primary, replica):
            Area.objects.filter(pk=county.pk).exists()
        assert replica.captured_queries
        assert primary.captured_queries == []

        with queries() as (primary, replica):
            Area.objects.filter(pk=county.pk).update(name="测试县二")
            assert Area.objects.get(pk=county.pk).name == "测试县二"

        assert replica.captured_queries == []
        assert _reading(primary, "organisations_area")


def test_reads_in_a_transaction_go_to_the_primary():
    with db_router.use_replicas(), queries() as (primary, replica), transaction.atomic():
        Area.objects.count()

    assert replica.captured_queries == []
    assert _reading(primary, "organisations_area")


def test_the_page_after_a_post_reads_the_primary_until_the_pin_expires(world, client):
    need = world.assigned()
    client.force_login(world.handler)

    # When the handler accepts the need (a form post)…
    posted = client.post(f"/needs/{need.number}/accept/", {"version": need.version})
    assert posted.status_code in {200, 302}
    pin = posted.cookies[db_router.PIN_COOKIE]
    assert pin["max-age"] == 5
    assert pin["httponly"]

    # …the page it goes to next reads the primary, which has the accept for sure…
    with queries() as (primary, replica):
        page = client.get(f"/needs/{need.number}/")
    assert page.status_code == 200
    assert _reading(primary, "needs_need")
    assert replica.captured_queries == []

    # …and once the cookie has expired, the replica again.
    del client.cookies[db_router.PIN_COOKIE]
    with queries() as (primary, replica):
        client.get(f"/needs/{need.number}/")
    assert _reading(replica, "needs_need")
    assert _reading(primary, "needs_need") == []


def test_a_get_that_writes_pins_its_later_reads_and_the_browser():
    def view(request: HttpRequest) -> HttpResponse:
        before = router.db_for_read(Area)
        Area.objects.create(code="990001", name="写入的县", level="county")
        after = router.db_for_read(Area)
        return HttpResponse(f"{before} {after}")

    response = db_router.PinPrimaryMiddleware(view)(RequestFactory().get("/"))

    assert isinstance(response, HttpResponse)
    assert response.content.decode() == "replica1 default"
    assert db_router.PIN_COOKIE in response.cookies


def test_commands_the_worker_and_their_threads_read_the_primary(world):
    world.replied()
    seen: list[str | None] = []

    with queries() as (primary, replica):
        call_command("sweep", verbosity=0)
        thread = threading.Thread(target=lambda: seen.append(router.db_for_read(Need)))
        thread.start()
        thread.join()

    assert primary.captured_queries
    assert replica.captured_queries == []
    assert seen == ["default"]
    assert db_router.reads_pinned()


def test_without_replicas_everything_stays_on_the_default_database(settings):
    settings.WENXU_READ_REPLICAS = []

    with db_router.use_replicas():
        assert router.db_for_read(Area) == "default"


def test_migrations_run_on_the_primary_only():
    assert router.allow_migrate("default", "needs")
    assert not router.allow_migrate("replica1", "needs")


def test_healthz_reports_each_database(client, monkeypatch):
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "databases": {"default": "ok", "replica1": "ok"}}

    def broken(*args, **kwargs):
        raise ConnectionError("replica gone")

    monkeypatch.setattr(connections["replica1"], "cursor", broken)
    down = client.get("/healthz")
    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "databases": {"default": "ok", "replica1": "unavailable"},
    }
    assert "replica gone" not in down.content.decode()


def _start_with(tmp_path, **env):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    clean.update({"WENXU_DATA_DIR": str(tmp_path), **env})
    return subprocess.run(
        [sys.executable, "-c", "import wenxu.settings as s; print(s.WENXU_READ_REPLICAS)"],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


PRIMARY = "postgres://wenxu@db.example:5432/wenxu"


@pytest.mark.parametrize(
    ("primary", "replicas", "message"),
    [
        (PRIMARY, "sqlite:////var/lib/wenxu/replica.sqlite3", "must be a PostgreSQL URL"),
        (PRIMARY, "mysql://wenxu@db2.example/wenxu", "must be a PostgreSQL URL"),
        (PRIMARY, "db2.example:5432", "replica 1"),
        (PRIMARY, f"{PRIMARY.replace('db.', 'db2.')},nonsense", "replica 2"),
        ("", "postgres://wenxu@db2.example/wenxu", "need a PostgreSQL primary"),
    ],
)
def test_a_bad_replica_configuration_stops_the_start(tmp_path, primary, replicas, message):
    started = _start_with(
        tmp_path, WENXU_DATABASE_URL=primary, WENXU_DATABASE_REPLICA_URLS=replicas
    )

    assert started.returncode != 0
    assert "WENXU_DATABASE_REPLICA_URLS" in started.stderr
    assert message in started.stderr


def test_replica_urls_become_replica_aliases(tmp_path):
    two = f"{PRIMARY.replace('db.', 'db2.')}, {PRIMARY.replace('db.', 'db3.')}"
    started = _start_with(tmp_path, WENXU_DATABASE_URL=PRIMARY, WENXU_DATABASE_REPLICA_URLS=two)

    assert started.returncode == 0, started.stderr
    assert started.stdout.strip() == "['replica1', 'replica2']"
