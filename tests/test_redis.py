"""Redis as cache and rate-limit store (issue #10, ADR 0020), against a real Redis.

WENXU_TEST_REDIS_URL (default redis://127.0.0.1:6379/5) names the Redis to use. Without one the
tests skip, except in CI (CI=true), where they must run. Each test counts under a scope of its
own and deletes its keys, so runs in parallel (pytest -n) never meet.
"""

import logging
import os
import subprocess
import sys
import threading
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from django.core.cache import cache
from django.test import override_settings

from wenxu.core.models import RateCounter
from wenxu.lib import ratelimit

REDIS_URL = os.environ.get("WENXU_TEST_REDIS_URL", "redis://127.0.0.1:6379/5")
NOBODY_LISTENS = "redis://127.0.0.1:1/5"  # connection refused at once
MORNING = datetime(2026, 11, 30, 2, 0, 5, tzinfo=UTC)


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping())
    except redis.RedisError:
        return False


if not _redis_answers():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"CI needs Redis at {REDIS_URL}: start redis-server in .ci/run.")
    pytest.skip(f"no Redis answers at {REDIS_URL}", allow_module_level=True)


@pytest.fixture
def raw() -> redis.Redis:
    return redis.Redis.from_url(REDIS_URL)


@pytest.fixture
def scope(settings, raw, monkeypatch):
    """Rate limits counted in the test Redis, under a scope no other test uses."""
    settings.WENXU_REDIS_URL = REDIS_URL
    monkeypatch.setattr(ratelimit, "_redis_down_until", 0.0)
    monkeypatch.setattr(ratelimit, "SWEEP_ONE_IN", 10**9)
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    for key in raw.scan_iter(f"wenxu:rl:{name}:*"):
        raw.delete(key)


def _keys(raw: redis.Redis, scope: str) -> list[bytes]:
    return list(raw.scan_iter(f"wenxu:rl:{scope}:*"))


@pytest.mark.django_db
def test_hits_are_counted_in_redis_with_the_window_as_expiry(scope, raw):
    with time_machine.travel(MORNING, tick=False):
        answers = [ratelimit.hit(scope, "10.0.0.1", limit=2, window=600) for _ in range(3)]

    assert answers == [True, True, False]
    (key,) = _keys(raw, scope)
    assert raw.get(key) == b"3"
    # 10:00:05 in a 10-minute window: 595 s left, plus a second.
    assert 590 <= raw.ttl(key) <= 596
    assert not RateCounter.objects.exists()


def test_concurrent_hits_in_redis_allow_exactly_the_limit(scope, raw):
    """16 threads, 320 attempts against a limit of 50 (no database: Redis only)."""
    barrier = threading.Barrier(16)
    answers: list[bool] = []
    errors: list[BaseException] = []

    def attempt() -> None:
        try:
            barrier.wait()
            for _ in range(20):
                answers.append(ratelimit.hit(scope, "10.0.0.1", limit=50, window=3600))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=attempt) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(answers) == 320
    assert answers.count(True) == 50
    assert sum(int(raw.get(key) or 0) for key in _keys(raw, scope)) == 320


def test_the_count_starts_afresh_in_the_next_window(scope):
    with time_machine.travel(MORNING, tick=False) as traveller:
        for _ in range(2):
            ratelimit.hit(scope, "7", limit=2, window=60)
        assert not ratelimit.hit(scope, "7", limit=2, window=60)
        assert ratelimit.exceeded(scope, "7", limit=2, window=60)

        traveller.shift(timedelta(seconds=55))

        assert not ratelimit.exceeded(scope, "7", limit=2, window=60)
        assert ratelimit.hit(scope, "7", limit=2, window=60)


def test_the_client_is_stored_in_redis_only_as_a_keyed_digest(scope, raw):
    ratelimit.hit(scope, "13912345678", limit=5, window=86400)

    (key,) = _keys(raw, scope)
    assert b"13912345678" not in key


def test_the_django_cache_in_redis(raw):
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    caches = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
        }
    }
    with override_settings(CACHES=caches):
        cache.set("area-index", ["东河村", "西岭村"], timeout=60)
        assert cache.get("area-index") == ["东河村", "西岭村"]
        stored = list(raw.scan_iter(f"{prefix}:*"))
        assert len(stored) == 1
        assert 0 < raw.ttl(stored[0]) <= 60
        cache.delete("area-index")
        assert stored[0] not in set(raw.scan_iter(f"{prefix}:*"))


def test_settings_put_the_cache_in_redis_and_refuse_a_bad_url(tmp_path):
    def start(url: str) -> subprocess.CompletedProcess[str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
        clean.update({"WENXU_DATA_DIR": str(tmp_path), "WENXU_REDIS_URL": url})
        code = "import wenxu.settings as s; c = s.CACHES['default']; print(c['BACKEND'])"
        return subprocess.run(  # noqa: S603 (this interpreter, our own code)
            [sys.executable, "-c", code], env=clean, capture_output=True, text=True, check=False
        )

    good = start("redis://127.0.0.1:6379/0")
    assert good.returncode == 0, good.stderr
    assert good.stdout.strip() == "django.core.cache.backends.redis.RedisCache"
    bad = start("127.0.0.1:6379")
    assert bad.returncode != 0
    assert "WENXU_REDIS_URL must start with redis://" in bad.stderr


@pytest.mark.django_db
def test_a_redis_outage_counts_in_the_database_and_says_so_once(scope, settings, caplog):
    settings.WENXU_REDIS_URL = NOBODY_LISTENS

    with caplog.at_level(logging.WARNING, logger="wenxu.lib.ratelimit"):
        answers = [ratelimit.hit(scope, "10.0.0.1", limit=2, window=600) for _ in range(3)]
        looked = ratelimit.exceeded(scope, "10.0.0.1", limit=2, window=600)

    # The limit still holds, counted in core_ratecounter; one warning for the outage.
    assert answers == [True, True, False]
    assert looked
    assert RateCounter.objects.get().hits == 3
    warnings = [r for r in caplog.records if "Redis did not answer" in r.getMessage()]
    assert len(warnings) == 1


@pytest.mark.django_db
def test_counting_returns_to_redis_after_the_outage(scope, settings, raw, monkeypatch):
    settings.WENXU_REDIS_URL = NOBODY_LISTENS
    ratelimit.hit(scope, "10.0.0.1", limit=5, window=600)
    assert RateCounter.objects.count() == 1

    # Redis answers again and the pause after the failure is over.
    settings.WENXU_REDIS_URL = REDIS_URL
    monkeypatch.setattr(ratelimit, "_redis_down_until", 0.0)
    ratelimit.hit(scope, "10.0.0.1", limit=5, window=600)

    assert RateCounter.objects.get().hits == 1
    assert len(_keys(raw, scope)) == 1


@pytest.mark.django_db
def test_a_redis_outage_shows_residents_no_error_page(scope, settings, client):
    settings.WENXU_REDIS_URL = NOBODY_LISTENS

    page = client.get("/track", {"code": "QS-2026-000001", "phone_tail": "5678"})

    assert page.status_code == 200
    assert "没有找到相符的诉求" in page.content.decode()


@pytest.mark.django_db
def test_healthz_reports_redis(scope, settings, client):
    up = client.get("/healthz")
    assert up.status_code == 200
    assert up.json() == {"status": "ok", "databases": {"default": "ok"}, "redis": "ok"}

    settings.WENXU_REDIS_URL = NOBODY_LISTENS
    down = client.get("/healthz")
    assert down.status_code == 503
    assert down.json() == {
        "status": "unavailable",
        "databases": {"default": "ok"},
        "redis": "unavailable",
    }
