"""Measure monthly partitioning of the event table on a copy of it (ADR 0024); not a scenario.

    .venv/bin/python bench/probe_partitions.py [--tier 1m] [--runs 7] [--single-rows 20000] [--keep]

In the tier's data set (built by `bench/run.py`) it makes a schema `probe_partitions` holding two
copies of `needs_needevent`: `ev_plain`, a plain table, and `ev_part`, partitioned by range on
`created_at`, one partition per local (Asia/Shanghai) month plus four months ahead, with the
same indexes. A partitioned table can only enforce a primary key or unique index that contains
the partition key, so `ev_part` has PRIMARY KEY (id, created_at) and a plain index on
(need_id, seq) where the original has a unique one. Then, on both copies:

1. the queries wenxu runs on the event table, with EXPLAIN (ANALYZE, BUFFERS), `--runs` times
   each, the two copies alternately with the same parameters: median planning + execution ms,
   shared buffers touched, partitions scanned;
2. COPY of a month's rows (the last full month's, moved ahead) and `--single-rows`
   single-row INSERTs (one statement each, one transaction), into a month of their own;
3. ANALYZE and VACUUM (after the load, and after an erasure-like UPDATE of 2,000 notes in the
   newest month: the plain table's whole indexes against the one partition's);
4. removing the oldest full month: DELETE (and the VACUUM it needs) against DETACH + DROP.

The schema is dropped at the end unless `--keep`. The data set itself is only read.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import statistics
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import SEED, TIERS, database_url

SOURCE = "public.needs_needevent"
SCHEMA = "probe_partitions"
PLAIN = f"{SCHEMA}.ev_plain"
PART = f"{SCHEMA}.ev_part"
TZ = "Asia/Shanghai"
COLUMNS = "id, need_id, seq, actor_id, action, from_status, to_status, note, data, created_at"


def _one(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any] = ()) -> Any:
    row = conn.execute(sql, params).fetchone()
    return row[0] if row else None


def _row(conn: psycopg.Connection[Any], sql: str) -> tuple[Any, ...]:
    row = conn.execute(sql).fetchone()
    assert row is not None
    return tuple(row)


def _seconds(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _sql_seconds(conn: psycopg.Connection[Any], *statements: str) -> float:
    started = time.perf_counter()
    for sql in statements:
        conn.execute(sql)
    return time.perf_counter() - started


def _walk(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _walk(child)


def _explain(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any]) -> dict[str, float]:
    out = _one(conn, f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params)[0]
    plan = out["Plan"]
    scanned = {
        node["Relation Name"]
        for node in _walk(plan)
        if "Relation Name" in node and node.get("Actual Loops", 0) > 0
    }
    return {
        "ms": out["Planning Time"] + out["Execution Time"],
        "plan_ms": out["Planning Time"],
        "buffers": plan.get("Shared Hit Blocks", 0) + plan.get("Shared Read Blocks", 0),
        "relations": len(scanned),
    }


def _months(conn: psycopg.Connection[Any]) -> list[str]:
    """First days (local) of the months the data spans and four more; the last one only bounds."""
    rows = conn.execute(
        f"""
        SELECT to_char(m, 'YYYY-MM-DD') FROM generate_series(
            (SELECT date_trunc('month', min(created_at AT TIME ZONE %s)) FROM {SOURCE}),
            (SELECT date_trunc('month', max(created_at AT TIME ZONE %s)) FROM {SOURCE})
                + interval '5 months',
            interval '1 month') AS m
        """,
        [TZ, TZ],
    ).fetchall()
    return [r[0] for r in rows]


def _bound(day: str) -> str:
    return f"'{day} 00:00:00+08'"


def build(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    """Both copies, loaded and indexed the same way; returns sizes and timings."""
    conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    conn.execute(f"CREATE SCHEMA {SCHEMA}")
    months = _months(conn)
    info: dict[str, Any] = {"partitions": len(months) - 1}
    indexes = [
        (name, sql, unique)
        for name, sql, unique in conn.execute(
            """
            SELECT c.relname, pg_get_indexdef(i.indexrelid), i.indisunique
            FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
            WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
            """,
            [SOURCE],
        ).fetchall()
    ]
    for table, partitioned in ((PLAIN, False), (PART, True)):
        clause = " PARTITION BY RANGE (created_at)" if partitioned else ""
        conn.execute(
            f"CREATE TABLE {table} (LIKE {SOURCE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)"
            + clause
        )
        conn.execute(f"CREATE SEQUENCE {table}_id_seq")
        conn.execute(f"ALTER TABLE {table} ALTER id SET DEFAULT nextval('{table}_id_seq')")
        if partitioned:
            for first, after in itertools.pairwise(months):
                conn.execute(
                    f"CREATE TABLE {table}_{first[:7].replace('-', '')} PARTITION OF {table}"
                    f" FOR VALUES FROM ({_bound(first)}) TO ({_bound(after)})"
                )
        started = time.perf_counter()
        conn.execute(f"INSERT INTO {table} ({COLUMNS}) SELECT {COLUMNS} FROM {SOURCE}")
        key = "id, created_at" if partitioned else "id"
        conn.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({key})")
        for name, sql, unique in indexes:
            definition = sql.replace(f"ON {SOURCE}", f"ON {table}").replace(
                f" {name} ", f" {table.split('.')[1]}_{name[-20:]} "
            )
            if partitioned and unique and "created_at" not in definition:
                definition = definition.replace("UNIQUE INDEX", "INDEX")
            conn.execute(definition)
        conn.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
        info[f"load_s_{'part' if partitioned else 'plain'}"] = time.perf_counter() - started
    conn.execute(f"ANALYZE {PLAIN}")
    conn.execute(f"ANALYZE {PART}")
    for table in (PLAIN, PART):
        size = _one(
            conn,
            "SELECT coalesce((SELECT sum(pg_total_relation_size(relid))"
            " FROM pg_partition_tree(%s::regclass)), pg_total_relation_size(%s::regclass))",
            [table, table],
        )
        info[f"size_mb_{table.split('_')[-1]}"] = round(float(size) / 2**20)
    info["rows"] = _one(conn, f"SELECT count(*) FROM {PLAIN}")
    info["indexes"] = [sql for _n, sql, _u in indexes]
    return info


def queries(conn: psycopg.Connection[Any], runs: int) -> dict[str, Any]:
    rng = random.Random(SEED)
    low, high = _row(conn, f"SELECT min(need_id), max(need_id) FROM {PLAIN}")
    max_id, min_id = _row(conn, f"SELECT max(id), min(id) FROM {PLAIN}")
    last_at = _one(conn, f"SELECT max(created_at) FROM {PLAIN}")
    month = _months(conn)[6]

    def need() -> list[Any]:
        return [rng.randint(low, high)]

    cases: dict[str, tuple[str, Callable[[], list[Any]]]] = {
        # a need's history: detail page, tracking page, API, services (need.events)
        "history by need_id": ("SELECT * FROM {t} WHERE need_id = %s ORDER BY seq", need),
        # the sweep: reminders already sent, 500 needs at a time
        "sweep: 500 needs' reminders": (
            "SELECT need_id, data -> 'due' FROM {t} WHERE need_id = ANY(%s)"
            " AND action = 'remind' AND (data -> 'kind') = '\"overdue\"'::jsonb",
            lambda: [[rng.randint(low, high) for _ in range(500)]],
        ),
        # the ledger export: events of 1,000 consecutive needs
        "export: 1,000 needs' events": (
            "SELECT need_id, seq, action, from_status, to_status FROM {t}"
            " WHERE need_id BETWEEN %s AND %s ORDER BY need_id, seq",
            lambda: [(n := rng.randint(low, high - 1000)), n + 999],
        ),
        # webhook fan-out and rollup catch-up, caught up: the newest events after the cursor
        "fan-out/rollups: next 500 at tail": (
            "SELECT * FROM {t} WHERE id > %s ORDER BY id LIMIT 500",
            lambda: [max_id - rng.randint(300, 2000)],
        ),
        # the same reading from an old cursor (rollup_rebuild, a new subscription's back-fill)
        "fan-out/rollups: next 500 mid-log": (
            "SELECT * FROM {t} WHERE id > %s ORDER BY id LIMIT 500",
            lambda: [rng.randint(min_id, max_id)],
        ),
        # the end of the log (subscriptions, rollup_rebuild)
        "max(id)": ("SELECT max(id) FROM {t}", lambda: []),
        # notify_for_event: one event by id
        "one event by id": (
            "SELECT * FROM {t} WHERE id = %s",
            lambda: [rng.randint(min_id, max_id)],
        ),
        # insight.signals: anything settled after the cursor
        "signals: exists after cursor": (
            "SELECT 1 FROM {t} WHERE id > %s AND created_at < %s LIMIT 1",
            lambda: [max_id - rng.randint(300, 2000), last_at],
        ),
        # notify.deliver_missed: the last 48 hours' events, oldest first
        "catch-up: last 48 h by time": (
            "SELECT id FROM {t} WHERE created_at >= %s::timestamptz - interval '49 hours'"
            " AND created_at < %s::timestamptz - interval '10 minutes' ORDER BY id LIMIT 500",
            lambda: [last_at, last_at],
        ),
        # a month's events by time (a report; rollup_rebuild by day ranges)
        "one month by time, per action": (
            "SELECT action, count(*) FROM {t} WHERE created_at >= %s::timestamptz"
            " AND created_at < %s::timestamptz + interval '1 month' GROUP BY action",
            lambda: [f"{month} 00:00+08", f"{month} 00:00+08"],
        ),
    }
    results: dict[str, Any] = {}
    for name, (sql, params) in cases.items():
        seen: dict[str, list[dict[str, float]]] = {"plain": [], "part": []}
        for run in range(runs + 1):
            values = params()
            for label, table in (("plain", PLAIN), ("part", PART)):
                measured = _explain(conn, sql.format(t=table), values)
                if run:  # the first run warms the cache
                    seen[label].append(measured)
        row: dict[str, Any] = {}
        for label, got in seen.items():
            row[label] = {key: round(statistics.median(m[key] for m in got), 3) for key in got[0]}
        row["ratio"] = round(row["part"]["ms"] / max(row["plain"]["ms"], 1e-6), 2)
        results[name] = row
        print(
            f"{name:36} plain {row['plain']['ms']:8.3f} ms {row['plain']['buffers']:7.0f} buf"
            f" | part {row['part']['ms']:8.3f} ms (plan {row['part']['plan_ms']:.3f})"
            f" {row['part']['buffers']:7.0f} buf {row['part']['relations']:3.0f} rel"
            f" | x{row['ratio']}",
            flush=True,
        )
    return results


def writes(conn: psycopg.Connection[Any], single_rows: int) -> dict[str, Any]:
    """COPY a month's rows and single-row INSERTs, into months of their own, both copies."""
    months = _months(conn)
    # The last full month's rows, moved to months of their own (a month's overflow, when it is
    # longer than the target, lands in the next one, which exists).
    source_month, copy_month, insert_month = months[-7], months[-4], months[-3]
    out: dict[str, Any] = {}
    max_id = _one(conn, f"SELECT max(id) FROM {PLAIN}")
    shift = f"(timestamptz '{copy_month} 00:00+08' - timestamptz '{source_month} 00:00+08')"
    select = (
        f"SELECT id + {max_id}, need_id, seq + 100000, actor_id, action, from_status,"
        f" to_status, note, data, created_at + {shift} FROM {PLAIN}"
        f" WHERE created_at >= '{source_month} 00:00+08'"
        f" AND created_at < '{source_month} 00:00+08'::timestamptz + interval '1 month'"
    )
    buffer = bytearray()
    with conn.cursor() as cur, cur.copy(f"COPY ({select}) TO STDOUT (FORMAT BINARY)") as copy:
        for chunk in copy:
            buffer += chunk
    out["copy_rows"] = _one(conn, f"SELECT count(*) FROM ({select}) s")
    for label, table in (("plain", PLAIN), ("part", PART)):

        def load(table: str = table) -> None:
            with (
                conn.transaction(),
                conn.cursor() as cur,
                cur.copy(f"COPY {table} ({COLUMNS}) FROM STDIN (FORMAT BINARY)") as copy,
            ):
                copy.write(bytes(buffer))

        out[f"copy_s_{label}"] = _seconds(load)
        conn.execute(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))")
    print(
        f"COPY {out['copy_rows']} rows (a month): plain {out['copy_s_plain']:.1f} s"
        f" | part {out['copy_s_part']:.1f} s",
        flush=True,
    )
    rows = conn.execute(
        f"SELECT need_id, seq + 200000, actor_id, action, from_status, to_status, note, data,"
        f" created_at + (timestamptz '{insert_month} 00:00+08'"
        f" - timestamptz '{source_month} 00:00+08')"
        f" FROM {PLAIN} WHERE created_at >= '{source_month} 00:00+08'"
        f" AND created_at < '{source_month} 00:00+08'::timestamptz + interval '1 month'"
        " ORDER BY id LIMIT %s",
        [single_rows],
    ).fetchall()
    for label, table in (("plain", PLAIN), ("part", PART)):
        sql = (
            f"INSERT INTO {table} (need_id, seq, actor_id, action, from_status, to_status,"
            " note, data, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)"
        )

        def insert(sql: str = sql) -> None:
            with conn.transaction(), conn.cursor() as cur:
                for values in rows:
                    cur.execute(sql, [*values[:7], Jsonb(values[7]), values[8]])

        out[f"insert_us_{label}"] = _seconds(insert) / len(rows) * 1e6
    print(
        f"single-row INSERT x{len(rows)}: plain {out['insert_us_plain']:.0f} us/row"
        f" | part {out['insert_us_part']:.0f} us/row",
        flush=True,
    )
    return out


def maintenance(conn: psycopg.Connection[Any]) -> dict[str, Any]:
    months = _months(conn)
    newest = f"{PART}_{months[-6][:7].replace('-', '')}"  # this month
    out: dict[str, Any] = {}
    timings: list[tuple[str, str]] = [
        ("vacuum_analyze_after_load_plain", f"VACUUM (ANALYZE) {PLAIN}"),
        ("vacuum_analyze_after_load_part", f"VACUUM (ANALYZE) {PART}"),
        ("analyze_plain", f"ANALYZE {PLAIN}"),
        ("analyze_part", f"ANALYZE {PART}"),
        ("analyze_one_partition", f"ANALYZE {newest}"),
        ("vacuum_clean_plain", f"VACUUM {PLAIN}"),
        ("vacuum_clean_part", f"VACUUM {PART}"),
    ]
    for key, sql in timings:
        out[key] = _sql_seconds(conn, sql)
    # An erasure stars notes in place (residents/erasure.py): dead tuples in the newest month.
    ids = [
        r[0]
        for r in conn.execute(
            f"SELECT id FROM {PLAIN} WHERE created_at >= '{months[-6]} 00:00+08'"
            " AND created_at < now() ORDER BY id DESC LIMIT 2000"
        ).fetchall()
    ]
    for label, table, target in (("plain", PLAIN, PLAIN), ("part", PART, newest)):
        conn.execute(f"UPDATE {table} SET note = note || '*' WHERE id = ANY(%s)", [ids])
        out[f"vacuum_after_update_{label}"] = _sql_seconds(conn, f"VACUUM {target}")
    # Removing the oldest full month.
    first, after = months[1], months[2]
    where = f"created_at >= '{first} 00:00+08' AND created_at < '{after} 00:00+08'"
    out["drop_rows"] = _one(conn, f"SELECT count(*) FROM {PLAIN} WHERE {where}")
    out["delete_s_plain"] = _sql_seconds(conn, f"DELETE FROM {PLAIN} WHERE {where}")
    out["vacuum_after_delete_plain"] = _sql_seconds(conn, f"VACUUM {PLAIN}")
    old = f"{PART}_{first[:7].replace('-', '')}"
    out["detach_drop_s_part"] = _sql_seconds(
        conn, f"ALTER TABLE {PART} DETACH PARTITION {old}", f"DROP TABLE {old}"
    )
    for key, value in out.items():
        print(f"{key:36} {value:10.3f}", flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), default="1m")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--single-rows", type=int, default=20_000)
    parser.add_argument(
        "--keep", action="store_true", help="keep the schema probe_partitions afterwards"
    )
    parser.add_argument(
        "--only-queries", action="store_true", help="reuse a kept schema probe_partitions"
    )
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args()
    result: dict[str, Any] = {"tier": args.tier, "runs": args.runs}
    with psycopg.connect(database_url(args.tier), autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'UTC'")
        try:
            if not args.only_queries:
                started = time.perf_counter()
                result["build"] = build(conn)
                print(
                    json.dumps({**result["build"], "indexes": len(result["build"]["indexes"])}),
                    f"({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
            result["queries"] = queries(conn, args.runs)
            if not args.only_queries:
                result["writes"] = writes(conn, args.single_rows)
                result["maintenance"] = maintenance(conn)
        finally:
            if not args.keep:
                conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
