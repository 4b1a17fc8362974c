"""外部系统提交: another system (the 12345 platform, a mini-program, an Open311 client) registers a
need on a resident's behalf with a client key.

Like `need_submit_online`, the need enters the ledger as `registered` (待交办) without a
recording officer and its REGISTER event has no actor; the event names the client instead, and
keeps the `media_url` the client sent. The caller (the API) has already checked that the client
may create needs in `area`; this service checks the rest. The need gets a fresh `client_uuid`,
which the client can use to look it up again.

Validation errors raise `InvalidInput` with a message per field; nothing is stored then.
"""

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.lib.phones import normalise_phone
from wenxu.needs import states
from wenxu.needs.models import Category, Need
from wenxu.needs.services._core import _append_event, _raise
from wenxu.needs.services.online import ONLINE_AREA_LEVELS, online_title, unattended_errors
from wenxu.needs.services.register import (
    Origin,
    RequesterInput,
    _new_need,
)
from wenxu.needs.states import Action, Status
from wenxu.organisations.models import Area

# Open311 GeoReport v2 limits a description to 4,000 characters.
DESCRIPTION_MAX = 4000
NAME_MAX = 50
ADDRESS_MAX = 200
MEDIA_URL_MAX = 500
ACCOUNT_ID_MAX = 100


@dataclass(frozen=True)
class ExternalClient:
    """Who submitted: the client key's name and id, and the source its needs are recorded as."""

    name: str
    id: int | None
    source: str


def _coordinates(
    errors: dict[str, list[str]], latitude: Decimal | None, longitude: Decimal | None
) -> None:
    if (latitude is None) != (longitude is None):
        errors["location"] = [_("经纬度须同时提供纬度（lat）和经度（long）。")]
        return
    if latitude is not None and not Decimal(-90) <= latitude <= Decimal(90):
        errors["lat"] = [_("纬度须在 -90 到 90 之间。")]
    if longitude is not None and not Decimal(-180) <= longitude <= Decimal(180):
        errors["long"] = [_("经度须在 -180 到 180 之间。")]


def _phone(errors: dict[str, list[str]], raw: str) -> str:
    if not (raw or "").strip():
        return ""
    try:
        return normalise_phone(raw)
    except ValidationError as exc:
        errors["phone"] = list(exc.messages)
        return ""


def _validate(
    *,
    description: str,
    kind: str,
    source: str,
    category: Category | None,
    area: Area | None,
    requester: RequesterInput,
    email: str,
    address: str,
    latitude: Decimal | None,
    longitude: Decimal | None,
    media_url: str,
    account_id: str,
) -> tuple[dict[str, list[str]], str]:
    text = (description or "").strip()
    errors = unattended_errors(title="", text=text, kind=kind, source=source, category=category)
    if category is None:
        errors["category"] = [_("请选择诉求分类。")]
    if len(text) > DESCRIPTION_MAX:
        errors.setdefault("description", []).append(
            _("诉求内容最多 %(max)d 字，现在有 %(count)d 字。")
            % {"max": DESCRIPTION_MAX, "count": len(text)}
        )
    if area is None:
        errors["area"] = [_("请指明诉求所在的村（社区）或网格。")]
    elif area.level not in ONLINE_AREA_LEVELS:
        errors["area"] = [_("诉求区域须到村（社区）或网格一级。")]
    if len(requester.name.strip()) > NAME_MAX:
        errors["name"] = [_("姓名最多 %(max)d 字。") % {"max": NAME_MAX}]
    phone = _phone(errors, requester.phone)
    if email.strip():
        try:
            EmailValidator()(email.strip())
        except ValidationError:
            errors["email"] = [_("电子邮箱格式不对（如 name@example.com）。")]
    if len(address.strip()) > ADDRESS_MAX:
        errors["address"] = [_("地址最多 %(max)d 字。") % {"max": ADDRESS_MAX}]
    _coordinates(errors, latitude, longitude)
    if media_url.strip():
        try:
            if len(media_url.strip()) > MEDIA_URL_MAX:
                raise ValidationError("too long")
            URLValidator(schemes=["http", "https"])(media_url.strip())
        except ValidationError:
            errors["media_url"] = [
                _("media_url 须为 http 或 https 网址，最长 %(max)d 个字符。")
                % {"max": MEDIA_URL_MAX}
            ]
    if len(account_id.strip()) > ACCOUNT_ID_MAX:
        errors["account_id"] = [_("account_id 最长 %(max)d 个字符。") % {"max": ACCOUNT_ID_MAX}]
    return errors, phone


def need_register_external(
    *,
    client: ExternalClient,
    description: str,
    category: Category | None,
    area: Area | None,
    requester: RequesterInput,
    email: str = "",
    address: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    media_url: str = "",
    account_id: str = "",
    kind: str = states.Kind.HELP,
) -> Need:
    """A need another system submits for a resident: `registered`, no actor, source from the
    client. Raises `InvalidInput` per field (description, category, area, phone, email, name,
    address, lat/long, media_url, kind); nothing is stored then.

    The e-mail address is checked but not kept: a requester record has no e-mail field, and
    wenxu answers residents by phone and text message.
    """
    errors, phone = _validate(
        description=description,
        kind=kind,
        source=client.source,
        category=category,
        area=area,
        requester=requester,
        email=email,
        address=address,
        latitude=latitude,
        longitude=longitude,
        media_url=media_url,
        account_id=account_id,
    )
    _raise(errors)
    text = description.strip()
    # The ledger keeps six decimals (about 0.1 m); clients often send more.
    micro = Decimal("0.000001")
    latitude = latitude.quantize(micro) if latitude is not None else None
    longitude = longitude.quantize(micro) if longitude is not None else None
    data: dict[str, object] = {
        "source": client.source,
        "client": client.name,
        "client_id": client.id,
    }
    if media_url.strip():
        data["media_url"] = media_url.strip()
    if account_id.strip():
        data["account_id"] = account_id.strip()
    with (
        transaction.atomic(),
        _new_need(
            actor=None,
            title=online_title(text),
            description=text,
            kind=kind,
            source=client.source,
            area=area,
            category=category,
            urgency=Need.Urgency.NORMAL,
            nature_tags=[],
            handling=states.Handling.ROUTINE,
            status=Status.REGISTERED,
            address=address.strip(),
            latitude=latitude,
            longitude=longitude,
            requester=RequesterInput(name=requester.name.strip(), phone=phone, kind=requester.kind),
            origin=Origin(client_uuid=uuid.uuid4()),
        ) as need,
    ):
        _append_event(
            need=need,
            actor=None,
            action=Action.REGISTER,
            from_status="",
            to_status=need.status,
            first=True,
            data=data,
        )
    return need
