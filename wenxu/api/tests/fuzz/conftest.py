"""A small but real county for the fuzzer: needs in most statuses in and out of each persona's
scope, a visit with a place, export jobs (one finished with its file), and a token per persona."""

import uuid
from collections.abc import Iterator
from datetime import timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from wenxu.accounts import services as account_services
from wenxu.api.tests.conftest import Lifecycle
from wenxu.api.tests.fuzz.harness import PERSONAL_DATA, ROLES, FuzzData, same_connection
from wenxu.exchange import services as exchange_services
from wenxu.lib import clock
from wenxu.needs import services as need_services
from wenxu.visits import services as visit_services
from wenxu.visits.models import Place


def _jpeg() -> bytes:
    out = BytesIO()
    Image.new("RGB", (8, 6), (10, 120, 200)).save(out, "JPEG")
    return out.getvalue()


def _visit(world: Any, place: Place) -> int:
    draft = visit_services.VisitDraft(
        client_uuid=uuid.uuid4(),
        payload_hash="fuzz-visit",
        kind="home",
        area=world.grid_a,
        place=place,
        place_kind="household",
        started_at=clock.now() - timedelta(hours=2),
        ended_at=clock.now() - timedelta(hours=1),
        mood=4,
        people_met=3,
        summary="入户了解老人生活情况。",
        needs=(
            visit_services.NeedDraft(
                title="楼道灯坏了", description="三单元楼道灯不亮。", kind="help", area=None
            ),
        ),
    )
    return visit_services.visit_record(actor=world.officer, draft=draft).visit.pk


def _export_jobs(world: Any) -> list[int]:
    jobs = []
    for user, format in ((world.dispatcher, "csv"), (world.leader, "xlsx")):
        prepared = exchange_services.export_prepare(user=user, data={}, columns=None, format=format)
        job = exchange_services.export_job_create(prepared=prepared)
        jobs.append(job.pk)
    # The dispatcher's job finishes (its file can be downloaded); the leader's stays pending.
    exchange_services.export_job_run(job_id=jobs[0])
    return jobs


@pytest.fixture
def fuzz_data(world: Any, settings: Any, tmp_path: Path) -> Iterator[FuzzData]:
    settings.DATA_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "media"
    a, b = Lifecycle(world, "a"), Lifecycle(world, "b")
    name, phone, id_number, address = PERSONAL_DATA
    requester = need_services.RequesterInput(
        name=name, phone=phone, id_number=id_number, address=address
    )
    needs = [
        a.registered(requester=requester),
        a.assigned(),
        a.in_progress(),
        a.extension_pending(),
        a.replied(),
        a.following(),
        a.replied("explained"),
        b.registered(),
        b.in_progress(),
        b.replied("explained"),
    ]
    closed = need_services.need_callback(
        actor=world.officer,
        need=needs[4],
        version=needs[4].version,
        resolved="yes",
        satisfaction="very_satisfied",
        channel="phone",
    )
    needs[4] = closed
    place = Place.objects.create(area=world.grid_a, kind="household", name="3栋2单元401")
    tokens = {
        role: account_services.api_token_issue(user=getattr(world, role))[0]
        for role in ROLES
        if role is not None and role != "revoked"
    }
    tokens["revoked"], revoked = account_services.api_token_issue(user=world.officer)
    account_services.api_token_revoke(token=revoked)
    data = FuzzData(
        tokens=tokens,
        numbers=[need.number for need in needs],
        visit_ids=[_visit(world, place)],
        job_ids=_export_jobs(world),
        area_ids=[world.county.pk, world.town_a.pk, world.grid_a.pk, world.grid_b.pk],
        unit_ids=[world.housing.pk, world.transport.pk, world.transport_roads.pk],
        category_ids=[world.cat_roads.pk, world.cat_water.pk],
        user_ids=[world.officer.pk, world.officer_b.pk, world.dispatcher.pk],
        usernames=["officer", "dispatcher", "handler", "leader"],
        photo=_jpeg(),
    )
    with same_connection():
        yield data
