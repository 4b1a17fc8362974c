"""B5: the Excel export of the whole ledger against a plain CSV dump of the same rows.

    .venv/bin/python bench/b5_export.py [--tier 100k] [--small 20000]

The export: gen_leader (a leader over the whole county) exports every need as .xlsx, all 26
columns, masked, the way the export job writes its file: `services.export_prepare` then
`services.export_write` into a file, in a child process of its own (Django set up, the export
prepared, then timed). It is run twice: on the first `--small` rows of that export and on all of
them (the tier's size: 100 k needs at tier 100k, 1 M at tier 1m).

The baseline: the same needs in the same order (newest registration first), the export's columns
as raw values (the needs' own fields, the names of their area, category, lead unit and merge
target, the requester's name, stored phone and address, joined in one SELECT), read with one
server-side cursor (psycopg, 5,000 rows a fetch) and written with Python's csv module to a file:
a plain CSV dump, no labels, no masks, no dates made local, no co units or handlers. Timed in this
process right before and right after the full export; its time is the mean of the two.

Targets (issue #10): the export's throughput ≥ 0.06 × the dump's (ratio = dump seconds / export
seconds); the export's peak memory ≤ 150 MB, and flat in the row count: the peak at the tier's
size at most 10 MB over the peak at the small size.

Peak memory is the export's own: the child resets its high-water mark (/proc/self/clear_refs)
once Django is set up and the export prepared, and reports VmHWM minus the RSS at that moment;
the JSON also keeps the child's whole peak (ru_maxrss), which includes setting Django up
(scikit-learn, imported at start-up by the insight app, alone takes about 110 MB of it).
"""

from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    Check,
    Outcome,
    database_url,
    django_setup,
    finish,
    peak_rss_mb,
    tier_argument,
)

TARGET_RATIO = 0.06
TARGET_PEAK_MB = 150.0
TARGET_GROWTH_MB = 10.0
USERNAME = "gen_leader"

BASELINE_SQL = """
SELECT n.number, n.registered_at, n.source, a.name, a.level, a.path, r.name, r.phone,
       r.address, r.confidential, c.name, n.title, n.description, n.urgency, u.name,
       n.assigned_at, n.original_resolve_due, n.resolve_due, n.status, n.outcome, n.reply_text,
       n.closed_at, n.callback_at, n.callback_channel, n.callback_satisfaction, n.handling,
       n.nature_tags, n.supervised, n.extension_count, n.reopen_count, n.followup_date,
       n.fulfilled_at, m.number, n.replied_at
FROM needs_need n
JOIN organisations_area a ON a.id = n.area_id
LEFT JOIN residents_requester r ON r.id = n.requester_id
LEFT JOIN needs_category c ON c.id = n.category_id
LEFT JOIN organisations_unit u ON u.id = n.lead_unit_id
LEFT JOIN needs_need m ON m.id = n.merged_into_id
ORDER BY n.registered_at DESC, n.id DESC
"""


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def child(url: str, rows: int | None) -> None:
    """One export in this process; prints its figures as JSON."""
    import dataclasses

    django_setup(url)
    from wenxu.accounts.models import User
    from wenxu.exchange import services

    user = User.objects.get(username=USERNAME)
    prepared = services.export_prepare(user=user, data={}, columns=None, format="xlsx")
    if rows is not None and rows < prepared.count:
        prepared = dataclasses.replace(prepared, queryset=prepared.queryset[:rows], count=rows)
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS: the export's own peak
    base_kb = _status_kb("VmRSS")
    with tempfile.TemporaryFile() as target:
        started = time.perf_counter()
        services.export_write(prepared, target)
        seconds = time.perf_counter() - started
        size = target.tell()
    peak_kb = _status_kb("VmHWM")
    print(
        json.dumps(
            {
                "rows": prepared.count,
                "seconds": seconds,
                "bytes": size,
                "base_mb": base_kb / 1024,
                "export_peak_mb": (peak_kb - base_kb) / 1024,
                "process_peak_mb": peak_rss_mb(),
            }
        )
    )


def run_child(url: str, rows: int | None) -> dict[str, float]:
    # A fresh interpreter from this small parent (which never sets Django up before it), so
    # nothing allocated here counts in the child's figures.
    command = [sys.executable, __file__, "--child", "--database-url", url]
    if rows is not None:
        command += ["--rows", str(rows)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def baseline(url: str) -> tuple[float, int]:
    """The plain CSV dump; returns its seconds and rows."""
    import psycopg

    started = time.perf_counter()
    count = 0
    with (
        psycopg.connect(url) as conn,
        conn.cursor(name="b5_dump") as cursor,
        tempfile.TemporaryFile("w", newline="", encoding="utf-8") as target,
    ):
        cursor.itersize = 5000
        cursor.execute(BASELINE_SQL)
        writer = csv.writer(target)
        for row in cursor:
            writer.writerow(row)
            count += 1
    return time.perf_counter() - started, count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--small", type=int, default=20_000, help="rows of the smaller export")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rows", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.database_url or database_url(args.tier)
    if args.child:
        child(url, args.rows)
        return 0

    small = run_child(url, args.small)
    print(
        f"export of {small['rows']:.0f} rows: {small['seconds']:.1f} s, "
        f"peak +{small['export_peak_mb']:.1f} MB",
        flush=True,
    )
    before, dumped = baseline(url)
    full = run_child(url, None)
    print(
        f"export of {full['rows']:.0f} rows: {full['seconds']:.1f} s, "
        f"{full['bytes'] / 1e6:.1f} MB file, peak +{full['export_peak_mb']:.1f} MB "
        f"(process {full['process_peak_mb']:.0f} MB)",
        flush=True,
    )
    after, _rows = baseline(url)
    dump_seconds = (before + after) / 2
    print(f"CSV dump of {dumped} rows: {before:.2f} s and {after:.2f} s", flush=True)
    growth = full["export_peak_mb"] - small["export_peak_mb"]

    django_setup(url)  # for the machine description only, after the children ran
    return finish(
        Outcome(
            scenario="B5",
            tier=args.tier,
            ratio=Check("dump_over_export", dump_seconds / full["seconds"], ">=", TARGET_RATIO),
            checks=[
                Check("export_peak", full["export_peak_mb"], "<=", TARGET_PEAK_MB, "MB"),
                Check("peak_growth", growth, "<=", TARGET_GROWTH_MB, "MB"),
            ],
            details={
                "rows": full["rows"],
                "export_seconds": full["seconds"],
                "export_rows_per_second": full["rows"] / full["seconds"],
                "file_mb": full["bytes"] / 1e6,
                "dump_seconds": [before, after],
                "dump_rows": dumped,
                "small": small,
                "full": full,
            },
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
