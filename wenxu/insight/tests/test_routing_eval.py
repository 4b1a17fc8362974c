"""`wenxu router_eval` (issue #7 §5): any labelled .csv / .xlsx, and the shared development set."""

import csv
import io
import re
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from wenxu.insight.routing.evaluation import display_width

DEV = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "teddy2020" / "dev.csv"

KINDS = {
    "供水": ["{p}停水三天", "{p}自来水水压低", "{p}水管爆裂漏水", "{p}自来水发黄浑浊"],
    "道路": ["{p}路灯不亮", "{p}道路坑洼积水", "{p}公路护栏损坏", "{p}路面塌陷"],
    "教育": ["{p}幼儿园学位不够", "{p}学校门口拥堵", "{p}校车停运", "{p}小学食堂太差"],
}
PLACES = ["东河村", "西岭村", "幸福里", "光明街", "南山组"]


def _rows() -> list[tuple[str, str, str]]:
    return [
        (template.format(p=place)[:6], template.format(p=place), label)
        for label, templates in KINDS.items()
        for template in templates
        for place in PLACES
    ]


def _csv(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["标题", "内容", "类别"])
        writer.writerows(rows)
    return path


def _xlsx(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    sheet.append(["Subject", "Body", "Label"])
    for row in rows:
        sheet.append(list(row))
    book.save(path)
    return path


def _eval(*args: str) -> str:
    out = io.StringIO()
    call_command("router_eval", *args, stdout=out)
    return out.getvalue()


def _macro_f1(output: str) -> float:
    last = output.rstrip("\n").splitlines()[-1]
    match = re.fullmatch(r"macro_f1=(\d\.\d{4})", last)
    assert match, last
    return float(match.group(1))


def test_router_eval_cross_validates_a_csv_with_its_own_column_names(tmp_path: Path) -> None:
    path = _csv(tmp_path / "needs.csv", _rows())

    output = _eval("--file", str(path), "--text-cols", "标题,内容", "--label-col", "类别")

    assert "5 折分层交叉验证，共 60 条，3 类" in output
    assert "准确率 accuracy" in output
    assert "宏平均F1 macro-F1" in output
    assert "precision" in output
    assert "recall" in output
    assert "f1-score" in output
    assert "混淆矩阵" in output
    assert "1. 供水" in output
    assert _macro_f1(output) > 0.9


def test_router_eval_reads_xlsx_and_takes_the_number_of_folds(tmp_path: Path) -> None:
    path = _xlsx(tmp_path / "needs.xlsx", _rows())

    output = _eval(
        "--file", str(path), "--text-cols", "Body", "--label-col", "Label", "--folds", "3"
    )

    assert "3 折分层交叉验证" in output
    assert _macro_f1(output) > 0.8


def test_router_eval_trains_on_one_file_and_tests_on_another(tmp_path: Path) -> None:
    rows = _rows()
    train = _csv(tmp_path / "train.csv", [r for i, r in enumerate(rows) if i % 5])
    test = _csv(tmp_path / "test.csv", [r for i, r in enumerate(rows) if not i % 5])

    output = _eval(
        "--file",
        str(test),
        "--train-file",
        str(train),
        "--text-cols",
        "标题,内容",
        "--label-col",
        "类别",
    )

    assert "训练 48 条，测试 12 条" in output
    assert _macro_f1(output) > 0.8


def test_router_eval_explains_a_missing_column_or_file(tmp_path: Path) -> None:
    path = _csv(tmp_path / "needs.csv", _rows())

    with pytest.raises(CommandError, match="没有“留言主题”列。现有的列：标题、内容、类别"):
        _eval("--file", str(path), "--text-cols", "留言主题", "--label-col", "类别")
    with pytest.raises(CommandError, match="找不到文件"):
        _eval("--file", str(tmp_path / "no.csv"), "--text-cols", "标题", "--label-col", "类别")
    with pytest.raises(CommandError, match="满足的只有 0 类，至少需要两类"):
        _eval("--file", str(path), "--text-cols", "标题", "--label-col", "类别", "--folds", "30")


def test_router_eval_leaves_out_classes_smaller_than_the_folds_and_says_which(
    tmp_path: Path,
) -> None:
    rare = [("医保报销", "东河村医保报销太慢", "医疗")] + [
        (f"噪音{i}", f"{p}夜间施工噪音扰民", "环保") for i, p in enumerate(PLACES[:3])
    ]
    path = _csv(tmp_path / "needs.csv", _rows() + rare)

    output = _eval("--file", str(path), "--text-cols", "标题,内容", "--label-col", "类别")

    assert (
        "以下 2 类不足 5 条（折数），未参与评估：医疗（1 条）、环保（3 条）；共去掉 4 行。"
        in output
    )
    assert "5 折分层交叉验证，共 60 条，3 类" in output
    assert "医疗" not in output.split("未参与评估")[1].split("\n", 1)[1]
    assert _macro_f1(output) > 0.9


def test_router_eval_refuses_when_fewer_than_two_classes_are_large_enough(
    tmp_path: Path,
) -> None:
    rows = [r for r in _rows() if r[2] == "供水"] + [("路灯", "东河村路灯不亮", "道路")]
    path = _csv(tmp_path / "needs.csv", rows)

    with pytest.raises(CommandError, match=r"每类至少要有 5 条.*满足的只有 1 类，至少需要两类"):
        _eval("--file", str(path), "--text-cols", "标题,内容", "--label-col", "类别")


def test_router_eval_skips_rows_without_text_and_says_how_many(tmp_path: Path) -> None:
    blank = [("", "", "供水"), (" ", "。。", "道路"), ("  ", "\n", "教育")]
    path = _csv(tmp_path / "needs.csv", _rows() + blank)

    output = _eval("--file", str(path), "--text-cols", "标题,内容", "--label-col", "类别")

    assert "文件中有 3 行带标签但文本为空，已跳过。" in output
    assert "共 60 条，3 类" in output


def test_router_eval_refuses_a_file_whose_labelled_rows_have_no_text(tmp_path: Path) -> None:
    rows = [("", "", label) for label in ("供水", "道路") * 6]
    path = _csv(tmp_path / "needs.csv", rows)

    with pytest.raises(CommandError, match="带标签的 12 行文本都为空（列：标题、内容）"):
        _eval("--file", str(path), "--text-cols", "标题,内容", "--label-col", "类别")


def test_router_eval_refuses_folds_with_a_separate_training_file(tmp_path: Path) -> None:
    path = _csv(tmp_path / "needs.csv", _rows())

    with pytest.raises(CommandError, match="--folds 只用于交叉验证"):
        _eval(
            "--file",
            str(path),
            "--train-file",
            str(path),
            "--text-cols",
            "内容",
            "--label-col",
            "类别",
            "--folds",
            "3",
        )


def test_router_eval_per_class_table_lines_up_under_chinese_labels(tmp_path: Path) -> None:
    rows = [
        (title, text, {"供水": "城乡建设供水", "道路": "交通", "教育": "教育文体"}[label])
        for title, text, label in _rows()
    ]
    path = _csv(tmp_path / "needs.csv", rows)

    output = _eval("--file", str(path), "--text-cols", "标题,内容", "--label-col", "类别")

    table = output.split("\n\n", 1)[1].split("混淆矩阵")[0]
    lines = [line for line in table.splitlines() if line.strip()]
    assert lines[0].split() == ["precision", "recall", "f1-score", "support"]
    assert len(lines) == 7  # header, 3 classes, accuracy, macro avg, weighted avg
    assert len({display_width(line) for line in lines}) == 1, table


@pytest.mark.skipif(not DEV.is_file(), reason="../shared/data is not present")
def test_router_eval_on_the_shared_development_set() -> None:
    output = _eval(
        "--file", str(DEV), "--text-cols", "留言主题,留言详情", "--label-col", "一级分类"
    )

    assert "共 296 条，7 类" in output
    # 5-fold macro-F1 is 0.690 with the shipped settings; a floor well above the 0.30 of an
    # under-fitted model (C=1) and the ~0.14 of guessing, with room for library changes.
    assert _macro_f1(output) >= 0.62
