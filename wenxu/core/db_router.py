"""Read replicas (issue #10, ADR 0020): reads to a replica, writes and fresh reads to the primary.

`WENXU_DATABASE_REPLICA_URLS` adds the aliases `replica1`, `replica2`…;
`settings.WENXU_READ_REPLICAS` lists those the router may read from (empty: everything stays on
`default`). A read goes to the primary, never to a replica that may lag behind it, when:

- it runs outside a web request: management commands, the worker and its tasks, the shell and
  their threads read their own writes (a read-only command opts in with `use_replicas()`);
- the request is not GET, HEAD, OPTIONS or TRACE (it is about to write);
- the request or task has already written (the router pins it on the first write);
- it runs inside a transaction on the primary (`transaction.atomic`, the services' row locks);
- the browser wrote a few seconds ago: `PinPrimaryMiddleware` sets a short cookie on the answer to
  every write, so the page a form post redirects to reads what the post wrote.

A request reads from one replica throughout (chosen at random at its first read), so one page
never mixes two replicas' lags. The state lives in a context variable, set by the middleware for
the request and reset after it: a thread of gunicorn's pool never carries one request's pin into
the next.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, connections

if TYPE_CHECKING:  # settings.py imports this module: it stays light
    from django.db.models import Model
    from django.http import HttpRequest, HttpResponseBase

POSTGRESQL = "django.db.backends.postgresql"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
PIN_COOKIE = "wenxu_pin"


@dataclass
class _Reads:
    pinned: bool  # every read goes to the primary
    wrote: bool = False
    replica: str | None = None


# None: not in a request, nor in use_replicas(): the primary.
_reads: ContextVar[_Reads | None] = ContextVar("wenxu_replica_reads", default=None)


def replica_databases(urls: str, *, primary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The DATABASES entries of the replicas in `urls` (comma-separated), checked.

    A replica must be PostgreSQL, like its primary: anything else is refused with what to fix,
    before the first request, rather than found out by the first page that reads from it.
    """
    import environ

    found: dict[str, dict[str, Any]] = {}
    for number, url in enumerate((u.strip() for u in urls.split(",") if u.strip()), start=1):
        name = "WENXU_DATABASE_REPLICA_URLS"
        try:
            config = environ.Env.db_url_config(url)
        except Exception as error:
            raise ImproperlyConfigured(
                f"{name}: replica {number} is not a database URL ({error}); "
                "write postgres://user@host:5432/db, several separated by commas."
            ) from error
        engine = config.get("ENGINE", "")
        if engine == "django.db.backends.postgresql_psycopg2":
            engine = config["ENGINE"] = POSTGRESQL
        if engine != POSTGRESQL or not config.get("NAME"):
            raise ImproperlyConfigured(
                f"{name}: replica {number} must be a PostgreSQL URL with a database name, such as "
                "postgres://user@host:5432/db (read replicas are PostgreSQL streaming replicas)."
            )
        if primary.get("ENGINE") != POSTGRESQL:
            raise ImproperlyConfigured(
                f"{name} is set but WENXU_DATABASE_URL is not PostgreSQL: read replicas need a "
                "PostgreSQL primary. Unset the replicas or move the primary to PostgreSQL."
            )
        for key in ("CONN_MAX_AGE", "CONN_HEALTH_CHECKS"):
            config[key] = primary[key]
        config.setdefault("OPTIONS", {}).update(
            {
                k: v
                for k, v in primary.get("OPTIONS", {}).items()
                if k in ("connect_timeout", "prepare_threshold", "options")
            }
        )
        # The test run points the replica at the primary's test database.
        config["TEST"] = {"MIRROR": DEFAULT_DB_ALIAS}
        found[f"replica{number}"] = config
    return found


def _replicas() -> list[str]:
    replicas: list[str] = settings.WENXU_READ_REPLICAS
    return replicas


def _pin(state: _Reads | None, *, wrote: bool) -> None:
    if state is not None:
        state.pinned = True
        state.wrote = state.wrote or wrote


class ReplicaRouter:
    """Django's database router; see the module's docstring."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        replicas = _replicas()
        if not replicas:
            return None
        state = _reads.get()
        if state is None or state.pinned:
            return DEFAULT_DB_ALIAS
        if connections[DEFAULT_DB_ALIAS].in_atomic_block:
            # A read in a transaction on the primary must see that transaction's rows; and it
            # pins the rest of the request, which may well be about to write.
            state.pinned = True
            return DEFAULT_DB_ALIAS
        if state.replica is None:
            state.replica = random.choice(replicas)  # noqa: S311 (load spreading, not a secret)
        return state.replica

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        _pin(_reads.get(), wrote=True)
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # A row read from a replica may be linked to one on the primary: they are the same data.
        ours = {DEFAULT_DB_ALIAS, *_replicas()}
        if obj1._state.db in ours and obj2._state.db in ours:
            return True
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool:
        return db == DEFAULT_DB_ALIAS  # replicas follow the primary by replication


@contextmanager
def use_replicas() -> Iterator[None]:
    """Let reads in this block go to a replica (until the block writes): for read-only work
    outside a request, such as a report command, that can stand data a second or so old."""
    token = _reads.set(_Reads(pinned=False))
    try:
        yield
    finally:
        _reads.reset(token)


@contextmanager
def use_primary() -> Iterator[None]:
    """Send every read in this block to the primary (inside a request that must see the
    latest data without writing first)."""
    token = _reads.set(_Reads(pinned=True))
    try:
        yield
    finally:
        _reads.reset(token)


def reads_pinned() -> bool:
    """Whether reads now go to the primary (also when no replica is configured)."""
    state = _reads.get()
    return state is None or state.pinned


class PinPrimaryMiddleware:
    """Opens each request's routing state and, after a write, pins the browser to the primary.

    Placed first in MIDDLEWARE so that everything after it, the session included, reads as the
    state says. The cookie holds no data ("1"), lives `WENXU_DATABASE_PIN_SECONDS` (longer than
    the replicas' lag), and is sent only when replicas are configured.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        writes = request.method not in SAFE_METHODS
        state = _Reads(pinned=writes or PIN_COOKIE in request.COOKIES)
        token = _reads.set(state)
        try:
            response = self.get_response(request)
        finally:
            _reads.reset(token)
        if (writes or state.wrote) and _replicas():
            response.set_cookie(
                PIN_COOKIE,
                "1",
                max_age=settings.WENXU_DATABASE_PIN_SECONDS,
                secure=settings.SESSION_COOKIE_SECURE,
                httponly=True,
                samesite="Lax",
            )
        return response
