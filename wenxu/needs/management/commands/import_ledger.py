"""`wenxu import_ledger FILE --user USERNAME [--dry-run] [--source SOURCE]`: import a ledger.

The same services as the import page (`wenxu.needs.ledger_import.service`), with the automatic
column mapping. Prints one line per bad row (`row N: reason`) and exits with status 1 when any
row (or the file) is bad; then nothing is written. Without `--dry-run` a clean file is
committed in one transaction and the count printed.
"""

from pathlib import Path
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.needs import states
from wenxu.needs.exceptions import DomainError
from wenxu.needs.ledger_import import service
from wenxu.needs.ledger_import.files import MAX_IMPORT_BYTES
from wenxu.needs.ledger_import.rows import RowProblem


def _lines(problems: list[RowProblem]) -> list[str]:
    by_row: dict[int | None, list[str]] = {}
    for problem in problems:
        reason = f"{problem.column}：{problem.message}" if problem.column else problem.message
        by_row.setdefault(problem.row, []).append(reason)
    return [
        (f"row {row}: " if row is not None else "file: ") + "；".join(reasons)
        for row, reasons in by_row.items()
    ]


class Command(BaseCommand):
    help = _(
        "从 Excel（.xlsx）或 CSV 文件导入已有台账：自动识别表头，逐行检查；"
        "有错误时逐行列出（row N: 原因）、不导入并以退出码 1 结束。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help=_("台账文件（.xlsx 或 .csv）"))
        parser.add_argument("--user", required=True, help=_("导入人的用户名（走访干部或调度员）"))
        parser.add_argument("--dry-run", action="store_true", help=_("只检查，不导入"))
        parser.add_argument(
            "--source",
            default=states.Source.WALK_IN,
            choices=states.Source.values,
            help=_("来源渠道为空时使用的来源（默认 walk_in 来访）"),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        user = User.objects.filter(username=options["user"], is_active=True).first()
        if user is None:
            raise CommandError(_("没有这个用户，或该用户已停用：%(u)s") % {"u": options["user"]})
        path = Path(options["file"])
        if not path.is_file():
            raise CommandError(_("找不到文件：%(path)s") % {"path": path})
        if path.stat().st_size > MAX_IMPORT_BYTES:
            raise CommandError(
                _("文件太大：一次最多导入 %(max)d MB，请拆成几个文件。")
                % {"max": MAX_IMPORT_BYTES // 1024 // 1024}
            )
        try:
            # Read from the disk, not held in memory for the rest of the import.
            with path.open("rb") as handle:
                upload = UploadedFile(handle, name=path.name, size=path.stat().st_size)
                batch = service.ledger_import_upload(actor=user, upload=upload)
            try:
                arguments: dict[str, Any] = {
                    "actor": user,
                    "batch_id": batch.pk,
                    "mapping": batch.mapping,
                    "default_source": options["source"],
                }
                result: service.CommitResult | None = None
                if options["dry_run"]:
                    dry = service.ledger_import_check(**arguments)
                else:
                    # One pass over the rows: checked and written as they come, in the commit's
                    # transaction; the same report and nothing imported when a row is bad.
                    dry, result = service.ledger_import_check_and_commit(**arguments)
                problems = [
                    RowProblem(None, "", "", message) for message in dry.mapping_problems
                ] + (dry.result.problems if dry.result else [])
                if problems:
                    for line in _lines(problems):
                        self.stdout.write(line)
                    bad = dry.result.bad_rows if dry.result else 0
                    raise CommandError(
                        _("有 %(bad)d 行有误（共 %(total)d 行），没有导入任何数据。")
                        % {"bad": bad, "total": batch.row_count},
                        returncode=1,
                    )
                if result is None:
                    self.stdout.write(
                        _("检查无误：%(n)d 行，未导入（--dry-run）。") % {"n": batch.row_count}
                    )
                    return
            finally:
                service.ledger_import_discard(actor=user, batch_id=batch.pk)
        except service.LedgerImportRejected as rejected:
            for line in _lines(rejected.problems):
                self.stdout.write(line)
            raise CommandError(_("没有导入任何数据。"), returncode=1) from rejected
        except DomainError as error:
            raise CommandError(error.message, returncode=1) from error
        self.stdout.write(
            _("已导入 %(n)d 条诉求（其中交办 %(a)d 条）。")
            % {"n": result.registered, "a": result.assigned}
        )
