"""`wenxu worker`: runs background tasks from the database queue (django-tasks-db)."""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "运行后台任务进程（通知、提醒等），从数据库任务队列领取任务。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--interval", type=float, default=1.0, help="空闲时轮询间隔（秒）")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command(
            "db_worker", "--queue-name", "*", "--interval", str(options["interval"]), "--no-reload"
        )
