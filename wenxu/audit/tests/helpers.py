"""Building a chain and tampering with it behind wenxu's back (raw SQL, as an intruder would)."""

import json
from typing import Any

from django.db import connection

from wenxu.audit import actions
from wenxu.audit.models import AuditEntry
from wenxu.audit.services import audit_record

TABLE = AuditEntry._meta.db_table


def chain_of(count: int) -> list[AuditEntry]:
    return [
        audit_record(action=actions.EXPORT, actor=None, target=f"t:{n}", detail={"n": n})
        for n in range(1, count + 1)
    ]


def sql(statement: str, params: list[Any] | None = None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement.replace("{t}", connection.ops.quote_name(TABLE)), params or [])


def swap_seqs(first: int, second: int) -> None:
    """Exchange the positions of two entries (seq is unique: through a temporary value)."""
    sql("UPDATE {t} SET seq = %s WHERE seq = %s", [-1, first])
    sql("UPDATE {t} SET seq = %s WHERE seq = %s", [first, second])
    sql("UPDATE {t} SET seq = %s WHERE seq = %s", [second, -1])


def forge(seq: int, action: str, detail: dict[str, Any]) -> None:
    """Insert an entry without the key (its hash cannot be right)."""
    sql(
        "INSERT INTO {t} (seq, at, action, actor_id, actor_username, target, detail, ip,"
        " prev_hash, hash) VALUES (%s, %s, %s, NULL, '', '', %s, NULL, '', %s)",
        [seq, "2026-01-01 00:00:00+00:00", action, json.dumps(detail), f"{seq:x}".rjust(64, "f")],
    )
