"""`wenxu serve`: the web server (gunicorn) and, unless --no-worker, one background worker
(`wenxu worker`: the task queue and the sweep every `WENXU_SWEEP_SECONDS`)."""

import os
import signal
import subprocess
import sys
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from gunicorn.app.base import BaseApplication

ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s"'


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from wenxu.wsgi import application

        return application


class Command(BaseCommand):
    help = (
        "运行问需：Web 服务（gunicorn）和一个后台任务进程（处理通知和消息发送，"
        "并每分钟巡检台账：时限提醒、超期督办、每日汇总）。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("WENXU_HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("WENXU_PORT", "8000")))
        parser.add_argument(
            "--workers", type=int, default=int(os.environ.get("WENXU_WEB_WORKERS", "2"))
        )
        parser.add_argument(
            "--no-migrate",
            action="store_true",
            help="启动时不执行数据库迁移（多个进程同时启动时，先单独运行 wenxu migrate）。",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help=(
                "只运行 Web 服务，不启动后台任务进程（城市级部署时单独运行 wenxu worker，"
                "它同时负责台账巡检）。"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        port = options["port"]
        if not 0 < port < 65536:
            raise CommandError(f"端口号无效：{port}")
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        helpers = [] if options["no_worker"] else self._start_helpers()
        address = f"{options['host']}:{port}"
        self.stdout.write(f"问需已启动：http://{address}/  （按 Ctrl+C 停止）")
        try:
            _Gunicorn(
                {
                    "bind": address,
                    "workers": max(1, options["workers"]),
                    "worker_class": "gthread",
                    "threads": 4,
                    "timeout": 60,
                    "graceful_timeout": 20,
                    "accesslog": "-",
                    # The path without its query string: query strings carry search words
                    # (often names) and Open311 api_key values, which must not reach logs.
                    "access_log_format": ACCESS_LOG_FORMAT,
                    "errorlog": "-",
                    "loglevel": "info",
                    "proc_name": "wenxu",
                }
            ).run()
        finally:
            for process in helpers:
                process.send_signal(signal.SIGTERM)
            for process in helpers:
                try:
                    process.wait(timeout=25)
                except subprocess.TimeoutExpired:
                    process.kill()

    def _start_helpers(self) -> list[subprocess.Popen[bytes]]:
        """One `wenxu worker` beside the web server: it runs the tasks and the sweep."""
        env = {**os.environ, "WENXU_DATA_DIR": str(settings.DATA_DIR)}
        process = subprocess.Popen([sys.executable, "-m", "wenxu", "worker"], env=env)
        self.stdout.write("后台任务进程已启动（含每分钟台账巡检）。")
        return [process]
