"""HTTP load for B1 and B9: a scratch copy of the data set, a real `wenxu serve` (gunicorn) on
it, and N client connections, each a thread with its own keep-alive connection.

The clients run in this process (threads over http.client: they wait on sockets, the GIL is
free meanwhile) and take CPU from the same 2 cores as the server; the baselines run under the
same load generator, so the ratios hold.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from common import ROOT

WENXU = str(ROOT / ".venv" / "bin" / "wenxu")


@contextlib.contextmanager
def scratch_copy(url: str, suffix: str) -> Iterator[str]:
    """A copy of the data set's database (CREATE DATABASE … TEMPLATE), dropped afterwards:
    the benchmark's writes never change the data set the other scenarios read."""
    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    copy = f"{name}_{suffix}"
    server = parts._replace(path="/postgres").geturl()

    def psql(sql: str) -> None:
        subprocess.run(["psql", "-X", "-q", "-d", server, "-c", sql], check=True)

    psql(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')
    psql(f'CREATE DATABASE "{copy}" TEMPLATE "{name}" STRATEGY FILE_COPY')
    try:
        yield parts._replace(path=f"/{copy}").geturl()
    finally:
        psql(f'DROP DATABASE IF EXISTS "{copy}" WITH (FORCE)')


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def server(url: str, *, workers: int, threads: int = 4) -> Iterator[int]:
    """`wenxu serve --no-worker --no-migrate` on `url`; yields its port."""
    port = _free_port()
    env = {
        **os.environ,
        "WENXU_DATABASE_URL": url,
        # The data set's keys (personal data is encrypted): the data directory this process
        # uses (bench/common.py's django_setup), else the server could not read the requesters.
        "WENXU_DATA_DIR": os.environ.get("WENXU_DATA_DIR", str(ROOT / "var" / "bench")),
        "WENXU_LOG_LEVEL": "WARNING",
        "WENXU_WEB_THREADS": str(threads),
    }
    log = open(ROOT / "var" / "bench" / f"serve-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [
            WENXU,
            "serve",
            "--no-worker",
            "--no-migrate",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                conn.request("GET", "/healthz")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"wenxu serve did not start; see {log.name}")
            time.sleep(0.5)
        yield port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


@dataclass
class Request:
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    label: str = ""
    ok: tuple[int, ...] = (200,)


@dataclass
class Sample:
    label: str
    seconds: float
    status: int
    ok: bool


@dataclass
class LoadResult:
    samples: list[Sample]
    seconds: float

    @property
    def throughput(self) -> float:
        return len(self.samples) / self.seconds

    def latencies(self, label: str | None = None) -> list[float]:
        return [s.seconds for s in self.samples if label is None or s.label == label]

    @property
    def errors(self) -> list[Sample]:
        return [s for s in self.samples if not s.ok]


def run_load(
    port: int,
    next_request: Callable[[int, int], Request],
    *,
    connections: int,
    per_connection: int,
    rate: float | None = None,
) -> LoadResult:
    """Each of `connections` threads sends `per_connection` requests over one keep-alive
    connection; next_request(client, i) makes the i-th request of a client.

    Without `rate` the clients send back to back (a closed loop: the server's capacity). With
    `rate` (requests a second, all clients together) each request has its moment on a fixed
    schedule and its latency counts from that moment, so a server that falls behind is charged
    for the wait too (no coordinated omission).
    """
    samples: list[list[Sample]] = [[] for _ in range(connections)]
    start = threading.Barrier(connections + 1)
    began = [0.0]

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        for i in range(per_connection):
            req = next_request(c, i)
            if rate:
                due = began[0] + (i * connections + c) / rate
                pause = due - time.perf_counter()
                if pause > 0:
                    time.sleep(pause)
                t0 = due
            else:
                t0 = time.perf_counter()
            status = 0
            sent = time.perf_counter()
            # A keep-alive connection the server closed while idle (gunicorn closes them after a
            # few seconds) fails at once: open a new one and send again, as browsers do.
            for attempt in range(2):
                try:
                    conn.request(req.method, req.path, body=req.body, headers=req.headers)
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                    if response.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
                    if attempt or time.perf_counter() - sent > 1:
                        break  # not a stale connection: an error
            samples[c].append(Sample(req.label, time.perf_counter() - t0, status, status in req.ok))
        conn.close()

    threads = [threading.Thread(target=client, args=(c,), daemon=True) for c in range(connections)]
    for t in threads:
        t.start()
    began[0] = t0 = time.perf_counter() + 0.05
    start.wait()
    for t in threads:
        t.join()
    return LoadResult([s for per in samples for s in per], time.perf_counter() - t0)


def json_request(
    method: str, path: str, payload: object | None, token: str, label: str, ok: tuple[int, ...]
) -> Request:
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    body = None
    if payload is not None:
        body = json.dumps(payload, ensure_ascii=False).encode()
        headers["Content-Type"] = "application/json"
    return Request(method, path, body, headers, label, ok)
