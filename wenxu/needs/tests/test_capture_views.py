"""登记诉求: the capture form, its pickers and hints, and the attachments it keeps.

Personas (root conftest): `officer` registers in 东河镇, `officer_b` in 西岭乡 (must get 404 for
东河镇's attachments), `dispatcher` covers the county, `handler` and `leader` may not register.
"""

import re
import zipfile
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.http import FileResponse
from django.test import Client
from django.urls import reverse
from PIL import Image

from wenxu.needs import selectors, services
from wenxu.needs.models import Attachment, Need, NeedEvent
from wenxu.residents.models import Requester

URL = "/needs/new/"
SPECIFIC = "东河村三组 12 户村民反映，最近一个月自来水每天下午停两三个小时，老人做饭困难。"


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    settings.MEDIA_ROOT = root
    return root


def _stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def _post(client: Client, world: Any, **overrides: Any) -> Any:
    data: dict[str, Any] = {
        "title": "东河村三组自来水经常停水",
        "description": SPECIFIC,
        "kind": "help",
        "urgency": "normal",
        "source": "visit",
        "area": world.grid_a.pk,
        "requester_kind": "person",
    }
    data.update(overrides)
    return client.post(URL, {k: v for k, v in data.items() if v is not None})


def _page(response: Any) -> str:
    text: str = response.content.decode()
    return text


def _jpeg(size: tuple[int, int] = (4000, 3000), *, orientation: int = 1) -> bytes:
    """A phone-like photo: EXIF with the camera and the GPS position where it was taken."""
    image = Image.new("RGB", size, (200, 120, 40))
    exif = Image.Exif()
    exif[0x010F] = "TestPhone"
    exif[0x0112] = orientation
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (31.0, 14.0, 5.0)
    gps[3] = "E"
    gps[4] = (121.0, 28.0, 0.0)
    out = BytesIO()
    image.save(out, "JPEG", exif=exif, quality=70)
    return out.getvalue()


def _png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = BytesIO()
    Image.new("RGBA", size, (0, 128, 0, 128)).save(out, "PNG")
    return out.getvalue()


def _docx() -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def _upload(name: str, content: bytes, content_type: str = "image/jpeg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=content_type)


# --------------------------------------------------------------------------- who may


def test_handler_and_leader_get_403(client: Client, world: Any) -> None:
    for user in (world.handler, world.leader, world.outsider):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert client.get(reverse("needs:capture_areas"), {"q": "dhc"}).status_code == 403
        assert _post(client, world).status_code == 403
    assert not Need.objects.exists()


def test_anonymous_is_sent_to_login(client: Client, world: Any) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_form_lists_only_areas_in_the_officers_scope(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    page = _page(client.get(URL))
    assert "东河村第一网格" in page
    assert "西岭村" not in page
    assert 'name="on_the_spot"' in page


# --------------------------------------------------------------------------- registering


def test_officer_registers_need_without_requester(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    response = _post(client, world, nature_tags=["urgent", "worrying"], address="东河村三组")

    need = Need.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("needs:detail", args=[need.number])
    assert need.status == "registered"
    assert need.requester is None
    assert need.recorded_by == world.officer
    assert need.area == world.grid_a
    assert need.nature_tags == ["urgent", "worrying"]
    assert need.address == "东河村三组"
    assert list(need.events.values_list("action", flat=True)) == ["register"]
    flashed = [str(m) for m in response.wsgi_request._messages]
    assert flashed == [f"已登记，台账编号 {need.number}"]
    assert re.fullmatch(r"WX-\d{4}-\d{6}", need.number)


def test_officer_registers_need_with_requester(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    _post(
        client,
        world,
        requester_name="张桂英",
        requester_phone="+86 138 1234 5678",
        requester_kind="household",
        requester_confidential="on",
        requester_address="东河村三组 8 号",
        category=world.cat_water.pk,
        latitude="30.274085",
        longitude="120.155070",
    )

    need = Need.objects.select_related("requester").get()
    assert need.requester is not None
    assert need.requester.name == "张桂英"
    assert need.requester.phone == "13812345678"
    assert need.requester.kind == "household"
    assert need.requester.confidential is True
    assert need.requester.address == "东河村三组 8 号"
    assert need.category == world.cat_water
    assert str(need.latitude) == "30.274085"
    assert str(need.longitude) == "120.155070"


def test_dispatcher_registers_in_any_township_but_not_on_the_spot(
    client: Client, world: Any
) -> None:
    client.force_login(world.dispatcher)
    assert 'name="on_the_spot"' not in _page(client.get(URL))

    response = _post(client, world, area=world.grid_b.pk, on_the_spot="on", reply_text="已修好")
    assert response.status_code == 200
    assert "只有走访干部或网格员可以现场办结" in _page(response)
    assert not Need.objects.exists()

    response = _post(client, world, area=world.grid_b.pk)
    assert response.status_code == 302
    assert Need.objects.get().area == world.grid_b


def test_on_the_spot_confirmed_by_the_resident_is_closed(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    response = _post(
        client,
        world,
        on_the_spot="on",
        reply_text="现场联系水站，更换了三组的减压阀，当场恢复供水。",
        confirmed="on",
        satisfaction="very_satisfied",
    )

    assert response.status_code == 302
    need = Need.objects.get()
    assert need.status == "closed"
    assert need.handling == "on_the_spot"
    assert need.outcome == "resolved"
    assert need.reply_text == "现场联系水站，更换了三组的减压阀，当场恢复供水。"
    assert need.callback_satisfaction == "very_satisfied"
    assert need.callback_channel == "on_site"
    assert need.events.get().action == "register_on_the_spot"


def test_on_the_spot_without_confirmation_is_replied(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    # a satisfaction chosen before "confirmed" was switched off again is not kept
    _post(client, world, on_the_spot="on", reply_text="已疏通水管。", satisfaction="satisfied")

    need = Need.objects.get()
    assert need.status == "replied"
    assert need.callback_satisfaction == ""


def test_on_the_spot_needs_what_was_done_and_confirmation_needs_satisfaction(
    client: Client, world: Any
) -> None:
    client.force_login(world.officer)

    response = _post(client, world, on_the_spot="on", reply_text=" ", confirmed="on")

    page = _page(response)
    assert "请填写现场办理情况" in page
    assert "群众现场确认时请选择满意度" in page
    # the section stays open, with what was typed
    assert 'id="wx-spot" class="pt-2" hidden' not in page
    assert not Need.objects.exists()


def test_area_outside_the_officers_scope_is_refused(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    response = _post(client, world, area=world.grid_b.pk)

    assert response.status_code == 200
    assert "该区域不在您的登记范围内" in _page(response)
    assert not Need.objects.exists()


def test_empty_form_says_what_is_missing_per_field(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    response = client.post(URL, {"source": "visit", "requester_kind": "person"})

    page = _page(response)
    assert "还没有登记：请按标红的提示修改后再提交" in page
    for message in ("请填写标题", "请填写诉求内容", "请选择诉求类型", "请选择诉求所属的区域"):
        assert message in page
    assert 'aria-invalid="true"' in page
    assert not Need.objects.exists()
    assert not Requester.objects.exists()


def test_bad_input_keeps_everything_typed_and_asks_for_files_again(
    client: Client, world: Any, media: Path
) -> None:
    client.force_login(world.officer)

    response = _post(
        client,
        world,
        title="",
        requester_name="李建国",
        requester_phone="0571-888",
        address="东河村村委会门口",
        category=world.cat_roads.pk,
        nature_tags=["hoped_for"],
        photos=_upload("site.jpg", _jpeg((200, 100))),
    )

    page = _page(response)
    assert "请填写标题" in page
    assert "联系电话格式不对" in page
    assert "刚才选的照片和文件没有保存，请修改后重新选择" in page
    assert "最近一个月自来水每天下午停两三个小时" in page
    assert 'value="李建国"' in page
    assert 'value="东河村村委会门口"' in page
    assert f'<option value="{world.grid_a.pk}" selected>' in page
    assert f'<option value="{world.cat_roads.pk}" selected>' in page
    assert re.search(r'value="hoped_for"[^>]*checked', page)
    assert not Need.objects.exists()
    assert _stored_files(media) == []


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 19912345678", "19912345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("0571-88886666", "0571-88886666"),
        ("(0571) 8888 6666", "0571-88886666"),
        ("01062345678", "010-62345678"),
        ("0571-88886666-123", "0571-88886666-123"),
    ],
)
def test_phone_numbers_people_write_are_accepted(
    client: Client, world: Any, typed: str, stored: str
) -> None:
    client.force_login(world.officer)
    _post(client, world, requester_name="王五", requester_phone=typed)
    requester = Need.objects.get().requester
    assert requester is not None
    assert requester.phone == stored


@pytest.mark.parametrize(
    "typed",
    ["12812345678", "1381234567", "138123456789", "88886666", "0571-1234", "电话不详", "10086"],
)
def test_wrong_phone_numbers_are_refused_in_chinese(client: Client, world: Any, typed: str) -> None:
    client.force_login(world.officer)
    response = _post(client, world, requester_phone=typed)
    assert "联系电话格式不对：手机号是 1 开头的 11 位数字" in _page(response)
    assert not Need.objects.exists()


def test_requester_address_alone_is_refused(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    response = _post(client, world, requester_address="东河村三组 8 号")
    assert "请同时填写姓名或联系电话" in _page(response)
    assert not Need.objects.exists()


# --------------------------------------------------------------------------- attachments


def test_photo_is_downscaled_and_its_exif_with_gps_removed(
    client: Client, world: Any, media: Path
) -> None:
    original = _jpeg((4000, 3000))
    assert Image.open(BytesIO(original)).getexif().get_ifd(0x8825)  # the test photo has GPS
    client.force_login(world.officer)

    response = _post(client, world, photos=_upload("IMG_0001.JPG", original))

    assert response.status_code == 302
    photo = Attachment.objects.get()
    assert photo.kind == "photo"
    assert photo.original_name == "IMG_0001.JPG"
    assert photo.content_type == "image/jpeg"
    assert photo.uploaded_by == world.officer
    assert re.fullmatch(r"attachments/\d{4}/\d{2}/[\w-]+\.jpg", photo.file.name)
    data = (media / photo.file.name).read_bytes()
    assert photo.size == len(data)
    stored = Image.open(BytesIO(data))
    assert stored.format == "JPEG"
    assert stored.size == (1600, 1200)
    assert len(stored.getexif()) == 0
    assert b"Exif" not in data
    assert b"TestPhone" not in data
    thumbnail = Image.open(media / photo.thumbnail.name)
    assert max(thumbnail.size) == 320


def test_photo_orientation_is_applied_before_exif_is_dropped(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    # taken with the phone turned: stored 300×200, shown rotated (EXIF orientation 6)
    _post(client, world, photos=_upload("turned.jpg", _jpeg((300, 200), orientation=6)))
    with Attachment.objects.get().file.open("rb") as stored:
        assert Image.open(stored).size == (200, 300)


def test_png_and_documents_are_kept(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    response = _post(
        client,
        world,
        photos=[_upload("transparent.png", _png(), "image/png")],
        documents=[
            _upload("联名信.pdf", b"%PDF-1.7\n1 0 obj\n<<>>\nendobj\n%%EOF", "application/pdf"),
            _upload("情况说明.docx", _docx(), "application/octet-stream"),
        ],
    )

    assert response.status_code == 302
    kept = {a.original_name: a for a in Attachment.objects.all()}
    assert kept["transparent.png"].content_type == "image/jpeg"
    assert kept["联名信.pdf"].content_type == "application/pdf"
    assert kept["联名信.pdf"].file.name.endswith(".pdf")
    assert kept["情况说明.docx"].file.name.endswith(".docx")
    assert kept["情况说明.docx"].kind == "document"


def test_jpg_that_is_really_text_is_refused(client: Client, world: Any, media: Path) -> None:
    client.force_login(world.officer)

    response = _post(client, world, photos=_upload("photo.jpg", b"just some text, not a photo"))

    assert "“photo.jpg”不是可用的照片：只支持 JPEG、PNG、WebP 格式的图片" in _page(response)
    assert not Need.objects.exists()
    assert _stored_files(media) == []


def test_document_with_a_pdf_name_but_other_content_is_refused(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    for name, content in [
        ("report.pdf", b"MZ\x90\x00 not a pdf"),
        ("table.xlsx", b"PK\x03\x04 broken zip"),
        ("old.doc", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 ole"),
        ("photo.docx", _jpeg((50, 50))),
    ]:
        response = _post(client, world, documents=_upload(name, content, "application/pdf"))
        assert f"“{name}”不是可用的文件：只支持 PDF、Word（docx）和 Excel（xlsx）" in _page(
            response
        )
    assert not Need.objects.exists()


def test_file_over_10_mb_is_refused(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    big = b"%PDF-1.7\n" + b"0" * (10 * 1024 * 1024)

    response = _post(client, world, documents=_upload("big.pdf", big, "application/pdf"))

    assert "“big.pdf”有 10.0 MB，超过了每个文件 10 MB 的上限" in _page(response)
    assert not Need.objects.exists()


def test_more_than_nine_files_are_refused(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    photos = [_upload(f"p{i}.png", _png(), "image/png") for i in range(7)]
    documents = [_upload(f"d{i}.pdf", b"%PDF-1.4 x", "application/pdf") for i in range(3)]

    response = _post(client, world, photos=photos, documents=documents)

    assert "每项诉求最多 9 个附件（照片和文件合计），这次选了 10 个" in _page(response)
    assert not Need.objects.exists()


def test_nothing_is_kept_when_storing_an_attachment_fails(
    client: Client, world: Any, media: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the second attachment fails after the first was written
    real = services.attachment_add
    calls: list[int] = []

    def failing(**kwargs: Any) -> Attachment:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(services, "attachment_add", failing)
    client.force_login(world.officer)
    client.raise_request_exception = False

    response = _post(
        client,
        world,
        photos=[_upload("a.png", _png(), "image/png"), _upload("b.png", _png(), "image/png")],
    )

    assert response.status_code == 500
    assert not Need.objects.exists()
    assert not Attachment.objects.exists()
    assert _stored_files(media) == []


def test_attachment_is_served_only_within_scope(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    _post(
        client,
        world,
        photos=_upload("site.jpg", _jpeg((800, 600))),
        documents=_upload("说明.pdf", b"%PDF-1.7 text", "application/pdf"),
    )
    need = Need.objects.get()
    photo = need.attachments.get(kind="photo")
    document = need.attachments.get(kind="document")
    photo_url = reverse("needs:attachment", args=[need.number, photo.pk])
    document_url = reverse("needs:attachment", args=[need.number, document.pk])

    response = client.get(photo_url)
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert "private" in response["Cache-Control"]
    assert isinstance(response, FileResponse)
    with photo.file.open("rb") as stored:
        assert b"".join(response.streaming_content) == stored.read()
    assert client.get(photo_url, {"thumb": "1"}).status_code == 200
    response = client.get(document_url)
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"].startswith("attachment")

    for outsider in (world.officer_b, world.handler, world.outsider):
        client.force_login(outsider)
        assert client.get(photo_url).status_code == 404
        assert client.get(document_url).status_code == 404
    client.force_login(world.dispatcher)
    assert client.get(photo_url).status_code == 200

    # an attachment id under another need's number is not found either
    other = world.register(actor=world.officer_b, area=world.grid_b)
    client.force_login(world.officer_b)
    wrong = reverse("needs:attachment", args=[other.number, photo.pk])
    assert client.get(wrong).status_code == 404


def test_attachment_add_refuses_a_need_the_actor_cannot_see(world: Any) -> None:
    from wenxu.needs.exceptions import NotFound

    need = world.register()
    upload = services.prepare_upload(_upload("a.png", _png(), "image/png"), kind="photo")
    with pytest.raises(NotFound):
        services.attachment_add(actor=world.officer_b, need=need, upload=upload)
    assert not Attachment.objects.exists()


def test_attachment_add_stops_at_nine_per_need(world: Any) -> None:
    from wenxu.needs.exceptions import InvalidInput

    need = world.register()
    upload = services.prepare_upload(_upload("a.png", _png(), "image/png"), kind="photo")
    for _ in range(services.MAX_ATTACHMENTS):
        services.attachment_add(actor=world.officer, need=need, upload=upload)
    with pytest.raises(InvalidInput, match="最多 9 个附件"):
        services.attachment_add(actor=world.officer, need=need, upload=upload)
    assert need.attachments.count() == 9


# --------------------------------------------------------------------------- pickers


def _option_labels(response: Any) -> list[str]:
    return re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', _page(response))


def test_area_search_by_pinyin_initials(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    labels = _option_labels(client.get(reverse("needs:capture_areas"), {"q": "dhc"}))

    # grids first
    assert labels == ["东河村第一网格（东河镇 / 东河村）", "东河村（东河镇）"]


def test_area_search_by_name_pinyin_and_parent(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    url = reverse("needs:capture_areas")
    assert "东河村（东河镇）" in _option_labels(client.get(url, {"q": "东河村"}))
    assert "东河村（东河镇）" in _option_labels(client.get(url, {"q": "donghecun"}))
    # the township's initials find what lies under it
    assert "东河村第一网格（东河镇 / 东河村）" in _option_labels(client.get(url, {"q": "dhz"}))


def test_area_search_stays_within_scope(client: Client, world: Any) -> None:
    client.force_login(world.officer_b)
    response = client.get(reverse("needs:capture_areas"), {"q": "dhc"})
    assert _option_labels(response) == []
    assert "没有找到“dhc”" in _page(response)


def test_area_search_with_one_match_selects_it(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    response = client.get(reverse("needs:capture_areas"), {"q": "dywg"})
    assert f'<option value="{world.grid_a.pk}" selected>' in _page(response)


def test_area_search_keeps_the_chosen_area(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    response = client.get(reverse("needs:capture_areas"), {"q": "dhz", "area": world.grid_a.pk})
    assert f'<option value="{world.grid_a.pk}" selected>' in _page(response)


def test_category_search(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    url = reverse("needs:capture_categories")
    assert _option_labels(client.get(url, {"q": "gs"})) == ["城乡建设 / 供水"]
    assert _option_labels(client.get(url, {"q": "照明"})) == ["城乡建设 / 道路与照明"]
    assert len(_option_labels(client.get(url, {"q": "cxjs"}))) == 3  # the parent and both children
    world.cat_water.active = False
    world.cat_water.save()
    assert _option_labels(client.get(url, {"q": "gs"})) == []


# --------------------------------------------------------------------------- precision


def test_precision_hints_while_typing(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    url = reverse("needs:capture_precision")

    vague = _page(client.post(url, {"title": "停水", "description": "经常停水"}))
    assert 'data-gap="where"' in vague
    assert 'data-gap="what"' in vague
    assert 'data-gap="who"' in vague
    assert "这只是提示，不影响提交登记" in vague

    specific = _page(
        client.post(
            url,
            {
                "title": "东河村三组自来水经常停水",
                "description": "东河村三组 12 户村民反映，最近一个月自来水每天下午停两三个小时。",
            },
        )
    )
    assert "data-gap" not in specific
    assert 'data-testid="precision-ok"' in specific


def test_vague_need_is_registered_with_a_precision_notice(client: Client, world: Any) -> None:
    client.force_login(world.officer)

    response = _post(client, world, title="停水", description="群众说经常停水")

    assert response.status_code == 302
    assert Need.objects.exists()
    flashed = [str(m) for m in response.wsgi_request._messages]
    assert flashed[1].startswith("需求精度：这条诉求还没有写明")
    assert "“在哪里”" in flashed[1]
    assert "“从什么时候”" not in flashed[1]  # 经常 says how often


def test_precision_hints_are_shown_again_with_errors(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    response = _post(client, world, title="停水", description="停水了", kind="")
    page = _page(response)
    assert "请选择诉求类型" in page
    assert 'data-gap="when"' in page


def test_no_event_or_requester_is_left_by_a_refused_form(client: Client, world: Any) -> None:
    client.force_login(world.officer)
    _post(client, world, requester_name="张三", requester_phone="138", area=world.grid_b.pk)
    assert not NeedEvent.objects.exists()
    assert not Requester.objects.exists()


def test_attachments_partial_links_only_to_the_scoped_view(
    client: Client, world: Any, django_assert_num_queries: Any
) -> None:
    from django.template.loader import render_to_string

    client.force_login(world.officer)
    _post(
        client,
        world,
        photos=_upload("site.jpg", _jpeg((800, 600))),
        documents=_upload("联名信.pdf", b"%PDF-1.7 text", "application/pdf"),
    )
    need = Need.objects.get()
    photo = need.attachments.get(kind="photo")
    document = need.attachments.get(kind="document")

    with django_assert_num_queries(1):
        attachments = selectors.need_attachments(need)
    html = render_to_string("needs/_attachments.html", {"need": need, "attachments": attachments})

    photo_url = reverse("needs:attachment", args=[need.number, photo.pk])
    assert f'src="{photo_url}?thumb=1"' in html
    assert f'href="{reverse("needs:attachment", args=[need.number, document.pk])}"' in html
    assert "联名信.pdf" in html
    for stored in (photo.file.name, photo.thumbnail.name, document.file.name):
        assert Path(stored).stem not in html  # storage names never leave the server
    other = world.register()
    assert selectors.need_attachments(other) == []
    assert (
        render_to_string("needs/_attachments.html", {"need": other, "attachments": []}).strip()
        == ""
    )
