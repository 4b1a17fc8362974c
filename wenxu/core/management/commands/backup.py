"""`wenxu backup [--output PATH] [--media | --no-media]`: a consistent backup while wenxu runs.

SQLite through its online backup API, PostgreSQL through `pg_dump --format=custom`; one tar file
with a manifest (wenxu.core.backup, docs/operations.md "Backups and restore").
"""

from argparse import BooleanOptionalAction
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wenxu.core.backup import ENGINE_NAMES, BackupError, backup_create


def _size(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size = size / 1024  # type: ignore[assignment]
    return str(size)


class Command(BaseCommand):
    help = _(
        "备份数据库（SQLite 用在线备份，PostgreSQL 用 pg_dump），连同说明文件写成一个 tar 文件；"
        "默认放在数据目录的 backups 下。备份时问需可以照常运行。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--output", type=Path, default=None, help=_("备份文件的路径（.tar），或存放备份的目录")
        )
        parser.add_argument(
            "--media",
            action=BooleanOptionalAction,
            default=None,
            help=_("是否包含上传的照片等文件（默认：SQLite 包含，PostgreSQL 不包含）"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = backup_create(output=options["output"], media=options["media"])
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        manifest = result.manifest
        tables = manifest["tables"]
        media = manifest.get("media")
        self.stdout.write(
            _(
                "已备份到 %(path)s（%(size)s，%(engine)s；诉求 %(needs)s 件，"
                "诉求人 %(requesters)s 位，审计日志至第 %(seq)s 条%(media)s）。"
            )
            % {
                "path": result.path,
                "size": _size(result.size),
                "engine": ENGINE_NAMES[manifest["engine"]],
                "needs": tables.get("needs_need", 0),
                "requesters": tables.get("residents_requester", 0),
                "seq": manifest["audit"]["last_seq"],
                "media": (_("，附件 %(n)s 个") % {"n": media["files"]}) if media else "",
            }
        )
