"""The one clock the domain reads, so that demo data and imports can record the past honestly.

Services call `clock.now()` instead of `timezone.now()`. `clock.travel(at)` moves it for the
current context only (thread / task), never globally.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta

from django.utils import timezone

_offset: ContextVar[timedelta | None] = ContextVar("wenxu_clock_offset", default=None)


def now() -> datetime:
    offset = _offset.get()
    current = timezone.now()
    return current if offset is None else current + offset


def today() -> date:
    """Today's date in the site's time zone (Asia/Shanghai)."""
    return timezone.localdate(now())


@contextmanager
def travel(at: datetime) -> Iterator[None]:
    if timezone.is_naive(at):
        raise ValueError("clock.travel needs an aware datetime")
    token = _offset.set(at - timezone.now())
    try:
        yield
    finally:
        _offset.reset(token)
