"""`wenxu router_train`: learn routing suggestions from the ledger's decided needs."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wenxu.insight.models import RoutingTarget
from wenxu.insight.routing.store import clear_cache
from wenxu.insight.routing.training import TrainingRefused, router_train


class Command(BaseCommand):
    help = (
        "用已交办诉求的最终分类和主办单位训练分派建议模型；调度员纠正过的建议加重计入。"
        "训练成功后新模型立即启用。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--target",
            choices=RoutingTarget.values,
            action="append",
            help="只训练其一：category（类别）或 unit（主办单位）；默认两者都训练。",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        targets = options.get("target") or RoutingTarget.values
        try:
            models = router_train(targets=targets)
        except TrainingRefused as error:
            raise CommandError(error.message) from error
        clear_cache()
        for model in models:
            metrics = model.metrics
            quality = (
                f"，{metrics['folds']} 折交叉验证 准确率 {metrics['accuracy']:.3f}、"
                f"宏平均F1 {metrics['macro_f1']:.3f}"
                if "macro_f1" in metrics
                else ""
            )
            self.stdout.write(
                f"{model.get_target_display()}模型 #{model.pk}：{model.samples} 条样本"
                f"（其中纠正 {model.corrections} 条）、{model.classes} 类{quality}；已启用。"
            )
        self.stdout.write(f"用时 {time.monotonic() - started:.1f} 秒。")
