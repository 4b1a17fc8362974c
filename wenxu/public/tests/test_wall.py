"""`/wall` (回音墙): consented resolved needs, anonymised, and units' responsiveness."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client
from pytest_django.fixtures import Settings

from conftest import World
from wenxu.lib import clock, ids
from wenxu.needs import services
from wenxu.needs.models import Need, ReopenRequest
from wenxu.needs.rating import rating_link_issue
from wenxu.needs.services import RequesterInput
from wenxu.organisations.models import Unit
from wenxu.public import responsiveness
from wenxu.public.responsiveness import scrub, unit_responsiveness, wilson_lower_bound

SECRETS = "张三丰 13812345678 110101199003071234"
HOUR = timedelta(hours=1)


@pytest.fixture
def wall_on(settings: Settings) -> Settings:
    settings.WENXU_PUBLIC_WALL = True
    return settings


def _closed(
    world: World,
    *,
    consent: bool = True,
    resolved: str = "yes",
    satisfaction: str = "",
    description: str = "",
    reply_text: str = "",
    **overrides: Any,
) -> Need:
    need = world.in_progress(
        description=description or "东河村村口三盏路灯坏了一个多月，晚上出行不便。",
        **overrides,
    )
    Need.objects.filter(pk=need.pk).update(public_consent=consent)
    need.refresh_from_db()
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text=reply_text or "已更换路灯，恢复照明。",
    )
    return services.need_callback(
        actor=world.dispatcher,
        need=need,
        version=need.version,
        channel="phone",
        resolved=resolved,
        satisfaction=satisfaction or ("satisfied" if resolved == "yes" else "dissatisfied"),
    )


def test_the_wall_answers_404_while_the_setting_is_off(world: World, client: Client) -> None:
    _closed(world)

    assert client.get("/wall").status_code == 404


def test_the_wall_shows_consented_resolved_needs_anonymised(
    wall_on: Settings, world: World, client: Client
) -> None:
    # Given a consented, resolved need whose texts hold the requester's name, phone and ID
    shown = _closed(
        world,
        requester=RequesterInput(
            name="张三丰", phone="13812345678", id_number="110101199003071234"
        ),
        description=f"我是{SECRETS}，村口路灯坏了，三丰家门口最暗。邮箱 zsf@example.com",
        reply_text=f"已联系{SECRETS}，住建承办人已更换路灯，电话 0571-88886666。",
        area=world.grid_a,
    )

    response = client.get("/wall")

    html = response.content.decode()
    assert response.status_code == 200
    assert "村口路灯坏了" in html
    assert "已更换路灯" in html
    assert "东河村" in html  # the village, not the grid
    assert "东河村第一网格" not in html
    assert "道路与照明" in html
    for secret in (
        "张三丰",
        "三丰",
        "13812345678",
        "110101199003071234",
        "zsf@example.com",
        "88886666",
        "住建承办人",  # the handler's name
        str(world.dispatcher),
        shown.tracking_code,
        shown.number,
    ):
        assert secret not in html, secret


def test_the_wall_hides_needs_without_consent_unresolved_or_still_active(
    wall_on: Settings, world: World, client: Client
) -> None:
    _closed(world, description="同意公开并已解决的路灯诉求，内容足够长。")
    _closed(world, consent=False, description="没有同意公开的诉求，不能上墙。")
    _closed(world, resolved="no", description="回访说没有解决的诉求，不能上墙。")
    active = world.replied(description="已答复还没回访的诉求，不能上墙。")
    Need.objects.filter(pk=active.pk).update(public_consent=True)

    html = client.get("/wall").content.decode()

    assert "同意公开并已解决的路灯诉求" in html
    assert "没有同意公开" not in html
    assert "回访说没有解决" not in html
    assert "已答复还没回访" not in html
    assert html.count('data-testid="wall-entry"') == 1


def test_the_wall_hides_unsatisfied_verdicts_and_confidential_requesters(
    wall_on: Settings, world: World, client: Client
) -> None:
    _closed(world, resolved="partly", satisfaction="basic", description="部分解决基本满意的诉求。")
    _closed(world, resolved="partly", satisfaction="dissatisfied", description="部分解决但不满意。")
    _closed(
        world, resolved="yes", satisfaction="very_dissatisfied", description="解决了却非常不满意。"
    )
    _closed(
        world,
        description="保密的群众反映的诉求，不能上墙。",
        requester=RequesterInput(name="王五", phone="13912345670", confidential=True),
    )

    html = client.get("/wall").content.decode()

    assert "部分解决基本满意" in html
    assert "部分解决但不满意" not in html
    assert "非常不满意" not in html
    assert "保密的群众" not in html
    assert html.count('data-testid="wall-entry"') == 1


def test_a_disputed_case_stays_off_the_wall_while_pending_and_after_a_decline(
    wall_on: Settings, world: World, client: Client
) -> None:
    # Given a resident who answers 部分解决 + 不满意 by the rating link and agrees to be shown
    need = world.replied(description="有争议的路灯诉求，群众申请重办。")
    need = services.need_rate(
        link=rating_link_issue(need),
        resolved="partly",
        satisfaction="dissatisfied",
        public_consent=True,
    )
    request = ReopenRequest.objects.get(need=need)
    assert need.public_consent
    assert request.state == "pending"

    pending = client.get("/wall").content.decode()
    # When the dispatcher declines to reopen it
    need.refresh_from_db()
    services.reopen_request_decline(
        actor=world.dispatcher, request=request, version=need.version, reason="已按政策答复。"
    )
    declined = client.get("/wall").content.decode()

    # Then it is never shown as a success
    assert "有争议的路灯诉求" not in pending
    assert "有争议的路灯诉求" not in declined
    assert Need.objects.filter(pk=need.pk, status="closed").exists()


def test_the_wall_shows_only_the_last_ninety_days_newest_first(
    wall_on: Settings, world: World, client: Client
) -> None:
    with time_machine.travel(datetime(2026, 3, 2, 10, tzinfo=UTC), tick=False):
        _closed(world, description="一百多天前办结的旧诉求，不再显示。")
    with time_machine.travel(datetime(2026, 6, 1, 10, tzinfo=UTC), tick=False):
        _closed(world, description="较早办结的诉求，排在后面。")
    with time_machine.travel(datetime(2026, 6, 20, 10, tzinfo=UTC), tick=False):
        _closed(world, description="最近办结的诉求，排在前面。")

        html = client.get("/wall").content.decode()

    assert "旧诉求" not in html
    assert html.index("最近办结") < html.index("较早办结")


def test_the_wall_pages_with_a_bounded_number_of_queries(
    wall_on: Settings,
    world: World,
    client: Client,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
) -> None:
    monkeypatch.setattr(responsiveness, "PER_PAGE", 2)
    for n in range(5):
        _closed(
            world,
            description=f"第{n}件公开的诉求，内容足够长。",
            requester=RequesterInput(name=f"李{n}明", phone=f"1391234567{n}"),
        )

    with django_assert_max_num_queries(6):
        first = client.get("/wall")
    with django_assert_max_num_queries(6):
        last = client.get("/wall", {"page": 3})

    assert first.content.decode().count('data-testid="wall-entry"') == 2
    assert 'data-testid="wall-measures"' in first.content.decode()
    assert last.content.decode().count('data-testid="wall-entry"') == 1
    assert "第0件" in last.content.decode()


# --------------------------------------------------------------------------- scrubbing


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("张三丰 13812345678 110101199003071234", ["张三丰", "13812345678", "110101199003071234"]),
        ("电话138-1234-5678或+86 139 1234 5678", ["5678"]),
        ("全角１３８１２３４５６７８", ["１２３４５６７８"]),
        ("座机(0571)88886666转123，或 010-62345678", ["88886666", "62345678"]),
        ("身份证11010119900307123X", ["11010119900307123X", "0307"]),
        ("邮箱 zhang.sf@qq.com", ["zhang.sf", "qq.com"]),
        ("编号 WX-2026-000123", ["000123"]),
        ("三丰家门口", ["三丰"]),
        ("电话13812 345678找我", ["345678", "13812"]),
        ("电话138-1234-5678", ["1234", "5678"]),
        ("电话 138 1234 5678。", ["1234", "5678"]),
        ("手机 1381 234 5678", ["234", "5678"]),
        ("座机 0571 8888 6666", ["8888", "6666"]),
    ],
)
def test_scrub_masks_names_phones_ids_and_emails(text: str, leaked: list[str]) -> None:
    out = scrub(text, names=["张三丰"])

    for secret in leaked:
        assert secret not in out
    assert "*" in out


def test_scrub_keeps_ordinary_text_and_short_numbers() -> None:
    text = "3盏路灯坏了2个月，2026年5月1日报修，花了1200元。"

    assert scrub(text, names=["王"]) == text


# --------------------------------------------------------------------------- responsiveness


def _reply(unit: Unit, world: World, *, took: timedelta, on_time: bool = True) -> Need:
    """A need the unit replied to `took` after assignment, in or after its deadline."""
    replied = clock.now() - timedelta(days=3)
    assigned = replied - took
    return Need.objects.create(
        number=f"WX-2026-{Need.objects.count() + 1:06d}",
        tracking_code=ids.tracking_code(),
        title="测试",
        description="测试",
        kind="help",
        source="visit",
        area=world.grid_a,
        registered_at=assigned,
        status="replied",
        lead_unit=unit,
        assigned_at=assigned,
        resolve_due=replied + HOUR if on_time else replied - HOUR,
        replied_at=replied,
        outcome="resolved",
        reply_text="已办理。",
    )


def test_a_unit_with_one_fast_reply_is_not_ranked_above_a_busy_mostly_on_time_one(
    world: World,
) -> None:
    # Given 住建局 with one very fast on-time reply, and 交通局 with 20 replies, 18 on time
    _reply(world.housing, world, took=HOUR)
    for n in range(20):
        _reply(world.transport, world, took=30 * HOUR, on_time=n >= 2)
    # and 东河镇 with five replies, all on time but slow
    for _n in range(5):
        _reply(world.town_a_gov, world, took=90 * HOUR)

    result = unit_responsiveness()

    assert [m.unit for m in result.ranked] == ["县交通局", "东河镇"]
    assert [m.unit for m in result.few] == ["县住建局"]
    transport = result.ranked[0]
    assert (transport.replies, transport.on_time) == (20, 18)
    assert transport.on_time_share == pytest.approx(0.9)


def test_the_wilson_bound_trusts_many_cases_more_than_few() -> None:
    assert wilson_lower_bound(5, 5) < wilson_lower_bound(18, 20)
    assert wilson_lower_bound(1, 1) < wilson_lower_bound(4, 5)
    assert wilson_lower_bound(0, 0) == 0.0
    assert wilson_lower_bound(20, 20) < 1.0


def test_the_median_time_to_reply_is_computed_per_unit(world: World) -> None:
    for hours in (10, 1, 3):  # odd count: the middle one
        _reply(world.housing, world, took=hours * HOUR)
    for hours in (2, 100, 6, 4):  # even count: the mean of the two middle ones
        _reply(world.transport, world, took=hours * HOUR)

    by_unit = {m.unit: m for m in (*unit_responsiveness().ranked, *unit_responsiveness().few)}

    assert by_unit["县住建局"].median == 3 * HOUR
    assert by_unit["县交通局"].median == 5 * HOUR
    assert by_unit["县交通局"].median_label == "5 小时"


def test_replies_older_than_ninety_days_do_not_count(world: World) -> None:
    old = _reply(world.housing, world, took=HOUR)
    Need.objects.filter(pk=old.pk).update(replied_at=clock.now() - timedelta(days=91))
    _reply(world.housing, world, took=2 * HOUR)

    (measure,) = unit_responsiveness().few

    assert measure.replies == 1
    assert measure.median == 2 * HOUR


def test_the_page_explains_the_ranking_rule_and_lists_small_units_apart(
    wall_on: Settings, world: World, client: Client
) -> None:
    _reply(world.housing, world, took=HOUR)
    for _n in range(6):
        _reply(world.transport, world, took=50 * HOUR)

    html = client.get("/wall").content.decode()

    assert "件数较少，暂不排名" in html
    assert "威尔逊下限" in html
    ranked = html[html.index('data-testid="wall-ranked"') : html.index('data-testid="wall-few"')]
    assert "县交通局" in ranked
    assert "县住建局" not in ranked
    assert "2.1 天" in ranked


def _overdue(unit: Unit, world: World, *, days_late: int = 2) -> Need:
    """A need assigned to the unit, past its deadline and still without a reply."""
    due = clock.now() - timedelta(days=days_late)
    return Need.objects.create(
        number=f"WX-2026-{Need.objects.count() + 1:06d}",
        tracking_code=ids.tracking_code(),
        title="测试",
        description="测试",
        kind="help",
        source="visit",
        area=world.grid_a,
        registered_at=due - 10 * HOUR,
        status="in_progress",
        lead_unit=unit,
        assigned_at=due - 10 * HOUR,
        resolve_due=due,
    )


def test_overdue_unreplied_needs_count_as_late_in_the_on_time_share(
    world: World, django_assert_max_num_queries: Any
) -> None:
    # Given 住建局 with 10 replies, all on time
    for _n in range(10):
        _reply(world.housing, world, took=HOUR)
    # and 交通局 with 30 on-time replies (ahead on replies alone) but 20 needs overdue
    for _n in range(30):
        _reply(world.transport, world, took=HOUR)
    for _n in range(20):
        _overdue(world.transport, world)
    # (not due yet, or due before the window: not counted)
    _overdue(world.transport, world, days_late=-3)
    _overdue(world.transport, world, days_late=120)

    with django_assert_max_num_queries(2):
        result = unit_responsiveness()

    # Then the unit sitting on overdue cases ranks below the one that answers
    assert [m.unit for m in result.ranked] == ["县住建局", "县交通局"]
    transport = result.ranked[1]
    assert (transport.cases, transport.replies, transport.on_time) == (50, 30, 30)
    assert transport.overdue == 20
    assert transport.on_time_share == pytest.approx(0.6)


def test_a_unit_with_only_overdue_needs_is_listed(world: World) -> None:
    for _n in range(6):
        _overdue(world.transport, world)

    (measure,) = unit_responsiveness().ranked

    assert (measure.cases, measure.replies, measure.on_time) == (6, 0, 0)
    assert measure.median is None


def test_scrub_masks_latin_names_and_spaced_or_long_numbered_addresses() -> None:
    from wenxu.public.responsiveness import scrub

    text = "john  SMITH 说 Smith 家在 东河村 幸福路 1234567 号，Smithson 不是他。"
    out = scrub(text, names=["John Smith"], secrets=["东河村幸福路1234567号"])

    assert "smith" not in out.lower().replace("smithson", "")
    assert "john" not in out.lower()
    assert "Smithson" in out  # another word that merely starts with the name stays
    assert "幸福路" not in out
    assert "1234567" not in out
