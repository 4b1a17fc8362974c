"""Peak memory of a 台账 export of many needs (issue #6: 100,000 needs under 150 MB).

    .venv/bin/python bench/export_memory.py [--rows 100000] [--format xlsx|csv] [--data-dir DIR]

Without --data-dir it builds a throwaway SQLite database in a temporary folder (bulk_create:
areas, units, a dispatcher, N needs with requesters, half of them assigned, accepted and
replied with their events), then runs, each in a fresh subprocess so that nothing the setup
allocated counts: a baseline (Django set up, the export's queryset counted) and the export
itself to a temporary file. It prints the peak RSS of each (resource.getrusage, ru_maxrss) and
the export's extra memory over the baseline. Not part of the test suite.
"""

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 150
USERNAME = "bench_dispatcher"


def _django(data_dir: str) -> None:
    os.environ["WENXU_DATA_DIR"] = data_dir
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wenxu.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build(data_dir: str, rows: int) -> None:
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from datetime import timedelta

    from django.db import transaction

    from wenxu.accounts.models import Membership, User
    from wenxu.lib import clock
    from wenxu.needs.models import Category, Need, NeedEvent
    from wenxu.organisations.models import Area, Unit
    from wenxu.residents.models import Requester

    if User.objects.filter(username=USERNAME).exists():
        return
    county = Area.objects.create(name="基准县", level="county")
    grids = []
    for t in range(5):
        town = Area.objects.create(name=f"镇{t}", level="township", parent=county)
        for v in range(4):
            village = Area.objects.create(name=f"村{t}-{v}", level="village", parent=town)
            grids.append(Area.objects.create(name=f"网格{t}-{v}", level="grid", parent=village))
    units = [
        Unit.objects.create(name=f"单位{i}", short_name=f"单位{i}", kind="department")
        for i in range(5)
    ]
    category = Category.objects.create(name="基准分类")
    dispatcher = User.objects.create_user(username=USERNAME, password="x")  # noqa: S106
    Membership.objects.create(user=dispatcher, role="dispatcher", area=county)
    handler = User.objects.create_user(username="bench_handler", password="x")  # noqa: S106
    handler.display_name = "承办人"
    handler.save(update_fields=["display_name"])

    now = clock.now()
    batch = 5000
    started = time.monotonic()
    for first in range(0, rows, batch):
        with transaction.atomic():
            count = min(batch, rows - first)
            requesters = Requester.objects.bulk_create(
                [
                    Requester(name="张三丰", phone="13812345678", address=f"东河村{i % 9}组{i}号")
                    for i in range(first, first + count)
                ]
            )
            needs = []
            for offset, requester in enumerate(requesters):
                i = first + offset
                replied = i % 2 == 0
                at = now - timedelta(days=30, minutes=i)
                needs.append(
                    Need(
                        number=f"WX-2026-{i + 1:06d}",
                        tracking_code=f"B{i:010d}",
                        title=f"诉求{i}：村口路灯不亮",
                        description="东河村村口三盏路灯坏了一个多月，晚上出行不便。" * 3,
                        category=category,
                        kind="help",
                        source="visit",
                        area=grids[i % len(grids)],
                        requester=requester,
                        status="replied" if replied else "registered",
                        registered_at=at,
                        lead_unit=units[i % len(units)] if replied else None,
                        assigned_at=at + timedelta(hours=1) if replied else None,
                        resolve_due=at + timedelta(days=7) if replied else None,
                        original_resolve_due=at + timedelta(days=7) if replied else None,
                        responded_at=at + timedelta(hours=2) if replied else None,
                        replied_at=at + timedelta(days=2) if replied else None,
                        outcome="resolved" if replied else "",
                        reply_text="已更换路灯，恢复照明。" if replied else "",
                    )
                )
            needs = Need.objects.bulk_create(needs)
            events = []
            for need in needs:
                events.append(
                    NeedEvent(
                        need=need,
                        seq=1,
                        action="register",
                        to_status="registered",
                        created_at=need.registered_at,
                    )
                )
                if need.status == "replied":
                    events += [
                        NeedEvent(
                            need=need,
                            seq=2,
                            action="assign",
                            from_status="registered",
                            to_status="assigned",
                            created_at=need.assigned_at or need.registered_at,
                        ),
                        NeedEvent(
                            need=need,
                            seq=3,
                            action="accept",
                            actor=handler,
                            from_status="assigned",
                            to_status="in_progress",
                            created_at=need.responded_at or need.registered_at,
                        ),
                        NeedEvent(
                            need=need,
                            seq=4,
                            action="reply",
                            actor=handler,
                            from_status="in_progress",
                            to_status="replied",
                            created_at=need.replied_at or need.registered_at,
                        ),
                    ]
            NeedEvent.objects.bulk_create(events)
    print(f"built {rows} needs in {time.monotonic() - started:.0f} s", file=sys.stderr)


def child(mode: str, fmt: str) -> None:
    from wenxu.accounts.models import User
    from wenxu.exchange import services

    user = User.objects.get(username=USERNAME)
    started = time.monotonic()
    prepared = services.export_prepare(user=user, data={}, columns=None, format=fmt)
    written = 0
    if mode == "export":
        with tempfile.TemporaryFile() as target:
            services.export_write(prepared, target)
            written = target.tell()
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(f"{peak_kb} {prepared.count} {written} {time.monotonic() - started:.1f}")


def run_child(data_dir: str, mode: str, fmt: str, rows: int = 0) -> tuple[float, int, int, float]:
    # Linux keeps ru_maxrss across fork and exec: every child starts from this small parent
    # (which never sets Django up), never from the process that built the data.
    command = [sys.executable, __file__, "--child", mode, "--format", fmt, "--data-dir", data_dir]
    out = subprocess.run(  # noqa: S603 - our own script
        [*command, "--rows", str(rows)], check=True, capture_output=True, text=True
    ).stdout.split()
    if mode == "build":
        return 0.0, 0, 0, 0.0
    return int(out[0]) / 1024, int(out[1]), int(out[2]), float(out[3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--format", choices=["xlsx", "csv"], default="xlsx")
    parser.add_argument("--data-dir")
    parser.add_argument("--child", choices=["build", "baseline", "export"])
    args = parser.parse_args()
    if args.child:
        _django(args.data_dir)
        if args.child == "build":
            build(args.data_dir, args.rows)
        else:
            child(args.child, args.format)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.data_dir or scratch
        run_child(data_dir, "build", args.format, args.rows)
        base_mb, _, _, _ = run_child(data_dir, "baseline", args.format)
        peak_mb, count, size, seconds = run_child(data_dir, "export", args.format)
    print(
        f"{args.format}: {count} needs, file {size / 1e6:.1f} MB in {seconds:.0f} s; "
        f"peak RSS {peak_mb:.0f} MB (baseline {base_mb:.0f} MB, "
        f"export +{peak_mb - base_mb:.0f} MB, "
        f"ratio {peak_mb / base_mb:.2f}); limit {LIMIT_MB} MB: "
        + ("OK" if peak_mb < LIMIT_MB else "OVER")
    )
    return 0 if peak_mb < LIMIT_MB else 1


if __name__ == "__main__":
    sys.exit(main())
