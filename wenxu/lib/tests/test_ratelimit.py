import hashlib
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.test import override_settings

from wenxu.core.models import RateCounter
from wenxu.lib import ratelimit

pytestmark = pytest.mark.django_db

# 10:00:05 Beijing time: well inside an hour-long window, so no test straddles a boundary.
MORNING = datetime(2026, 11, 30, 2, 0, 5, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_chance_sweeps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ratelimit, "SWEEP_ONE_IN", 10**9)


def test_hits_are_allowed_up_to_the_limit_then_refused() -> None:
    with time_machine.travel(MORNING, tick=False):
        answers = [ratelimit.hit("track", "10.0.0.1", limit=3, window=3600) for _ in range(5)]

    assert answers == [True, True, True, False, False]
    assert RateCounter.objects.get().hits == 5


def test_exceeded_looks_without_counting() -> None:
    with time_machine.travel(MORNING, tick=False):
        assert not ratelimit.exceeded("rate", "10.0.0.1", limit=2, window=600)
        ratelimit.hit("rate", "10.0.0.1", limit=2, window=600)
        assert not ratelimit.exceeded("rate", "10.0.0.1", limit=2, window=600)
        ratelimit.hit("rate", "10.0.0.1", limit=2, window=600)
        assert ratelimit.exceeded("rate", "10.0.0.1", limit=2, window=600)
        assert ratelimit.exceeded("rate", "10.0.0.1", limit=2, window=600)

    assert RateCounter.objects.get().hits == 2


def test_scopes_and_clients_are_counted_apart() -> None:
    with time_machine.travel(MORNING, tick=False):
        ratelimit.hit("track", "10.0.0.1", limit=1, window=3600)

        assert ratelimit.hit("track", "10.0.0.2", limit=1, window=3600)
        assert ratelimit.hit("submit", "10.0.0.1", limit=1, window=3600)
        assert not ratelimit.hit("track", "10.0.0.1", limit=1, window=3600)


def test_the_count_starts_afresh_in_the_next_window() -> None:
    with time_machine.travel(MORNING, tick=False) as traveller:
        for _ in range(2):
            ratelimit.hit("apiclient", "7", limit=2, window=60)
        assert not ratelimit.hit("apiclient", "7", limit=2, window=60)
        assert ratelimit.retry_after(window=60) == 55

        traveller.shift(timedelta(seconds=54))
        assert not ratelimit.hit("apiclient", "7", limit=2, window=60)
        assert ratelimit.exceeded("apiclient", "7", limit=2, window=60)

        traveller.shift(timedelta(seconds=1))
        assert ratelimit.retry_after(window=60) == 60
        assert not ratelimit.exceeded("apiclient", "7", limit=2, window=60)
        assert ratelimit.hit("apiclient", "7", limit=2, window=60)


def test_a_flood_of_other_keys_does_not_reset_a_count() -> None:
    # A cache that culls early, as the database cache does past MAX_ENTRIES: counts kept in
    # it were deleted by 300 lookups from other addresses.
    small = {
        "default": {
            "BACKEND": "django.core.cache.backends.db.DatabaseCache",
            "LOCATION": "wenxu_cache",
            "OPTIONS": {"MAX_ENTRIES": 10, "CULL_FREQUENCY": 2},
        }
    }
    with override_settings(CACHES=small), time_machine.travel(MORNING, tick=False):
        for _ in range(3):
            ratelimit.hit("track-code", "QS-2026-0001", limit=3, window=3600)
        for index in range(60):
            ratelimit.hit("track", f"10.1.{index}.1", limit=30, window=600)
            cache.set(f"other-{index}", index)

        assert ratelimit.exceeded("track-code", "QS-2026-0001", limit=3, window=3600)
        assert not ratelimit.hit("track-code", "QS-2026-0001", limit=3, window=3600)


def test_the_client_is_stored_only_as_a_keyed_digest() -> None:
    ratelimit.hit("submit-phone", "13912345678", limit=5, window=86400)

    stored = RateCounter.objects.get().key
    assert "13912345678" not in stored
    assert hashlib.sha256(b"13912345678").hexdigest()[:32] not in stored
    assert stored.startswith("rl:submit-phone:")


def test_sweep_deletes_ended_windows_only_and_a_batch_at_a_time() -> None:
    with time_machine.travel(MORNING, tick=False) as traveller:
        for index in range(5):
            ratelimit.hit("track", f"10.0.0.{index}", limit=30, window=600)
        ratelimit.hit("submit-all", "all", limit=300, window=3600)
        traveller.shift(timedelta(minutes=10))
        ratelimit.hit("track", "10.0.0.9", limit=30, window=600)

        assert ratelimit.sweep(batch=3) == 3
        assert ratelimit.sweep() == 2
        assert ratelimit.sweep() == 0

    left = RateCounter.objects.order_by("key").values_list("key", flat=True)
    assert [key.split(":")[1] for key in left] == ["submit-all", "track"]


def test_hits_now_and_then_delete_ended_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    with time_machine.travel(MORNING, tick=False) as traveller:
        ratelimit.hit("track", "10.0.0.1", limit=30, window=600)
        traveller.shift(timedelta(minutes=10))
        ratelimit.hit("track", "10.0.0.2", limit=30, window=600)
        assert RateCounter.objects.count() == 2

        monkeypatch.setattr(ratelimit, "SWEEP_ONE_IN", 1)
        ratelimit.hit("track", "10.0.0.3", limit=30, window=600)

    assert RateCounter.objects.count() == 2
    assert RateCounter.objects.filter(expires_at__lte=MORNING + timedelta(minutes=10)).count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_hits_allow_exactly_the_limit() -> None:
    """16 threads, each with its own connection, 320 attempts against a limit of 50."""
    barrier = threading.Barrier(16)
    answers: list[bool] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                answers.append(ratelimit.hit("track", "10.0.0.1", limit=50, window=3600))
        except BaseException as error:
            errors.append(error)
        finally:
            close_old_connections()
            connection.close()

    with time_machine.travel(MORNING, tick=False):
        threads = [threading.Thread(target=attempt) for _ in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert errors == []
    assert len(answers) == 320
    assert answers.count(True) == 50
    assert RateCounter.objects.get().hits == 320
