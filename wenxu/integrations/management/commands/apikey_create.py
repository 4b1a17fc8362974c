"""`wenxu apikey_create --name NAME [--area CODE …] [--action read …] [--source hotline]
[--rate-limit N] [--days N]`: issue a client API key.

The raw key is printed once, alone on the last line of stdout, so that a script can capture it
(`KEY=$(wenxu apikey_create --name 12345 | tail -n1)`); a summary goes to stderr. Any error
(unknown area, duplicate name, bad action…) exits non-zero with a message and stores nothing.
"""

from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.integrations.services import api_client_issue
from wenxu.lib import clock
from wenxu.needs.states import Source
from wenxu.organisations.models import Area


def find_area(value: str) -> Area:
    """The area with the code `value`, else the one area named exactly `value`."""
    value = value.strip()
    area = Area.objects.filter(code=value).first() if value else None
    if area is not None:
        return area
    named = list(Area.objects.filter(name=value)[:2])
    if len(named) == 1:
        return named[0]
    if named:
        raise CommandError(_("有多个区域名为“%(name)s”，请改用区划代码。") % {"name": value})
    raise CommandError(_("找不到区划代码或名称为“%(value)s”的区域。") % {"value": value})


class Command(BaseCommand):
    help = "创建一个接口密钥（给对接系统使用），新密钥只在标准输出的最后一行显示一次。"

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="名称（不能重复），例如“12345 热线平台”")
        parser.add_argument(
            "--area",
            action="append",
            default=[],
            metavar="CODE",
            help="区域范围：区划代码，或唯一的区域名称；可重复；不写则为全部区域",
        )
        parser.add_argument(
            "--action",
            action="append",
            default=[],
            dest="actions",
            metavar="ACTION",
            help="允许的操作：read、create、webhooks；可重复；默认 read 和 create",
        )
        parser.add_argument(
            "--source", default="", help="经此密钥提交的诉求的来源，例如 hotline（默认 online）"
        )
        parser.add_argument("--rate-limit", type=int, default=None, help="每分钟请求上限")
        parser.add_argument("--days", type=int, default=None, help="有效天数；不写则长期有效")
        parser.add_argument("--note", default="", help="备注")

    def handle(self, *args: Any, **options: Any) -> None:
        name = str(options["name"]).strip()
        if not name:
            raise CommandError(_("请用 --name 填写名称。"))
        actions = options["actions"] or [ClientAction.READ, ClientAction.CREATE]
        unknown = [a for a in actions if a not in ClientAction.values]
        if unknown:
            raise CommandError(
                _("未知的操作：%(actions)s。可用：%(allowed)s。")
                % {"actions": "、".join(unknown), "allowed": "、".join(ClientAction.values)}
            )
        source = options["source"]
        if source and source not in Source.values:
            raise CommandError(
                _("未知的诉求来源：%(source)s。可用：%(allowed)s。")
                % {"source": source, "allowed": "、".join(Source.values)}
            )
        rate_limit = options["rate_limit"]
        if rate_limit is not None and rate_limit < 1:
            raise CommandError(_("每分钟请求上限至少为 1。"))
        days = options["days"]
        if days is not None and days < 1:
            raise CommandError(_("--days 至少为 1。"))
        areas = [find_area(value) for value in options["area"]]
        if ApiClient.objects.filter(name=name).exists():
            raise CommandError(_("已有同名的接口密钥“%(name)s”，请换一个名称。") % {"name": name})
        try:
            raw, client = api_client_issue(
                name=name,
                areas=areas,
                actions=actions,
                source=source,
                rate_limit=rate_limit,
                expires_at=clock.now() + timedelta(days=days) if days else None,
                note=options["note"],
            )
        except ValidationError as exc:
            raise CommandError("；".join(exc.messages)) from exc
        except IntegrityError as exc:
            raise CommandError(
                _("已有同名的接口密钥“%(name)s”，请换一个名称。") % {"name": name}
            ) from exc
        labels = dict(ClientAction.choices)
        summary = [
            _("已创建接口密钥“%(name)s”（%(prefix)s…）。")
            % {"name": client.name, "prefix": client.prefix},
            _("区域范围：%(areas)s") % {"areas": "、".join(a.name for a in areas) or _("全部区域")},
            _("允许的操作：%(actions)s")
            % {"actions": "、".join(str(labels[a]) for a in client.actions)},
            _("来源：%(source)s；每分钟请求上限：%(limit)d")
            % {"source": client.get_source_display(), "limit": client.rate_limit},
            _("有效期至：%(date)s")
            % {
                "date": timezone.localtime(client.expires_at).strftime("%Y-%m-%d %H:%M")
                if client.expires_at
                else _("长期有效")
            },
            _("请立即保存下面的密钥，它只显示这一次。"),
        ]
        self.stderr.write("\n".join(summary))
        self.stdout.write(raw)
