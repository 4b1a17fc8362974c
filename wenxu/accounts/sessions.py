"""Django's database sessions, read in plain SQL.

Every signed-in request reads its session. Through the ORM the read is a query built and
compiled anew each time (~0.4 ms of Python, more than the database's work on its primary
key); here it is one fixed statement, which reads the configuration generation too (ADR 0032:
the page reads it next, and the signed-in user is kept under it). Everything else (saving,
creating, expiring, the `clearsessions` command) is Django's own `db` backend, and the read
goes to the database Django's would have read from (the router's choice).
"""

from __future__ import annotations

from typing import Any

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone

from wenxu.core import generation
from wenxu.core.models import Generation
from wenxu.lib import healthcheck


class SessionStore(db.SessionStore):
    def _get_session_from_db(self) -> Any:
        key = self.session_key
        if key is None:  # no cookie, or one Django's key check refused
            self._session_key = None
            return None
        model = self.model
        alias = router.db_for_read(model)
        connection = connections[alias]
        table = connection.ops.quote_name(model._meta.db_table)
        generations = connection.ops.quote_name(Generation._meta.db_table)
        # The configuration generation rides along: every signed-in page wants it next. The
        # request's first statement, so it checks the connection too (wenxu.lib.healthcheck).
        data, value = healthcheck.fetchone(
            connection,
            f"SELECT (SELECT session_data FROM {table} "  # noqa: S608 - models' tables
            "WHERE session_key = %s AND expire_date > %s), "
            f"(SELECT value FROM {generations} WHERE name = %s)",
            [key, connection.ops.adapt_datetimefield_value(timezone.now()), generation.NAME],
        )
        generation.offer(alias, value)
        if data is None:
            self._session_key = None
            return None
        return model(session_key=key, session_data=data)
