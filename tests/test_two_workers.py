"""Several `wenxu worker` processes never run the same job twice, and a job whose worker is
killed mid-run is run again by another (issue #10; wenxu/core/management/commands/worker.py).

Two real worker processes, with production settings (so the django-tasks-db queue, not the
test suite's immediate backend), work on this test's PostgreSQL database. Each job appends a
line to a file with its worker's process id.
"""

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection, transaction
from django.test import override_settings
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from wenxu.core.management.commands.worker import (
    LOCK_NAMESPACE,
    Liveness,
    new_worker_id,
    recover_orphaned_tasks,
)
from wenxu.core.tests.worker_tasks import held_run, record_run

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="several workers at once is the PostgreSQL deployment (SKIP LOCKED claiming); "
    "SQLite runs one worker",
)

QUEUE = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
JOBS = 200
WAIT = 120  # seconds at most for any step; a step normally takes a few


def _database_url() -> str:
    db = connection.settings_dict
    password = f":{quote(db['PASSWORD'], safe='')}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{quote(db['USER'], safe='')}{password}@{host}:{port}/{db['NAME']}"


def _wait_for(what: str, done: Callable[[], bool], workers: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        for worker in workers:
            assert worker.poll() is None or worker.returncode == -signal.SIGKILL, (
                f"a worker stopped (exit {worker.returncode}) while waiting for {what}"
            )
        assert time.monotonic() < deadline, f"gave up after {WAIT} s waiting for {what}"
        time.sleep(0.1)


def _workers_holding_their_lock() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND classid = %s::oid "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            [LOCK_NAMESPACE],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


@pytest.fixture
def workers(tmp_path) -> Iterator[list[subprocess.Popen[bytes]]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    env.update(
        DJANGO_SETTINGS_MODULE="wenxu.settings",  # not the test settings (immediate tasks)
        WENXU_DATA_DIR=str(tmp_path / "data"),
        WENXU_DATABASE_URL=_database_url(),
        WENXU_DB_CONN_MAX_AGE="0",
        WENXU_LOG_LEVEL="WARNING",
    )
    command = [sys.executable, "-m", "wenxu", "worker", "--no-sweep", "--interval", "0.05"]
    command += ["--recover-every", "0.5"]
    started: list[subprocess.Popen[bytes]] = []
    try:
        for number in range(2):
            log = (tmp_path / f"worker{number}.log").open("wb")
            worker = subprocess.Popen(command, env=env, stdout=log, stderr=log)  # noqa: S603
            started.append(worker)
        # Each worker takes its advisory lock before it looks at the queue.
        _wait_for("both workers to start", lambda: _workers_holding_their_lock() == 2, started)
        yield started
    finally:
        for worker in started:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in started:
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()


def _lines(path: Path) -> list[list[str]]:
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_workers_run_every_job_exactly_once_and_recover_a_killed_ones_job(tmp_path, workers):
    runs = tmp_path / "runs.txt"

    # Given 200 jobs queued at once (one commit) for two running workers,
    with override_settings(TASKS=QUEUE), transaction.atomic():
        for job in range(JOBS):
            record_run.enqueue(str(runs), job)

    # when they have all been run,
    def all_finished() -> bool:
        return DBTaskResult.objects.filter(status="SUCCESSFUL").count() == JOBS

    _wait_for("the 200 jobs", all_finished, workers)

    # then each ran exactly once, and both workers took some.
    lines = _lines(runs)
    assert Counter(int(job) for _ran, job, _pid in lines) == Counter(range(JOBS))
    by_worker = Counter(pid for _ran, _job, pid in lines)
    assert set(by_worker) == {str(w.pid) for w in workers}, by_worker
    assert all(len(ids) == 1 for ids in DBTaskResult.objects.values_list("worker_ids", flat=True))

    # Given a job that is running, when its worker is killed (SIGKILL: no clean-up at all),
    held = tmp_path / "held.txt"
    release = tmp_path / "release"
    with override_settings(TASKS=QUEUE):
        result = held_run.enqueue(str(held), 1, str(release))
    _wait_for("the held job to start", lambda: len(_lines(held)) == 1, workers)
    ((_start, _job, first_pid),) = _lines(held)
    victim = next(w for w in workers if str(w.pid) == first_pid)
    survivor = next(w for w in workers if w is not victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=30)

    # then the other worker finds it left running by a dead worker and runs it again.
    _wait_for("the held job to start again", lambda: len(_lines(held)) == 2, workers)
    release.touch()

    def held_finished() -> bool:
        return DBTaskResult.objects.filter(pk=result.id, status="SUCCESSFUL").exists()

    _wait_for("the held job to finish", held_finished, [survivor])
    assert _lines(held) == [
        ["start", "1", first_pid],
        ["start", "1", str(survivor.pid)],
        ["end", "1", str(survivor.pid)],
    ]
    worker_ids = DBTaskResult.objects.get(pk=result.id).worker_ids
    assert len(worker_ids) == 2
    assert worker_ids[0].split(":")[1] == first_pid
    assert worker_ids[1].split(":")[1] == str(survivor.pid)
    assert survivor.poll() is None


def _running(worker_id: str) -> DBTaskResult[..., int]:
    return DBTaskResult.objects.create(
        status="RUNNING",
        args_kwargs={"args": ["/dev/null", 1], "kwargs": {}},
        task_path="wenxu.core.tests.worker_tasks.record_run",
        backend_name="default",
        run_after=timezone.now(),
        started_at=timezone.now(),
        worker_ids=[worker_id],
    )


@pytest.mark.django_db
def test_only_jobs_of_stopped_workers_are_queued_again():
    # A worker process that has stopped, on this machine, and one still running.
    gone = _running(f"{socket.gethostname()[:40]}:{_stopped_pid()}:0badcafe")
    other = Liveness(new_worker_id())  # holds its lock (PostgreSQL), or is this process
    me = Liveness(new_worker_id())
    try:
        alive = _running(other.worker_id)
        mine = _running(me.worker_id)
        elsewhere = _running("another-host:1234:abcdef01")
        bare = _running("Zq3d9Xc0PqLm5Vb7Nn2Rr8Tt1Yy4Uu6W")  # a plain db_worker's id

        recovered = recover_orphaned_tasks(alive=me.alive)
    finally:
        other.close()
        me.close()

    statuses = dict(DBTaskResult.objects.values_list("pk", "status"))
    assert statuses[gone.pk] == "READY"
    assert statuses[alive.pk] == statuses[mine.pk] == statuses[bare.pk] == "RUNNING"
    # Another machine's worker: on PostgreSQL its free lock says it stopped; SQLite cannot tell.
    assert statuses[elsewhere.pk] == ("READY" if connection.vendor == "postgresql" else "RUNNING")
    assert recovered == (2 if connection.vendor == "postgresql" else 1)
    assert DBTaskResult.objects.get(pk=gone.pk).started_at is None


def _stopped_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
