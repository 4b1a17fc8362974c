"""网上提交: a resident registers a need themselves, without a staff account (optional page).

The need enters the ledger as `registered` (待交办) with source "online" and no recording
officer; its REGISTER event has no actor. Validation is `need_register`'s, except for the area:
a resident may choose any village, community or grid, as no scope applies to them. A mobile
number is required, for the text message with the tracking code and for the callback.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.lib import clock
from wenxu.lib.phones import normalise_phone
from wenxu.needs import states
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Attachment, Category, Need
from wenxu.needs.services._core import _append_event, _raise
from wenxu.needs.services.attachments import (
    PreparedUpload,
    Upload,
    attachment_discard_files,
    prepare_upload,
    store_upload,
)
from wenxu.needs.services.register import (
    RequesterInput,
    _new_need,
    _validate_register,
)
from wenxu.needs.states import Action, Status
from wenxu.organisations.models import Area

DESCRIPTION_MIN = 10
DESCRIPTION_MAX = 2000
NAME_MAX = 50
TITLE_LENGTH = 30
ONLINE_KINDS = (
    states.Kind.HELP,
    states.Kind.CONSULT,
    states.Kind.COMPLAINT,
    states.Kind.SUGGESTION,
    states.Kind.PRAISE,
)
# Residents choose the place where they live or where the matter is: a village (community)
# or one of its grids. Township and county are too coarse to route a need.
ONLINE_AREA_LEVELS = (Area.Level.VILLAGE, Area.Level.GRID)
# A mainland mobile number, after `normalise_phone`.
_MOBILE = re.compile(r"1[3-9]\d{9}")


def online_title(description: str) -> str:
    """The first ~30 characters of the description, on one line, as the ledger's title."""
    text = " ".join((description or "").split())
    if len(text) <= TITLE_LENGTH:
        return text
    return text[:TITLE_LENGTH].rstrip("，。,.；;：: ") + "…"


def _mobile(errors: dict[str, list[str]], raw: str) -> str:
    if not (raw or "").strip():
        errors["phone"] = [_("请填写手机号：查询码会发到这个号码，工作人员也会用它回访您。")]
        return ""
    try:
        phone = normalise_phone(raw)
    except ValidationError:
        phone = ""
    # A mobile, not a landline (an 11-digit 0571 8888 6666 cannot receive the text message).
    if not _MOBILE.fullmatch(phone):
        errors["phone"] = [
            _("请填写 11 位手机号码，以便接收查询码短信（如 13812345678，不能填座机号码）。")
        ]
        return ""
    return phone


def unattended_errors(
    *, title: str, text: str, kind: str, source: str, category: Category | None
) -> dict[str, list[str]]:
    """The register checks (title, description, kind, category …) for a need nobody on the staff
    records (a resident online, another system), without the area: that check is about the
    officer's scope, which neither has; callers check the area themselves."""
    errors = _validate_register(
        actor=None,
        title=title or online_title(text) or "-",
        description=text,
        kind=kind,
        source=source,
        urgency=Need.Urgency.NORMAL,
        nature_tags=(),
        area=None,
        category=category,
        handling=states.Handling.ROUTINE,
    )
    errors.pop("area", None)
    return errors


def _validate(
    *,
    title: str,
    description: str,
    kind: str,
    category: Category | None,
    area: Area | None,
    requester: RequesterInput,
) -> tuple[dict[str, list[str]], str]:
    text = (description or "").strip()
    errors = unattended_errors(
        title=title, text=text, kind=kind, source=states.Source.ONLINE, category=category
    )
    if kind not in ONLINE_KINDS:
        errors["kind"] = [_("请选择诉求类型。")]
    if text and len(text) < DESCRIPTION_MIN:
        errors.setdefault("description", []).append(
            _("请写得具体一些（至少 %(count)d 个字）：什么事、在哪里、希望怎样解决。")
            % {"count": DESCRIPTION_MIN}
        )
    if len(text) > DESCRIPTION_MAX:
        errors.setdefault("description", []).append(
            _("诉求内容最多 %(max)d 字，现在有 %(count)d 字，请精简后再提交。")
            % {"max": DESCRIPTION_MAX, "count": len(text)}
        )
    if area is None:
        errors["area"] = [_("请搜索并选择您所在的村（社区）或网格。")]
    elif area.level not in ONLINE_AREA_LEVELS:
        errors["area"] = [_("请选择到村（社区）或网格一级。")]
    if len(requester.name.strip()) > NAME_MAX:
        errors["name"] = [_("称呼最多 %(max)d 字。") % {"max": NAME_MAX}]
    phone = _mobile(errors, requester.phone)
    return errors, phone


def online_errors(
    *,
    description: str,
    category: Category | None,
    area: Area | None,
    requester: RequesterInput,
    kind: str = states.Kind.HELP,
) -> dict[str, list[str]]:
    """What `need_submit_online` would refuse (the photo aside), per field; stores nothing.

    The submission page shows these next to its own (the consent box) in one go.
    """
    errors, _phone = _validate(
        title="",
        description=description,
        kind=kind,
        category=category,
        area=area,
        requester=requester,
    )
    return errors


def need_submit_online(
    *,
    title: str = "",
    description: str,
    category: Category | None,
    area: Area | None,
    requester: RequesterInput,
    public_consent: bool,
    photo: Upload | None = None,
    kind: str = states.Kind.HELP,
) -> Need:
    """A resident's own submission: a `registered` need with source "online" and no actor.

    Raises `InvalidInput` with a message per field (description, area, phone, name, category,
    kind, photo); nothing is stored then. The photo, if any, is checked and re-encoded before
    the transaction (as for staff uploads) and kept with the need in the same transaction.
    """
    errors, phone = _validate(
        title=title,
        description=description,
        kind=kind,
        category=category,
        area=area,
        requester=requester,
    )
    prepared: PreparedUpload | None = None
    if photo is not None:
        try:
            prepared = prepare_upload(photo, kind=Attachment.Kind.PHOTO)
        except InvalidInput as exc:
            errors["photo"] = [m for messages in exc.errors.values() for m in messages]
    _raise(errors)
    text = description.strip()
    stored: list[Attachment] = []
    try:
        with transaction.atomic():
            with _new_need(
                actor=None,
                title=(title or "").strip() or online_title(text),
                description=text,
                kind=kind,
                source=states.Source.ONLINE,
                area=area,
                category=category,
                urgency=Need.Urgency.NORMAL,
                nature_tags=[],
                handling=states.Handling.ROUTINE,
                status=Status.REGISTERED,
                public_consent=public_consent,
                requester=RequesterInput(
                    name=requester.name.strip(),
                    phone=phone,
                    kind=requester.kind,
                ),
                origin=None,
            ) as need:
                _append_event(
                    need=need,
                    actor=None,
                    action=Action.REGISTER,
                    from_status="",
                    to_status=need.status,
                    first=True,
                    data={"source": states.Source.ONLINE},
                )
            # After the need's row: the attachment checks that its need exists.
            if prepared is not None:
                attachment = Attachment(
                    need=need,
                    kind=prepared.kind,
                    original_name=prepared.original_name,
                    content_type=prepared.content_type,
                    size=len(prepared.content),
                    uploaded_by=None,
                    uploaded_at=clock.now(),
                )
                stored.append(attachment)
                store_upload(attachment, prepared)
    except BaseException:
        attachment_discard_files(stored)
        raise
    return need
