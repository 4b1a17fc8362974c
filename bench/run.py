"""Run the benchmarks of a tier: `make bench` (100 k needs) and `make bench-1m` (1 M).

    .venv/bin/python bench/run.py [--tier 100k] [--only B2,B3] [--regenerate]

Builds the tier's data set once (its own PostgreSQL database, see bench/common.py), then runs
each scenario in a process of its own (so that its peak memory is its own), prints its output
as it comes and, at the end, the nine final lines again. Exit status 0 only when all nine ran
and passed.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, SEED, TIERS, database_url

SCENARIOS = {
    "B1": "b1_intake.py",
    "B2": "b2_ledger.py",
    "B3": "b3_dashboard.py",
    "B4": "b4_import.py",
    "B5": "b5_export.py",
    "B6": "b6_routing.py",
    "B7": "b7_similar.py",
    "B8": "b8_hot_topics.py",
    "B9": "b9_mixed_load.py",
}
WENXU = str(ROOT / ".venv" / "bin" / "wenxu")


def _fingerprint() -> str:
    """What the data set depends on: the generator's code and the schema's migrations."""
    digest = hashlib.sha256()
    generator = ROOT / "wenxu" / "core" / "generate"
    for path in sorted(generator.rglob("*.py")):
        digest.update(path.read_bytes())
    # The migrations' text, not only their names: a migration edited before it lands (its
    # triggers, its indexes) must not leave a data set built with the old one.
    for path in sorted((ROOT / "wenxu").glob("*/migrations/0*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _psql(server: str, sql: str) -> str:
    out = subprocess.run(
        ["psql", "-X", "-qAt", "-d", server, "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def ensure_dataset(tier: str, *, regenerate: bool) -> str:
    url = database_url(tier)
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    server = parts._replace(path="/postgres").geturl()
    marker = f"wenxu generate needs={TIERS[tier]} seed={SEED} fingerprint={_fingerprint()}"
    current = _psql(
        server,
        f"SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{name}'",
    )
    if current == marker and not regenerate:
        print(f"data set: {name} ({marker})", flush=True)
        return url
    print(f"data set: building {name}: {marker}", flush=True)
    _psql(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _psql(server, f'CREATE DATABASE "{name}"')
    env = {**os.environ, "WENXU_DATABASE_URL": url, "WENXU_DATA_DIR": str(ROOT / "var" / "bench")}
    Path(env["WENXU_DATA_DIR"]).mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    subprocess.run([WENXU, "migrate", "--verbosity", "0"], env=env, check=True)
    subprocess.run(
        [WENXU, "generate", "--needs", str(TIERS[tier]), "--seed", str(SEED)], env=env, check=True
    )
    _psql(server, f"COMMENT ON DATABASE \"{name}\" IS '{marker}'")
    print(f"data set: built in {time.monotonic() - started:.0f} s", flush=True)
    return url


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", choices=sorted(TIERS), default="100k")
    parser.add_argument("--only", default="", help="comma-separated scenarios, e.g. B2,B3")
    parser.add_argument("--regenerate", action="store_true", help="build the data set again")
    args = parser.parse_args()
    chosen = [s.strip().upper() for s in args.only.split(",") if s.strip()] or list(SCENARIOS)
    unknown = [s for s in chosen if s not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(unknown)}")

    started = time.monotonic()
    url = ensure_dataset(args.tier, regenerate=args.regenerate)
    finals: dict[str, str] = {}
    for name in chosen:
        script = ROOT / "bench" / SCENARIOS[name]
        print(f"\n=== {name} ({script.name}, {time.monotonic() - started:.0f} s)", flush=True)
        if not script.exists():
            finals[name] = f"{name} missing FAIL"
            print(finals[name], flush=True)
            continue
        process = subprocess.Popen(
            [sys.executable, str(script), "--tier", args.tier, "--database-url", url],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert process.stdout is not None
        last = ""
        for line in process.stdout:
            print(line, end="", flush=True)
            if line.startswith(f"{name} ratio="):
                last = line.strip()
        code = process.wait()
        finals[name] = last or f"{name} no-result FAIL (exit {code})"
    print(f"\n=== summary ({args.tier}, {time.monotonic() - started:.0f} s)")
    for name in chosen:
        print(finals[name])
    ok = len(finals) == len(chosen) and all(line.endswith(" PASS") for line in finals.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
