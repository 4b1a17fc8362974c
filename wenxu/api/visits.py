"""`/api/v1/visits`: face-to-face visits with the needs they raised, for field apps and the
offline outbox. A thin adapter over `wenxu.visits.services` and `.selectors`.

Idempotent by `client_uuid`: the same body again answers 200 with what the first request
created; the same `client_uuid` with another body answers 409 and changes nothing.
"""

from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import File, Form, Router, Status
from ninja.files import UploadedFile

from wenxu.accounts.models import User
from wenxu.api import schemas as s
from wenxu.api.auth import current_user
from wenxu.api.drafts import check_draft_user
from wenxu.api.needs import COORD, body_digest, need_values
from wenxu.api.refs import RefResolver
from wenxu.needs import services as need_services
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Need
from wenxu.needs.selectors import need_queryset_for_user
from wenxu.visits import selectors, services
from wenxu.visits.models import Visit, VisitPhoto

router = Router(tags=["visits"])

# A visit's times lie in a plausible range. Before 1901 the local time has an offset in seconds
# (LMT +08:05:43), which is not an RFC 3339 date-time; at year 9999 the local time overflows
# (a 500). Whether a start lies in the future is the service's rule (with its own message).
EARLIEST = datetime(2000, 1, 1, tzinfo=ZoneInfo(settings.TIME_ZONE))
LATEST = datetime(2100, 1, 1, tzinfo=ZoneInfo(settings.TIME_ZONE))

READ_ERRORS: dict[int, Any] = {401: s.ErrorOut, 404: s.ErrorOut, 422: s.InvalidOut}
WRITE_ERRORS: dict[int, Any] = {**READ_ERRORS, 403: s.ErrorOut, 409: s.ErrorOut}


def visit_json(visit: Visit, needs: list[Need]) -> dict[str, Any]:
    return {
        "id": visit.pk,
        "client_uuid": visit.client_uuid,
        "kind": visit.kind,
        "area": {"id": visit.area.pk, "name": visit.area.name},
        "place": {"id": visit.place.pk, "name": visit.place.name} if visit.place else None,
        "place_kind": visit.place_kind or None,
        "address": visit.address,
        "started_at": timezone.localtime(visit.started_at),
        "ended_at": timezone.localtime(visit.ended_at) if visit.ended_at else None,
        "officers": [str(officer) for officer in visit.officers.all()],
        "companions": visit.companions,
        "people_met": visit.people_met,
        "summary": visit.summary,
        "mood": visit.mood,
        "mood_note": visit.mood_note,
        "sense_gain": visit.sense_gain,
        "sense_happiness": visit.sense_happiness,
        "sense_security": visit.sense_security,
        "recorded_by": str(visit.recorded_by),
        "recorded_at": timezone.localtime(visit.recorded_at),
        "needs": [
            {
                "number": need.number,
                "client_uuid": need.client_uuid,
                "title": need.title,
                "status": need.status,
                "handling": need.handling,
                "source": need.source,
                "observed_confirmed_at": need.observed_confirmed_at,
            }
            for need in needs
        ],
        "photos": [photo_json(photo) for photo in visit.photos.all()],
    }


def photo_json(photo: VisitPhoto) -> dict[str, Any]:
    return {
        "id": photo.pk,
        "client_uuid": photo.client_uuid,
        "name": photo.original_name,
        "size": photo.size,
    }


def _visit_out(user: User, pk: int) -> dict[str, Any]:
    visit = selectors.visit_get_for_user(user=user, pk=pk)
    return visit_json(visit, selectors.visit_needs_for_user(user=user, visit=visit))


def _draft(user: User, payload: s.VisitIn, digest: str) -> services.VisitDraft:
    refs = RefResolver()
    area = refs.area(payload.area)
    for name in ("started_at", "ended_at"):
        moment = getattr(payload, name)
        if moment is None:
            continue
        if timezone.is_naive(moment):
            refs.errors[name] = [_("时间必须带时区，例如 2026-11-29T09:30:00+08:00。")]
        elif moment < EARLIEST:
            refs.errors[name] = [_("时间不能早于 2000-01-01。")]
        elif moment >= LATEST:  # (a start in the future: the service says so, by the field)
            refs.errors[name] = [_("时间不能晚于 2099-12-31。")]
    place = None
    if payload.place is not None:
        place = selectors.place_queryset_for_user(user=user).filter(pk=payload.place).first()
        if place is None:
            refs.errors["place"] = [_("没有 id 为 %(id)s 的走访对象。") % {"id": payload.place}]
    officers = list(User.objects.filter(pk__in=payload.officers))
    if len(officers) != len(set(payload.officers)):
        # The same words as for a user who may not go along: ids are not probed this way.
        refs.errors["officers"] = [str(services.OFFICERS_MESSAGE)]
    needs: list[services.NeedDraft] = []
    for index, need in enumerate(payload.needs):
        need_refs = RefResolver()
        need_area = need_refs.area(need.area) if need.area is not None else area
        values = need_values(need, need_refs, area=need_area)
        for name, messages in need_refs.errors.items():
            refs.errors[f"needs.{index}.{name}"] = messages
        need_digest = body_digest(need)
        needs.append(
            services.NeedDraft(**values, client_uuid=need.client_uuid, payload_hash=need_digest)
        )
    refs.raise_if_any()
    return services.VisitDraft(
        client_uuid=payload.client_uuid,
        payload_hash=digest,
        kind=payload.kind.value,
        area=area,
        place=place,
        place_kind=payload.place_kind.value if payload.place_kind else "",
        address=payload.address,
        latitude=payload.latitude.quantize(COORD) if payload.latitude is not None else None,
        longitude=payload.longitude.quantize(COORD) if payload.longitude is not None else None,
        started_at=payload.started_at,
        ended_at=payload.ended_at,
        officers=tuple(officers),
        companions=payload.companions,
        people_met=payload.people_met,
        summary=payload.summary,
        mood=payload.mood,
        mood_note=payload.mood_note,
        sense_gain=payload.sense_gain,
        sense_happiness=payload.sense_happiness,
        sense_security=payload.sense_security,
        needs=tuple(needs),
    )


@router.post(
    "/visits",
    response={201: s.VisitOut, 200: s.VisitOut, **WRITE_ERRORS},
    operation_id="visit_record",
    summary="记录一次走访及其登记的诉求",
)
def visit_record(request: HttpRequest, payload: s.VisitIn) -> Status[dict[str, Any]]:
    """A visit and the needs it raised, in one body, written together or not at all.

    Each need is a body as for `POST /needs`, with its own `client_uuid`; its `area` defaults
    to the visit's and its `source` to `visit` (`observed`: 望闻问切, a need the official
    noticed and the resident did not voice). Errors in a need come as `needs.<index>.<field>`.
    """
    user = current_user(request)
    check_draft_user(request, user)
    digest = body_digest(payload)
    result = services.visit_record(actor=user, draft=_draft(user, payload, digest))
    return Status(201 if result.created else 200, _visit_out(user, result.visit.pk))


@router.get(
    "/visits/{visit_id}",
    response={200: s.VisitOut, **READ_ERRORS},
    operation_id="visit_detail",
    summary="走访详情（含登记的诉求及其状态）",
)
def visit_detail(request: HttpRequest, visit_id: int) -> dict[str, Any]:
    return _visit_out(current_user(request), visit_id)


@router.post(
    "/visits/{visit_id}/photos",
    response={201: s.VisitPhotoOut, 200: s.VisitPhotoOut, **WRITE_ERRORS},
    operation_id="visit_photo_add",
    summary="上传走访照片",
)
def visit_photo_add(
    request: HttpRequest,
    visit_id: int,
    file: File[UploadedFile],
    client_uuid: Form[UUID | None] = None,
) -> Status[dict[str, Any]]:
    """Multipart upload of one photo (JPEG, PNG or WebP, ≤ 10 MB), re-encoded without EXIF.
    With `client_uuid`, a retried upload answers 200 with the photo the first one stored."""
    user = current_user(request)
    check_draft_user(request, user)
    visit = selectors.visit_get_for_user(user=user, pk=visit_id)
    try:
        prepared = need_services.prepare_upload(file, kind="photo")
        photo, created = services.visit_photo_add(
            actor=user, visit=visit, upload=prepared, client_uuid=client_uuid
        )
    except InvalidInput as exc:
        raise InvalidInput({"file": [m for ms in exc.errors.values() for m in ms]}) from exc
    return Status(201 if created else 200, photo_json(photo))


VISIT_LIST_LIMIT = 100


@router.get(
    "/visits",
    response={200: list[s.VisitOut], **READ_ERRORS},
    operation_id="visit_list",
    summary="走访列表（按权限范围，可按 client_uuid 查找）",
)
def visit_list(
    request: HttpRequest,
    client_uuid: UUID | None = None,
    mine: bool = False,
    limit: int = 20,
) -> list[dict[str, Any]]:
    """The caller's visits, latest first (at most `limit`, ≤ 100). With `client_uuid`: the visit
    sent with that client UUID, if the caller may see it (an empty list otherwise), so that a
    client told 409 can tell an earlier version of its own draft from someone else's record.
    `mine=true`: only visits the caller recorded."""
    user = current_user(request)
    visits = selectors.visit_queryset_for_user(user=user)
    if client_uuid is not None:
        visits = visits.filter(client_uuid=client_uuid)
    if mine:
        visits = visits.filter(recorded_by=user)
    found = list(
        visits.select_related("area", "place", "recorded_by")
        .prefetch_related("officers", "photos")
        .order_by("-started_at", "-pk")[: max(1, min(limit, VISIT_LIST_LIMIT))]
    )
    needs: dict[int, list[Need]] = {visit.pk: [] for visit in found}
    for need in need_queryset_for_user(user=user).filter(visit__in=found).order_by("pk"):
        assert need.visit_id is not None
        needs[need.visit_id].append(need)
    return [visit_json(visit, needs[visit.pk]) for visit in found]
