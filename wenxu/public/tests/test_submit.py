"""`/submit`: residents submit a need online (off by default), and its service."""

from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from PIL import Image
from pytest_django.fixtures import Settings as SettingsWrapper

from conftest import World
from wenxu.lib import pinyin
from wenxu.needs import services
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Attachment, Need, NeedEvent
from wenxu.needs.services import RequesterInput
from wenxu.needs.services.online import online_errors
from wenxu.organisations.models import Area
from wenxu.public import submit as submit_view
from wenxu.residents.models import Requester

DESCRIPTION = "东河村村口的路灯坏了一个多月，晚上老人孩子出门看不清路，希望尽快修好。"


@pytest.fixture
def submit_on(settings: SettingsWrapper, tmp_path: Path) -> SettingsWrapper:
    settings.WENXU_PUBLIC_SUBMIT = True
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings


def _form(world: World, **overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "kind": "help",
        "category": world.cat_roads.pk,
        "area": world.village_a.pk,
        "area_q": "东河",
        "description": DESCRIPTION,
        "name": "张三丰",
        "phone": "138 1234 5678",
        "consent": "on",
        "send": "1",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def _png() -> bytes:
    out = BytesIO()
    Image.new("RGB", (64, 48), (30, 120, 200)).save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("path", ["/submit", "/submit/areas?q=东河"])
def test_submission_pages_answer_404_while_the_setting_is_off(
    world: World, client: Client, path: str
) -> None:
    assert client.get(path).status_code == 404
    assert client.post("/submit", _form(world)).status_code == 404
    assert Need.objects.count() == 0


def test_the_form_shows_the_privacy_notice_and_the_consent_boxes(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    response = client.get("/submit")

    html = response.content.decode()
    assert response.status_code == 200
    assert "个人信息说明" in html
    for words in ("用途", "保存期限", "谁能看到", "138****5678"):
        assert words in html
    assert 'name="consent"' in html
    assert "同意办结后在回音墙匿名公开" in html
    assert 'name="website"' in html  # the honeypot
    assert "csrfmiddlewaretoken" in html
    # categories grouped under their parent
    assert '<optgroup label="城乡建设">' in html
    assert "道路与照明" in html


def test_a_valid_submission_registers_one_need_and_shows_the_tracking_code(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    # When a resident submits the form
    response = client.post("/submit", _form(world, public_consent="on"), follow=True)

    # Then exactly one need is registered (待交办) from the online source, without an actor
    need = Need.objects.get()
    assert need.status == "registered"
    assert need.source == "online"
    assert need.kind == "help"
    assert need.area == world.village_a
    assert need.category == world.cat_roads
    assert need.recorded_by is None
    assert need.public_consent is True
    assert need.title.startswith("东河村村口的路灯坏了")
    assert len(need.title) <= 31
    assert need.requester is not None
    assert need.requester.phone == "13812345678"
    assert need.requester.name == "张三丰"
    event = NeedEvent.objects.get(need=need)
    assert event.action == "register"
    assert event.actor is None
    # And the page shows the tracking code with a link to follow it
    html = response.content.decode()
    assert response.status_code == 200
    assert need.tracking_code in html
    assert f"/track?code={need.tracking_code}" in html
    assert "请记下" in html
    assert "13812345678" not in html


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"consent": None}, "consent", "勾选同意"),
        ({"phone": ""}, "phone", "请填写手机号"),
        ({"phone": "12345"}, "phone", "请填写 11 位手机号码"),
        ({"phone": "0571-88886666"}, "phone", "请填写 11 位手机号码"),
        ({"description": "  "}, "description", "请填写诉求内容"),
        ({"description": "路灯坏了"}, "description", "请写得具体一些"),
        ({"description": "路" * 2001}, "description", "最多 2000 字"),
        ({"area": None}, "area", "请搜索并选择"),
        ({"area": "town"}, "area", "请选择到村（社区）或网格一级"),
        ({"area": "abc"}, "area", "请从搜索结果中选择区域"),
        ({"name": "张" * 51}, "name", "称呼最多 50 字"),
    ],
)
def test_bad_input_comes_back_with_the_typed_values_and_creates_nothing(
    submit_on: SettingsWrapper,
    world: World,
    client: Client,
    overrides: dict[str, Any],
    field: str,
    message: str,
) -> None:
    if overrides.get("area") == "town":
        overrides = {"area": world.town_a.pk}

    response = client.post("/submit", _form(world, **overrides))

    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-error-for="{field}"' in html
    assert message in html
    assert Need.objects.count() == 0
    assert Requester.objects.count() == 0
    if field != "description":
        assert DESCRIPTION in html  # what was typed is kept


def test_missing_consent_phone_and_description_are_reported_together(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    response = client.post(
        "/submit", _form(world, consent=None, phone="", description="", name="李四")
    )

    html = response.content.decode()
    for field in ("consent", "phone", "description"):
        assert f'data-error-for="{field}"' in html
    assert 'value="李四"' in html
    assert Need.objects.count() == 0


def test_a_filled_honeypot_looks_like_success_but_stores_nothing(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    response = client.post("/submit", _form(world, website="http://spam.example"), follow=True)

    assert response.status_code == 200
    assert 'data-testid="submit-code"' in response.content.decode()
    assert Need.objects.count() == 0
    assert Requester.objects.count() == 0


def test_too_many_submissions_from_one_address_get_429_and_store_nothing(
    submit_on: SettingsWrapper, world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit_view, "SUBMITS_PER_ADDRESS", (2, 3600))
    for n in range(2):
        client.post("/submit", _form(world, phone=f"1391234567{n}"))
    assert Need.objects.count() == 2

    response = client.post("/submit", _form(world, phone="13912345679"))

    html = response.content.decode()
    assert response.status_code == 429
    assert "提交太频繁" in html
    assert DESCRIPTION in html  # nothing typed is lost
    assert Need.objects.count() == 2
    # another address may still submit
    other = client.post("/submit", _form(world, phone="13912345679"), REMOTE_ADDR="10.0.0.9")
    assert other.status_code == 302
    assert Need.objects.count() == 3


def test_too_many_submissions_with_one_phone_get_429_from_any_address(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    limit = submit_view.SUBMITS_PER_PHONE[0]
    for n in range(limit):
        response = client.post("/submit", _form(world), REMOTE_ADDR=f"10.0.1.{n}")
        assert response.status_code == 302

    response = client.post("/submit", _form(world, phone="+86 13812345678"), REMOTE_ADDR="10.0.2.1")

    assert response.status_code == 429
    assert Need.objects.count() == limit


def test_a_photo_is_kept_with_the_need_re_encoded(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    photo = SimpleUploadedFile("IMG_0001.png", _png(), content_type="image/png")

    response = client.post("/submit", {**_form(world), "photo": photo})

    assert response.status_code == 302
    attachment = Attachment.objects.get()
    assert attachment.need == Need.objects.get()
    assert attachment.kind == "photo"
    assert attachment.content_type == "image/jpeg"
    assert attachment.uploaded_by is None
    assert attachment.thumbnail


def test_a_file_that_is_not_a_photo_is_refused_and_nothing_is_stored(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    fake = SimpleUploadedFile("photo.jpg", b"%PDF-1.4 not a photo", content_type="image/jpeg")

    response = client.post("/submit", {**_form(world), "photo": fake})

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-error-for="photo"' in html
    assert "不是可用的照片" in html
    assert Need.objects.count() == 0
    assert Attachment.objects.count() == 0


def test_area_search_finds_villages_and_grids_by_name_initials_and_township(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    by_name = client.get("/submit/areas", {"q": "东河"}, headers={"HX-Request": "true"})
    by_initials = client.get("/submit/areas", {"q": "xlc"}, headers={"HX-Request": "true"})
    by_township = client.get("/submit/areas", {"q": "西岭乡"})

    html = by_name.content.decode()
    assert f'value="{world.village_a.pk}"' in html
    assert f'value="{world.grid_a.pk}"' in html
    assert f'value="{world.village_b.pk}"' not in html
    assert f'value="{world.town_a.pk}"' not in html  # townships are not offered
    assert "<html" not in html  # a fragment for htmx
    assert f'value="{world.village_b.pk}"' in by_initials.content.decode()
    page = by_township.content.decode()
    assert "<html" in page  # without htmx: a page of links into the form
    assert f"/submit?area={world.grid_b.pk}" in page
    assert f"/submit?area={world.grid_a.pk}" not in page


def test_area_search_shows_at_most_twenty_areas(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    for n in range(25):
        Area.objects.create(name=f"东河村第{n + 2}网格", level="grid", parent=world.village_a)

    results = submit_view.area_search("东河")

    assert len(results.options) == 20
    assert results.more
    assert results.options[0].id == world.village_a.pk  # the village before its grids


def test_the_find_button_lists_areas_without_javascript_and_keeps_what_was_typed(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    response = client.post(
        "/submit", _form(world, area=None, area_q="西岭", find_area="1", send=None)
    )

    html = response.content.decode()
    assert response.status_code == 200
    assert f'name="area" value="{world.village_b.pk}"' in html
    assert DESCRIPTION in html
    assert "data-error-for" not in html
    assert Need.objects.count() == 0


def test_the_area_link_opens_the_form_with_the_area_chosen(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    response = client.get("/submit", {"area": world.grid_b.pk})

    html = response.content.decode()
    assert f'name="area" value="{world.grid_b.pk}" checked' in html


def test_the_service_registers_without_an_actor_and_refuses_bad_input(world: World) -> None:
    with pytest.raises(InvalidInput) as refused:
        services.need_submit_online(
            description="太短",
            category=None,
            area=world.county,
            requester=RequesterInput(phone="123"),
            public_consent=False,
        )
    assert set(refused.value.errors) == {"description", "area", "phone"}
    assert Need.objects.count() == 0

    need = services.need_submit_online(
        title="",
        description="  " + DESCRIPTION,
        category=None,
        area=world.grid_a,
        requester=RequesterInput(phone="１３８１２３４５６７８"),
        public_consent=False,
    )

    assert need.status == "registered"
    assert need.source == "online"
    assert need.description == DESCRIPTION
    assert need.requester is not None
    assert need.requester.phone == "13812345678"
    assert need.events.get().actor is None


def test_a_post_without_the_csrf_token_is_refused(submit_on: SettingsWrapper, world: World) -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post("/submit", _form(world))

    assert response.status_code == 403
    assert Need.objects.count() == 0


# --------------------------------------------------------------------------- hardening


@pytest.mark.parametrize("phone", ["0571-88886666", "021 8888 6666", "(010)62345678"])
def test_a_landline_is_refused_with_a_message_asking_for_a_mobile(world: World, phone: str) -> None:
    errors = online_errors(
        description=DESCRIPTION,
        category=None,
        area=world.grid_a,
        requester=RequesterInput(phone=phone),
    )

    assert errors["phone"] == [
        "请填写 11 位手机号码，以便接收查询码短信（如 13812345678，不能填座机号码）。"
    ]


def test_ipv6_addresses_of_one_64_network_share_the_address_limit(
    submit_on: SettingsWrapper, world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limit of two per address, used up from two addresses of one /64
    monkeypatch.setattr(submit_view, "SUBMITS_PER_ADDRESS", (2, 3600))
    for n in range(2):
        response = client.post(
            "/submit", _form(world, phone=f"1391234567{n}"), REMOTE_ADDR=f"2001:db8:1:2::{n + 1}"
        )
        assert response.status_code == 302

    # When a third address of the same /64 submits
    same = client.post(
        "/submit", _form(world, phone="13912345678"), REMOTE_ADDR="2001:db8:1:2:ffff::9"
    )
    other = client.post("/submit", _form(world, phone="13912345679"), REMOTE_ADDR="2001:db8:1:3::1")

    # Then it waits; another /64 does not
    assert same.status_code == 429
    assert other.status_code == 302
    assert Need.objects.count() == 3


def test_the_whole_site_caps_online_submissions_per_hour(
    submit_on: SettingsWrapper, world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit_view, "SUBMITS_PER_HOUR_ALL", 2)
    for n in range(2):
        response = client.post(
            "/submit", _form(world, phone=f"1391234567{n}"), REMOTE_ADDR=f"10.0.3.{n}"
        )
        assert response.status_code == 302

    response = client.post("/submit", _form(world, phone="13912345678"), REMOTE_ADDR="10.0.4.1")

    html = response.content.decode()
    assert response.status_code == 429
    assert "提交太频繁" in html
    assert DESCRIPTION in html  # nothing typed is lost
    assert Need.objects.count() == 2


def test_the_honeypot_stores_no_session(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    for _n in range(3):
        response = client.post("/submit", _form(world, website="http://spam.example"))
        assert 'data-testid="submit-code"' in response.content.decode()

    assert Session.objects.count() == 0
    assert Need.objects.count() == 0


def test_the_tracking_code_is_shown_once(
    submit_on: SettingsWrapper, world: World, client: Client
) -> None:
    # Given a resident who submitted on a shared device and saw the code
    first = client.post("/submit", _form(world), follow=True)
    code = Need.objects.get().tracking_code
    assert code in first.content.decode()

    # When the next person opens the done page again
    again = client.get("/submit", {"done": "1"})

    # Then they get the empty form, not the code
    html = again.content.decode()
    assert code not in html
    assert 'data-testid="submit-form"' in html


def test_messages_for_keys_without_a_field_are_shown_in_the_banner(
    submit_on: SettingsWrapper, world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_kwargs: Any) -> Need:
        raise InvalidInput({"requester": ["群众信息不完整，请联系工作人员登记。"]})

    monkeypatch.setattr(services, "need_submit_online", refuse)

    response = client.post("/submit", _form(world))

    html = response.content.decode()
    assert 'data-testid="submit-errors"' in html
    assert "群众信息不完整，请联系工作人员登记。" in html
    assert "标红" not in html  # nothing is marked red: the banner does not point there


def test_the_area_search_is_rate_limited_per_address(
    submit_on: SettingsWrapper, world: World, client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(submit_view, "AREA_SEARCHES_PER_ADDRESS", (3, 600))
    for _n in range(3):
        assert client.get("/submit/areas", {"q": "东河"}).status_code == 200

    page = client.get("/submit/areas", {"q": "东河"})
    fragment = client.get("/submit/areas", {"q": "东河"}, headers={"HX-Request": "true"})
    elsewhere = client.get("/submit/areas", {"q": "东河"}, REMOTE_ADDR="10.0.5.1")

    assert page.status_code == 429
    assert "查找太频繁了" in page.content.decode()
    assert "查找太频繁了" in fragment.content.decode()
    assert f'value="{world.village_a.pk}"' not in fragment.content.decode()
    assert elsewhere.status_code == 200


@pytest.mark.parametrize("query", ["d", "1", "-", "7 "])
def test_the_area_search_needs_a_chinese_character_or_two_letters(
    submit_on: SettingsWrapper,
    world: World,
    client: Client,
    query: str,
    django_assert_max_num_queries: Any,
) -> None:
    with django_assert_max_num_queries(0):
        results = submit_view.area_search(query)
    response = client.get("/submit/areas", {"q": query}, headers={"HX-Request": "true"})

    assert results.options == []
    assert results.too_short
    assert "请至少输入 1 个汉字或 2 个拼音字母" in response.content.decode()


def test_pinyin_searches_reuse_the_cached_area_list(
    submit_on: SettingsWrapper,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
    django_assert_max_num_queries: Any,
) -> None:
    # Given a first pinyin search that built the list of areas with their pinyin
    assert submit_view.area_search("dhc").options
    computed: list[str] = []

    def romanise(name: str) -> str:
        computed.append(name)
        return ""

    monkeypatch.setattr(pinyin, "initials", romanise)
    monkeypatch.setattr(pinyin, "spelled", romanise)

    # When more letters are typed
    with django_assert_max_num_queries(1):  # the cache read
        by_initials = submit_view.area_search("dhcd")
    with django_assert_max_num_queries(1):
        by_township = submit_view.area_search("xiling")

    # Then no area is loaded or romanised again, and the matches are right
    assert computed == []
    assert [o.id for o in by_initials.options] == [world.grid_a.pk]
    assert {o.id for o in by_township.options} >= {world.village_b.pk, world.grid_b.pk}
    assert world.village_a.pk not in {o.id for o in by_township.options}
