"""JSON log lines (WENXU_LOG_FORMAT=json, issue #10) and `wenxu serve`'s gunicorn settings."""

import io
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from gunicorn.config import Config

from wenxu.core.management.commands import serve
from wenxu.lib.jsonlog import JsonFormatter
from wenxu.lib.logfilter import MaskPersonalData

SCRIPT = """
import logging, django
django.setup()
log = logging.getLogger("wenxu.needs")
log.info("来电 %s 反映路灯不亮", "13812345678")
try:
    raise ValueError("身份证 110101199003071234 不符")
except ValueError:
    log.exception("登记失败：%s", "139 1234 5678")
"""


def test_json_lines_from_the_settings_are_valid_and_masked(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    env.update(
        WENXU_DATA_DIR=str(tmp_path),
        WENXU_LOG_FORMAT="json",
        DJANGO_SETTINGS_MODULE="wenxu.settings",
    )
    ran = subprocess.run(  # noqa: S603 (this interpreter, our own script)
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr

    lines = [json.loads(line) for line in ran.stderr.splitlines()]
    assert [line["level"] for line in lines] == ["INFO", "ERROR"]
    first, second = lines
    assert first["logger"] == "wenxu.needs"
    assert first["message"] == "来电 138****5678 反映路灯不亮"
    assert first["time"].endswith("+08:00")  # local time (Asia/Shanghai) with its offset
    assert "T" in first["time"]
    assert second["message"] == "登记失败：139****5678"
    assert "ValueError: 身份证 110101********1234 不符" in second["exception"]
    assert "13812345678" not in ran.stderr
    assert "110101199003071234" not in ran.stderr


def test_text_stays_the_default(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    env.update(WENXU_DATA_DIR=str(tmp_path), DJANGO_SETTINGS_MODULE="wenxu.settings")
    ran = subprocess.run(  # noqa: S603 (this interpreter, our own script)
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, check=False
    )

    assert ran.stderr.splitlines()[0] == "来电 138****5678 反映路灯不亮"


def test_an_unknown_log_format_is_refused(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    env.update(WENXU_DATA_DIR=str(tmp_path), WENXU_LOG_FORMAT="xml")
    ran = subprocess.run(
        [sys.executable, "-c", "import wenxu.settings"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert ran.returncode != 0
    assert "WENXU_LOG_FORMAT must be 'text' or 'json'" in ran.stderr


def _json_handler() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(MaskPersonalData())
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger("wenxu.tests.jsonlog")
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log, out


def test_a_request_attached_to_a_record_is_not_written():
    log, out = _json_handler()
    request = SimpleNamespace(path="/track?code=QS-2026-000001&phone_tail=5678")

    log.error("Internal Server Error: /track", extra={"status_code": 500, "request": request})

    line = json.loads(out.getvalue())
    assert line["status_code"] == 500
    assert "request" not in line
    assert "phone_tail" not in out.getvalue()


def _access(cfg: Config, *, path: str) -> None:
    gunicorn_logger = serve.JsonGunicornLogger(cfg)
    response = SimpleNamespace(status="200 OK", sent=512, headers=[])
    request = SimpleNamespace(headers=[("USER-AGENT", "Mozilla/5.0")])
    environ = {
        "REMOTE_ADDR": "10.0.0.8",
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"{path}?q=13812345678",
        "PATH_INFO": path,
        "QUERY_STRING": "q=13812345678",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    gunicorn_logger.access(response, request, environ, timedelta(milliseconds=42))


def test_gunicorn_access_lines_are_json_without_query_strings(capsys):
    cfg = Config()
    cfg.set("accesslog", "-")
    cfg.set("access_log_format", serve.ACCESS_LOG_FORMAT)

    _access(cfg, path="/needs/13812345678/")

    line = json.loads(capsys.readouterr().out)
    assert line["logger"] == "gunicorn.access"
    assert line["http"] == {
        "remote_addr": "10.0.0.8",
        "method": "GET",
        "path": "/needs/138****5678/",
        "protocol": "HTTP/1.1",
        "status": 200,
        "bytes": 512,
        "duration_ms": 42,
        "user_agent": "Mozilla/5.0",
    }
    assert "13812345678" not in json.dumps(line)
    assert '"GET /needs/138****5678/ HTTP/1.1" 200 512' in line["message"]


@pytest.fixture
def started(monkeypatch, settings):
    """`wenxu serve` up to starting gunicorn: the options it would start it with."""
    options: dict[str, object] = {}
    monkeypatch.setattr(serve, "call_command", lambda *args, **kwargs: None)
    monkeypatch.setattr(serve._Gunicorn, "__init__", lambda self, given: options.update(given))
    monkeypatch.setattr(serve._Gunicorn, "run", lambda self: None, raising=False)
    for name in ("WENXU_WEB_WORKERS", "WENXU_WEB_THREADS"):
        monkeypatch.delenv(name, raising=False)
    return options


def test_serve_takes_the_worker_count_from_the_environment(started, monkeypatch):
    monkeypatch.setenv("WENXU_WEB_WORKERS", "5")
    monkeypatch.setenv("WENXU_WEB_THREADS", "8")

    call_command("serve", "--no-worker", "--no-migrate", stdout=io.StringIO())

    assert started["workers"] == 5
    assert started["threads"] == 8
    assert "logger_class" not in started


def test_serve_options_win_over_the_environment(started, monkeypatch):
    monkeypatch.setenv("WENXU_WEB_WORKERS", "5")

    call_command("serve", "--no-worker", "--workers", "3", "--threads", "2", stdout=io.StringIO())

    assert (started["workers"], started["threads"]) == (3, 2)


@pytest.mark.parametrize(("sqlite", "workers"), [(True, 2), (False, serve.MAX_DEFAULT_WORKERS)])
def test_serve_without_a_count_sizes_by_database_and_cores(started, monkeypatch, sqlite, workers):
    monkeypatch.setattr(serve, "_cpu_count", lambda: 16)
    monkeypatch.setattr(serve, "_on_sqlite", lambda: sqlite)

    call_command("serve", "--no-worker", "--no-migrate", stdout=io.StringIO())

    assert started["workers"] == workers
    assert started["threads"] == serve.DEFAULT_THREADS


def test_default_workers_follow_the_cores_on_postgresql_with_a_cap():
    assert serve.default_workers(cpus=1, sqlite=False) == 3
    assert serve.default_workers(cpus=2, sqlite=False) == 5
    assert serve.default_workers(cpus=4, sqlite=False) == 9
    assert serve.default_workers(cpus=64, sqlite=False) == serve.MAX_DEFAULT_WORKERS
    assert serve.default_workers(cpus=64, sqlite=True) == serve.SQLITE_DEFAULT_WORKERS


def test_serve_writes_gunicorn_lines_as_json_when_asked(started, settings):
    settings.WENXU_LOG_FORMAT = "json"

    out = io.StringIO()
    call_command("serve", "--no-worker", "--no-migrate", stdout=out)

    assert started["logger_class"] is serve.JsonGunicornLogger
    assert out.getvalue() == ""  # the banner went to the log as a JSON line


@pytest.mark.parametrize(
    ("arguments", "environment", "message"),
    [
        (["--workers", "0"], {}, "--workers 必须是正整数"),
        ([], {"WENXU_WEB_WORKERS": "many"}, "WENXU_WEB_WORKERS 必须是正整数"),
        ([], {"WENXU_WEB_THREADS": "0"}, "WENXU_WEB_THREADS 必须是正整数"),
    ],
)
def test_serve_refuses_a_bad_count(started, monkeypatch, arguments, environment, message):
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    with pytest.raises(CommandError, match=message):
        call_command("serve", "--no-worker", *arguments, stdout=io.StringIO())


REQUEST_SCRIPT = """
import logging, django
django.setup()
from django.http import HttpResponse
from django.test import RequestFactory
from wenxu.lib.requestid import RequestIdMiddleware

def view(request):
    logging.getLogger("wenxu.needs").warning("办理中")
    return HttpResponse("ok")

middleware = RequestIdMiddleware(view)
factory = RequestFactory()
given = middleware(factory.get("/", HTTP_X_REQUEST_ID="nginx-5f2a9c0d11"))
forged = middleware(factory.get("/", HTTP_X_REQUEST_ID='x" injected'))
logging.getLogger("wenxu.sweep").warning("outside any request")
print(given["X-Request-ID"], forged["X-Request-ID"])
"""


def test_each_line_a_request_causes_carries_its_id_and_a_forged_one_is_replaced(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    env.update(
        WENXU_DATA_DIR=str(tmp_path),
        WENXU_LOG_FORMAT="json",
        DJANGO_SETTINGS_MODULE="wenxu.settings",
    )
    ran = subprocess.run(  # noqa: S603 (this interpreter, our own script)
        [sys.executable, "-c", REQUEST_SCRIPT], env=env, capture_output=True, text=True, check=False
    )
    assert ran.returncode == 0, ran.stderr

    given, forged = ran.stdout.split()
    first, second, outside = (json.loads(line) for line in ran.stderr.splitlines())
    assert given == "nginx-5f2a9c0d11"
    assert first["request_id"] == given
    assert forged != 'x" injected'
    assert len(forged) == 16
    assert second["request_id"] == forged
    assert "request_id" not in outside
