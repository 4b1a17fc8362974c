"""Tasks that tests/test_two_workers.py runs in real `wenxu worker` processes.

Each run appends one line to a file (one `write` on a file opened for appending, so lines of
two processes never interleave): the job, what happened and the worker's process id.
"""

import os
import time
from pathlib import Path

from django_tasks import task


def _line(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{text} {os.getpid()}\n".encode())
    finally:
        os.close(fd)


@task()
def record_run(path: str, job: int) -> int:
    time.sleep(0.02)  # long enough for both workers to take turns
    _line(path, f"ran {job}")
    return job


@task()
def held_run(path: str, job: int, release: str) -> int:
    """Starts, then waits (at most a minute) until the file `release` exists, then ends."""
    _line(path, f"start {job}")
    deadline = time.monotonic() + 60
    while not Path(release).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    _line(path, f"end {job}")
    return job
