"""`wenxu hot_topics --file F`: the hot-topic engine on an analyst's file (.csv or .xlsx).

Prints one JSON object per line, hottest first:
{"rank", "heat", "size", "label", "ids", "authors", "copies", "previous", "growth"}.
"""

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from wenxu.insight import hot
from wenxu.insight.tabular import TableError, read_table

_DATE_TIME = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+(\d{1,2})\s*[:时]\s*(\d{1,2})(?:\s*[:分]\s*(\d{1,2})(?:\.\d+)?)?\s*秒?)?"
    r"\s*(?:Z|[+-]\d{2}:?\d{2})?$"
)


def parse_time(text: str) -> datetime | None:
    """2019-01-05, 2019/1/5 10:20:00, 2019年1月5日 10:20, 2019-01-05T10:20:00 (any zone
    suffix is ignored: the file's own clock is used throughout). None when not a time."""
    match = _DATE_TIME.match(text.strip())
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError:
        return None


class Command(BaseCommand):
    help = (
        "对一个 .csv 或 .xlsx 文件里的诉求做热点聚类，每行输出一个 JSON 对象，热度从高到低："
        '{"rank", "heat", "size", "label", "ids", …}。'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--file", required=True, help="文件路径（.csv 或 .xlsx）")
        parser.add_argument(
            "--text-cols", required=True, help="诉求文字所在的列，多列用逗号分隔，如 标题,内容"
        )
        parser.add_argument("--id-col", required=True, help="编号列")
        parser.add_argument("--time-col", required=True, help="时间列")
        parser.add_argument("--author-col", help="诉求人列（可选；没有时相同文字算一人）")
        parser.add_argument("--top", type=int, help="只输出最热的 N 个")
        parser.add_argument(
            "--days",
            type=int,
            help="只看文件中最后 D 天，并与之前 D 天比较增长（默认：全部行，不比较）",
        )
        parser.add_argument(
            "--min-authors",
            type=int,
            default=hot.MIN_AUTHORS,
            help=f"成为热点至少需要的不同诉求人数（默认 {hot.MIN_AUTHORS}）",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        top: int | None = options["top"]
        days: int | None = options["days"]
        if top is not None and top < 1:
            raise CommandError(_("--top 必须是正整数。"))
        if days is not None and days < 1:
            raise CommandError(_("--days 必须是正整数。"))
        if options["min_authors"] < 1:
            raise CommandError(_("--min-authors 必须是正整数。"))
        text_cols = [c.strip() for c in options["text_cols"].split(",") if c.strip()]
        if not text_cols:
            raise CommandError(_("--text-cols 至少要有一列。"))
        try:
            table = read_table(options["file"])
            text_at = table.columns(text_cols)
            id_at = table.column(options["id_col"])
            time_at = table.column(options["time_col"])
            author_at = table.column(options["author_col"]) if options["author_col"] else None
            rows = self._rows(table.rows, text_at, id_at, time_at, author_at)
        except TableError as error:
            raise CommandError(str(error)) from error

        if not rows:
            return
        window: tuple[datetime, datetime] | None = None
        previous: hot.Corpus | None = None
        current = rows
        if days is not None:
            end = max(r[2] for r in rows)
            start = end - timedelta(days=days)
            current = [r for r in rows if r[2] > start]
            before = [r for r in rows if start - timedelta(days=days) < r[2] <= start]
            window = (start, end)
            # a previous window that starts before the file's first row is not compared with:
            # its emptiness would make every topic "new"
            if min(r[2] for r in rows) <= start - timedelta(days=days):
                previous = hot.Corpus(
                    texts=[r[1] for r in before],
                    authors=[r[3] for r in before] if author_at is not None else None,
                )
        corpus = hot.Corpus(
            texts=[r[1] for r in current],
            authors=[r[3] for r in current] if author_at is not None else None,
            times=[r[2] for r in current],
        )
        groups = hot.hot_topics(
            corpus,
            window=window,
            previous=previous,
            min_authors=options["min_authors"],
            top=top,
        )
        for rank, group in enumerate(groups, start=1):
            line = {
                "rank": rank,
                "heat": group.heat,
                "size": group.size,
                "label": group.label,
                "ids": [current[i][0] for i in group.members],
                "authors": group.authors,
                "copies": group.copies,
                "previous": group.previous if previous is not None else None,
                "growth": None if group.growth is None else round(group.growth, 3),
            }
            self.stdout.write(json.dumps(line, ensure_ascii=False))

    def _rows(
        self,
        source: Any,
        text_at: list[int],
        id_at: int,
        time_at: int,
        author_at: int | None,
    ) -> list[tuple[str, str, datetime, str | None]]:
        rows: list[tuple[str, str, datetime, str | None]] = []
        # the header is line 1, so the first data row is line 2
        for line, cells in enumerate(source, start=2):

            def cell(at: int, cells: list[str] = cells) -> str:
                return cells[at] if at < len(cells) else ""

            raw_time = cell(time_at)
            when = parse_time(raw_time)
            if when is None:
                raise CommandError(
                    _(
                        "第 %(line)d 行的时间“%(value)s”无法识别；"
                        "请使用 2019-01-05 或 2019/1/5 10:20:00 这样的格式。"
                    )
                    % {"line": line, "value": raw_time}
                )
            text = "\n".join(cell(at) for at in text_at).strip()
            if not text:
                continue
            author = cell(author_at) if author_at is not None else None
            rows.append((cell(id_at), text, when, author or None))
        return rows
