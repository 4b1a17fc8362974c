"""`wenxu ledger_check [--json]`: report every broken ledger promise; exit 1 if there is any.

One finding per line (台账编号 [代码] 说明) and a summary line; `--json` prints
`{"ok", "checked", "findings": [{"number", "code", "message"}]}` instead. The logic lives in
`wenxu.needs.ledger`.
"""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.translation import gettext as _

from wenxu.needs import ledger
from wenxu.needs.models import Need


class Command(BaseCommand):
    help = _(
        "检查台账是否兑现承诺：超时未交办、已答复或办结却没有答复内容和办理结果、"
        "“创造条件推动”没有跟进日期或未兑现就办结、办理记录无法解释当前状态。"
        "发现问题时退出码为 1。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help=_("以 JSON 格式输出"))

    def handle(self, *args: Any, **options: Any) -> None:
        findings = ledger.check_ledger()
        checked = Need.objects.count()
        if options["json"]:
            payload = {
                "ok": not findings,
                "checked": checked,
                "findings": [finding.as_dict() for finding in findings],
            }
            self.stdout.write(json.dumps(payload, ensure_ascii=False, indent=2))
        else:
            for finding in findings:
                self.stdout.write(str(finding))
            self.stdout.write(ledger.summary(findings, checked))
        if findings:
            raise SystemExit(1)
