"""`visit_record` and `visit_photo_add` called directly: idempotency, validation, scope."""

import uuid
from dataclasses import replace
from datetime import datetime, timedelta
from io import BytesIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from PIL import Image

from conftest import World
from wenxu.lib import clock
from wenxu.needs import services as need_services
from wenxu.needs.exceptions import IdempotencyConflict, InvalidInput, NotPermitted
from wenxu.needs.models import Need, NeedEvent
from wenxu.visits import services
from wenxu.visits.models import Place, Visit, VisitPhoto
from wenxu.visits.services import NeedDraft, VisitDraft

SH = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def media(settings: Any, tmp_path: Any) -> Any:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def _need(**overrides: Any) -> NeedDraft:
    values: dict[str, Any] = {
        "title": "屋顶漏水",
        "description": "下雨时卧室屋顶漏水，需要维修。",
        "kind": "help",
        "area": None,
        "client_uuid": uuid.uuid4(),
        "payload_hash": "need-hash",
    }
    values.update(overrides)
    return NeedDraft(**values)


def _draft(world: World, **overrides: Any) -> VisitDraft:
    values: dict[str, Any] = {
        "client_uuid": uuid.uuid4(),
        "payload_hash": "visit-hash",
        "kind": "home",
        "area": world.grid_a,
        "started_at": clock.now() - timedelta(hours=2),
        "ended_at": clock.now() - timedelta(hours=1),
        "mood": 4,
        "people_met": 3,
        "summary": "入户了解老人生活情况。",
        "needs": (_need(),),
    }
    values.update(overrides)
    return VisitDraft(**values)


def _photo() -> need_services.PreparedUpload:
    out = BytesIO()
    Image.new("RGB", (40, 30), (10, 120, 200)).save(out, "JPEG")
    return need_services.PreparedUpload(
        kind="photo",
        original_name="现场.jpg",
        content_type="image/jpeg",
        extension="jpg",
        content=out.getvalue(),
        thumbnail=out.getvalue(),
    )


# --------------------------------------------------------------------------- recording


def test_a_visit_and_its_needs_are_written_together(world: World) -> None:
    draft = _draft(world, needs=(_need(), _need(title="路灯不亮", source="observed")))

    result = services.visit_record(actor=world.officer, draft=draft)

    assert result.created
    visit = result.visit
    assert list(visit.officers.all()) == [world.officer]
    needs = list(Need.objects.filter(visit=visit).order_by("id"))
    assert [n.title for n in needs] == ["屋顶漏水", "路灯不亮"]
    assert needs[1].is_observed
    assert needs[1].observed_confirmed_at is None
    assert all(n.area == world.grid_a and n.recorded_by == world.officer for n in needs)


def test_replay_returns_the_same_visit_and_writes_nothing(world: World) -> None:
    draft = _draft(world)
    first = services.visit_record(actor=world.officer, draft=draft)
    events = NeedEvent.objects.count()

    again = services.visit_record(actor=world.officer, draft=draft)

    assert not again.created
    assert again.visit.pk == first.visit.pk
    assert Visit.objects.count() == 1
    assert Need.objects.count() == 1
    assert NeedEvent.objects.count() == events


def test_same_uuid_with_other_content_is_a_conflict(world: World) -> None:
    draft = _draft(world)
    services.visit_record(actor=world.officer, draft=draft)

    with pytest.raises(IdempotencyConflict):
        services.visit_record(
            actor=world.officer, draft=replace(draft, payload_hash="other", summary="改了")
        )
    assert Visit.objects.get().summary == "入户了解老人生活情况。"


def test_another_user_replaying_someone_elses_uuid_is_a_conflict(world: World) -> None:
    draft = _draft(world)
    services.visit_record(actor=world.officer, draft=draft)

    with pytest.raises(IdempotencyConflict):
        services.visit_record(actor=world.dispatcher, draft=draft)
    assert Visit.objects.count() == 1


def test_need_uuid_already_used_elsewhere_refuses_the_whole_visit(world: World) -> None:
    used = world.register()
    Need.objects.filter(pk=used.pk).update(client_uuid=uuid.UUID(int=7))
    draft = _draft(world, needs=(_need(client_uuid=uuid.UUID(int=7)),))

    with pytest.raises(IdempotencyConflict):
        services.visit_record(actor=world.officer, draft=draft)
    assert not Visit.objects.exists()
    assert Need.objects.count() == 1


def test_duplicate_need_uuids_in_one_visit_are_invalid(world: World) -> None:
    same = uuid.uuid4()
    draft = _draft(world, needs=(_need(client_uuid=same), _need(client_uuid=same)))

    with pytest.raises(InvalidInput) as caught:
        services.visit_record(actor=world.officer, draft=draft)
    assert "needs" in caught.value.errors


def test_a_visit_without_needs_is_valid(world: World) -> None:
    result = services.visit_record(actor=world.officer, draft=_draft(world, needs=()))
    assert result.created
    assert not Need.objects.exists()


def test_every_bad_need_is_reported_with_its_index_and_nothing_is_written(world: World) -> None:
    draft = _draft(
        world,
        needs=(
            _need(title=""),
            _need(),
            _need(handling="on_the_spot", reply_text=""),
        ),
    )

    with pytest.raises(InvalidInput) as caught:
        services.visit_record(actor=world.officer, draft=draft)

    keys = set(caught.value.errors)
    assert "needs.0.title" in keys
    assert "needs.2.reply_text" in keys
    assert not any(key.startswith("needs.1.") for key in keys)
    assert not Visit.objects.exists()
    assert not Need.objects.exists()


def test_handler_may_not_record_a_visit(world: World) -> None:
    with pytest.raises(NotPermitted):
        services.visit_record(actor=world.handler, draft=_draft(world))
    assert not Visit.objects.exists()


def test_officer_may_not_record_a_visit_in_another_township(world: World) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.visit_record(actor=world.officer, draft=_draft(world, area=world.grid_b))
    assert "area" in caught.value.errors


def test_end_before_start_and_start_in_the_future_are_refused(world: World) -> None:
    start = clock.now() - timedelta(hours=1)
    with pytest.raises(InvalidInput) as caught:
        services.visit_record(
            actor=world.officer,
            draft=_draft(world, started_at=start, ended_at=start - timedelta(minutes=1)),
        )
    assert "ended_at" in caught.value.errors
    with pytest.raises(InvalidInput) as caught:
        services.visit_record(
            actor=world.officer,
            draft=_draft(world, started_at=clock.now() + timedelta(hours=1), ended_at=None),
        )
    assert "started_at" in caught.value.errors
    assert not Visit.objects.exists()


def test_a_few_minutes_of_phone_clock_drift_is_accepted(world: World) -> None:
    draft = _draft(world, started_at=clock.now() + timedelta(minutes=5), ended_at=None)
    assert services.visit_record(actor=world.officer, draft=draft).created


def test_place_outside_the_visit_area_is_refused(world: World) -> None:
    place = Place.objects.create(area=world.grid_b, kind="household", name="5号")
    with pytest.raises(InvalidInput) as caught:
        services.visit_record(actor=world.dispatcher, draft=_draft(world, place=place))
    assert "place" in caught.value.errors


def test_place_gives_its_kind_and_address_to_the_visit(world: World) -> None:
    place = Place.objects.create(
        area=world.grid_a, kind="household", name="3组12号", address="东河村3组12号"
    )
    visit = services.visit_record(actor=world.officer, draft=_draft(world, place=place)).visit
    assert visit.place_kind == "household"
    assert visit.address == "东河村3组12号"


def test_on_the_spot_need_is_replied_and_observed_need_waits_for_confirmation(
    world: World,
) -> None:
    draft = _draft(
        world,
        needs=(
            _need(handling="on_the_spot", reply_text="现场更换灯泡。"),
            _need(title="院墙开裂", source="observed"),
        ),
    )
    visit = services.visit_record(actor=world.officer, draft=draft).visit
    spot, observed = Need.objects.filter(visit=visit).order_by("id")
    assert spot.status == "replied"
    assert spot.handling == "on_the_spot"
    assert observed.status == "registered"

    confirmed = need_services.need_confirm_observed(
        actor=world.officer, need=observed, version=observed.version, note="群众确认属实"
    )
    assert confirmed.observed_confirmed_at is not None
    assert confirmed.events.last().note == "群众确认属实"  # type: ignore[union-attr]


# --------------------------------------------------------------------------- photos


def test_photo_replay_with_the_same_uuid_keeps_one_photo(world: World, media: Any) -> None:
    visit = services.visit_record(actor=world.officer, draft=_draft(world)).visit
    key = uuid.uuid4()

    first, created = services.visit_photo_add(
        actor=world.officer, visit=visit, upload=_photo(), client_uuid=key
    )
    again, created_again = services.visit_photo_add(
        actor=world.officer, visit=visit, upload=_photo(), client_uuid=key
    )

    assert created
    assert not created_again
    assert again.pk == first.pk
    assert VisitPhoto.objects.count() == 1


def test_photo_uuid_used_on_another_visit_is_a_conflict(world: World, media: Any) -> None:
    one = services.visit_record(actor=world.officer, draft=_draft(world)).visit
    two = services.visit_record(actor=world.officer, draft=_draft(world, needs=())).visit
    key = uuid.uuid4()
    services.visit_photo_add(actor=world.officer, visit=one, upload=_photo(), client_uuid=key)

    with pytest.raises(IdempotencyConflict):
        services.visit_photo_add(actor=world.officer, visit=two, upload=_photo(), client_uuid=key)
    assert VisitPhoto.objects.filter(visit=two).count() == 0


def test_only_the_officers_who_went_may_add_photos(world: World, media: Any) -> None:
    visit = services.visit_record(actor=world.officer, draft=_draft(world)).visit
    with pytest.raises(NotPermitted):
        services.visit_photo_add(actor=world.dispatcher, visit=visit, upload=_photo())
    assert not VisitPhoto.objects.exists()


def test_started_at_is_kept_as_the_moment_given(world: World) -> None:
    start = datetime(2026, 1, 10, 9, 30, tzinfo=SH)
    with clock.travel(datetime(2026, 1, 10, 12, 0, tzinfo=SH)):
        visit = services.visit_record(
            actor=world.officer, draft=_draft(world, started_at=start, ended_at=None)
        ).visit
    visit.refresh_from_db()
    assert visit.started_at == start
