"""`wenxu generate --needs N --seed S [--months 12] [--password PW]`: a city of needs for
benchmarks and load tests, in an empty database (wenxu.core.generate, ADR 0019)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext as _

from wenxu.core.generate import DEFAULT_PASSWORD, GenerateRefused, generate
from wenxu.core.generate.names import CITY_NAME
from wenxu.needs.states import Status


class Command(BaseCommand):
    # The system checks import every view (and their libraries): memory the generator needs
    # more, and nothing here serves a request.
    requires_system_checks: list[str] = []
    help = _(
        "向空数据库生成一个城市的模拟数据（区划、单位、账号、诉求及办理记录、走访、统计），"
        "供性能测试和压力测试使用。同样的条数、种子和时间生成同样的数据。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--needs", type=int, required=True, help=_("诉求条数，例如 100000。"))
        parser.add_argument("--seed", type=int, default=1, help=_("随机种子（默认 1）。"))
        parser.add_argument(
            "--months", type=int, default=12, help=_("诉求分布在最近多少个月（默认 12）。")
        )
        parser.add_argument(
            "--password",
            default=DEFAULT_PASSWORD,
            help=_("所有生成账号的密码（默认 %(password)s）。") % {"password": DEFAULT_PASSWORD},
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["needs"] < 1:
            raise CommandError(
                _("--needs 须为正整数（收到 %(n)d），例如 --needs 100000。")
                % {"n": options["needs"]}
            )
        if options["months"] < 1:
            raise CommandError(
                _("--months 须为正整数（收到 %(n)d），例如 --months 12。")
                % {"n": options["months"]}
            )
        connection = connections[DEFAULT_DB_ALIAS]
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError(_("数据库尚未迁移到最新：请先运行 wenxu migrate，再运行 generate。"))
        try:
            summary = generate(
                needs=options["needs"],
                seed=options["seed"],
                months=options["months"],
                password=options["password"],
                progress=self.stdout.write,
            )
        except GenerateRefused as refused:
            raise CommandError(refused.message) from refused
        statuses = "、".join(
            f"{Status(status).label} {count}" for status, count in summary.by_status.items()
        )
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "已生成城市“%(city)s”：%(areas)d 个区划网格、%(units)d 个责任单位、"
                    "%(users)d 个账号、%(needs)d 条诉求（%(events)d 条办理记录、"
                    "%(callbacks)d 次回访、%(co)d 个协办关系）、%(requesters)d 位诉求人、"
                    "%(visits)d 次走访、%(rows)d 行每日统计，用时 %(s).1f 秒。"
                )
                % {
                    "city": CITY_NAME,
                    "areas": summary.areas,
                    "units": summary.units,
                    "users": summary.users,
                    "needs": summary.needs,
                    "events": summary.events,
                    "callbacks": summary.callbacks,
                    "co": summary.co_unit_links,
                    "requesters": summary.requesters,
                    "visits": summary.visits,
                    "rows": summary.rollup_rows,
                    "s": summary.seconds,
                }
            )
        )
        self.stdout.write(_("按状态：%(statuses)s。") % {"statuses": statuses})
        self.stdout.write(
            _(
                "账号：gen_admin、gen_dispatcher、gen_leader、gen_handler_001…（每个部门一个承办人）、"
                "gen_officer_0001…（每个街道乡镇一个走访干部），密码均为 --password 指定的密码。"
            )
        )
