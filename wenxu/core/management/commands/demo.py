"""`wenxu demo`: migrate, load the demo county once, print the demo logins, serve."""

import os
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import TextChoices

from wenxu.core import demo_data
from wenxu.core.demo_texts import COUNTY_NAME
from wenxu.needs.states import Status


class Command(BaseCommand):
    help = "载入演示县（青山县）并启动问需：迁移数据库、生成演示数据（只生成一次）、打印演示账号。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--no-serve", action="store_true", help="只准备演示数据，不启动 Web 服务。"
        )
        parser.add_argument(
            "--host", default=os.environ.get("WENXU_HOST", "127.0.0.1"), help="监听地址。"
        )
        parser.add_argument(
            "--port", type=int, default=int(os.environ.get("WENXU_PORT", "8000")), help="端口。"
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=demo_data.DEFAULT_SEED,
            help="随机种子：同一种子生成同样的演示数据（仅首次载入时有效）。",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        password, origin = demo_data.demo_password(settings.DATA_DIR)
        if demo_data.is_loaded():
            self.stdout.write("演示数据已存在，未重复生成。")
            if demo_data.sync_passwords(password):
                self.stdout.write("演示账号密码已更新为下面显示的密码。")
            summary = demo_data.summary()
        else:
            self.stdout.write(f"正在生成演示县“{COUNTY_NAME}”（随机种子 {options['seed']}）……")
            try:
                summary = demo_data.load(
                    password=password, seed=options["seed"], progress=self.stdout.write
                )
            except demo_data.DemoConflict as conflict:
                raise CommandError(
                    f"数据库中已有同名账号（{', '.join(conflict.usernames)}），但没有演示县。"
                    "请换一个数据目录（WENXU_DATA_DIR）或数据库后再运行 wenxu demo。"
                ) from conflict
            self.stdout.write(f"用时 {summary.seconds:.1f} 秒。")
        self._print_summary(summary)
        self._print_logins(password, origin)
        if not options["no_serve"]:
            call_command("serve", host=options["host"], port=options["port"])

    def _print_summary(self, summary: demo_data.Summary) -> None:
        areas = summary.areas
        statuses = "、".join(
            f"{_label(Status, status)} {summary.by_status.get(status, 0)}"
            for status in Status.values
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"演示数据已就绪：{COUNTY_NAME}，{areas.get('township', 0)} 个乡镇街道、"
                f"{areas.get('village', 0)} 个村社区、{areas.get('grid', 0)} 个网格，"
                f"{summary.units} 个责任单位，{summary.categories} 个诉求分类，"
                f"{summary.needs} 条诉求（{summary.events} 条办理记录）。"
            )
        )
        self.stdout.write(f"按状态：{statuses}。")
        hottest = f"（最热：{summary.hottest}）" if summary.hottest else ""
        self.stdout.write(
            f"举一反三：近 {demo_data.HOT_DAYS} 天热点 {summary.hot_topics} 个{hottest}，"
            f"未诉先办预警 {summary.signals} 条，专题 {summary.topics} 个，"
            f"分派模型 {summary.router_models} 个、分派规则 {summary.routing_rules} 条。"
        )

    def _print_logins(self, password: str, origin: str) -> None:
        main = [a for a in demo_data.accounts() if a.main]
        others = [a for a in demo_data.accounts() if not a.main]
        self.stdout.write("")
        self.stdout.write("演示账号：")
        rows = [("用户名", "角色", "范围", "姓名", "密码")]
        rows += [
            (a.username, a.role_label, demo_data.scope_label(a), a.name, password) for a in main
        ]
        widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  " + "  ".join(_pad(cell, width) for cell, width in zip(row, widths, strict=True))
            )
        self.stdout.write(
            f"另有 {len(others)} 个账号（各乡镇走访干部 officer_*、各单位承办人 handler_*，"
            f"如 {others[0].username}、{others[-1].username}），密码相同。"
        )
        self.stdout.write(f"密码来源：{origin}。")
        self.stdout.write(
            self.style.WARNING(
                "注意：演示账号共用上面公开的密码，仅供演示和培训；"
                "用 wenxu serve 运行同一数据库时，每个账号须先修改密码。"
            )
        )


def _label(choices: type[TextChoices], value: str) -> str:
    return str(choices(value).label)


def _width(text: str) -> int:
    """Columns on a terminal: CJK characters take two."""
    return sum(2 if ord(char) > 0x2E7F else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))
