"""`wenxu workdays DATE N` (issue 2, item 6)."""

import os
import subprocess
import sys
from datetime import date
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from wenxu.lib.workdays import package_has_notice
from wenxu.needs.models import HolidayOverride

FUTURE_YEAR = next(year for year in range(2026, 2100) if not package_has_notice(year))
WENXU = Path(sys.executable).with_name("wenxu")


def run(*args):
    out, err = StringIO(), StringIO()
    call_command("workdays", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.mark.django_db
def test_prints_the_date_five_working_days_after_the_monday_before_national_day():
    assert run("2026-09-28", "5") == ("2026-10-10\n", "")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("start", "n", "expected"),
    [
        ("2026-10-01", "1", "2026-10-08"),
        ("2025-12-31", "1", "2026-01-04"),
        ("2026-10-01", "0", "2026-10-08"),
        ("2026-03-09", "0", "2026-03-09"),
        ("2026-02-13", "1", "2026-02-14"),  # Saturday before the Spring Festival is worked
    ],
)
def test_counts_holidays_and_adjusted_weekends(start, n, expected):
    assert run(start, n)[0] == expected + "\n"


@pytest.mark.django_db
def test_uses_the_overrides_entered_in_the_admin():
    HolidayOverride.objects.create(date=date(2026, 10, 9), is_workday=False)

    assert run("2026-09-28", "5")[0] == "2026-10-12\n"


@pytest.mark.django_db
def test_provisional_result_is_marked_on_stderr_only():
    out, err = run(f"{FUTURE_YEAR}-03-01", "5")

    assert "暂定" not in out
    assert date.fromisoformat(out.removesuffix("\n")) > date(FUTURE_YEAR, 3, 1)
    assert "（暂定）" in err
    assert str(FUTURE_YEAR) in err


@pytest.mark.django_db
def test_result_crossing_into_a_year_without_notice_is_provisional():
    out, err = run(f"{FUTURE_YEAR - 1}-12-28", "10")

    assert out.startswith(f"{FUTURE_YEAR}-01-")
    assert "（暂定）" in err


@pytest.mark.django_db
def test_year_with_an_entered_notice_is_not_provisional():
    HolidayOverride.objects.create(date=date(FUTURE_YEAR, 1, 1), is_workday=False, note="元旦")

    out, err = run(f"{FUTURE_YEAR}-03-01", "5")

    assert err == ""
    assert date.fromisoformat(out.removesuffix("\n")) > date(FUTURE_YEAR, 3, 1)


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["2026-13-01", "2026-02-30", "2026/09/28", "20260928", "abc", ""])
def test_bad_date_is_refused_with_a_chinese_message(bad):
    with pytest.raises(CommandError, match="日期格式应为 YYYY-MM-DD"):
        run(bad, "5")


@pytest.mark.django_db
@pytest.mark.parametrize("bad", ["-1", "1.5", "five", "五", "３", "3661", "99999999999999999999"])
def test_bad_count_is_refused_with_a_chinese_message(bad):
    with pytest.raises(CommandError, match="工作日数应为 0 到 3660 之间的整数"):
        run("2026-09-28", bad)


@pytest.mark.django_db
def test_count_past_the_end_of_the_calendar_is_refused():
    with pytest.raises(CommandError, match="超出了日历范围"):
        run("9999-12-28", "5")


@pytest.fixture
def test_database_url(django_db_setup: None, django_db_blocker: Any) -> str:
    """The suite's own test database, already migrated: the subprocess needs no `migrate`."""
    with django_db_blocker.unblock():
        config = connection.settings_dict
        if connection.vendor == "sqlite":
            return f"sqlite:///{config['NAME']}"
        user, host, port = config["USER"], config["HOST"] or "127.0.0.1", config["PORT"] or 5432
        return f"postgres://{user}@{host}:{port}/{config['NAME']}"


def _wenxu(tmp_path: Path, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WENXU_")}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.update(WENXU_TESTING="1", WENXU_DATA_DIR=str(tmp_path), WENXU_DATABASE_URL=database_url)
    return subprocess.run(  # noqa: S603 - our own console script, fixed arguments
        [str(WENXU), *args],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_console_command_prints_only_the_date_and_fails_on_bad_input(tmp_path, test_database_url):
    ok = _wenxu(tmp_path, test_database_url, "workdays", "2026-09-28", "5")
    bad = _wenxu(tmp_path, test_database_url, "workdays", "2026-9-28", "5")

    assert (ok.returncode, ok.stdout, ok.stderr) == (0, "2026-10-10\n", "")
    assert bad.returncode != 0
    assert bad.stdout == ""
    assert "日期格式应为 YYYY-MM-DD" in bad.stderr


def test_console_command_help_explains_the_arguments(tmp_path, test_database_url):
    result = _wenxu(tmp_path, test_database_url, "workdays", "--help")

    assert result.returncode == 0
    assert "DATE" in result.stdout
    assert "N" in result.stdout
    assert "工作日" in result.stdout
