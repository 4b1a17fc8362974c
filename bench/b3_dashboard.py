"""B3: the dashboard (three rates per unit, this month and a 12-month trend) against count(*).

    .venv/bin/python bench/b3_dashboard.py [--tier 100k] [--repeat 100]

What it measures: the whole of what 统计分析 (/stats/) shows the city leader (`gen_leader`,
scope: the whole city), as the page gets it: `insight.dashboards.dashboard_for_user`, this
month and the last twelve months (365 days to today, trending by week). That is the three
rates (and the callback rate) per unit with their ranking, the rate cards against the period
before, the trends, the category mix, the area rankings, satisfaction, 民情温度 and visit
coverage, and the live overdue board with its count. The issue's words ("three rates per unit,
current month and 12-month trend") are a subset of it; measuring the whole page keeps any
panel from hiding a slow read (ADR 0023). The unit ranking alone is reported too.

Cold: nothing is cached between runs (no result cache); each run does every query again.
The baseline is a plain `SELECT count(*) FROM needs_need` on the same connection, timed
alternately with each dashboard (p95 over --repeat runs of each). A hundred runs by default:
the p95 of thirty is their second slowest, and one slow second of the machine moved it by a
third (on 1 December: ratios 1.51–2.03 over five runs of thirty, 1.39–1.78 over six of a
hundred, the same build; a run takes seconds either way).

The data set must hold the scope rollups (ADR 0023). A data set generated before the generator
wrote them gets them derived from its daily rows first, once (said on the output), so that the
page reads what a running system would have.

Targets (issue #10): this month p95 ≤ 2 × the count's p95; 12 months p95 ≤ 5 ×.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Check,
    Outcome,
    database_url,
    django_setup,
    finish,
    interleaved,
    percentile,
    tier_argument,
)

TARGET_MONTH = 2.0
TARGET_YEAR = 5.0


def _ensure_scope_rollups() -> None:
    """Derive the scope rollups when the data set lacks them or they disagree with the daily
    rows (a data set generated before they existed)."""
    from django.db import transaction
    from django.db.models import Sum

    from wenxu.insight.models import DailyCount, ScopeCount
    from wenxu.insight.rollups import scope_counts_rebuild

    daily = DailyCount.objects.aggregate(n=Sum("registered"))["n"] or 0
    scoped = (
        ScopeCount.objects.filter(kind="total", grain="y", area__depth=0).aggregate(
            n=Sum("registered")
        )["n"]
        or 0
    )
    if daily == scoped:
        return
    print(
        f"scope rollups: {scoped} registrations against {daily} in the daily rows; "
        "deriving them from the daily rows (scope_counts_rebuild) …",
        flush=True,
    )
    started = time.monotonic()
    with transaction.atomic():
        rows = scope_counts_rebuild()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {ScopeCount._meta.db_table}")
    print(f"scope rollups: {rows} rows in {time.monotonic() - started:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--repeat", type=int, default=100)
    args = parser.parse_args()
    django_setup(args.database_url or database_url(args.tier))

    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from wenxu.accounts.models import User
    from wenxu.insight.dashboards import dashboard_for_user
    from wenxu.insight.periods import period_dates
    from wenxu.insight.selectors import StatsFilters, counts_for_user
    from wenxu.lib import clock

    _ensure_scope_rollups()
    leader = User.objects.get(username="gen_leader")
    now = clock.now()
    today = timezone.localdate(now)
    month = StatsFilters(*period_dates("this_month", today=today))
    year = StatsFilters(start=today - timedelta(days=364), end=today)

    def count() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM needs_need")
            cursor.fetchone()

    def this_month() -> None:
        dashboard_for_user(user=leader, filters=month, period="this_month", now=now)

    def twelve_months() -> None:
        dashboard_for_user(user=leader, filters=year, period="custom", now=now)

    def units_year() -> None:
        counts_for_user(user=leader, filters=year).by_unit(year.start, year.end)

    queries = {}
    for name, fn in (("month", this_month), ("year", twelve_months)):
        with CaptureQueriesContext(connection) as ctx:
            fn()
        queries[name] = len(ctx.captured_queries)
    for _ in range(3):
        count()
        this_month()
        twelve_months()
    month_times, counts = interleaved(this_month, count, args.repeat)
    year_times, counts2 = interleaved(twelve_months, count, args.repeat)
    unit_times, counts3 = interleaved(units_year, count, args.repeat)
    count_p50 = percentile(counts + counts2 + counts3, 50)
    count_p95 = percentile(counts + counts2 + counts3, 95)
    month_p95 = percentile(month_times, 95)
    year_p95 = percentile(year_times, 95)
    units_p95 = percentile(unit_times, 95)
    print(
        f"median: count(*) {count_p50 * 1000:.1f} ms; this month "
        f"{percentile(month_times, 50) * 1000:.1f} ms; 12 months "
        f"{percentile(year_times, 50) * 1000:.1f} ms"
    )
    print(
        f"count(*) p95 {count_p95 * 1000:.1f} ms; this month p95 {month_p95 * 1000:.1f} ms "
        f"({queries['month']} queries); 12 months p95 {year_p95 * 1000:.1f} ms "
        f"({queries['year']} queries); 12 months' unit ranking alone p95 "
        f"{units_p95 * 1000:.1f} ms"
    )
    return finish(
        Outcome(
            scenario="B3",
            tier=args.tier,
            ratio=Check("month_over_count", month_p95 / count_p95, "<=", TARGET_MONTH),
            checks=[Check("year_over_count", year_p95 / count_p95, "<=", TARGET_YEAR)],
            details={
                "count_p50_ms": count_p50 * 1000,
                "month_p50_ms": percentile(month_times, 50) * 1000,
                "year_p50_ms": percentile(year_times, 50) * 1000,
                "count_p95_ms": count_p95 * 1000,
                "month_p95_ms": month_p95 * 1000,
                "year_p95_ms": year_p95 * 1000,
                "year_units_p95_ms": units_p95 * 1000,
                "month_queries": queries["month"],
                "year_queries": queries["year"],
                "repeat": args.repeat,
            },
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
