"""Hostile text in every form and API write (issue #9 item 7): never a 500, always an answer
with a message, and text that is refused changes nothing.

Each staff page, public page and API write gets every string of `NASTY` (formula prefixes, CJK
beyond the basic plane, emoji joined by ZWJ, zero-width and direction marks, full-width forms,
NUL and control characters, 10,000 characters, markup), one field at a time in turn (the 10,000
characters and the NUL also in all fields at once), after a check that the form's valid values
alone are carried out (so the hostile ones reach the same code); the busiest forms get
hypothesis examples on top, and the ledger and places imports files full of such cells. The
county is built once per test and every request runs in a savepoint that is rolled back, so
each starts from the same data (and failed logins never add up to a lockout).

Exports of such text: tests/test_hostile_exports.py.
"""

import csv
import io
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, models, transaction
from django.http import HttpResponse
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook  # type: ignore[import-untyped]
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE  # type: ignore[import-untyped]
from PIL import Image

from tests.hostile_strings import LONG, NASTY, hostile_text
from wenxu.accounts import services as account_services
from wenxu.accounts.models import User
from wenxu.api.open311.tests.conftest import form as open311_form
from wenxu.exchange.models import ExportJob
from wenxu.integrations.models import ApiClient
from wenxu.integrations.services import api_client_issue
from wenxu.lib import clock
from wenxu.needs import services
from wenxu.needs.models import (
    Attachment,
    LedgerImportBatch,
    LedgerImportRow,
    Need,
    NeedEvent,
    RatingLink,
)
from wenxu.needs.rating import rating_link_issue, rating_token
from wenxu.needs.services import RequesterInput
from wenxu.needs.tests.ledger_import_helpers import HEADER, ledger_row
from wenxu.residents.models import Requester
from wenxu.topics import services as topic_services
from wenxu.topics.models import Measure, Milestone, Topic
from wenxu.visits.models import Place, Visit, VisitPlan

pytestmark = pytest.mark.django_db

HYPOTHESIS = settings(
    max_examples=15,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


# --------------------------------------------------------------------------- the county


@dataclass
class Stage:
    world: Any
    registered: Need
    assigned: Need
    in_progress: Need
    extension_pending: Need
    replied: Need
    topic: Topic
    place: Place
    rating_token: str
    open311_key: str
    pages: dict[str, Client] = field(default_factory=dict)
    apis: dict[str, Client] = field(default_factory=dict)

    def page(self, persona: str | None) -> Client:
        if persona is None:
            return Client()
        if persona not in self.pages:
            client = Client()
            client.force_login(getattr(self.world, persona))
            self.pages[persona] = client
        return self.pages[persona]

    def api(self, persona: str | None) -> Client:
        if persona is None:
            return Client()
        if persona not in self.apis:
            raw, _token = account_services.api_token_issue(user=getattr(self.world, persona))
            self.apis[persona] = Client(headers={"Authorization": f"Bearer {raw}"})
        return self.apis[persona]


@pytest.fixture
def stage(world: Any, settings: Any, tmp_path: Any) -> Stage:
    settings.WENXU_PUBLIC_SUBMIT = True
    settings.MEDIA_ROOT = tmp_path / "media"
    resident = RequesterInput(name="张三", phone="13812345678")
    registered = world.register(requester=resident)
    in_progress = world.in_progress()
    pending = services.need_request_extension(
        actor=world.handler,
        need=world.in_progress(),
        version=None,
        days=3,
        reason="需协调施工队",
    )
    replied = world.replied(requester=resident)
    topic = topic_services.topic_create(
        actor=world.dispatcher,
        title="东河镇路灯长期失修",
        area=world.town_a,
        summary="",
        root_cause="",
        category=None,
        owner_unit=None,
        measures_from=None,
    )
    place = Place.objects.create(area=world.grid_a, kind="household", name="东河村3组12号")
    link = rating_link_issue(replied)
    return Stage(
        world=world,
        registered=registered,
        assigned=world.assigned(),
        in_progress=in_progress,
        extension_pending=pending,
        replied=replied,
        topic=topic,
        place=place,
        rating_token=rating_token(link),
        open311_key=api_client_issue(
            name="12345 平台", areas=[world.town_a], actions=["read", "create"], source="hotline"
        )[0],
    )


# --------------------------------------------------------------------------- the probe

TRACKED: list[type[models.Model]] = [
    Need,
    NeedEvent,
    Requester,
    Attachment,
    LedgerImportRow,
    Visit,
    VisitPlan,
    Topic,
    Measure,
    Milestone,
    Place,
    ExportJob,
    User,
    RatingLink,
    ApiClient,
]


_STATE_SQL = ""


def state() -> tuple[Any, ...]:
    """What a refused request must leave as it was, read in one query."""
    global _STATE_SQL
    if not _STATE_SQL:
        reads = [("COUNT(*)", model) for model in TRACKED] + [
            ("SUM(version)", Need),
            ("SUM(version)", Topic),
            ("MAX(updated_at)", Place),
            ("SUM(progress)", Milestone),
            ("COUNT(used_at)", RatingLink),
            ("MAX(last_login)", User),
        ]
        # our own tables and aggregates: no input goes into this SQL
        subqueries = [f"(SELECT {what} FROM {model._meta.db_table})" for what, model in reads]  # noqa: S608
        _STATE_SQL = "SELECT " + ", ".join(subqueries)
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL)
        return tuple(cursor.fetchone())


def probe(send: Callable[[], Any], accepted: Callable[[HttpResponse], bool]) -> Any:
    """Sends one request in a savepoint that is rolled back afterwards; a 500 fails the test
    (the test client re-raises the view's exception), a refusal must say why and change
    nothing."""
    with transaction.atomic():
        before = state()
        response = send()
        after = state()
        transaction.set_rollback(True)
    assert response.status_code < 500, response.status_code
    if not accepted(response):
        assert after == before, f"refused ({response.status_code}) but changed the data"
    if response.status_code >= 400:
        assert response.content, "a refusal without a message"
    return response


def page_done(response: HttpResponse) -> bool:
    return response.status_code in (301, 302, 303)


def api_done(response: HttpResponse) -> bool:
    return response.status_code in (200, 201)


@dataclass(frozen=True)
class Form:
    """One form: who sends it, where, the valid values, and the text fields to poison."""

    name: str
    persona: str | None
    path: Callable[[Stage], str]
    base: Callable[[Stage], dict[str, Any]]
    fields: tuple[str, ...]
    method: str = "post"
    api: bool = False
    done: Callable[[HttpResponse], bool] | None = None  # when the request was carried out
    headers: tuple[tuple[str, str], ...] = ()
    base_ok: bool = True  # whether the valid values alone are carried out

    def send(self, stage: Stage, values: dict[str, Any]) -> Any:
        data = {**self.base(stage), **values}
        if self.api:
            client = stage.api(self.persona)
            if self.method == "get":
                return lambda: client.get(self.path(stage), data)
            return lambda: client.post(self.path(stage), data, content_type="application/json")
        client = stage.page(self.persona)
        headers = dict(self.headers)
        return lambda: getattr(client, self.method)(self.path(stage), data, headers=headers)

    def accepted(self, response: HttpResponse) -> bool:
        if self.done is not None:
            return self.done(response)
        return api_done(response) if self.api else page_done(response)


def _nested(path: str, value: Any) -> dict[str, Any]:
    """ "requester.name" → {"requester": {"name": value}} (merged over the base by `poison`)."""
    head, _, rest = path.partition(".")
    return {head: _nested(rest, value) if rest else value}


def poison(form: Form, stage: Stage, fields: tuple[str, ...], text: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    base = form.base(stage)
    for name in fields:
        if "." in name:  # a JSON object's field: keep its other fields
            head, _, rest = name.partition(".")
            inner = {**base.get(head, {}), **values.get(head, {})}
            inner.update(_nested(rest, text))
            values[head] = inner
        else:
            values[name] = text
    return values


def act(action: str, need: str) -> Callable[[Stage], str]:
    return lambda s: f"/needs/{getattr(s, need).number}/{action}/"


def api_act(action: str, need: str) -> Callable[[Stage], str]:
    return lambda s: f"/api/v1/needs/{getattr(s, need).number}/{action}"


def version(need: str, **values: Any) -> Callable[[Stage], dict[str, Any]]:
    return lambda s: {"version": getattr(s, need).version, **values}


CAPTURE = {
    "title": "东河村三组自来水经常停水",
    "description": "东河村三组 12 户村民反映，最近一个月自来水每天下午停两三个小时。",
    "kind": "help",
    "urgency": "normal",
    "source": "visit",
    "requester_kind": "person",
}

FORMS = [
    # staff pages ------------------------------------------------------------------------
    Form(
        "capture",
        "officer",
        lambda s: "/needs/new/",
        lambda s: {**CAPTURE, "area": s.world.grid_a.pk},
        (
            "title",
            "description",
            "address",
            "requester_name",
            "requester_phone",
            "requester_address",
        ),
    ),
    Form(
        "capture-on-the-spot",
        "officer",
        lambda s: "/needs/new/",
        lambda s: {
            **CAPTURE,
            "area": s.world.grid_a.pk,
            "on_the_spot": "on",
            "confirmed": "on",
            "satisfaction": "satisfied",
            "reply_text": "已现场修好。",
        },
        ("reply_text", "title"),
    ),
    Form(
        "progress",
        "handler",
        act("progress", "in_progress"),
        version("in_progress", note="已联系施工队"),
        ("note",),
    ),
    Form(
        "reply",
        "handler",
        act("reply", "in_progress"),
        version("in_progress", outcome="resolved", reply_text="已修好。"),
        ("reply_text",),
    ),
    Form(
        "return",
        "handler",
        act("return", "assigned"),
        version("assigned", reason="不属于本单位职责"),
        ("reason",),
    ),
    Form(
        "request-extension",
        "handler",
        act("request-extension", "in_progress"),
        version("in_progress", days="3", reason="需协调施工队"),
        ("reason", "days"),
    ),
    Form(
        "deny-extension",
        "dispatcher",
        act("deny-extension", "extension_pending"),
        version("extension_pending", reason="理由不充分"),
        ("reason",),
    ),
    Form(
        "callback",
        "officer",
        act("callback", "replied"),
        version("replied", channel="phone", resolved="yes", satisfaction="satisfied"),
        ("comment", "channel"),
    ),
    Form(
        "supervise",
        "dispatcher",
        act("supervise", "in_progress"),
        version("in_progress", note="请加快办理"),
        ("note",),
    ),
    Form(
        "withdraw",
        "dispatcher",
        act("withdraw", "registered"),
        version("registered", reason="重复登记"),
        ("reason",),
    ),
    Form(
        "merge",
        "dispatcher",
        act("merge", "registered"),
        lambda s: {"version": s.registered.version, "into": s.assigned.number},
        ("into",),
    ),
    Form(
        "reopen",
        "dispatcher",
        act("reopen", "replied"),
        version("replied", reason="群众反映仍未解决"),
        ("reason",),
    ),
    Form(
        "topic",
        "dispatcher",
        lambda s: "/topics/new/",
        lambda s: {"title": "村道照明", "area": s.world.town_a.pk},
        ("title", "summary", "root_cause"),
    ),
    Form(
        "topic-measure",
        "dispatcher",
        lambda s: f"/topics/{s.topic.pk}/measures/",
        lambda s: {
            "title": "建立巡查制度",
            "owner_unit": s.world.housing.pk,
            "due_date": "2030-01-01",
        },
        ("title", "description", "due_date"),
    ),
    Form(
        "topic-milestone",
        "dispatcher",
        lambda s: f"/topics/{s.topic.pk}/milestones/",
        lambda s: {"title": "排查完成", "progress": "30"},
        ("title", "progress"),
    ),
    Form(
        "topic-link",
        "dispatcher",
        lambda s: f"/topics/{s.topic.pk}/link/",
        lambda s: {"numbers": s.registered.number},
        ("numbers",),
    ),
    Form(
        "place",
        "officer",
        lambda s: "/places/new/",
        lambda s: {
            "area": s.world.grid_a.pk,
            "kind": "household",
            "name": "东河村3组13号",
            "members": "3",
        },
        ("name", "address", "contact_name", "contact_phone", "note", "members"),
    ),
    Form(
        "bulk-assign",
        "dispatcher",
        lambda s: "/ledger/bulk-assign/",
        lambda s: {"need": [s.registered.number], "lead_unit": s.world.housing.pk},
        ("need", "lead_unit", "filters"),
    ),
    Form(
        "visit-plan",
        "dispatcher",
        lambda s: "/coverage/plans/new/",
        lambda s: {
            "name": "东河村全覆盖",
            "kind": "coverage",
            "period": "quarter",
            "area": s.world.grid_a.pk,
            "starts_on": "2026-01-01",
            "active": "on",
        },
        ("name", "starts_on"),
    ),
    Form(
        "api-key",
        "admin",
        lambda s: "/integrations/keys/new/",
        lambda s: {
            "name": "12345 热线平台",
            "areas": [s.world.town_a.pk],
            "actions": ["read", "create"],
            "source": "hotline",
            "rate_limit": "60",
        },
        ("name", "note", "rate_limit"),
        done=lambda response: response.status_code == 200,  # the page with the key, once
    ),
    Form(
        "similar-while-typing",
        "officer",
        lambda s: "/similar/capture/",
        lambda s: {"title": "路灯", "area": s.world.grid_a.pk},
        ("title", "description", "area"),
        done=lambda response: response.status_code == 200,
    ),
    Form(
        "precision-while-typing",
        "officer",
        lambda s: "/needs/new/precision/",
        lambda s: {"title": "路灯", "description": "村口路灯不亮"},
        ("title", "description", "address"),
        done=lambda response: response.status_code == 200,
    ),
    # search boxes and filters (GET): text that reaches a query
    Form(
        "ledger-filter",
        "dispatcher",
        lambda s: "/ledger/",
        lambda s: {},
        ("q", "status"),
        method="get",
    ),
    Form("search", "dispatcher", lambda s: "/search/", lambda s: {}, ("q",), method="get"),
    Form(
        "capture-areas",
        "officer",
        lambda s: "/needs/new/areas/",
        lambda s: {},
        ("q", "area"),
        method="get",
    ),
    Form(
        "capture-categories",
        "officer",
        lambda s: "/needs/new/categories/",
        lambda s: {},
        ("q", "category"),
        method="get",
    ),
    Form(
        "merge-candidates",
        "dispatcher",
        act("merge", "registered"),
        lambda s: {},
        ("into",),
        method="get",
        headers=(("HX-Request", "true"),),
    ),
    Form(
        "need-page",
        "dispatcher",
        lambda s: f"/needs/{s.registered.number}/",
        lambda s: {},
        ("open", "into"),
        method="get",
    ),
    Form(
        "topics-list",
        "dispatcher",
        lambda s: "/topics/",
        lambda s: {},
        ("status", "area"),
        method="get",
    ),
    Form(
        "topic-from-need",
        "dispatcher",
        lambda s: "/topics/new/",
        lambda s: {},
        ("need", "group"),
        method="get",
    ),
    Form(
        "topic-attach",
        "dispatcher",
        lambda s: "/topics/attach/",
        lambda s: {"need": s.registered.number},
        ("need",),
        method="get",
    ),
    Form(
        "reopen-requests",
        "dispatcher",
        lambda s: "/reopen-requests/",
        lambda s: {},
        ("need",),
        method="get",
    ),
    Form(
        "visits-filter",
        "officer",
        lambda s: "/visits/",
        lambda s: {},
        ("q", "area", "kind"),
        method="get",
    ),
    Form(
        "stats",
        "leader",
        lambda s: "/stats/",
        lambda s: {},
        ("period", "area", "chart"),
        method="get",
    ),
    Form(
        "stats-csv",
        "leader",
        lambda s: "/stats/",
        lambda s: {"format": "csv", "chart": "rates"},
        ("chart",),
        method="get",
    ),
    Form(
        "report",
        "leader",
        lambda s: "/stats/report/",
        lambda s: {},
        ("month", "area", "unit"),
        method="get",
    ),
    Form(
        "coverage",
        "dispatcher",
        lambda s: "/coverage/",
        lambda s: {},
        ("period", "start", "area"),
        method="get",
    ),
    Form(
        "signals",
        "dispatcher",
        lambda s: "/signals/",
        lambda s: {},
        ("state", "area"),
        method="get",
    ),
    Form("hot", "dispatcher", lambda s: "/hot/", lambda s: {}, ("run", "page"), method="get"),
    Form("login-next", None, lambda s: "/accounts/login/", lambda s: {}, ("next",), method="get"),
    Form(
        "places-filter", "officer", lambda s: "/places/", lambda s: {}, ("q", "area"), method="get"
    ),
    Form(
        "export",
        "dispatcher",
        lambda s: "/exports/ledger/",
        lambda s: {"format": "xlsx", "columns": ["number", "content"]},
        ("format", "columns"),
        done=lambda response: response.status_code == 200,  # the file, at once
    ),
    Form(
        "login",
        None,
        lambda s: "/accounts/login/",
        lambda s: {"username": "officer", "password": "pw-officer"},
        ("username", "password"),
    ),
    Form(
        "admin-login",
        None,
        lambda s: "/admin/login/",
        lambda s: {"username": "admin", "password": "pw-admin", "next": "/admin/"},
        ("username", "password", "next"),
        base_ok=False,  # (no staff account here: the admin refuses every login alike)
    ),
    # public pages -----------------------------------------------------------------------
    Form(
        "submit",
        None,
        lambda s: "/submit",
        lambda s: {
            "kind": "help",
            "category": s.world.cat_roads.pk,
            "area": s.world.village_a.pk,
            "description": "村口路灯坏了一个多月，晚上出行不便，请尽快修理。",
            "name": "张三丰",
            "phone": "138 1234 5678",
            "consent": "on",
            "send": "1",
        },
        ("description", "name", "phone", "area_q"),
    ),
    Form("track", None, lambda s: "/track", lambda s: {}, ("code", "phone_tail"), method="get"),
    Form(
        "submit-areas",
        None,
        lambda s: "/submit/areas",
        lambda s: {},
        ("q", "area_q", "area"),
        method="get",
    ),
    Form(
        "rate",
        None,
        lambda s: f"/r/{s.rating_token}",
        lambda s: {"resolved": "yes", "satisfaction": "satisfied"},
        ("comment", "resolved"),
        done=lambda response: response.status_code == 200,  # the thank-you page
    ),
    Form(
        "open311-post",
        None,
        lambda s: "/open311/v2/requests.json",
        lambda s: open311_form(s.world, s.open311_key),
        (
            "description",
            "address_string",
            "first_name",
            "last_name",
            "phone",
            "email",
            "attribute[area]",
            "media_url",
        ),
        done=api_done,
    ),
    # API writes -------------------------------------------------------------------------
    Form(
        "api-register",
        "officer",
        lambda s: "/api/v1/needs",
        lambda s: {
            "title": "村口路灯不亮",
            "description": "三盏路灯坏了一个多月。",
            "kind": "help",
            "source": "visit",
            "area": s.world.grid_a.pk,
            "requester": {"name": "张三", "phone": "13812345678"},
        },
        ("title", "description", "address", "requester.name", "requester.phone", "reply_text"),
        api=True,
    ),
    Form(
        "api-progress",
        "handler",
        api_act("progress", "in_progress"),
        version("in_progress", note="已联系施工队"),
        ("note",),
        api=True,
    ),
    Form(
        "api-reply",
        "handler",
        api_act("reply", "in_progress"),
        version("in_progress", outcome="resolved", reply_text="已修好。"),
        ("reply_text", "outcome"),
        api=True,
    ),
    Form(
        "api-return",
        "handler",
        api_act("return", "assigned"),
        version("assigned", reason="不属于本单位职责"),
        ("reason",),
        api=True,
    ),
    Form(
        "api-withdraw",
        "dispatcher",
        api_act("withdraw", "registered"),
        version("registered", reason="重复登记"),
        ("reason",),
        api=True,
    ),
    Form(
        "api-merge",
        "dispatcher",
        api_act("merge", "registered"),
        lambda s: {"version": s.registered.version, "into": s.assigned.number},
        ("into",),
        api=True,
    ),
    Form(
        "api-request-extension",
        "handler",
        api_act("request-extension", "in_progress"),
        version("in_progress", days=3, reason="需协调施工队"),
        ("reason",),
        api=True,
    ),
    Form(
        "api-supervise",
        "dispatcher",
        api_act("supervise", "in_progress"),
        version("in_progress", note="请加快办理"),
        ("note",),
        api=True,
    ),
    Form(
        "api-reopen",
        "dispatcher",
        api_act("reopen", "replied"),
        version("replied", reason="群众反映仍未解决"),
        ("reason",),
        api=True,
    ),
    Form(
        "api-callback",
        "officer",
        api_act("callback", "replied"),
        version("replied", channel="phone", resolved="yes", satisfaction="satisfied"),
        ("comment", "channel"),
        api=True,
    ),
    Form(
        "api-visit",
        "officer",
        lambda s: "/api/v1/visits",
        lambda s: {
            "client_uuid": str(uuid.uuid4()),
            "kind": "home",
            "area": s.world.grid_a.pk,
            "started_at": (clock.now() - timedelta(hours=1)).isoformat(),
            "mood": 4,
            "summary": "入户了解老人生活情况。",
        },
        ("summary", "companions", "mood_note", "address"),
        api=True,
    ),
    Form(
        "api-token",
        None,
        lambda s: "/api/v1/auth/token",
        lambda s: {"username": "officer", "password": "pw-officer"},
        ("username", "password"),
        api=True,
    ),
    Form(
        "api-list",
        "dispatcher",
        lambda s: "/api/v1/needs",
        lambda s: {},
        ("q", "status"),
        method="get",
        api=True,
    ),
]


def _id(form: Form) -> str:
    return form.name


@pytest.mark.parametrize("form", FORMS, ids=_id)
def test_every_nasty_string_in_every_field_gets_an_answer_and_a_refusal_changes_nothing(
    stage: Stage, form: Form
) -> None:
    # the valid values alone are carried out (so the hostile ones below reach the same code)
    response = probe(form.send(stage, {}), form.accepted)
    if form.base_ok:
        assert form.accepted(response) or form.method == "get", response.status_code
        assert response.status_code in (200, 201, 302), response.status_code
    for index, text in enumerate(NASTY):
        # one field at a time, in turn, the others valid: the text reaches the service
        alone = form.fields[index % len(form.fields)]
        probe(form.send(stage, poison(form, stage, (alone,), text)), form.accepted)
    # and the longest and the NUL in every field at once
    for text in (LONG, "路灯\x00坏了"):
        if len(form.fields) > 1:
            probe(form.send(stage, poison(form, stage, form.fields, text)), form.accepted)


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def test_hostile_file_names_on_uploads_get_an_answer(stage: Stage) -> None:
    jpeg = _jpeg()
    api, page = stage.api("officer"), stage.page("officer")
    attachments = f"/api/v1/needs/{stage.registered.number}/attachments"
    capture = {**CAPTURE, "area": stage.world.grid_a.pk}
    for text in NASTY:
        name = text[:200] + ".jpg"
        photo = SimpleUploadedFile(name, jpeg, "image/jpeg")
        probe(partial(api.post, attachments, {"file": photo}), api_done)
        photo = SimpleUploadedFile(name, jpeg, "image/jpeg")
        probe(partial(page.post, "/needs/new/", {**capture, "photos": photo}), page_done)


BUSIEST = [form for form in FORMS if form.name in {"capture", "submit", "api-register", "reply"}]


@pytest.mark.parametrize("form", BUSIEST, ids=_id)
@HYPOTHESIS
@given(text=hostile_text(), which=st.integers(0, 20), everywhere=st.booleans())
def test_hypothesis_hostile_text_in_the_busiest_forms(
    stage: Stage, form: Form, text: str, which: int, everywhere: bool
) -> None:
    fields = form.fields if everywhere else (form.fields[which % len(form.fields)],)
    probe(form.send(stage, poison(form, stage, fields, text)), form.accepted)


# --------------------------------------------------------------------------- imports

PLACE_HEADER = ["网格", "类型", "名称/门牌", "地址", "户主/负责人", "联系电话", "人数", "备注"]
PLACE_ROW: list[Any] = [
    "东河镇/东河村/东河村第一网格",
    "住户",
    "1号",
    "东河村东街",
    "张三",
    "13912348765",
    3,
    "",
]
LEDGER_TEXT_COLUMNS = {1: 40, 6: 100, 8: 200, 10: 10_000, 14: 2000}  # free text: its limit
LEDGER_CODED_COLUMNS = (2, 3, 4, 5, 9, 11, 12, 13)  # dates, source, areas, category, …


def _ledger_rows(texts: list[str], *, coded: bool) -> list[list[Any]]:
    """A row per text in the free-text columns (rows that must import), or in one of the
    columns the import must recognise (rows that must be reported, not crash)."""
    rows = []
    for i, text in enumerate(texts, start=1):
        row = ledger_row(i)
        if coded:
            row[LEDGER_CODED_COLUMNS[i % len(LEDGER_CODED_COLUMNS)]] = text
        else:
            for column, limit in LEDGER_TEXT_COLUMNS.items():
                row[column] = f"{text[:limit]}-{i}" if column == 1 else text[:limit]
        rows.append(row)
    return rows


def _xlsx_safe(text: str) -> str:
    return str(ILLEGAL_CHARACTERS_RE.sub("", text))  # an .xlsx cannot hold control characters


def _xlsx_bytes(rows: list[list[Any]], header: list[str]) -> bytes:
    """As Excel keeps what people type: a text starting with "=" stays text."""
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
        for cell in sheet[sheet.max_row]:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _csv_bytes(rows: list[list[Any]], header: list[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def _import_through_the_pages(client: Client, name: str, data: bytes) -> int:
    """Upload, dry run and confirm as the pages do; returns the needs imported. Nothing is
    written unless every row checks clean."""
    before = Need.objects.count()
    upload = client.post("/ledger/import/", {"file": SimpleUploadedFile(name, data)})
    assert upload.status_code in (302, 422), upload.status_code
    if upload.status_code != 302:
        assert Need.objects.count() == before
        return 0
    batch = LedgerImportBatch.objects.get(pk=upload["Location"].rstrip("/").rsplit("/", 1)[1])
    mapping = {f"col-{i}": key for i, key in enumerate(batch.mapping)}
    check = client.post(upload["Location"], {**mapping, "default_source": "walk_in"})
    assert check.status_code in (200, 422), check.status_code
    assert Need.objects.count() == before  # a dry run writes no need
    commit = client.post(f"/ledger/import/{batch.pk}/commit/")
    assert commit.status_code in (302, 422), commit.status_code
    if commit.status_code == 422:
        assert Need.objects.count() == before
    return Need.objects.count() - before


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_ledger_file_full_of_hostile_cells_is_checked_and_imported_without_a_500(
    stage: Stage, kind: str
) -> None:
    write = _xlsx_bytes if kind == "xlsx" else _csv_bytes
    texts = [_xlsx_safe(t) if kind == "xlsx" else t for t in NASTY if "\x00" not in t]
    client = stage.page("dispatcher")
    # hostile text where the import expects a date, a source, an area, a category…: each row
    # is reported, nothing is imported
    coded = write(_ledger_rows(texts, coded=True), HEADER)
    assert _import_through_the_pages(client, f"台账.{kind}", coded) == 0
    # hostile text in the free-text columns, within their limits: every row imports, as written
    free = texts  # (a NUL in a CSV: see the next test)
    assert _import_through_the_pages(
        client, f"台账2.{kind}", write(_ledger_rows(free, coded=False), HEADER)
    ) == len(free)
    descriptions = list(Need.objects.values_list("description", flat=True))
    for text in free:
        if text.strip():
            assert any(text.strip()[:500] in d for d in descriptions), text[:40]


def test_a_nul_in_a_csv_file_is_refused_with_the_row_and_nothing_is_imported(
    stage: Stage,
) -> None:
    # (an .xlsx cannot hold one; a CSV can, and PostgreSQL cannot store it)
    ledger = _csv_bytes(_ledger_rows(["路灯\x00坏了"], coded=False), HEADER)
    places = _csv_bytes([[*PLACE_ROW[:2], "3号\x00", *PLACE_ROW[3:]]], PLACE_HEADER)
    clients = {persona: stage.page(persona) for persona in ("dispatcher", "officer")}
    before = state()
    for persona, url, data in (
        ("dispatcher", "/ledger/import/", ledger),
        ("officer", "/places/import/", places),
    ):
        response = clients[persona].post(url, {"file": SimpleUploadedFile("a.csv", data)})
        assert response.status_code == 422, url
        assert "第 2 行含有空字符" in response.content.decode(), url
    assert state() == before


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_places_file_full_of_hostile_cells_is_checked_and_imported_without_a_500(
    stage: Stage, kind: str
) -> None:
    write = _xlsx_bytes if kind == "xlsx" else _csv_bytes
    texts = [_xlsx_safe(t) if kind == "xlsx" else t for t in NASTY if "\x00" not in t]
    client = stage.page("officer")
    before = Place.objects.count()
    # hostile text where the import expects a grid, a kind, a phone or a number: all reported
    coded = []
    for i, text in enumerate(texts):
        row = [*PLACE_ROW[:2], f"{i}号", *PLACE_ROW[3:]]
        row[(0, 1, 5, 6)[i % 4]] = text
        coded.append(row)
    response = client.post(
        "/places/import/", {"file": SimpleUploadedFile(f"a.{kind}", write(coded, PLACE_HEADER))}
    )
    assert response.status_code == 422
    # hostile text in the free-text columns, within their limits: previewed, then imported
    free = [
        [PLACE_ROW[0], PLACE_ROW[1], f"{text[:90]}{i}号", text[:200], text[:100], "", 3, text[:200]]
        for i, text in enumerate(texts)
    ]
    preview = client.post(
        "/places/import/", {"file": SimpleUploadedFile(f"b.{kind}", write(free, PLACE_HEADER))}
    )
    assert preview.status_code == 200, re.findall(r"第 \d+ 行[^<]*", preview.content.decode())[:5]
    batch = re.search(r'name="batch" value="([^"]+)"', preview.content.decode())
    assert batch is not None
    assert Place.objects.count() == before
    confirm = client.post("/places/import/", {"confirm": "1", "batch": batch[1]})
    assert confirm.status_code == 302
    assert Place.objects.count() == before + len(free)
    names = set(Place.objects.values_list("name", flat=True))
    assert {row[2].strip() for row in free} <= names
