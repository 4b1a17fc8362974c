"""`wenxu serve`'s keep-alive: off unless WENXU_WEB_KEEPALIVE says how many seconds."""

import io

import pytest
from django.core.management import CommandError, call_command

from wenxu.core.management.commands import serve


@pytest.fixture
def started(monkeypatch):
    options: dict[str, object] = {}
    monkeypatch.setattr(serve, "call_command", lambda *args, **kwargs: None)
    monkeypatch.setattr(serve._Gunicorn, "__init__", lambda self, given: options.update(given))
    monkeypatch.setattr(serve._Gunicorn, "run", lambda self: None, raising=False)
    monkeypatch.delenv("WENXU_WEB_KEEPALIVE", raising=False)
    return options


def test_serve_answers_one_request_per_connection_by_default(started):
    call_command("serve", "--no-worker", "--no-migrate", stdout=io.StringIO())

    assert started["keepalive"] == 0
    assert started["worker_class"] == "gthread"


def test_serve_keeps_connections_alive_when_told(started, monkeypatch):
    monkeypatch.setenv("WENXU_WEB_KEEPALIVE", "5")

    call_command("serve", "--no-worker", "--no-migrate", stdout=io.StringIO())

    assert started["keepalive"] == 5


@pytest.mark.parametrize("raw", ["-1", "two"])
def test_serve_refuses_a_keepalive_that_is_not_seconds(started, monkeypatch, raw):
    monkeypatch.setenv("WENXU_WEB_KEEPALIVE", raw)

    with pytest.raises(CommandError, match="WENXU_WEB_KEEPALIVE"):
        call_command("serve", "--no-worker", "--no-migrate", stdout=io.StringIO())
