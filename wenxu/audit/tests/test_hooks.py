"""Tokens, client keys, exports and imports each leave an entry (and no personal data in it)."""

import json

import pytest
from django.test import Client

from wenxu.accounts import services as account_services
from wenxu.audit import actions
from wenxu.audit.models import AuditEntry
from wenxu.audit.verify import audit_verify
from wenxu.exchange import services as exports
from wenxu.integrations import services as client_services
from wenxu.needs.ledger_import import service as ledger_import
from wenxu.needs.tests.ledger_import_helpers import ledger_row, xlsx
from wenxu.visits import place_import
from wenxu.visits.tests.test_places_import import row as place_row
from wenxu.visits.tests.test_places_import import xlsx as places_xlsx

pytestmark = pytest.mark.django_db

PHONE = "13812345678"


def _only(action: str) -> AuditEntry:
    (entry,) = AuditEntry.objects.filter(action=action)
    return entry


def _text(entry: AuditEntry) -> str:
    return json.dumps([entry.target, entry.detail], ensure_ascii=False)


# --------------------------------------------------------------------------- credentials


def test_issuing_and_revoking_a_personal_token_are_recorded_once(world):
    raw, token = account_services.api_token_issue(user=world.dispatcher, name="脚本")

    account_services.api_token_revoke(token=token)
    account_services.api_token_revoke(token=token)  # a second revocation changes nothing

    issued = _only(actions.TOKEN_ISSUE)
    assert (issued.actor_id, issued.target) == (world.dispatcher.pk, f"apitoken:{token.pk}")
    assert issued.detail["prefix"] == token.prefix
    assert raw not in _text(issued)
    revoked = _only(actions.TOKEN_REVOKE)
    assert revoked.actor_id == world.dispatcher.pk


def test_an_administrator_revoking_someone_elses_token_is_named(world):
    _raw, token = account_services.api_token_issue(user=world.officer)

    account_services.api_token_revoke(token=token, actor=world.admin)

    assert _only(actions.TOKEN_REVOKE).actor_id == world.admin.pk


def test_a_token_from_the_api_is_recorded(world):
    response = Client().post(
        "/api/v1/auth/token",
        data={"username": "dispatcher", "password": "pw-dispatcher"},
        content_type="application/json",
    )

    assert response.status_code == 200, response.content
    assert _only(actions.TOKEN_ISSUE).actor_id == world.dispatcher.pk
    assert response.json()["token"] not in _text(_only(actions.TOKEN_ISSUE))


def test_issuing_and_revoking_a_client_key_are_recorded(world):
    raw, client = client_services.api_client_issue(
        name="12345 热线", areas=[world.town_a], created_by=world.admin
    )

    client_services.api_client_revoke(client=client, actor=world.admin)
    client_services.api_client_revoke(client=client, actor=world.admin)

    issued = _only(actions.APIKEY_ISSUE)
    assert (issued.actor_id, issued.target) == (world.admin.pk, f"apiclient:{client.pk}")
    assert issued.detail["name"] == "12345 热线"
    assert issued.detail["areas"] == [world.town_a.code or world.town_a.name]
    assert raw not in _text(issued)
    assert _only(actions.APIKEY_REVOKE).actor_id == world.admin.pk


# --------------------------------------------------------------------------- exports


def test_a_ledger_export_records_who_filters_rows_and_that_nothing_was_revealed(world):
    world.register()
    prepared = exports.export_prepare(
        user=world.dispatcher,
        data={"q": [f"找 {PHONE}"], "status": ["registered"]},
        columns=None,
        format="csv",
    )

    b"".join(exports.export_csv_chunks(prepared))

    entry = _only(actions.EXPORT)
    assert (entry.actor_id, entry.target) == (world.dispatcher.pk, "export:ledger")
    assert entry.detail["rows"] == prepared.count
    assert entry.detail["format"] == "csv"
    assert entry.detail["revealed"] is False
    assert entry.detail["filters"]["status"] == ["registered"]
    assert entry.detail["filters"]["q"] == ["找 138****5678"]  # a searched phone stays masked
    assert PHONE not in _text(entry)


def test_an_xlsx_export_through_the_api_is_recorded(world):
    world.register()
    raw, _token = account_services.api_token_issue(user=world.dispatcher)

    response = Client().get(
        "/api/v1/exports/ledger.xlsx", headers={"Authorization": f"Bearer {raw}"}
    )

    assert response.status_code == 200
    entry = _only(actions.EXPORT)
    assert (entry.detail["format"], entry.detail["rows"]) == ("xlsx", 1)


def test_a_background_export_job_is_recorded_when_created(world):
    world.register()
    prepared = exports.export_prepare(user=world.dispatcher, data={}, columns=None, format="csv")

    job = exports.export_job_create(prepared=prepared)
    exports.export_job_create(prepared=prepared)  # the same request again: the same job

    entry = _only(actions.EXPORT)
    assert entry.target == f"export_job:{job.pk}"


def test_the_monthly_report_workbook_is_an_export(world):
    client = Client()
    client.force_login(world.leader)

    response = client.get("/stats/report.xlsx", {"month": "2026-01"})

    assert response.status_code == 200
    entry = _only(actions.EXPORT)
    assert entry.target == "report:2026-01"
    assert entry.detail["kind"] == "monthly_report"


# --------------------------------------------------------------------------- imports


def test_a_committed_ledger_import_records_the_file_and_the_rows(world):
    batch = ledger_import.ledger_import_upload(
        actor=world.dispatcher, upload=xlsx([ledger_row(1), ledger_row(2)], name="东河台账.xlsx")
    )
    dry = ledger_import.ledger_import_check(
        actor=world.dispatcher,
        batch_id=batch.pk,
        mapping=batch.mapping,
        default_source="walk_in",
    )
    assert dry.result is not None
    assert dry.result.ok, dry.result.problems[:3]
    assert not AuditEntry.objects.filter(action=actions.IMPORT).exists()  # a dry run is no import

    ledger_import.ledger_import_commit(actor=world.dispatcher, batch_id=batch.pk)

    entry = _only(actions.IMPORT)
    assert entry.actor_id == world.dispatcher.pk
    assert entry.detail["kind"] == "ledger"
    assert entry.detail["file_name"] == "东河台账.xlsx"
    assert entry.detail["rows"] == 2
    assert PHONE not in _text(entry)
    assert "张三" not in _text(entry)


def test_a_places_import_records_its_counts(world):
    upload = places_xlsx([place_row("1号"), place_row("2号")])

    place_import.place_import(actor=world.officer, upload=upload)

    entry = _only(actions.IMPORT)
    assert entry.actor_id == world.officer.pk
    assert entry.detail == {
        "kind": "places",
        "rows": 2,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
    }
    assert audit_verify().ok
