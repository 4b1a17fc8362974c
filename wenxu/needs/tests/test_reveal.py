"""查看完整信息 (issue #9): the reveal permission on the need page, the API and the ledger export.

Only a holder of `residents.reveal_personal_data` sees a requester unmasked, only for a need in
scope, never a confidential requester when they see the need only as staff of a unit, and each
reveal is a new security-log entry with its reason (never the values).
"""

import io
import json
import zipfile
from typing import Any

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from wenxu.accounts.models import User
from wenxu.accounts.services import api_token_issue
from wenxu.audit.models import AuditEntry
from wenxu.exchange import services as export_services
from wenxu.needs import services
from wenxu.needs.exceptions import NotPermitted
from wenxu.needs.models import Need
from wenxu.needs.services import RequesterInput
from wenxu.residents import reveal

PHONE = "13912345678"
ID_NUMBER = "33010219800101123X"
ADDRESS = "东河村3组18号"
NAME = "赵大明"
REASON = "回访核实联系方式"


def grant(user: User) -> User:
    permission = Permission.objects.get(
        codename="reveal_personal_data", content_type__app_label="residents"
    )
    user.user_permissions.add(permission)
    return User.objects.get(pk=user.pk)  # a fresh object: no cached permissions


def need_with_requester(world: Any, *, confidential: bool = False) -> Need:
    """In 东河镇 (`officer`), assigned to 住建局 (`handler`); `dispatcher`, `leader` see all."""
    requester = RequesterInput(
        name=NAME, phone=PHONE, id_number=ID_NUMBER, address=ADDRESS, confidential=confidential
    )
    need: Need = world.assigned(requester=requester)
    return need


def client_for(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def reveal_url(need: Need) -> str:
    return reverse("needs:requester_reveal", args=[need.number])


def reveals() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="reveal").order_by("seq"))


HTMX = {"HX-Request": "true"}


def test_permitted_dispatcher_reveals_on_the_need_page_and_each_reveal_is_logged(
    world: Any,
) -> None:
    need = need_with_requester(world)
    client = client_for(grant(world.dispatcher))
    page = client.get(reverse("needs:detail", args=[need.number])).content.decode()
    assert "查看完整信息" in page
    assert PHONE not in page
    assert ID_NUMBER not in page

    answer = client.post(reveal_url(need), {"reason": REASON}, headers=HTMX)

    assert answer.status_code == 200
    body = answer.content.decode()
    for value in (NAME, PHONE, ID_NUMBER, ADDRESS):
        assert value in body
    assert "no-store" in answer["Cache-Control"]
    assert "<html" not in body  # an htmx fragment
    [entry] = reveals()
    assert entry.actor_username == "dispatcher"
    assert entry.target == f"need:{need.number}"
    assert entry.detail == {"reason": REASON, "fields": ["name", "phone", "id_number", "address"]}
    assert PHONE not in json.dumps(entry.detail, ensure_ascii=False)
    # Nothing revealed is kept in the session or queued as a message.
    assert PHONE not in json.dumps(dict(client.session.items()), default=str)
    # Asking again is a new entry (no permission or answer is cached).
    client.post(reveal_url(need), {"reason": "再次核实"}, headers=HTMX)
    assert len(reveals()) == 2


def test_without_the_permission_there_is_no_control_and_a_reveal_is_refused(world: Any) -> None:
    need = need_with_requester(world)
    for user in (world.dispatcher, world.handler, world.officer, world.leader):
        client = client_for(user)
        page = client.get(reverse("needs:detail", args=[need.number])).content.decode()
        assert "查看完整信息" not in page
        answer = client.post(reveal_url(need), {"reason": REASON}, headers=HTMX)
        assert answer.status_code == 403
        assert PHONE not in answer.content.decode()
    assert reveals() == []


def test_the_permission_never_widens_scope(world: Any) -> None:
    need = need_with_requester(world)  # 东河镇, 住建局
    for user in (world.officer_b, world.handler_other, world.outsider):
        answer = client_for(grant(user)).post(reveal_url(need), {"reason": REASON})
        assert answer.status_code == 404
    assert reveals() == []


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("", "请填写查看原因"),
        ("   ", "请填写查看原因"),
        ("查", "至少 2 个字"),
        ("查" * 201, "不能超过 200 个字"),
        ("核实 139-1234-5678 的来电", "请不要填写电话号码或证件号码"),
        ("核实身份证33010219800101123X", "请不要填写电话号码或证件号码"),
    ],
)
def test_a_reveal_needs_a_reason_and_shows_nothing_without_one(
    world: Any, reason: str, message: str
) -> None:
    need = need_with_requester(world)
    client = client_for(grant(world.dispatcher))
    answer = client.post(reveal_url(need), {"reason": reason}, headers=HTMX)
    assert answer.status_code == 422
    body = answer.content.decode()
    assert message in body
    assert NAME not in body
    assert ADDRESS not in body
    assert reveals() == []


def test_a_confidential_requester_is_never_revealed_to_the_handling_unit(world: Any) -> None:
    need = need_with_requester(world, confidential=True)
    handler = client_for(grant(world.handler))
    page = handler.get(reverse("needs:detail", args=[need.number])).content.decode()
    assert "查看完整信息" not in page
    assert handler.post(reveal_url(need), {"reason": REASON}).status_code == 403
    assert reveals() == []
    # The dispatcher, who sees it through the area, may (the permission is theirs too).
    answer = client_for(grant(world.dispatcher)).post(reveal_url(need), {"reason": REASON})
    assert answer.status_code == 200
    assert PHONE in answer.content.decode()


def test_who_criticised_a_unit_is_never_revealed_to_its_staff(world: Any) -> None:
    # A complaint about 交通局, disclosed to it by the dispatcher and given to it to handle.
    need = world.register(
        kind="complaint",
        about_unit=world.transport,
        requester=RequesterInput(name=NAME, phone=PHONE, id_number=ID_NUMBER, address=ADDRESS),
    )
    need = services.need_disclose_to_unit(
        actor=world.dispatcher, need=need, version=need.version, reason="需由交通局说明情况"
    )
    services.need_assign(
        actor=world.dispatcher, need=need, version=need.version, lead_unit=world.transport
    )
    staff = client_for(grant(world.handler_other))
    page = staff.get(reverse("needs:detail", args=[need.number])).content.decode()
    assert "查看完整信息" not in page
    assert staff.post(reveal_url(need), {"reason": REASON}).status_code == 403
    text = xlsx_text(download(export(staff, reveal="1", reveal_reason="核对台账联系方式")))
    assert need.number in text
    assert PHONE not in text
    assert NAME not in text
    assert (
        client_for(grant(world.dispatcher)).post(reveal_url(need), {"reason": REASON}).status_code
        == 200
    )


def test_the_permission_comes_from_a_group_or_superuser_status(world: Any) -> None:
    need = need_with_requester(world)
    group = Group.objects.create(name="台账管理员")
    group.permissions.add(
        Permission.objects.get(codename="reveal_personal_data", content_type__app_label="residents")
    )
    world.leader.groups.add(group)
    assert client_for(world.leader).post(reveal_url(need), {"reason": REASON}).status_code == 200
    world.officer.is_superuser = True
    world.officer.save(update_fields=["is_superuser"])
    assert client_for(world.officer).post(reveal_url(need), {"reason": REASON}).status_code == 200
    assert [entry.actor_username for entry in reveals()] == ["leader", "officer"]


def test_without_htmx_the_reveal_is_a_page_that_asks_for_the_reason_first(world: Any) -> None:
    need = need_with_requester(world)
    client = client_for(grant(world.dispatcher))
    form = client.get(reveal_url(need))
    assert form.status_code == 200
    assert "查看原因" in form.content.decode()
    assert PHONE not in form.content.decode()
    assert reveals() == []  # nothing shown, nothing logged
    page = client.post(reveal_url(need), {"reason": REASON})
    assert page.status_code == 200
    assert "<html" in page.content.decode()
    assert PHONE in page.content.decode()
    assert "no-store" in page["Cache-Control"]


# --------------------------------------------------------------------------- API


class Api:
    """The JSON API as an external client calls it, with a bearer token."""

    def __init__(self, user: User) -> None:
        raw, _token = api_token_issue(user=user)
        self.client = Client(headers={"Authorization": f"Bearer {raw}"})

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post("/api/v1" + path, body, content_type="application/json")


def api_as(user: User) -> Api:
    return Api(user)


def test_api_reveal_answers_the_requester_for_a_permitted_caller_only(world: Any) -> None:
    need = need_with_requester(world)
    path = f"/needs/{need.number}/requester/reveal"

    assert api_as(world.dispatcher).post(path, {"reason": REASON}).status_code == 403
    assert api_as(grant(world.officer_b)).post(path, {"reason": REASON}).status_code == 404
    missing = api_as(grant(world.dispatcher)).post(path, {"reason": ""})
    assert missing.status_code == 422
    assert "请填写查看原因" in missing.json()["errors"]["reason"][0]
    assert reveals() == []

    answer = api_as(world.dispatcher).post(path, {"reason": REASON})
    assert answer.status_code == 200
    assert answer.json() == {
        "name": NAME,
        "phone": PHONE,
        "id_number": ID_NUMBER,
        "address": ADDRESS,
        "kind": "person",
        "confidential": False,
    }
    assert "no-store" in answer["Cache-Control"]
    [entry] = reveals()
    assert entry.target == f"need:{need.number}"
    assert entry.detail["reason"] == REASON


def test_api_refuses_a_confidential_requester_to_a_unit_handler(world: Any) -> None:
    need = need_with_requester(world, confidential=True)
    path = f"/needs/{need.number}/requester/reveal"
    assert api_as(grant(world.handler)).post(path, {"reason": REASON}).status_code == 403


# --------------------------------------------------------------------------- the export


def xlsx_text(content: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(content)) as book:
        return "".join(book.read(name).decode("utf-8", "replace") for name in book.namelist())


def export(client: Client, **data: str) -> Any:
    return client.post(reverse("exchange:ledger_export"), {"format": "xlsx", **data}, follow=False)


def download(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_export_reveals_only_when_ticked_with_a_reason_and_logs_it(world: Any) -> None:
    need_with_requester(world)
    client = client_for(grant(world.dispatcher))
    ledger_page = client.get(reverse("needs:ledger")).content.decode()
    assert "包含完整个人信息" in ledger_page

    masked = xlsx_text(download(export(client)))
    assert PHONE not in masked
    assert ADDRESS not in masked
    assert reveals() == []

    refused = export(client, reveal="1", reveal_reason="")
    assert refused.status_code == 302  # back to the ledger with the reason's message
    assert reveals() == []

    revealed = export(client, reveal="1", reveal_reason="核对台账联系方式")
    text = xlsx_text(download(revealed))
    assert PHONE in text
    assert NAME in text
    assert ADDRESS in text
    assert "含未脱敏个人信息" in text
    [entry] = reveals()
    assert entry.target == "export:ledger"
    assert entry.detail["reason"] == "核对台账联系方式"
    assert entry.detail["fields"] == ["requester", "phone", "address"]


def test_export_without_the_permission_never_reveals(world: Any) -> None:
    need_with_requester(world)
    client = client_for(world.dispatcher)
    assert "包含完整个人信息" not in client.get(reverse("needs:ledger")).content.decode()
    answer = export(client, reveal="1", reveal_reason="核对台账联系方式")
    assert answer.status_code == 302  # refused, with a message; no file
    messages = [str(m) for m in answer.wsgi_request._messages]
    assert any("没有导出完整个人信息的权限" in m for m in messages)
    assert reveals() == []


def test_exported_confidential_requesters_stay_hidden_from_the_handling_unit(world: Any) -> None:
    need_with_requester(world, confidential=True)
    client = client_for(grant(world.handler))
    text = xlsx_text(download(export(client, reveal="1", reveal_reason="核对台账联系方式")))
    assert PHONE not in text
    assert NAME not in text
    assert "（保密）" in text


def test_a_revealing_export_job_logs_each_download_and_stops_when_the_permission_goes(
    world: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    monkeypatch.setattr(export_services, "SYNC_LIMIT", 0)
    need_with_requester(world)
    dispatcher = grant(world.dispatcher)
    client = client_for(dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        started = export(client, reveal="1", reveal_reason="核对台账联系方式")
    assert started.status_code == 302
    job = dispatcher.export_jobs.get()
    assert job.reveal_reason == "核对台账联系方式"
    # A masked export of the same rows is another job, never this file.
    with django_capture_on_commit_callbacks(execute=True):
        export(client)
    assert dispatcher.export_jobs.count() == 2

    url = reverse("exchange:job_download", args=[job.pk])
    assert PHONE in xlsx_text(download(client.get(url)))
    assert [entry.target for entry in reveals()] == ["export:ledger", f"export_job:{job.pk}"]

    dispatcher.user_permissions.clear()
    assert client.get(url).status_code == 403
    assert len(reveals()) == 2


def test_the_service_refuses_before_it_logs(world: Any) -> None:
    need = need_with_requester(world)
    with pytest.raises(NotPermitted):
        reveal.requester_reveal(actor=world.dispatcher, need=need, reason=REASON)
    assert reveals() == []
