"""`wenxu pii_rekey`: re-encrypt requesters' phones and ID numbers with the current key."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wenxu.lib import crypto
from wenxu.residents import pii, rekey

# Ids of unreadable rows named in the output at most (the count is always given).
SHOWN_IDS = 20


class Command(BaseCommand):
    help = _(
        "用当前密钥（WENXU_PII_KEYS 的第一个）重新加密诉求人的电话和证件号码。"
        "可随时中断，再次运行会继续处理剩下的记录。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch",
            type=int,
            default=1000,
            help=_("每批处理的记录数（每批单独提交），默认 1000。"),
        )
        parser.add_argument(
            "--reindex",
            action="store_true",
            help=_("同时重算全部检索索引（更换了 WENXU_PII_INDEX_KEY 之后使用）。"),
        )
        parser.add_argument(
            "--new-key",
            metavar="ID",
            help=_("只生成一个新密钥（形如 ID:base64），打印后退出，不改动数据。"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["new_key"] is not None:
            try:
                self.stdout.write(crypto.new_key_entry(options["new_key"]))
            except ValueError as exc:
                raise CommandError(_("密钥编号无效：只能用 1-16 个字母、数字、- 或 _。")) from exc
            return
        if options["batch"] < 1:
            raise CommandError(_("--batch 至少为 1。"))
        pending = rekey.stale_count()
        self.stdout.write(
            _("当前密钥：%(key)s；需要重新加密：%(n)s 条。")
            % {"key": pii.key_ring().current_id, "n": pending}
        )

        def progress(result: rekey.RekeyResult) -> None:
            self.stdout.write(
                _("  已重新加密 %(done)s / %(pending)s 条")
                % {"done": result.done, "pending": result.pending}
            )

        result = rekey.requester_rekey(batch=options["batch"], progress=progress)
        self.stdout.write(
            self.style.SUCCESS(
                _("完成：重新加密 %(done)s 条，剩余 %(left)s 条使用旧密钥。")
                % {"done": result.done, "left": rekey.stale_count()}
            )
        )
        if options["reindex"]:
            changed = rekey.requester_reindex(batch=options["batch"])
            self.stdout.write(
                self.style.SUCCESS(_("检索索引已重算：更新 %(n)s 条。") % {"n": changed})
            )
        if result.unreadable:
            ids = "、".join(str(pk) for pk in result.unreadable[:SHOWN_IDS])
            if len(result.unreadable) > SHOWN_IDS:
                ids += "…"
            raise CommandError(
                _(
                    "有 %(n)s 条记录无法解密（诉求人编号 %(ids)s），已原样保留并跳过，其余记录"
                    "已处理。请把加密它们的密钥补回 WENXU_PII_KEYS 后再次运行；日志中写明了"
                    "缺少或不符的密钥编号。"
                )
                % {"n": len(result.unreadable), "ids": ids}
            )
