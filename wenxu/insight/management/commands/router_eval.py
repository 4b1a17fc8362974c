"""`wenxu router_eval`: how well the routing classifier does on a labelled file.

Prints accuracy, macro-F1, per-class precision / recall / F1 and the confusion matrix; the
last line is `macro_f1=<value>` for scripts. Says which rows were skipped (no text) and which
classes were left out of cross-validation (fewer rows than folds).
"""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from wenxu.insight.routing.evaluation import (
    Evaluation,
    Labelled,
    cross_validate,
    holdout,
    read_labelled,
)
from wenxu.insight.tabular import TableError

FOLDS = 5


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.replace("，", ",").split(",") if name.strip()]


class Command(BaseCommand):
    help = (
        "评估分派模型：对带标签的 .csv / .xlsx 做分层 K 折交叉验证，或用 --train-file 训练、"
        "用 --file 测试；输出准确率、宏平均F1、各类精确率/召回率/F1 和混淆矩阵。"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, help="带标签的数据文件（.csv 或 .xlsx）")
        parser.add_argument(
            "--text-cols", required=True, help="文本列名，多列用逗号分隔，如 标题,内容"
        )
        parser.add_argument("--label-col", required=True, help="标签列名，如 一级分类")
        parser.add_argument("--train-file", help="另给训练文件时，用它训练、用 --file 测试")
        parser.add_argument(
            "--folds",
            type=int,
            help=(
                f"交叉验证折数（默认 {FOLDS}）；条数少于折数的类别不参与评估。"
                "不能与 --train-file 同用"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        text_cols = _names(options["text_cols"])
        label_col = options["label_col"].strip()
        if not text_cols:
            raise CommandError("--text-cols 不能为空。")
        if options.get("train_file") and options.get("folds") is not None:
            raise CommandError(
                "--folds 只用于交叉验证；给了 --train-file 时用它训练、用 --file 测试，"
                "不分折。请去掉其中之一。"
            )
        folds = FOLDS if options.get("folds") is None else options["folds"]
        try:
            data = read_labelled(options["file"], text_cols, label_col)
            if options.get("train_file"):
                train = read_labelled(options["train_file"], text_cols, label_col)
                self._blank(train, "训练文件")
                self._blank(data, "测试文件")
                result = holdout(train, data)
                how = f"训练 {len(train.labels)} 条，测试 {len(data.labels)} 条"
            else:
                self._blank(data, "文件")
                result = cross_validate(data, folds=folds)
                self._left_out(result, folds)
                how = f"{folds} 折分层交叉验证，共 {len(result.truth)} 条"
        except TableError as error:
            raise CommandError(str(error)) from error
        self._print(result, how, time.monotonic() - started)

    def _blank(self, data: Labelled, which: str) -> None:
        if data.blank:
            self.stdout.write(f"{which}中有 {data.blank} 行带标签但文本为空，已跳过。")

    def _left_out(self, result: Evaluation, folds: int) -> None:
        if not result.left_out:
            return
        names = "、".join(f"{label}（{n} 条）" for label, n in result.left_out.items())
        rows = sum(result.left_out.values())
        self.stdout.write(
            f"以下 {len(result.left_out)} 类不足 {folds} 条（折数），未参与评估：{names}；"
            f"共去掉 {rows} 行。"
        )

    def _print(self, result: Evaluation, how: str, seconds: float) -> None:
        out = self.stdout
        out.write(f"{how}，{len(set(result.truth))} 类，用时 {seconds:.1f} 秒")
        out.write(f"准确率 accuracy = {result.accuracy:.4f}")
        out.write(f"宏平均F1 macro-F1 = {result.macro_f1:.4f}")
        if result.fold_f1:
            folds = " ".join(f"{f:.3f}" for f in result.fold_f1)
            mean = sum(result.fold_f1) / len(result.fold_f1)
            out.write(f"各折宏平均F1：{folds}（均值 {mean:.4f}）")
        out.write("")
        out.write(result.report())
        out.write("")
        out.write("混淆矩阵（行：真实类别，列：预测类别）")
        labels = result.labels
        matrix = result.confusion()
        width = max(4, *(len(str(v)) for v in matrix.flat))
        header = " ".join(f"{j + 1:>{width}}" for j in range(len(labels)))
        out.write(header)
        for i, label in enumerate(labels):
            cells = " ".join(f"{v:>{width}}" for v in matrix[i])
            out.write(f"{cells}  {i + 1}. {label}")
        out.write("")
        out.write(f"macro_f1={result.macro_f1:.4f}")
