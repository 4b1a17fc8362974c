"""B2: the ledger page (open needs of one unit by deadline, 20 a page) against a primary-key lookup.

    .venv/bin/python bench/b2_ledger.py [--tier 100k] [--repeat 200]

The handler of the unit with the most open needs opens the ledger filtered to open needs, sorted
by deadline, 20 a page: the selector the page calls (need_ledger_page_for_user: the scope, the
count, the page and its co units), timed in this process. Each call runs in a request's
generation (wenxu.core.generation.request_scope), as the page does: it reads the generation
(one statement; the page gets it with the session's), and what a process keeps between
requests (the viewer's scope, the unit's subtree, the rows' areas, categories and units) is
used as the page uses it. Outside one, every call built all of that again.

The baseline is the cheapest read a page can make: one need by primary key through the ORM
(`Need.objects.get(pk=…)`), timed alternately with the page so both see the same machine.

Targets (issue #10): page 1 p95 ≤ 10 × the lookup's p95; page 100 (by its cursor, as the page's
"下一页" link carries it) p95 ≤ 2 × page 1's. Where the unit has fewer than 100 pages of open
needs, its last page stands in for page 100 (the JSON says which page was measured).
"""

from __future__ import annotations

import argparse
import random
import sys
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

PAGE = 20
TARGET_PAGE1 = 10.0
TARGET_PAGE100 = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    django_setup(args.database_url or database_url(args.tier))

    from django.db.models import Count, Q

    from wenxu.accounts.models import User
    from wenxu.core.generation import request_scope
    from wenxu.needs.models import Need
    from wenxu.needs.selectors import SORT_DEADLINE, NeedFilters, need_ledger_page_for_user
    from wenxu.needs.states import ACTIVE
    from wenxu.organisations.models import Unit

    open_statuses = sorted(ACTIVE)
    busiest = (
        Unit.objects.annotate(n=Count("led_needs", filter=Q(led_needs__status__in=open_statuses)))
        .order_by("-n")
        .values_list("id", "n")
        .first()
    )
    assert busiest is not None, "no units: generate the data set first"
    unit_id, open_count = busiest
    handler = (
        User.objects.filter(memberships__unit_id=unit_id, memberships__role="handler")
        .order_by("username")
        .first()
    )
    assert handler is not None, f"unit {unit_id} has no handler"
    filters = NeedFilters(status=open_statuses)

    def page(cursor: str | None = None):  # type: ignore[no-untyped-def]
        with request_scope():  # as in a request: what the page keeps between requests, kept
            return need_ledger_page_for_user(
                user=handler, filters=filters, sort=SORT_DEADLINE, cursor=cursor, limit=PAGE
            )

    # The cursor of the page to time as "page 100": follow the 下一页 links.
    cursor = None
    reached = 1
    while reached < 100:
        result = page(cursor)
        if result.next_cursor is None:
            break
        cursor = result.next_cursor
        reached += 1
    first = page()
    print(
        f"unit {unit_id}: {open_count} open needs, handler {handler.username}, "
        f"count shown {first.count}, measuring page 1 and page {reached}"
    )

    ids = list(Need.objects.order_by("?").values_list("id", flat=True)[:1000])
    rng = random.Random(1)

    def lookup() -> None:
        Need.objects.get(pk=rng.choice(ids))

    for _ in range(20):  # warm the caches of both sides
        page()
        lookup()
    page1, lookups = interleaved(page, lookup, args.repeat)
    page_n, lookups2 = interleaved(lambda: page(cursor), lookup, args.repeat)
    lookup_p95 = percentile(lookups + lookups2, 95)
    page1_p95 = percentile(page1, 95)
    page_n_p95 = percentile(page_n, 95)
    print(
        f"lookup p95 {lookup_p95 * 1000:.2f} ms; page 1 p50 {percentile(page1, 50) * 1000:.2f} "
        f"p95 {page1_p95 * 1000:.2f} ms; page {reached} p95 {page_n_p95 * 1000:.2f} ms"
    )
    return finish(
        Outcome(
            scenario="B2",
            tier=args.tier,
            ratio=Check("page1_over_lookup", page1_p95 / lookup_p95, "<=", TARGET_PAGE1),
            checks=[
                Check(f"page{reached}_over_page1", page_n_p95 / page1_p95, "<=", TARGET_PAGE100)
            ],
            details={
                "unit": unit_id,
                "open_needs": open_count,
                "page_measured": reached,
                "lookup_p95_ms": lookup_p95 * 1000,
                "page1_p50_ms": percentile(page1, 50) * 1000,
                "page1_p95_ms": page1_p95 * 1000,
                "pageN_p95_ms": page_n_p95 * 1000,
                "repeat": args.repeat,
            },
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
