"""Acceptance (issue #9): without the reveal permission, no page, API answer, Excel file, log line
or message holds a requester's phone number or ID number.

One small county with requesters whose 11-digit phone, 18-character ID and address are known,
needs in every stage (a visit, 马上就办, assigned, replied with a text message to the resident,
closed after a callback, supervised, a confidential one, an overdue one whose description and
progress note repeat its requester's phone and ID number, a topic). Every persona then opens every
page that shows needs, calls the API and Open311, and downloads the Excel ledger and the monthly
report (each XML part unzipped); every log record (DEBUG and up), every outbox message and every
e-mail of the whole run is scanned as well. The scan normalises full-width digits and drops the
separators people write between digit groups, so 139-8765-4321 and １３９８７６５４３２１ count.
The second test reveals with the permission and finds the same values: the scan can fail.
"""

import io
import json
import logging
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import uuid4

import pytest
from django.contrib.auth.models import Permission
from django.core import mail
from django.test import Client
from django.urls import reverse

from conftest import World
from wenxu.accounts.models import User
from wenxu.accounts.services import api_token_issue
from wenxu.integrations.services import api_client_issue
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import Need
from wenxu.needs.services import RequesterInput
from wenxu.notify.models import Message, Notification
from wenxu.topics import services as topic_services
from wenxu.visits.services import NeedDraft, VisitDraft, visit_record

PHONES = ("13987654321", "15811112222", "17700001111")
ID_NUMBERS = ("330102198001011234", "33010219751231002X", "330102200002291118")
ADDRESSES = ("幸福里7号楼302室", "光明巷12号院", "东风路88号3单元")

# Separators written between digit groups ("139 8765 4321", "139-8765-4321", "(0571)") .
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-‐‑–—.·_/()（）]+(?=\d)")


def flatten(text: str) -> str:
    """Full-width digits to ASCII, separators between digits dropped, upper case (ID "x")."""
    return _BETWEEN_DIGITS.sub("", unicodedata.normalize("NFKC", text)).upper()


def leaks(text: str) -> list[str]:
    """The phones and ID numbers (or their 17-digit stems) of the world found in `text`."""
    flat = flatten(text)
    found = [phone for phone in PHONES if phone in flat]
    found += [value for value in ID_NUMBERS if value[:17] in flat]
    return found


@dataclass
class Scene:
    world: World
    needs: list[Need]
    visit_id: int
    topic_id: int
    open311_key: str


def _requester(index: int, *, confidential: bool = False) -> RequesterInput:
    return RequesterInput(
        name=("钱多多", "孙有才", "李秀英")[index],
        phone=PHONES[index],
        id_number=ID_NUMBERS[index],
        address=ADDRESSES[index],
        confidential=confidential,
    )


def build_scene(world: World) -> Scene:
    for user in (world.dispatcher, world.handler, world.leader, world.officer):
        user.email = f"{user.username}@example.gov.cn"
        user.save(update_fields=["email"])
    now = clock.now()
    # A home visit raising a need, and one solved on the spot.
    recorded = visit_record(
        actor=world.officer,
        draft=VisitDraft(
            client_uuid=uuid4(),
            payload_hash="",
            kind="home",
            area=world.grid_a,
            started_at=now - timedelta(hours=2),
            ended_at=now - timedelta(hours=1),
            mood=4,
            address="东河村3组",
            people_met=3,
            summary="入户走访，听取意见。",
            needs=(
                NeedDraft(
                    title="村口路灯不亮",
                    description="村口三盏路灯坏了一个多月，晚上出行不便。",
                    kind="help",
                    area=world.grid_a,
                    category=world.cat_roads,
                    requester=_requester(0),
                ),
                NeedDraft(
                    title="低保政策咨询",
                    description="想了解低保申请条件。",
                    kind="consult",
                    area=world.grid_a,
                    requester=_requester(1),
                    handling="on_the_spot",
                    reply_text="已当场讲解申请条件和材料。",
                    confirmed=True,
                    satisfaction="satisfied",
                ),
            ),
        ),
    )
    visit_need = recorded.visit.needs.order_by("id").first()
    assert visit_need is not None
    # Assigned, accepted, replied (a text message to the resident), closed by a callback.
    need = services.need_assign(
        actor=world.dispatcher, need=visit_need, version=visit_need.version, lead_unit=world.housing
    )
    need = services.need_accept(actor=world.handler, need=need, version=need.version)
    need = services.need_reply(
        actor=world.handler,
        need=need,
        version=need.version,
        outcome="resolved",
        reply_text="已更换路灯，恢复照明。",
    )
    closed = services.need_callback(
        actor=world.officer,
        need=need,
        version=need.version,
        channel="phone",
        resolved="yes",
        satisfaction="very_satisfied",
    )
    # A confidential complaint in progress, supervised; and one just registered.
    confidential = world.in_progress(requester=_requester(2, confidential=True), kind="complaint")
    confidential = services.need_supervise(
        actor=world.dispatcher,
        need=confidential,
        version=confidential.version,
        note="请加快办理。",
    )
    fresh = world.register(requester=_requester(0), title="排水沟堵塞", kind="help")
    # The requester's own numbers typed into the texts (stored masked), and overdue: the monthly
    # report lists it with its requester.
    typed = world.in_progress(
        requester=_requester(0),
        title="自来水管漏水",
        description=f"漏水严重，请回电 139-8765-4321，身份证 {ID_NUMBERS[0]}。",
    )
    typed = services.need_progress(
        actor=world.handler,
        need=typed,
        version=typed.version,
        note="已电话联系 +86 139 8765 4321，约定明天上门。",
    )
    Need.objects.filter(pk=typed.pk).update(resolve_due=now - timedelta(days=2))
    on_the_spot = recorded.visit.needs.order_by("id").last()
    assert on_the_spot is not None
    topic = topic_services.topic_create(
        actor=world.dispatcher,
        title="东河镇路灯长期失修",
        area=world.town_a,
        category=world.cat_roads,
        owner_unit=world.housing,
        root_cause="路灯维护责任不清。",
        needs=[closed, fresh],
    )
    key, _client = api_client_issue(name="12345 平台", areas=[world.county], source="hotline")
    return Scene(
        world=world,
        needs=[closed, on_the_spot, confidential, fresh, typed],
        visit_id=recorded.visit.pk,
        topic_id=topic.pk,
        open311_key=key,
    )


@pytest.fixture
def scene(
    world: World, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> Scene:
    caplog.set_level(logging.DEBUG)  # the records of building it are scanned too
    with django_capture_on_commit_callbacks(execute=True):
        return build_scene(world)


# --------------------------------------------------------------------------- what is read


def page_urls(scene: Scene, *, every: bool) -> list[str]:
    """The pages and API reads that show needs; with `every=False` only those whose content
    depends on the role (the workbench, the ledger, the need page and the API), for the personas
    other than the dispatcher, who sees every need of the scene and reads everything."""
    month = clock.today().strftime("%Y-%m")
    per_role = [
        reverse("home"),
        reverse("needs:ledger"),
        "/api/v1/needs",
        *[reverse("needs:detail", args=[need.number]) for need in scene.needs],
        *[f"/api/v1/needs/{need.number}" for need in scene.needs],
    ]
    if not every:
        return per_role
    urls = [
        reverse("needs:ledger") + "?status=closed&sort=deadline",
        reverse("needs:search") + "?q=路灯",
        reverse("needs:reopen_requests"),
        reverse("visits:list"),
        reverse("visits:detail", args=[scene.visit_id]),
        reverse("visits:coverage"),
        reverse("insight:stats"),
        reverse("insight:hot"),
        reverse("insight:signals"),
        reverse("report:page") + f"?month={month}",
        reverse("topics:list"),
        reverse("topics:detail", args=[scene.topic_id]),
        "/api/v1/visits",
        f"/api/v1/visits/{scene.visit_id}",
        "/api/v1/stats/rates",
    ]
    for need in scene.needs:
        urls += [
            reverse("insight:similar_need", args=[need.number]),
            f"/api/v1/needs/{need.number}/similar",
        ]
    return per_role + urls


def downloads(client: Client) -> Iterator[tuple[str, Any]]:
    month = clock.today().strftime("%Y-%m")
    export = reverse("exchange:ledger_export")
    yield "ledger.xlsx", client.post(export, {"format": "xlsx"})
    yield "ledger.csv", client.post(export, {"format": "csv"})
    yield "report.xlsx", client.get(reverse("report:xlsx") + f"?month={month}")
    yield "api ledger.xlsx", client.get("/api/v1/exports/ledger.xlsx")
    yield "api ledger.csv", client.get("/api/v1/exports/ledger.csv")


def body_text(response: Any) -> str:
    content = (
        b"".join(response.streaming_content) if response.streaming else bytes(response.content)
    )
    if content[:2] == b"PK":  # .xlsx: every part of the zip, the XML as text
        with zipfile.ZipFile(io.BytesIO(content)) as book:
            return "\n".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())
    text = content.decode("utf-8", "replace")
    if response.get("Content-Type", "").startswith("application/json"):
        # JSON may escape characters (\uff11): read it back and scan the values too.
        text += json.dumps(json.loads(content or b"null"), ensure_ascii=False)
    return text


def public_urls(scene: Scene) -> list[str]:
    urls = [reverse("public:wall")]
    phones = (PHONES[0], PHONES[1], PHONES[2], PHONES[0], PHONES[0])
    for need, phone in zip(scene.needs, phones, strict=True):
        urls.append(f"{reverse('public:track')}?code={need.tracking_code}&phone_tail={phone[-4:]}")
    key = scene.open311_key
    urls += [f"/open311/v2/requests.{fmt}?api_key={key}&extensions=true" for fmt in ("json", "xml")]
    urls += [
        f"/open311/v2/requests/{need.number}.json?api_key={key}&extensions=true"
        for need in scene.needs
    ]
    return urls


def outbox_text() -> str:
    parts = [f"{m.to_masked}\n{m.subject}\n{m.body}" for m in Message.objects.all()]
    parts += [n.message for n in Notification.objects.all()]
    for email in mail.outbox:
        parts += [str(email.subject), str(email.body), " ".join(email.to)]
        parts += [str(content) for content, _type in getattr(email, "alternatives", [])]
    return "\n".join(parts)


def log_text(records: list[logging.LogRecord]) -> str:
    """Each record as a handler writes it: the message with its arguments, and any traceback."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in records)


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --------------------------------------------------------------------------- the tests


# Everyone who sees needs of the scene, none holding the reveal permission.
PERSONAS = ("dispatcher", "officer", "handler", "leader", "admin")


def test_no_phone_or_id_number_leaks_without_the_reveal_permission(
    scene: Scene, caplog: pytest.LogCaptureFixture, django_capture_on_commit_callbacks: Any
) -> None:
    world = scene.world
    found: dict[str, list[str]] = {}
    shown = 0
    masked: set[str] = set()  # where the first requester's phone was shown, masked

    def scan(where: str, text: str) -> None:
        if hit := leaks(text):
            found[where] = hit
        if "139****4321" in text:
            masked.add(where.split(" ")[-1])

    with django_capture_on_commit_callbacks(execute=True):
        for name in PERSONAS:
            user: User = getattr(world, name)
            client = login(user)
            raw, _token = api_token_issue(user=user)
            api = Client(headers={"Authorization": f"Bearer {raw}"})
            for url in page_urls(scene, every=name == "dispatcher"):
                response = (api if url.startswith("/api/") else client).get(url)
                assert response.status_code < 500, (name, url, response.status_code)
                shown += response.status_code == 200
                scan(f"{name} GET {url}", body_text(response))
            # The ledger's htmx fragment (what the filters and paging swap in).
            fragment = client.get(reverse("needs:ledger"), headers={"HX-Request": "true"})
            scan(f"{name} ledger fragment", body_text(fragment))
            for label, response in downloads(client):
                assert response.status_code in (200, 403, 404), (name, label, response.status_code)
                scan(f"{name} {label}", body_text(response))
        anonymous = Client()
        for url in public_urls(scene):
            response = anonymous.get(url)
            assert response.status_code < 500, (url, response.status_code)
            scan(f"public GET {url}", body_text(response))

    scan("outbox and e-mail", outbox_text())
    scan("log records", log_text(caplog.get_records("setup") + caplog.get_records("call")))

    assert not found, f"personal data leaked: {found}"
    # The scan read real pages, files, messages and logs that carry the requester, masked.
    assert shown > 60
    assert Message.objects.exists()
    assert mail.outbox
    assert {"ledger.xlsx", "ledger.csv", "e-mail", "records", "report.xlsx"} <= masked, masked
    assert any(where.startswith("/needs/") for where in masked), masked
    # the monthly report's overdue line names the requester of the overdue need, masked
    assert any(where.startswith(reverse("report:page")) for where in masked), masked


def test_with_the_permission_a_reveal_shows_what_the_scan_looks_for(scene: Scene) -> None:
    # The scanner itself: every spelling of a phone and an ID number is caught.
    for spelled in ("139 8765 4321", "139-8765-4321", "+86 13987654321", "１３９８７６５４３２１"):
        assert leaks(f"电话：{spelled}。") == ["13987654321"]
    assert leaks("33010219751231002x") == ["33010219751231002X"]
    assert leaks("139****4321 330102********1234") == []

    world = scene.world
    world.dispatcher.user_permissions.add(
        Permission.objects.get(codename="reveal_personal_data", content_type__app_label="residents")
    )
    client = login(world.dispatcher)
    need = scene.needs[2]  # the confidential one: the dispatcher sees it through the area
    revealed = client.post(
        reverse("needs:requester_reveal", args=[need.number]), {"reason": "回访核实"}
    )
    assert leaks(body_text(revealed)) == [PHONES[2], ID_NUMBERS[2]]
    export = client.post(
        reverse("exchange:ledger_export"),
        {"format": "xlsx", "reveal": "1", "reveal_reason": "核对台账"},
    )
    assert set(leaks(body_text(export))) == set(PHONES)
