"""Recording visits (走访) and their photos; places and plans.

`visit_record` writes a visit and every need it raised in one transaction: all or nothing, so a
draft synced from the field either lands whole or stays in the outbox with its errors.
Idempotent by the client's UUID: a replay with the same content returns the visit it created
(`created=False`), the UUID with other content is refused (`IdempotencyConflict`).
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from wenxu.accounts.models import User
from wenxu.accounts.selectors import roles_over_area, scopes_for_user, user_roles
from wenxu.lib import clock
from wenxu.needs import services as need_services
from wenxu.needs import states
from wenxu.needs.exceptions import (
    IdempotencyConflict,
    InvalidInput,
    NotFound,
    NotPermitted,
)
from wenxu.needs.models import Category, Need
from wenxu.needs.services import Origin, PreparedUpload, RequesterInput
from wenxu.needs.services.attachments import store_upload
from wenxu.organisations.models import Area, Unit
from wenxu.visits.models import Place, PlaceKind, Visit, VisitKind, VisitPhoto

MAX_PHOTOS = 20
MAX_NEEDS = 30
# Phones' clocks drift; a visit "starting" a little in the future is a clock, not a lie.
CLOCK_SKEW = timedelta(minutes=10)
RECORDING_ROLES = frozenset({states.OFFICER, states.DISPATCHER})
# Who may be named as having gone along: staff of the area (a leader on a 下访 too).
ACCOMPANYING_ROLES = frozenset({states.OFFICER, states.DISPATCHER, states.LEADER})
OFFICERS_MESSAGE = gettext_lazy("同行干部须是负责该区域的在岗工作人员，请从同事名单中选择。")


@dataclass(frozen=True)
class NeedDraft:
    """One need raised during a visit, as `need_register` (or 马上就办) takes it."""

    title: str
    description: str
    kind: str
    area: Area | None
    source: str = states.Source.VISIT
    category: Category | None = None
    urgency: str = "normal"
    nature_tags: tuple[str, ...] = ()
    address: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    requester: RequesterInput | None = None
    handling: str = states.Handling.ROUTINE
    about_unit: Unit | None = None  # 被批评/投诉单位 (issue #9)
    reply_text: str = ""
    confirmed: bool = False
    satisfaction: str = ""
    client_uuid: UUID | None = None
    payload_hash: str = ""


@dataclass(frozen=True)
class VisitDraft:
    client_uuid: UUID
    payload_hash: str
    kind: str
    area: Area | None
    started_at: datetime
    mood: int | None
    ended_at: datetime | None = None
    place: Place | None = None
    place_kind: str = ""
    address: str = ""
    latitude: Decimal | None = None
    longitude: Decimal | None = None
    officers: tuple[User, ...] = ()
    companions: str = ""
    people_met: int = 0
    summary: str = ""
    mood_note: str = ""
    sense_gain: int | None = None
    sense_happiness: int | None = None
    sense_security: int | None = None
    needs: tuple[NeedDraft, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Recorded:
    visit: Visit
    created: bool


def may_record_visit(user: User, area: Area | None = None) -> bool:
    if not user.is_active:
        return False
    if area is None:
        return bool(user_roles(user) & RECORDING_ROLES)
    return bool(roles_over_area(user, area.path) & RECORDING_ROLES)


def _replay(actor: User, draft: VisitDraft) -> Visit | None:
    existing = Visit.objects.filter(client_uuid=draft.client_uuid).first()
    if existing is None:
        return None
    if existing.recorded_by_id != actor.pk or existing.payload_hash != draft.payload_hash:
        raise IdempotencyConflict()
    return existing


def _may_accompany(user: User, area: Area) -> bool:
    """Active, and holding an area role over the visit's area or a part of it."""
    return user.is_active and any(
        scope.role in ACCOMPANYING_ROLES
        and scope.area_path is not None
        and (area.path.startswith(scope.area_path) or scope.area_path.startswith(area.path))
        for scope in scopes_for_user(user)
    )


def _validate(actor: User, draft: VisitDraft) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if draft.kind not in VisitKind.values:
        errors["kind"] = [_("走访形式无效。")]
    if draft.area is None:
        errors["area"] = [_("请选择走访区域。")]
    elif not may_record_visit(actor, draft.area):
        errors["area"] = [_("该区域不在您的走访范围内。")]
    if draft.mood is None or not 1 <= draft.mood <= 5:
        errors["mood"] = [_("请选择民情温度（1–5）。")]
    for name in ("sense_gain", "sense_happiness", "sense_security"):
        value = getattr(draft, name)
        if value is not None and not 1 <= value <= 5:
            errors[name] = [_("请在 1–5 之间选择。")]
    if draft.started_at > clock.now() + CLOCK_SKEW:
        errors["started_at"] = [_("开始时间不能晚于现在。")]
    if draft.ended_at is not None and draft.ended_at < draft.started_at:
        errors["ended_at"] = [_("结束时间不能早于开始时间。")]
    place, area = draft.place, draft.area
    if place is not None and area is not None and not place.area.path.startswith(area.path):
        errors["place"] = [_("走访对象不在所选区域内。")]
    if draft.place_kind and draft.place_kind not in PlaceKind.values:
        errors["place_kind"] = [_("场所类型无效。")]
    if draft.people_met < 0:
        errors["people_met"] = [_("人数不能为负数。")]
    if area is not None and not all(_may_accompany(officer, area) for officer in draft.officers):
        # Going on a visit lets a user read it: only the area's own staff may be named.
        errors["officers"] = [str(OFFICERS_MESSAGE)]
    if len(draft.needs) > MAX_NEEDS:
        errors["needs"] = [_("一次走访最多登记 %(count)d 项诉求。") % {"count": MAX_NEEDS}]
    uuids = [need.client_uuid for need in draft.needs if need.client_uuid is not None]
    if len(set(uuids)) != len(uuids):
        errors["needs"] = [_("同一次走访中的诉求编号(client_uuid)不能重复。")]
    elif uuids and Need.objects.filter(client_uuid__in=uuids).exists():
        raise IdempotencyConflict(_("有诉求的客户端编号已用于另一条记录，未作任何修改。"))
    return errors


def _register_need(actor: User, visit: Visit, index: int, draft: NeedDraft) -> Need:
    origin = Origin(visit=visit, client_uuid=draft.client_uuid, payload_hash=draft.payload_hash)
    common: dict[str, Any] = {
        "actor": actor,
        "title": draft.title,
        "description": draft.description,
        "kind": draft.kind,
        "source": draft.source,
        "area": draft.area or visit.area,
        "category": draft.category,
        "urgency": draft.urgency,
        "nature_tags": draft.nature_tags,
        "address": draft.address or visit.address,
        "latitude": draft.latitude if draft.latitude is not None else visit.latitude,
        "longitude": draft.longitude if draft.longitude is not None else visit.longitude,
        "requester": draft.requester,
        "origin": origin,
        "about_unit": draft.about_unit,
    }
    try:
        if draft.handling == states.Handling.ON_THE_SPOT:
            return need_services.need_register_on_the_spot(
                **common,
                reply_text=draft.reply_text,
                confirmed=draft.confirmed,
                satisfaction=draft.satisfaction,
            )
        return need_services.need_register(**common, handling=draft.handling)
    except InvalidInput as exc:
        raise InvalidInput(
            {f"needs.{index}.{name}": messages for name, messages in exc.errors.items()}
        ) from exc
    except NotPermitted as exc:
        # The actor may record the visit but not this need (马上就办 is an officer's): a
        # mistake in one need of the draft, reported on it, not a refusal of the whole visit.
        field = "handling" if draft.handling == states.Handling.ON_THE_SPOT else "area"
        raise InvalidInput({f"needs.{index}.{field}": [exc.message]}) from exc


def visit_record(*, actor: User, draft: VisitDraft) -> Recorded:
    """走访: record a visit and the needs it raised (none is fine), all in one transaction."""
    if not may_record_visit(actor):
        raise NotPermitted(_("只有走访干部、网格员或调度人员可以记录走访。"))
    existing = _replay(actor, draft)
    if existing is not None:
        return Recorded(existing, created=False)
    try:
        return Recorded(_create(actor, draft), created=True)
    except (IntegrityError, IdempotencyConflict):
        # The same upload raced itself (an outbox retry and the first try at once): the loser
        # waited for the winner to commit and then met its UUIDs (the visit's at the unique
        # constraint, or its needs' in `_validate`). It answers with the winner's visit.
        existing = _replay(actor, draft)
        if existing is None:
            raise
        return Recorded(existing, created=False)


@transaction.atomic
def _create(actor: User, draft: VisitDraft) -> Visit:
    errors = _validate(actor, draft)
    if errors:
        raise InvalidInput(errors)
    assert draft.area is not None
    assert draft.mood is not None
    visit = Visit(
        client_uuid=draft.client_uuid,
        payload_hash=draft.payload_hash,
        kind=draft.kind,
        area=draft.area,
        place=draft.place,
        place_kind=draft.place.kind if draft.place is not None else draft.place_kind,
        address=draft.address.strip() or (draft.place.address if draft.place else ""),
        latitude=draft.latitude,
        longitude=draft.longitude,
        started_at=draft.started_at,
        ended_at=draft.ended_at,
        companions=draft.companions.strip(),
        people_met=draft.people_met,
        summary=draft.summary.strip(),
        mood=draft.mood,
        mood_note=draft.mood_note.strip(),
        sense_gain=draft.sense_gain,
        sense_happiness=draft.sense_happiness,
        sense_security=draft.sense_security,
        recorded_by=actor,
        recorded_at=clock.now(),
    )
    try:
        visit.full_clean(exclude=["client_uuid", "payload_hash"], validate_constraints=False)
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from exc
    visit.save()
    visit.officers.set({actor, *draft.officers})
    need_errors: dict[str, list[str]] = {}
    for index, need_draft in enumerate(draft.needs):
        try:
            # Each need in its own savepoint, so every need's errors are reported at once.
            with transaction.atomic():
                _register_need(actor, visit, index, need_draft)
        except InvalidInput as exc:
            need_errors.update(exc.errors)
    if need_errors:
        raise InvalidInput(need_errors)
    return visit


# --------------------------------------------------------------------------- photos


def _may_add_photo(actor: User, visit: Visit) -> bool:
    return visit.recorded_by_id == actor.pk or visit.officers.filter(pk=actor.pk).exists()


@transaction.atomic
def visit_photo_add(
    *, actor: User, visit: Visit, upload: PreparedUpload, client_uuid: UUID | None = None
) -> tuple[VisitPhoto, bool]:
    """Keep a photo with a visit; `(photo, created)`. A retried upload with the same
    `client_uuid` returns the photo the first one stored."""
    if upload.kind != "photo":
        raise InvalidInput({"photo": [_("走访照片只接受 JPEG、PNG 或 WebP 图片。")]})
    locked = Visit.objects.select_for_update().filter(pk=visit.pk).first()
    if locked is None:
        raise NotFound()
    if not _may_add_photo(actor, locked):
        raise NotPermitted(_("只有记录人或同行干部可以为走访添加照片。"))
    if client_uuid is not None:
        existing = VisitPhoto.objects.filter(client_uuid=client_uuid).first()
        if existing is not None:
            if existing.visit_id != locked.pk:
                raise IdempotencyConflict()
            return existing, False
    if VisitPhoto.objects.filter(visit=locked).count() >= MAX_PHOTOS:
        raise InvalidInput(
            {"photo": [_("每次走访最多 %(count)d 张照片，已达上限。") % {"count": MAX_PHOTOS}]}
        )
    photo = VisitPhoto(
        visit=locked,
        client_uuid=client_uuid,
        original_name=upload.original_name,
        content_type=upload.content_type,
        size=len(upload.content),
        uploaded_by=actor,
        uploaded_at=clock.now(),
    )
    store_upload(photo, upload)
    return photo, True
