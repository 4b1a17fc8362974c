"""B9: mixed staff load (70 % ledger pages, 20 % need pages, 10 % actions; 64 connections)
against a trivial JSON endpoint on the same server.

    .venv/bin/python bench/b9_mixed_load.py [--tier 100k] [--requests 3200] [--threads 4]

On a scratch copy of the data set, `wenxu serve` (gunicorn) serves 64 client connections, each
signed in through the login page as a unit's handler (`gen_handler_…`, the clients share them
round-robin). A client's requests, in a fixed random order: 70 % the ledger (台账) pages the
handler opens — all of the unit's needs newest first, the open ones by deadline, the overdue
ones, a keyword search — 20 % a need's page, 10 % an action (办理进展: a progress note posted
through the page's form, CSRF token and version included, on needs no other client touches).
The baseline is /healthz (a JSON answer after one `SELECT 1`) under the same 64 connections.

Targets (issue #10): mixed throughput ≥ 0.2 × the trivial endpoint's; p99 ≤ 100 ms; zero errors.
Both throughputs are closed loops (the server's capacity). The p99 is taken at half the mixed
capacity, paced over the 64 connections: at saturation a closed loop's latency is only its
queue (64 clients / throughput).
"""

from __future__ import annotations

import argparse
import http.client
import random
import re
import sys
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

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
from load import Request, run_load, scratch_copy, server

CONNECTIONS = 64
TARGET_RATIO = 0.2
TARGET_P99_MS = 100.0
PASSWORD = "wenxu-bench-1"  # wenxu generate's default


def _cookies(response: http.client.HTTPResponse) -> dict[str, str]:
    jar: dict[str, str] = {}
    for header in response.headers.get_all("Set-Cookie") or []:
        parsed: SimpleCookie = SimpleCookie()
        parsed.load(header)
        jar.update({k: m.value for k, m in parsed.items()})
    return jar


def _login(port: int, username: str) -> dict[str, str]:
    """Sign in through the login page as a browser would; the session and CSRF cookies."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    conn.request("GET", "/accounts/login/")
    response = conn.getresponse()
    html = response.read().decode()
    jar = _cookies(response)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token, "no CSRF token on the login page"
    body = urlencode(
        {"csrfmiddlewaretoken": token.group(1), "username": username, "password": PASSWORD}
    )
    conn.request(
        "POST",
        "/accounts/login/",
        body=body,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items()),
            "Referer": f"http://127.0.0.1:{port}/accounts/login/",
        },
    )
    response = conn.getresponse()
    response.read()
    jar.update(_cookies(response))
    conn.close()
    if response.status != 302 or "sessionid" not in jar:
        raise RuntimeError(f"login as {username} failed: {response.status}")
    return jar


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    tier_argument(parser)
    parser.add_argument("--requests", type=int, default=3200)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()
    source = args.database_url or database_url(args.tier)

    with scratch_copy(source, "b9") as url:
        django_setup(url)
        from django.db import connection

        from wenxu.accounts.models import User
        from wenxu.needs.models import Need

        handlers = list(User.objects.filter(username__startswith="gen_handler_").order_by("id"))
        assert handlers, "no handlers: generate the data set first"
        units = {
            h.pk: h.memberships.filter(role="handler").values_list("unit_id", flat=True).first()
            for h in handlers
        }
        # Each client: a handler, the unit's needs to open, and needs of its own to act on.
        client_handler = [handlers[c % len(handlers)] for c in range(CONNECTIONS)]
        numbers: dict[int, list[str]] = {}
        workable: dict[int, list[tuple[str, int]]] = {}
        for h in {h.pk: h for h in client_handler}.values():
            unit = units[h.pk]
            numbers[h.pk] = list(
                Need.objects.filter(lead_unit_id=unit)
                .order_by("-id")
                .values_list("number", flat=True)[:400]
            )
            workable[h.pk] = list(
                Need.objects.filter(lead_unit_id=unit, status="in_progress")
                .order_by("id")
                .values_list("number", "version")
            )
        mine: list[list[tuple[str, int]]] = []
        for c, h in enumerate(client_handler):
            sharing = [i for i in range(CONNECTIONS) if client_handler[i].pk == h.pk]
            mine.append(workable[h.pk][sharing.index(c) :: len(sharing)])
        words = list(Need.objects.order_by("id").values_list("title", flat=True)[:200])
        connection.close()

        rng = random.Random(9)
        with server(url, workers=args.workers, threads=args.threads) as port:
            jars = [_login(port, h.username) for h in client_handler]
            versions = [dict(m) for m in mine]

            def cookie(c: int) -> str:
                return "; ".join(f"{k}={v}" for k, v in jars[c].items())

            def page(c: int, path: str, label: str) -> Request:
                return Request("GET", path, None, {"Cookie": cookie(c)}, label, (200,))

            def mixed(c: int, i: int) -> Request:
                h = client_handler[c].pk
                roll = rng.random()
                if roll < 0.1 and versions[c]:
                    number = rng.choice(list(versions[c]))
                    version = versions[c][number]
                    versions[c][number] = version + 1  # the post below succeeds or is an error
                    body = urlencode(
                        {
                            "csrfmiddlewaretoken": jars[c]["csrftoken"],
                            "version": version,
                            "note": f"已联系相关人员，正在处理（第 {i} 次跟进）。",
                        }
                    )
                    return Request(
                        "POST",
                        f"/needs/{number}/progress/",
                        body.encode(),
                        {
                            "Cookie": cookie(c),
                            "Content-Type": "application/x-www-form-urlencoded",
                            "Referer": f"http://127.0.0.1:{port}/needs/{number}/",
                        },
                        "action",
                        (302,),
                    )
                if roll < 0.3 and numbers[h]:
                    return page(c, f"/needs/{rng.choice(numbers[h])}/", "detail")
                choice = rng.random()
                if choice < 0.4:
                    path = "/ledger/"
                elif choice < 0.7:
                    path = "/ledger/?status=in_progress&status=assigned&sort=deadline"
                elif choice < 0.9:
                    path = "/ledger/?overdue=1"
                else:
                    path = "/ledger/?" + urlencode({"q": rng.choice(words)[:4]})
                return page(c, path, "ledger")

            def trivial(c: int, i: int) -> Request:
                return Request("GET", "/healthz", None, {}, "trivial", (200,))

            per = max(1, args.requests // CONNECTIONS)
            run_load(port, mixed, connections=CONNECTIONS, per_connection=3)  # warm up
            run_load(port, trivial, connections=CONNECTIONS, per_connection=10)
            base = run_load(port, trivial, connections=CONNECTIONS, per_connection=per * 2)
            load = run_load(port, mixed, connections=CONNECTIONS, per_connection=per)
            paced = run_load(
                port,
                mixed,
                connections=CONNECTIONS,
                per_connection=max(1, per // 2),
                rate=load.throughput / 2,
            )

    ratio = load.throughput / base.throughput
    latencies = paced.latencies()
    p99_ms = percentile(latencies, 99) * 1000
    errors = load.errors + paced.errors + base.errors
    statuses = sorted({(s.label, s.status) for s in errors})
    by_label = {
        label: percentile(paced.latencies(label), 99) * 1000
        for label in ("ledger", "detail", "action")
        if paced.latencies(label)
    }
    print(
        f"trivial: {base.throughput:.0f}/s; mixed: {load.throughput:.0f}/s (closed loop, p99 "
        f"{percentile(load.latencies(), 99) * 1000:.0f} ms); paced at "
        f"{load.throughput / 2:.0f}/s: p50 {percentile(latencies, 50) * 1000:.1f} ms, p99 "
        f"{p99_ms:.1f} ms ({', '.join(f'{k} {v:.0f}' for k, v in by_label.items())}); "
        f"errors {len(errors)} {statuses[:5]}"
    )
    return finish(
        Outcome(
            scenario="B9",
            tier=args.tier,
            ratio=Check("mixed_over_trivial", ratio, ">=", TARGET_RATIO),
            checks=[
                Check("p99", p99_ms, "<=", TARGET_P99_MS, "ms"),
                Check("errors", len(errors), "<=", 0),
            ],
            details={
                "trivial_per_second": base.throughput,
                "mixed_per_second": load.throughput,
                "paced_rate": load.throughput / 2,
                "p50_ms": percentile(latencies, 50) * 1000,
                "p99_ms": p99_ms,
                "p99_ms_by_kind": by_label,
                "connections": CONNECTIONS,
                "workers": args.workers,
                "error_statuses": [list(s) for s in statuses],
            },
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
