"""What every benchmark in bench/ shares: the tiers, the data set, the machine description, the
checks and the final line.

Each scenario measures its own baseline in the same run and judges the ratio, so the verdict
holds on a noisy 2-core machine: both sides see the same noise. A scenario ends with

    B<n> ratio=<x> target=<op><y> PASS|FAIL

after one line per further check (`B<n> check <name>=<value> target=<op><y> PASS|FAIL`); the
final verdict is PASS only when every check passed. The whole result, with the machine, goes to
bench/results/B<n>-<tier>.json.

The data set of a tier is generated once (`wenxu generate --needs N --seed S`) into its own
PostgreSQL database and marked with a comment on the database, so later runs reuse it and a
different generator version or seed builds it again.
"""

from __future__ import annotations

import contextlib
import json
import operator
import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SEED = 20261129

# The tiers: how many needs the data set holds. `make bench` runs "100k", `make bench-1m` "1m".
TIERS = {"10k": 10_000, "100k": 100_000, "1m": 1_000_000}
DEFAULT_SERVER = os.environ.get("WENXU_BENCH_SERVER", "postgres://postgres@127.0.0.1:5432")

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


@dataclass
class Check:
    name: str
    value: float
    op: str
    target: float
    unit: str = ""

    @property
    def passed(self) -> bool:
        return _OPS[self.op](self.value, self.target)


@dataclass
class Outcome:
    scenario: str
    tier: str
    ratio: Check
    checks: list[Check] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.ratio.passed and all(c.passed for c in self.checks)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def _fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.3g}"


def finish(outcome: Outcome) -> int:
    """Print the check lines and the final line, write the JSON, return the exit code."""
    n = outcome.scenario
    for c in outcome.checks:
        print(
            f"{n} check {c.name}={_fmt(c.value)}{c.unit} target={c.op}{_fmt(c.target)}{c.unit} "
            f"{verdict(c.passed)}"
        )
    r = outcome.ratio
    line = f"{n} ratio={_fmt(r.value)} target={r.op}{_fmt(r.target)} {verdict(outcome.passed)}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "scenario": n,
        "tier": outcome.tier,
        "line": line,
        "passed": outcome.passed,
        "ratio": asdict(r) | {"passed": r.passed},
        "checks": [asdict(c) | {"passed": c.passed} for c in outcome.checks],
        "details": outcome.details,
        "machine": machine(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    path = RESULTS / f"{n}-{outcome.tier}.json"
    path.write_text(json.dumps(result, ensure_ascii=False, indent=2, default=str) + "\n")
    sys.stdout.flush()
    print(line, flush=True)
    return 0 if outcome.passed else 1


def percentile(values: Iterable[float], p: float) -> float:
    """The p-th percentile (0–100) by linear interpolation, like numpy's default."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory in MB (ru_maxrss is in KiB on Linux)."""
    return resource.getrusage(who).ru_maxrss / 1024


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": os.cpu_count(),
    }
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        found = re.search(r"model name\s*:\s*(.+)", cpuinfo)
        info["cpu"] = found.group(1).strip() if found else platform.processor()
        meminfo = Path("/proc/meminfo").read_text()
        total = re.search(r"MemTotal:\s*(\d+)", meminfo)
        info["memory_gib"] = round(int(total.group(1)) / 2**20, 1) if total else None
        info["load_average"] = os.getloadavg()
    except OSError:
        pass
    with contextlib.suppress(OSError):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
    try:
        from django.db import connection

        info["database"] = connection.vendor
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SHOW server_version")
                info["database"] = f"PostgreSQL {cursor.fetchone()[0]}"
    except Exception:  # noqa: S110 - Django not set up: the machine alone is still worth it
        pass
    return info


def database_url(tier: str) -> str:
    """The tier's own database (WENXU_BENCH_DATABASE_URL overrides it)."""
    return os.environ.get("WENXU_BENCH_DATABASE_URL") or f"{DEFAULT_SERVER}/wenxu_bench_{tier}"


def django_setup(url: str, **env: str) -> None:
    """Set Django up on `url` in this process (a benchmark's own process)."""
    os.environ["WENXU_DATABASE_URL"] = url
    os.environ.setdefault("WENXU_DATA_DIR", str(ROOT / "var" / "bench"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wenxu.settings")
    os.environ.setdefault("WENXU_LOG_LEVEL", "WARNING")
    os.environ.update(env)
    Path(os.environ["WENXU_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Seconds of each of `repeat` calls of fn."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def interleaved(
    a: Callable[[], Any], b: Callable[[], Any], repeat: int
) -> tuple[list[float], list[float]]:
    """Time a and b alternately, so that both see the same moments of a noisy machine."""
    ta: list[float] = []
    tb: list[float] = []
    for _ in range(repeat):
        ta += timed(a, 1)
        tb += timed(b, 1)
    return ta, tb


def tier_argument(parser: Any) -> None:
    parser.add_argument("--tier", choices=sorted(TIERS), default="100k")
    parser.add_argument(
        "--database-url",
        default=None,
        help="the data set's database (default: the tier's own, made by bench/run.py)",
    )
