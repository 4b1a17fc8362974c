"""B4: importing a 100,000-row ledger through the service layer against PostgreSQL's COPY.

    .venv/bin/python bench/b4_import.py [--tier 100k] [--rows 100000]

On a scratch copy of the tier's data set (`load.scratch_copy`, dropped afterwards):

1. A CSV ledger of `--rows` rows (UTF-8, the headers offices write: 原编号, 登记日期, 来源渠道,
   所属区域, 诉求人, 联系电话, 住址, 诉求类别, 标题, 诉求内容, 紧急程度, 责任单位, 办理状态) made
   from the data set's needs (cycled when it holds fewer): their dates, areas (as name paths),
   requesters, categories, texts and units, with new 原编号; a need the data set closed says 已办结
   (so it is registered, not assigned), the others name their lead unit when they have one (so
   gen_dispatcher's import assigns them). CSV, because that is what a 100,000-row ledger is
   exported as: the .xlsx reader's limits on unpacked text (20 MB) refuse a sheet this large.
2. The import, timed: `wenxu import_ledger FILE --user gen_dispatcher` (upload, automatic column
   mapping, dry run, commit: `ledger_import_commit` and `services.bulk.need_register_batch`),
   run by `call_command` in a child process of its own; the child's peak memory is its
   ru_maxrss (all of it: Python, Django set up, the import), and its own peak over the memory
   it had once Django was set up (VmHWM after /proc/self/clear_refs) is in the JSON too.
3. The baseline: COPY of exactly the rows the import wrote (its requesters, needs and events,
   read back untimed as COPY text) into look-alike tables (`CREATE TABLE bench_x (LIKE x
   INCLUDING ALL)`: the same columns, defaults, checks and indexes; no foreign keys), timed as
   one transaction: three COPY FROM STDIN and the commit. Run twice, on empty tables, in this
   process right after the import; its time is the mean of the two.

Targets (issue #10): the import's throughput ≥ 0.15 × COPY's (ratio = COPY seconds / import
seconds); the import's peak memory ≤ 300 MB.
"""

from __future__ import annotations

import argparse
import csv
import io
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
from load import scratch_copy

TARGET_RATIO = 0.15
TARGET_PEAK_MB = 300.0
USERNAME = "gen_dispatcher"
HEADER = [
    "原编号",
    "登记日期",
    "来源渠道",
    "所属区域",
    "诉求人",
    "联系电话",
    "住址",
    "诉求类别",
    "标题",
    "诉求内容",
    "紧急程度",
    "责任单位",
    "办理状态",
]
# The tables the import writes that the baseline copies, with the rows of this import.
COPIED = {
    "residents_requester": "id IN (SELECT requester_id FROM needs_need WHERE id IN ({needs}))",
    "needs_need": "id IN ({needs})",
    "needs_needevent": "need_id IN ({needs})",
}


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def write_csv(url: str, path: Path, rows: int) -> None:
    """The ledger file, from the data set's needs (child process: Django, to read phones)."""
    django_setup(url)
    from django.utils import timezone

    from wenxu.lib import masking
    from wenxu.needs import states
    from wenxu.needs.models import Category, Need, Urgency
    from wenxu.organisations.models import Area

    def paths(model: type[Area] | type[Category]) -> dict[int, str]:
        names = dict(model.objects.values_list("id", "name"))
        return {
            pk: "/".join(names[int(p)] for p in path.strip("/").split("/") if p)
            for pk, path in model.objects.values_list("id", "path")
        }

    areas, categories = paths(Area), paths(Category)
    sources = {v: str(label) for v, label in states.Source.choices}
    urgencies = {v: str(label) for v, label in Urgency.choices}
    statuses = {v: str(label) for v, label in states.Status.choices}
    statuses[states.Status.CLOSED] = "已办结"
    zone = timezone.get_default_timezone()
    fields = (
        "registered_at",
        "source",
        "area_id",
        "requester__name",
        "requester__phone",
        "requester__address",
        "category_id",
        "title",
        "description",
        "urgency",
        "lead_unit__name",
        "status",
    )
    written = 0
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(HEADER)
        while written < rows:
            needs = Need.objects.order_by("id").values_list(*fields)[: rows - written]
            for values in needs.iterator(chunk_size=5000):
                (at, source, area, name, phone, address, category, title, text, urgency,
                 unit, status) = values  # fmt: skip
                if isinstance(phone, masking.Unreadable):
                    # A file of （无法解密） instead of phones would time an import that scrubs
                    # no number: not the import offices run.
                    raise SystemExit(
                        "the data set's phones do not decrypt with the keys of WENXU_DATA_DIR: "
                        "set it to the data folder the data set was generated with"
                    )
                written += 1
                out.writerow(
                    [
                        f"B4-{written:07d}",
                        at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
                        sources.get(source, ""),
                        areas[area],
                        name or "",
                        phone or "",
                        address or "",
                        categories.get(category, "") if category else "",
                        title,
                        text,
                        urgencies.get(urgency, ""),
                        unit or "",
                        statuses.get(status, ""),
                    ]
                )
            if written == 0:
                raise SystemExit("the data set has no needs: generate it first")


def import_child(url: str, path: Path) -> None:
    """`wenxu import_ledger` in this process, timed; prints its figures as JSON."""
    django_setup(url)
    from django.core.management import call_command

    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS, for the import's own peak
    base_kb = _status_kb("VmRSS")
    out = io.StringIO()
    started = time.perf_counter()
    call_command("import_ledger", str(path), user=USERNAME, stdout=out)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "output": out.getvalue().strip(),
                "peak_mb": peak_rss_mb(),
                "own_peak_mb": (_status_kb("VmHWM") - base_kb) / 1024,
                "base_mb": base_kb / 1024,
            },
            ensure_ascii=False,
        )
    )


def child(*args: str) -> str:
    # A fresh interpreter from this small parent (which never sets Django up before it): Linux
    # carries ru_maxrss across fork and exec, so the child's peak is its own.
    command = [sys.executable, __file__, *args]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def copy_baseline(url: str, repeat: int = 2) -> tuple[list[float], dict[str, int]]:
    """COPY of the rows the latest import wrote into look-alike tables; seconds of each run."""
    import psycopg

    with psycopg.connect(url) as conn:
        batch = conn.execute(
            "SELECT id FROM needs_ledgerimportbatch WHERE state = 'committed' "
            "ORDER BY committed_at DESC LIMIT 1"
        ).fetchone()
        assert batch is not None, "no committed import"
        needs = f"SELECT need_id FROM needs_ledgerimportrow WHERE batch_id = '{batch[0]}'"
        data: dict[str, bytes] = {}
        counts: dict[str, int] = {}
        for table, where in COPIED.items():
            buffer = io.BytesIO()
            with conn.cursor().copy(
                f"COPY (SELECT * FROM {table} WHERE {where.format(needs=needs)}) TO STDOUT"
            ) as copy:
                for block in copy:
                    buffer.write(block)
            data[table] = buffer.getvalue()
            counts[table] = data[table].count(b"\n")
            conn.execute(f"DROP TABLE IF EXISTS bench_{table}")
            conn.execute(f"CREATE TABLE bench_{table} (LIKE {table} INCLUDING ALL)")
        conn.commit()
        seconds = []
        for _ in range(repeat):
            for table in COPIED:
                conn.execute(f"TRUNCATE bench_{table}")
            conn.commit()
            started = time.perf_counter()
            with conn.transaction():
                for table in COPIED:
                    with conn.cursor().copy(f"COPY bench_{table} FROM STDIN") as copy:
                        copy.write(data[table])
            seconds.append(time.perf_counter() - started)
        for table in COPIED:
            conn.execute(f"DROP TABLE bench_{table}")
        conn.commit()
    return seconds, counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the ledger file")
    parser.add_argument("--child", choices=["csv", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.database_url or database_url(args.tier)
    if args.child == "csv":
        write_csv(url, Path(args.file), args.rows)
        return 0
    if args.child == "import":
        import_child(url, Path(args.file))
        return 0

    with scratch_copy(url, "b4") as copy, tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "台账.csv"
        started = time.perf_counter()
        child(
            "--child", "csv", "--database-url", copy, "--file", str(path), "--rows", str(args.rows)
        )
        size = path.stat().st_size
        print(
            f"ledger file: {args.rows} rows, {size / 1e6:.1f} MB "
            f"(made in {time.perf_counter() - started:.0f} s)",
            flush=True,
        )
        result = json.loads(
            child("--child", "import", "--database-url", copy, "--file", str(path)).splitlines()[-1]
        )
        print(
            f"import: {result['seconds']:.1f} s ({args.rows / result['seconds']:.0f} rows/s), "
            f"peak {result['peak_mb']:.0f} MB (own +{result['own_peak_mb']:.0f} MB); "
            f"{result['output']}",
            flush=True,
        )
        copies, counts = copy_baseline(copy)
        copy_seconds = sum(copies) / len(copies)
        print(
            f"COPY of {counts}: " + " and ".join(f"{s:.2f} s" for s in copies),
            flush=True,
        )
        django_setup(copy)  # for the machine description only, after the children ran
        return finish(
            Outcome(
                scenario="B4",
                tier=args.tier,
                ratio=Check(
                    "copy_over_import", copy_seconds / result["seconds"], ">=", TARGET_RATIO
                ),
                checks=[Check("import_peak", result["peak_mb"], "<=", TARGET_PEAK_MB, "MB")],
                details={
                    "rows": args.rows,
                    "file": "csv",
                    "file_mb": size / 1e6,
                    "import_seconds": result["seconds"],
                    "import_rows_per_second": args.rows / result["seconds"],
                    "import_peak_mb": result["peak_mb"],
                    "import_own_peak_mb": result["own_peak_mb"],
                    "import_output": result["output"],
                    "copy_seconds": copies,
                    "copied_rows": counts,
                },
            )
        )


if __name__ == "__main__":
    raise SystemExit(main())
