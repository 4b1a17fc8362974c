"""`wenxu hot_topics --file F`: the engine on an analyst's CSV or XLSX."""

import csv
import json
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from wenxu.insight.management.commands.hot_topics import parse_time
from wenxu.insight.tests.test_hot_engine import planted


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _rows() -> list[list[str]]:
    """Planted messages as 编号, 标题, 内容, 时间 (2019-03-01 … 2019-03-30): the ids tell the
    topic ("xw-…" 幸福小区 water, "yw-…" 阳光花园 water, "xp-…" parking)."""
    rows = []
    for k, (kind, text, _author) in enumerate(planted(1)):
        title, _, rest = text.partition("，")
        rows.append([f"{kind}-{k}", title, rest, f"2019/3/{k % 30 + 1} 10:{k % 60:02d}:00"])
    return rows


def _run(*args: str) -> list[dict[str, Any]]:
    out = StringIO()
    call_command("hot_topics", *args, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_csv_prints_json_lines_hottest_first(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "needs.csv", ["编号", "标题", "内容", "时间"], _rows())
    lines = _run(
        "--file", str(path), "--text-cols", "标题,内容", "--id-col", "编号", "--time-col", "时间"
    )
    assert len(lines) >= 3
    assert [line["rank"] for line in lines] == list(range(1, len(lines) + 1))
    heats = [line["heat"] for line in lines]
    assert heats == sorted(heats, reverse=True)
    assert list(lines[0])[:5] == ["rank", "heat", "size", "label", "ids"]
    kinds = [{str(i).split("-")[0] for i in line["ids"]} for line in lines[:3]]
    assert sorted(k.pop() for k in kinds) == ["xp", "xw", "yw"]
    for line in lines[:3]:
        assert line["size"] == len(line["ids"])
    water = next(line for line in lines if str(line["ids"][0]).startswith("xw"))
    assert str(water["label"]).startswith("幸福小区")


def test_xlsx_with_other_column_names_and_top(tmp_path: Path) -> None:
    from openpyxl import Workbook  # type: ignore[import-untyped]

    book = Workbook()
    sheet = book.active
    sheet.append(["留言编号", "留言主题", "留言详情", "留言时间", "留言用户"])
    for number, title, rest, when in _rows():
        sheet.append([number, title, rest, when.replace("/", "-"), number])
    path = tmp_path / "needs.xlsx"
    book.save(path)
    lines = _run(
        "--file",
        str(path),
        "--text-cols",
        "留言主题,留言详情",
        "--id-col",
        "留言编号",
        "--time-col",
        "留言时间",
        "--author-col",
        "留言用户",
        "--top",
        "2",
    )
    assert len(lines) == 2
    assert lines[0]["heat"] >= lines[1]["heat"]


def test_days_compares_with_the_previous_window(tmp_path: Path) -> None:
    rows = [
        [f"n{k}", f"滨江花园{k}号楼电梯经常故障", "老人上下楼困难", f"2019-03-{20 + k % 9:02d}"]
        for k in range(1, 7)
    ]
    rows += [[f"p{k}", f"滨江花园{k}号楼电梯故障", "老人上下楼困难", "2019-03-12"] for k in (1, 2)]
    rows.append(["o1", "村口路灯不亮", "晚上出行不便", "2019-03-01"])  # the file reaches back
    path = _write_csv(tmp_path / "d.csv", ["id", "t", "d", "when"], rows)
    (line,) = _run(
        "--file",
        str(path),
        "--text-cols",
        "t,d",
        "--id-col",
        "id",
        "--time-col",
        "when",
        "--days",
        "10",
    )
    assert sorted(str(i) for i in line["ids"]) == [f"n{k}" for k in range(1, 7)]
    assert line["previous"] == 2
    assert line["growth"] == 2.0


def test_no_previous_window_before_the_first_row(tmp_path: Path) -> None:
    rows = [
        [f"n{k}", f"滨江花园{k}号楼电梯经常故障", "老人上下楼困难", "2019-03-28"]
        for k in range(1, 4)
    ]
    rows.append(["o1", "村口路灯不亮", "晚上出行不便", "2019-03-25"])
    path = _write_csv(tmp_path / "d.csv", ["id", "t", "d", "when"], rows)
    args = ["--file", str(path), "--text-cols", "t,d", "--id-col", "id", "--time-col", "when"]
    (line,) = _run(*args, "--days", "10")
    assert line["previous"] is None
    assert line["growth"] is None
    assert line["heat"] == 3.0  # three writers at the end of the window, no "new" factor


def test_missing_column_is_a_clear_error(tmp_path: Path) -> None:
    path = _write_csv(
        tmp_path / "x.csv", ["编号", "内容", "时间"], [["1", "路灯坏了", "2019-01-05"]]
    )
    with pytest.raises(CommandError, match="文件中没有“标题”列"):
        _run("--file", str(path), "--text-cols", "标题", "--id-col", "编号", "--time-col", "时间")


def test_unparseable_time_names_the_row(tmp_path: Path) -> None:
    rows = [["1", "路灯坏了", "2019-01-05"], ["2", "水压低", "上周三"]]
    path = _write_csv(tmp_path / "x.csv", ["编号", "内容", "时间"], rows)
    with pytest.raises(CommandError, match="第 3 行的时间“上周三”无法识别"):
        _run("--file", str(path), "--text-cols", "内容", "--id-col", "编号", "--time-col", "时间")


def test_unknown_file_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("a")
    with pytest.raises(CommandError, match="只支持"):
        _run("--file", str(path), "--text-cols", "a", "--id-col", "b", "--time-col", "c")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2019-01-05", (2019, 1, 5, 0, 0)),
        ("2019/1/5 10:20:00", (2019, 1, 5, 10, 20)),
        ("2019-01-05T10:20", (2019, 1, 5, 10, 20)),
        ("2019年1月5日 10:20", (2019, 1, 5, 10, 20)),
        ("2019-01-05 10:20:00.123", (2019, 1, 5, 10, 20)),
    ],
)
def test_common_time_formats(text: str, expected: tuple[int, ...]) -> None:
    when = parse_time(text)
    assert when is not None
    assert (when.year, when.month, when.day, when.hour, when.minute) == expected


@pytest.mark.parametrize("text", ["", "昨天", "2019-13-01", "45000"])
def test_not_times(text: str) -> None:
    assert parse_time(text) is None
