"""`/api/v1/needs`: the ledger, as a thin adapter over `wenxu.needs.services` and `.selectors`.

Every need is found through the scoped selector first, so a need out of the caller's scope
answers 404 whatever the action. Ids in the body (units, `into`) are resolved next (unknown:
422 on that field); the service then checks the role (403), the version (409), the transition
(409) and the rest of the input (422), in that order, inside its transaction.
"""

from collections.abc import Callable
from decimal import Decimal
from typing import Any
from uuid import UUID

from django.db import IntegrityError, connection
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control
from django.utils.translation import gettext as _
from ninja import File, Form, Query, Router, Status
from ninja.files import UploadedFile

from wenxu.accounts.models import User
from wenxu.api import schemas as s
from wenxu.api.auth import current_user
from wenxu.api.drafts import check_draft_user
from wenxu.api.errors import NUL
from wenxu.api.present import need_detail_json, need_json
from wenxu.api.refs import M, RefResolver
from wenxu.core import generation
from wenxu.lib import clock, ids
from wenxu.lib.prepared import known_related
from wenxu.needs import selectors, services, states
from wenxu.needs.exceptions import InvalidInput, NotFound
from wenxu.needs.models import Attachment, Need
from wenxu.needs.services.register import registered_event
from wenxu.organisations.models import Area
from wenxu.residents import reveal

router = Router(tags=["needs"])

READ_ERRORS: dict[int, Any] = {401: s.ErrorOut, 404: s.ErrorOut, 422: s.InvalidOut}
WRITE_ERRORS: dict[int, Any] = {**READ_ERRORS, 403: s.ErrorOut, 409: s.ErrorOut}

COORD = Decimal("0.000001")


# --------------------------------------------------------------------------- reads


def need_for(user: User, number: str, *, with_events: bool = True) -> Need:
    """The need numbered `number` in the caller's scope; 404 otherwise. A path may carry what a
    body may not, a NUL character, which PostgreSQL refuses even to compare: no such need."""
    if NUL in number:
        raise NotFound()
    return selectors.need_get_for_user(user=user, number=number, with_events=with_events)


@router.get(
    "/needs",
    response={200: s.NeedPageOut, **READ_ERRORS},
    operation_id="need_list",
    summary="诉求列表（按权限范围）",
)
def need_list(request: HttpRequest, filters: Query[s.NeedListQuery]) -> dict[str, Any]:
    """The caller's needs, newest first. Pass the returned `next` as `cursor` for the next page.

    List items carry every field of the need except `events` (see `GET /needs/{number}`).
    """
    user = current_user(request)
    statuses = [part.strip() for value in filters.status for part in value.split(",")]
    needs, next_cursor = selectors.need_list_for_user(
        user=user,
        filters=selectors.NeedFilters(
            status=[status for status in statuses if status] or None,
            unit=filters.unit,
            area=filters.area,
            category=filters.category,
            overdue=filters.overdue,
            q=filters.q,
        ),
        cursor=filters.cursor,
        limit=filters.limit,
    )
    now = clock.now()
    return {
        "items": [need_json(need, now=now, viewer=user) for need in needs],
        "next": next_cursor,
    }


@router.get(
    "/needs/{number}",
    response={200: s.NeedDetailOut, **READ_ERRORS},
    operation_id="need_detail",
    summary="诉求详情（含办理记录）",
)
def need_detail(request: HttpRequest, number: str) -> dict[str, Any]:
    user = current_user(request)
    need = need_for(user, number)
    return need_detail_json(need, now=clock.now(), events=need.events.all(), viewer=user)


@router.post(
    "/needs/{number}/requester/reveal",
    response={200: s.RequesterRevealOut, **WRITE_ERRORS},
    operation_id="need_requester_reveal",
    summary="查看诉求人完整信息（需授权，每次记入安全日志）",
)
def need_requester_reveal(
    request: HttpRequest, response: HttpResponse, number: str, payload: s.RevealIn
) -> dict[str, Any]:
    """The requester's name, phone, ID number and address unmasked, for a caller holding the
    `residents.reveal_personal_data` permission (403 otherwise, and for a confidential requester
    when the caller sees the need only as staff of a unit; 404 out of scope or without a
    requester; 422 for a reason shorter than 2 or longer than 200 characters). Each call writes
    a `reveal` entry to the security log. The answer is `Cache-Control: no-store`."""
    user = current_user(request)
    need = need_for(user, number, with_events=False)
    revealed = reveal.requester_reveal(
        actor=user, need=need, reason=payload.reason, request=request
    )
    patch_cache_control(response, private=True, no_store=True)
    return {
        "name": revealed.name,
        "phone": revealed.phone,
        "id_number": revealed.id_number,
        "address": revealed.address,
        "kind": revealed.kind,
        "confidential": revealed.confidential,
    }


def _detail_after(user: User, need: Need) -> dict[str, Any]:
    """The need as it is after the caller's write, read again through the scoped selector.

    An action can take the need out of the caller's scope (a handler returns it, and it no
    longer belongs to their unit); the caller still gets the result of what they just did.
    """
    try:
        fresh = selectors.need_get_for_user(user=user, number=need.number)
    except NotFound:
        events = need.events.select_related("actor").order_by("seq")
        return need_detail_json(need, now=clock.now(), events=events, viewer=user)
    return need_detail_json(fresh, now=clock.now(), events=fresh.events.all(), viewer=user)


# --------------------------------------------------------------------------- register


class IntakeRefs(RefResolver):
    """`RefResolver` for the intake path (issue #10, B1): areas, units and categories come from
    what the process keeps under the configuration generation (`wenxu.core.generation`, ADR
    0026), so a registration reads none of them again. Same objects, same errors."""

    def _one(self, model: type[M], pk: int | None, field: str, message: str) -> M | None:
        if pk is None or model._meta.label not in generation.KEPT_MODELS:
            return super()._one(model, pk, field, message)
        # An id no primary key can hold is unknown (as `get()` finds), not an overflow.
        pk_field = model._meta.pk
        assert pk_field is not None
        low, high = connection.ops.integer_field_range(pk_field.get_internal_type())
        in_range = (low is None or pk >= low) and (high is None or pk <= high)
        found = generation.kept_instances(model, [pk]).get(pk) if in_range else None
        if found is None:
            self.errors.setdefault(field, []).append(message % {"id": pk})
        return found


@router.post(
    "/needs",
    response={201: s.NeedDetailOut, 200: s.NeedDetailOut, **WRITE_ERRORS},
    operation_id="need_register",
    summary="登记诉求（含马上就办）",
)
def need_register(request: HttpRequest, payload: s.NeedRegisterIn) -> Status[dict[str, Any]]:
    """登记 a need (`registered`); with `handling: "on_the_spot"`, 马上就办: solved during the
    visit, `replied`, or `closed` at once when the resident confirms (`confirmed`, `satisfaction`).

    With `client_uuid`, sending the same body again (a retry) answers 200 with the need the
    first request created; the same `client_uuid` with a different body answers 409.
    """
    user = current_user(request)
    check_draft_user(request, user)
    digest = body_digest(payload)
    if payload.client_uuid is not None:
        existing = services.need_replay(
            actor=user, client_uuid=payload.client_uuid, payload_hash=digest
        )
        if existing is not None:
            return Status(200, _detail_after(user, existing))
    refs = IntakeRefs()
    values = need_values(payload, refs, area=refs.area(payload.area))
    refs.raise_if_any()
    origin = services.Origin(client_uuid=payload.client_uuid, payload_hash=digest)
    try:
        need = register_need(user, values, origin=origin)
    except IntegrityError:
        # The same request raced itself: the loser, which waited for the winner to commit,
        # meets the unique UUID and answers with the winner's need (409 if its content differs).
        if payload.client_uuid is None:
            raise
        existing = services.need_replay(
            actor=user, client_uuid=payload.client_uuid, payload_hash=digest
        )
        if existing is None:
            raise
        return Status(200, _detail_after(user, existing))
    return Status(201, _registered_detail(user, need))


def _registered_detail(user: User, need: Need) -> dict[str, Any]:
    """The need the caller just registered, from what the service wrote rather than read again
    through the scoped selector: its recorder always sees it (`selectors.scope_q`), a new need
    has no co-units, the service loaded its area, category, requester and about-unit, and its
    one event is the one the service appended."""
    event = registered_event(need)
    assert event is not None  # need_register and need_register_on_the_spot leave it
    known_related(need, co_units=[])
    return need_detail_json(need, now=clock.now(), events=[event], viewer=user)


def body_digest(payload: s.In) -> str:
    """What a replay must match (ADR 0011): the body without its `client_uuid` and without the
    fields left at their defaults (sent or not, a default is the same content)."""
    return ids.payload_hash(payload.model_dump(exclude_defaults=True, exclude={"client_uuid"}))


def need_values(
    payload: s.NeedRegisterIn, refs: RefResolver, *, area: Area | None
) -> dict[str, Any]:
    """The service's keyword arguments for a need body (shared with `POST /visits`)."""
    category = refs.category(payload.category)
    about_unit = refs.unit(payload.about_unit, "about_unit")
    on_the_spot = payload.handling == states.Handling.ON_THE_SPOT
    if not on_the_spot:
        for field in ("reply_text", "confirmed", "satisfaction"):
            if getattr(payload, field):
                refs.errors[field] = [_("只有马上就办（handling: on_the_spot）才填写此项。")]
    requester = None
    if payload.requester is not None:
        requester = services.RequesterInput(
            name=payload.requester.name,
            phone=payload.requester.phone,
            confidential=payload.requester.confidential,
        )
    values: dict[str, Any] = {
        "title": payload.title,
        "description": payload.description,
        "kind": payload.kind.value,
        "source": payload.source.value,
        "area": area,
        "category": category,
        "urgency": payload.urgency.value,
        "nature_tags": tuple(tag.value for tag in payload.nature_tags),
        "address": payload.address.strip(),
        "latitude": payload.latitude.quantize(COORD) if payload.latitude is not None else None,
        "longitude": payload.longitude.quantize(COORD) if payload.longitude is not None else None,
        "requester": requester,
        "handling": payload.handling.value,
        "about_unit": about_unit,
    }
    if on_the_spot:
        values.update(
            reply_text=payload.reply_text,
            confirmed=payload.confirmed,
            satisfaction=payload.satisfaction.value if payload.satisfaction else "",
        )
    return values


def register_need(user: User, values: dict[str, Any], *, origin: services.Origin) -> Need:
    if values["handling"] == states.Handling.ON_THE_SPOT:
        on_the_spot = {key: value for key, value in values.items() if key != "handling"}
        return services.need_register_on_the_spot(actor=user, origin=origin, **on_the_spot)
    return services.need_register(actor=user, origin=origin, **values)


@router.post(
    "/needs/{number}/attachments",
    response={201: s.AttachmentOut, 200: s.AttachmentOut, **WRITE_ERRORS},
    operation_id="need_attachment_add",
    summary="上传附件（照片或文件）",
)
def need_attachment_add(
    request: HttpRequest,
    number: str,
    file: File[UploadedFile],
    client_uuid: Form[UUID | None] = None,
) -> Status[dict[str, Any]]:
    """Multipart upload of one photo (JPEG, PNG, WebP) or document (PDF, docx, xlsx), ≤ 10 MB.

    Photos are re-encoded without their EXIF (GPS) data. With `client_uuid`, a retried upload
    answers 200 with the attachment the first one stored.
    """
    user = current_user(request)
    check_draft_user(request, user)
    need = need_for(user, number, with_events=False)
    kind = "photo" if (file.content_type or "").startswith("image/") else "document"
    before = need.attachments.filter(client_uuid=client_uuid).exists() if client_uuid else False
    try:
        prepared = services.prepare_upload(file, kind=kind)
        attachment = services.attachment_add(
            actor=user, need=need, upload=prepared, client_uuid=client_uuid
        )
    except InvalidInput as exc:
        # The upload's problems are the `file` field's, as the form names it.
        raise InvalidInput({"file": [m for ms in exc.errors.values() for m in ms]}) from exc
    return Status(200 if before else 201, attachment_json(attachment))


def attachment_json(attachment: Attachment) -> dict[str, Any]:
    return {
        "id": attachment.pk,
        "kind": attachment.kind,
        "name": attachment.original_name,
        "content_type": attachment.content_type,
        "size": attachment.size,
        "client_uuid": attachment.client_uuid,
    }


# --------------------------------------------------------------------------- actions


def _act(request: HttpRequest, number: str, run: Callable[[User, Need], Need]) -> dict[str, Any]:
    user = current_user(request)
    need = need_for(user, number, with_events=False)
    return _detail_after(user, run(user, need))


def _action(path: str, summary: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    operation_id = "need_" + path.replace("-", "_")
    return router.post(
        f"/needs/{{number}}/{path}",
        response={200: s.NeedDetailOut, **WRITE_ERRORS},
        operation_id=operation_id,
        summary=summary,
    )


@_action("assign", "交办：指定主办、协办单位，按时限规则计算办理时限")
def need_assign(request: HttpRequest, number: str, payload: s.AssignIn) -> dict[str, Any]:
    def run(user: User, need: Need) -> Need:
        refs = RefResolver()
        lead = refs.unit(payload.lead_unit, "lead_unit")
        co = refs.units(payload.co_units, "co_units")
        category = refs.category(payload.category)
        refs.raise_if_any()
        return services.need_assign(
            actor=user,
            need=need,
            version=payload.version,
            lead_unit=lead,
            co_units=co,
            category=category,
        )

    return _act(request, number, run)


@_action("accept", "签收")
def need_accept(request: HttpRequest, number: str, payload: s.AcceptIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_accept(actor=user, need=need, version=payload.version),
    )


@_action("return", "退回：分办有误，退回调度重新交办")
def need_return(request: HttpRequest, number: str, payload: s.ReasonIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_return(
            actor=user, need=need, version=payload.version, reason=payload.reason
        ),
    )


@_action("progress", "办理进展")
def need_progress(request: HttpRequest, number: str, payload: s.NoteIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_progress(
            actor=user, need=need, version=payload.version, note=payload.note
        ),
    )


@_action("request-extension", "申请延期")
def need_request_extension(
    request: HttpRequest, number: str, payload: s.RequestExtensionIn
) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_request_extension(
            actor=user, need=need, version=payload.version, days=payload.days, reason=payload.reason
        ),
    )


@_action("approve-extension", "批准延期")
def need_approve_extension(
    request: HttpRequest, number: str, payload: s.OptionalNoteIn
) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_approve_extension(
            actor=user, need=need, version=payload.version, note=payload.note
        ),
    )


@_action("deny-extension", "驳回延期")
def need_deny_extension(request: HttpRequest, number: str, payload: s.ReasonIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_deny_extension(
            actor=user, need=need, version=payload.version, reason=payload.reason
        ),
    )


@_action("reply", "答复：办理结果与答复内容")
def need_reply(request: HttpRequest, number: str, payload: s.ReplyIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_reply(
            actor=user,
            need=need,
            version=payload.version,
            outcome=payload.outcome.value,
            reply_text=payload.reply_text,
            followup_date=payload.followup_date,
        ),
    )


@_action("callback", "回访：是否解决、满意度、回访方式")
def need_callback(request: HttpRequest, number: str, payload: s.CallbackIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_callback(
            actor=user,
            need=need,
            version=payload.version,
            channel=payload.channel.value,
            resolved=payload.resolved.value if payload.resolved else "",
            satisfaction=payload.satisfaction.value if payload.satisfaction else "",
            comment=payload.comment,
        ),
    )


@_action("fulfil", "兑现承诺后办结")
def need_fulfil(request: HttpRequest, number: str, payload: s.NoteIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_fulfil(
            actor=user, need=need, version=payload.version, note=payload.note
        ),
    )


@_action("reopen", "重办")
def need_reopen(request: HttpRequest, number: str, payload: s.ReopenIn) -> dict[str, Any]:
    def run(user: User, need: Need) -> Need:
        refs = RefResolver()
        lead = refs.unit(payload.lead_unit, "lead_unit")
        refs.raise_if_any()
        return services.need_reopen(
            actor=user, need=need, version=payload.version, reason=payload.reason, lead_unit=lead
        )

    return _act(request, number, run)


@_action("supervise", "督办")
def need_supervise(request: HttpRequest, number: str, payload: s.NoteIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_supervise(
            actor=user, need=need, version=payload.version, note=payload.note
        ),
    )


@_action("remind", "催办：提醒下一步办理人，不改变状态")
def need_remind(request: HttpRequest, number: str, payload: s.OptionalNoteIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_remind(
            actor=user, need=need, version=payload.version, note=payload.note
        ),
    )


@_action("merge", "合并到另一条诉求")
def need_merge(request: HttpRequest, number: str, payload: s.MergeIn) -> dict[str, Any]:
    def run(user: User, need: Need) -> Need:
        # The target is found through the same scope: a need the caller cannot see does not exist.
        try:
            target = selectors.need_get_for_user(
                user=user, number=payload.into.strip(), with_events=False
            )
        except NotFound:
            raise InvalidInput(
                {"into": [_("找不到编号为 %(n)s 的诉求，或您无权查看。") % {"n": payload.into}]}
            ) from None
        return services.need_merge(actor=user, need=need, version=payload.version, into=target)

    return _act(request, number, run)


@_action("withdraw", "撤销")
def need_withdraw(request: HttpRequest, number: str, payload: s.ReasonIn) -> dict[str, Any]:
    return _act(
        request,
        number,
        lambda user, need: services.need_withdraw(
            actor=user, need=need, version=payload.version, reason=payload.reason
        ),
    )


@_action("about-unit", "更正被批评/投诉单位（调度员；理由必填）")
def need_about_unit(request: HttpRequest, number: str, payload: s.AboutUnitIn) -> dict[str, Any]:
    """The unit a criticism, complaint or report is about: its staff (and those of the units
    above and below it) no longer see the need, until a dispatcher discloses it to them. A unit
    handling the need cannot be named (422); taking the name off an undisclosed unit is logged
    as a disclosure."""

    def run(user: User, need: Need) -> Need:
        refs = RefResolver()
        unit = refs.unit(payload.about_unit, "about_unit")
        refs.raise_if_any()
        return services.need_set_about_unit(
            actor=user,
            need=need,
            version=payload.version,
            about_unit=unit,
            reason=payload.reason,
            request=request,
        )

    return _act(request, number, run)


@_action("disclose", "向被批评单位公开（调度员；理由必填，记入安全日志）")
def need_disclose(request: HttpRequest, number: str, payload: s.ReasonIn) -> dict[str, Any]:
    """The criticised unit may see the need from now on, and it may be given to that unit; the
    requester stays confidential to its staff. 409 when there is no such unit or it was
    disclosed already; each disclosure writes a `disclose` entry to the security log."""
    return _act(
        request,
        number,
        lambda user, need: services.need_disclose_to_unit(
            actor=user, need=need, version=payload.version, reason=payload.reason, request=request
        ),
    )


ACTIONS = [
    "assign",
    "accept",
    "return",
    "progress",
    "request-extension",
    "approve-extension",
    "deny-extension",
    "reply",
    "callback",
    "fulfil",
    "reopen",
    "supervise",
    "remind",
    "merge",
    "withdraw",
    "about-unit",
    "disclose",
]


@router.post("/needs/{number}/{action}", response=WRITE_ERRORS, include_in_schema=False)
def need_unknown_action(request: HttpRequest, number: str, action: str) -> None:
    """Registered last, so only actions that no route above matched end here: a JSON 404."""
    raise NotFound(
        _("没有“%(action)s”这个操作。可用的操作：%(actions)s。")
        % {"action": action, "actions": ", ".join(ACTIONS)}
    )
