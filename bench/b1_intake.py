"""B1: intake through the API (POST /api/v1/needs, 16 connections, gunicorn) against a raw
driver insert loop of the same rows.

    .venv/bin/python bench/b1_intake.py [--tier 100k] [--requests 4000]

On a scratch copy of the data set, `wenxu serve` (gunicorn, the bench's workers) takes
`--requests` registrations from 16 client connections: officers of different streets, each
with a personal API token, posting needs with requesters (texts and places taken from the data
set). After each of four slices of that load, the rows the slice wrote (the requester, the
need and its event, with the ledger counter's update) are inserted again with psycopg alone into
tables of the same shape and indexes (CREATE TABLE … LIKE … INCLUDING ALL), one transaction per
need as the API commits one per request, from one connection: what the database does for the
same rows, without Django, HTTP or validation. The two take turns so that a machine whose speed
drifts within minutes (seen here: ±30 %) weighs on both alike.

Targets (issue #10): API throughput ≥ 0.35 × the raw loop's; p99 latency ≤ 50 ms; no errors.
Throughput is the closed loop's (16 clients sending back to back: the capacity); p99 is measured
at half that rate, paced (see load.run_load), since at saturation a closed loop's latency is only
its queue: 16 clients / throughput.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Check,
    Outcome,
    database_url,
    django_setup,
    finish,
    percentile,
    tier_argument,
)
from load import LoadResult, json_request, run_load, scratch_copy, server

CONNECTIONS = 16
SLICES = 4
TARGET_RATIO = 0.35
TARGET_P99_MS = 50.0
TABLES = ("residents_requester", "needs_need", "needs_needevent")


def _payloads(count: int, seed: int) -> list[dict[str, object]]:
    from wenxu.needs.models import Need

    rows = list(
        Need.objects.filter(category__isnull=False)
        .order_by("id")
        .values_list("title", "description", "kind", "category_id", "area_id", "address")[
            : count * 3
        ]
    )
    rng = random.Random(seed)
    rng.shuffle(rows)
    out = []
    for i, (title, description, kind, category, area, address) in enumerate(rows[:count]):
        out.append(
            {
                "title": title,
                "description": description,
                "kind": kind,
                "source": "hotline",
                "area": area,
                "category": category,
                "address": address,
                "requester": {"name": "张*", "phone": f"1{rng.randint(3, 9)}{i:09d}"},
            }
        )
    return out


class RawLoop:
    """Inserts rows the API wrote into look-alike tables, one transaction per need, from one
    connection: created with the tables, then `run` once per slice of the API's load."""

    def __init__(self, url: str) -> None:
        import psycopg

        self.url = url
        with psycopg.connect(url, autocommit=True) as conn:
            for table in TABLES:
                conn.execute(f"DROP TABLE IF EXISTS bench_{table}")
                conn.execute(f"CREATE TABLE bench_{table} (LIKE {table} INCLUDING ALL)")
            conn.execute("DROP TABLE IF EXISTS bench_counter")
            conn.execute("CREATE TABLE bench_counter (LIKE needs_ledgercounter INCLUDING ALL)")
            conn.execute("INSERT INTO bench_counter SELECT * FROM needs_ledgercounter")
            row = conn.execute(
                "SELECT year FROM bench_counter ORDER BY year DESC LIMIT 1"
            ).fetchone()
        self.year = row[0] if row else 0

    def next_need(self) -> int:
        """The id the next need the API writes will have at least."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM needs_need").fetchone()
        return int(row[0]) if row else 1

    def run(self, first_need: int) -> tuple[float, int]:
        """Insert again the needs from `first_need` on, with their requesters and events:
        (seconds, needs). Only the inserts are timed."""
        import psycopg
        from psycopg.types.json import Jsonb

        with psycopg.connect(self.url, autocommit=True) as conn:

            def rows(sql: str) -> tuple[list[str], list[tuple[object, ...]]]:
                cursor = conn.execute(sql)
                return [d.name for d in cursor.description or ()], cursor.fetchall()

            need_cols, needs = rows(
                f"SELECT * FROM needs_need WHERE id >= {first_need} ORDER BY id"
            )
            req_cols, requesters = rows(
                "SELECT * FROM residents_requester WHERE id IN "
                f"(SELECT requester_id FROM needs_need WHERE id >= {first_need})"
            )
            ev_cols, events = rows(
                f"SELECT * FROM needs_needevent WHERE need_id >= {first_need} ORDER BY need_id, seq"
            )
        by_requester = {row[req_cols.index("id")]: row for row in requesters}
        by_need: dict[object, list[tuple[object, ...]]] = {}
        for row in events:
            by_need.setdefault(row[ev_cols.index("need_id")], []).append(row)

        def insert(table: str, cols: list[str]) -> str:
            marks = ", ".join(["%s"] * len(cols))
            return f"INSERT INTO bench_{table} ({', '.join(cols)}) VALUES ({marks})"

        def adapt(row: tuple[object, ...]) -> tuple[object, ...]:
            return tuple(Jsonb(v) if isinstance(v, dict | list) else v for v in row)

        sql_req, sql_need, sql_ev = (
            insert("residents_requester", req_cols),
            insert("needs_need", need_cols),
            insert("needs_needevent", ev_cols),
        )
        requester_at = need_cols.index("requester_id")
        need_id_at = need_cols.index("id")
        with psycopg.connect(self.url) as conn:
            started = time.perf_counter()
            for need in needs:
                with conn.transaction():
                    conn.execute(
                        "UPDATE bench_counter SET last = last + 1 WHERE year = %s", (self.year,)
                    )
                    requester = by_requester.get(need[requester_at])
                    if requester is not None:
                        conn.execute(sql_req, adapt(requester))
                    conn.execute(sql_need, adapt(need))
                    for event in by_need.get(need[need_id_at], []):
                        conn.execute(sql_ev, adapt(event))
            seconds = time.perf_counter() - started
        return seconds, len(needs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--requests", type=int, default=4000)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    source = args.database_url or database_url(args.tier)

    with scratch_copy(source, "b1") as url:
        django_setup(url)
        from django.db import connection

        from wenxu.accounts.models import User
        from wenxu.accounts.services import api_token_issue

        officers = list(User.objects.filter(username__startswith="gen_officer_").order_by("id"))
        assert officers, "no officers: generate the data set first"
        tokens = [api_token_issue(user=officers[i % len(officers)])[0] for i in range(CONNECTIONS)]
        per = args.requests // CONNECTIONS
        payloads = _payloads(per * CONNECTIONS, seed=1)
        # Officers may register only in their own areas: give each client needs of its streets.
        areas = {o.pk: set(o.memberships.values_list("area__path", flat=True)) for o in officers}
        from wenxu.organisations.models import Area

        paths = dict(Area.objects.values_list("id", "path"))
        pools: list[list[dict[str, object]]] = []
        for c in range(CONNECTIONS):
            mine = areas[officers[c % len(officers)].pk]
            pool = [p for p in payloads if any(paths[p["area"]].startswith(m) for m in mine)]
            pools.append(pool or payloads)
        connection.close()
        raw = RawLoop(url)

        def request(c: int, i: int):  # type: ignore[no-untyped-def]
            pool = pools[c]
            return json_request(
                "POST", "/api/v1/needs", pool[i % len(pool)], tokens[c], "intake", (201,)
            )

        slice_per = max(1, per // SLICES)
        api: list[LoadResult] = []
        raw_seconds, raw_rows = 0.0, 0
        with server(url, workers=args.workers) as port:
            run_load(port, request, connections=CONNECTIONS, per_connection=10)  # warm up
            # The API's closed loop and the raw loop of the rows it wrote take turns, a slice
            # each, so that a machine whose speed drifts within minutes weighs on both alike.
            for n in range(SLICES):
                first_need = raw.next_need()
                api.append(
                    run_load(
                        port,
                        lambda c, i, n=n: request(c, n * slice_per + i),
                        connections=CONNECTIONS,
                        per_connection=slice_per,
                    )
                )
                seconds, rows = raw.run(first_need)
                raw_seconds += seconds
                raw_rows += rows
            capacity = sum(len(r.samples) for r in api) / sum(r.seconds for r in api)
            # Latency at half the capacity (paced, open loop): a closed loop at saturation
            # only measures the queue (16 clients / throughput), not the server's answer time.
            paced = run_load(
                port,
                lambda c, i: request(c, per + i),
                connections=CONNECTIONS,
                per_connection=per // 2,
                rate=capacity / 2,
            )
        closed = [s for r in api for s in r.samples]

    latencies = paced.latencies("intake")
    api_rate = capacity
    raw_rate = raw_rows / raw_seconds
    p99_ms = percentile(latencies, 99) * 1000
    failed = [s for s in closed if not s.ok] + paced.errors
    errors = len(failed)
    statuses = sorted({s.status for s in failed})
    print(
        f"API: {len(closed)} needs in {sum(r.seconds for r in api):.1f} s = {api_rate:.0f}/s "
        f"(closed loop in {SLICES} slices, each followed by the raw loop of its rows; p99 "
        f"{percentile([s.seconds for s in closed], 99) * 1000:.0f} ms); at "
        f"{capacity / 2:.0f}/s paced: p50 {percentile(latencies, 50) * 1000:.1f} ms, "
        f"p99 {p99_ms:.1f} ms; errors {errors} {statuses}; "
        f"raw loop: {raw_rows} needs in {raw_seconds:.1f} s = {raw_rate:.0f}/s"
    )
    return finish(
        Outcome(
            scenario="B1",
            tier=args.tier,
            ratio=Check("api_over_raw", api_rate / raw_rate, ">=", TARGET_RATIO),
            checks=[
                Check("p99", p99_ms, "<=", TARGET_P99_MS, "ms"),
                Check("errors", errors, "<=", 0),
            ],
            details={
                "api_per_second": api_rate,
                "raw_per_second": raw_rate,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": p99_ms,
                "connections": CONNECTIONS,
                "workers": args.workers,
                "requests": len(closed) + len(paced.samples),
                "slices": SLICES,
                "paced_rate": capacity / 2,
                "error_statuses": statuses,
            },
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
