"""`wenxu restore PATH --yes`: replace the database with a backup made by `wenxu backup`.

Stop `wenxu serve` and every `wenxu worker` first. Checks the file (format, engine, version,
checksum) before touching anything; afterwards re-applies the erasures journalled since the
backup and records the restore in the security log (wenxu.core.backup).
"""

from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.core.backup import ENGINE_NAMES, BackupError, backup_restore, read_manifest


def _local(moment: object) -> str:
    """A manifest's time in the site's time zone, as people read it."""
    try:
        return f"{timezone.localtime(datetime.fromisoformat(str(moment))):%Y-%m-%d %H:%M:%S}"
    except (TypeError, ValueError):
        return str(moment)


class Command(BaseCommand):
    help = _(
        "用备份文件替换当前数据库（会丢失备份之后的全部数据）。请先停止 wenxu serve 和所有 "
        "wenxu worker。恢复后会重新执行备份之后登记的个人信息删除。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help=_("wenxu backup 生成的备份文件"))
        parser.add_argument(
            "--yes", action="store_true", help=_("确认用备份替换当前数据库（必须填写）")
        )

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["path"]
        try:
            manifest = read_manifest(path)
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        if not options["yes"]:
            raise CommandError(
                _(
                    "恢复会用 %(time)s 的备份替换当前数据库，之后的数据将全部丢失。"
                    "确认无误后，请停止服务并加上 --yes 重新运行。"
                )
                % {"time": _local(manifest.get("created_at"))}
            )
        try:
            result = backup_restore(path=path)
        except BackupError as exc:
            raise CommandError(exc.message) from exc
        reapplied = result.reapplied
        self.stdout.write(
            _("已从 %(path)s 恢复（%(engine)s，备份时间 %(time)s，审计日志至第 %(seq)s 条）。")
            % {
                "path": path,
                "engine": ENGINE_NAMES[manifest["engine"]],
                "time": _local(manifest.get("created_at")),
                "seq": (manifest.get("audit") or {}).get("last_seq", 0),
            }
        )
        if result.migrated:
            self.stdout.write(_("数据库结构已升级到当前版本。"))
        if result.media_files:
            self.stdout.write(_("已恢复附件 %(n)s 个。") % {"n": result.media_files})
        self.stdout.write(
            _(
                "重新执行个人信息删除 %(applied)s 条"
                "（已是匿名 %(already)s 条，备份中没有 %(missing)s 条）。"
            )
            % {
                "applied": len(reapplied.applied),
                "already": reapplied.already,
                "missing": reapplied.missing,
            }
        )
        if reapplied.mismatched:
            self.stderr.write(
                _(
                    "删除日志中有 %(n)s 条与恢复的数据对不上（诉求人编号 %(ids)s），"
                    "未执行，请人工核对。"
                )
                % {
                    "n": len(reapplied.mismatched),
                    "ids": "、".join(str(i) for i in reapplied.mismatched),
                }
            )
        if reapplied.malformed:
            self.stderr.write(
                _("删除日志第 %(lines)s 行无法读取，已跳过，请人工核对。")
                % {"lines": "、".join(str(n) for n in reapplied.malformed)}
            )
        if not result.ok:
            rows = "；".join(
                f"{table} {before}→{after}"
                for table, (before, after) in result.count_mismatches.items()
            )
            raise CommandError(_("恢复后的行数与备份说明不符：%(rows)s。请检查。") % {"rows": rows})
