"""`wenxu apikey_create`: prints a new client key once (last line of stdout), a summary on
stderr; errors exit non-zero with a message and store nothing."""

from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command, execute_from_command_line
from django.db import connections

from wenxu.integrations.models import ApiClient
from wenxu.integrations.services import api_client_authenticate, api_client_issue
from wenxu.lib import clock
from wenxu.organisations.models import Area

pytestmark = pytest.mark.django_db


def _run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("apikey_create", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_prints_the_key_alone_on_the_last_line_of_stdout(world: Any) -> None:
    out, err = _run("--name", "12345 热线平台")
    raw = out.strip().splitlines()[-1]
    assert raw.startswith("wxk_")
    key = ApiClient.objects.get()
    assert api_client_authenticate(raw=raw) == key
    assert key.actions == ["read", "create"]  # the default
    assert not key.areas.exists()
    assert key.expires_at is None
    assert key.created_by is None
    assert raw not in err
    assert "已创建接口密钥“12345 热线平台”" in err
    assert "全部区域" in err


def test_areas_by_code_or_unique_name_actions_source_limit_and_days(world: Any) -> None:
    _out, err = _run(
        "--name",
        "东河热线",
        "--area",
        "330100",  # 青山县 by its code
        "--area",
        "东河镇",  # by its name
        "--action",
        "read",
        "--action",
        "webhooks",
        "--source",
        "hotline",
        "--rate-limit",
        "30",
        "--days",
        "90",
    )
    key = ApiClient.objects.get()
    assert set(key.areas.all()) == {world.county, world.town_a}
    assert key.actions == ["read", "webhooks"]
    assert (key.source, key.rate_limit) == ("hotline", 30)
    assert key.expires_at is not None
    assert timedelta(days=89) < key.expires_at - clock.now() <= timedelta(days=90)
    assert "查询诉求、接收事件推送" in err
    assert "热线" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--area", "999999"], "找不到区划代码或名称为“999999”的区域"),
        (["--area", "同名村"], "有多个区域名为“同名村”"),
        (["--action", "delete"], "未知的操作：delete"),
        (["--action", "read", "--action", "write"], "未知的操作：write"),
        (["--source", "fax"], "未知的诉求来源：fax"),
        (["--rate-limit", "0"], "每分钟请求上限至少为 1"),
        (["--days", "0"], "--days 至少为 1"),
    ],
)
def test_errors_exit_with_a_message_and_store_nothing(
    world: Any, args: list[str], message: str
) -> None:
    Area.objects.create(name="同名村", level="village", parent=world.town_a)
    Area.objects.create(name="同名村", level="village", parent=world.town_b)
    with pytest.raises(CommandError, match=message):
        _run("--name", "新密钥", *args)
    assert not ApiClient.objects.exists()


def test_a_duplicate_name_is_refused(world: Any) -> None:
    api_client_issue(name="12345 热线平台")
    with pytest.raises(CommandError, match="已有同名的接口密钥“12345 热线平台”"):
        _run("--name", "12345 热线平台")
    assert ApiClient.objects.count() == 1


def test_a_blank_name_is_refused(world: Any) -> None:
    with pytest.raises(CommandError, match="请用 --name 填写名称"):
        _run("--name", "  ")
    assert not ApiClient.objects.exists()


def test_the_command_exits_non_zero(
    world: Any, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the command-line entry point: a refusal is exit status 1, the message on stderr.
    # (The entry point closes the connections when done; the test still needs its own.)
    monkeypatch.setattr(connections, "close_all", lambda: None)
    with pytest.raises(SystemExit) as exit_info:
        execute_from_command_line(["wenxu", "apikey_create", "--name", "x", "--action", "bad"])
    assert exit_info.value.code == 1
    captured = capsys.readouterr()
    assert "未知的操作：bad" in captured.err
    assert captured.out == ""
    assert not ApiClient.objects.exists()
