"""POST requests: a form-encoded service request becomes a need (`need_register_external`).

Location: `lat` and `long`, or `address_string` (`address_id` alone is not supported: wenxu
keeps no master address repository). The village or grid comes from `attribute[area]`, the
address, or the key's single place (`catalogue.resolve_area`). Requester: `last_name` and
`first_name` (Chinese order when they are Chinese), `phone` (checked when given), `email`
(checked, not kept). Anything wrong answers 400 and stores nothing.
"""

import re
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _

from wenxu.api.open311 import catalogue
from wenxu.api.open311.params import Open311Error, attributes, bad, decimal, single, text
from wenxu.integrations.models import ApiClient
from wenxu.needs import services
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.models import Need
from wenxu.needs.services import ExternalClient, RequesterInput

_LATIN = re.compile(r"[A-Za-z]")


def requester_name(first: str, last: str) -> str:
    """张 + 三 → 张三; John + Smith → John Smith."""
    if _LATIN.search(first + last):
        return f"{first} {last}".strip()
    return f"{last}{first}".strip()


def _attributes(request: HttpRequest) -> tuple[str, str]:
    given = attributes(request.POST)
    unknown = sorted(set(given) - {catalogue.AREA, catalogue.KIND})
    if unknown:
        raise bad(
            _("未知的属性：%(codes)s；可用的属性见服务定义（area、kind）。")
            % {"codes": ", ".join(unknown)}
        )
    area = single(given.get(catalogue.AREA, []), catalogue.AREA)
    kind = single(given.get(catalogue.KIND, []), catalogue.KIND) or str(catalogue.KINDS[0].value)
    if kind not in {str(k.value) for k in catalogue.KINDS}:
        raise bad(_("attribute[kind]=%(kind)s 无效，可选值见服务定义。") % {"kind": kind})
    return area, kind


def _location(request: HttpRequest) -> tuple[Any, Any, str]:
    form = request.POST
    latitude = decimal(form, "lat")
    longitude = decimal(form, "long")
    address = text(form, "address_string")
    if (latitude is None) != (longitude is None):
        raise bad(_("lat 和 long 须同时提供。"))
    if latitude is None and not address:
        if text(form, "address_id"):
            raise bad(_("暂不支持 address_id：请提供 lat 和 long，或 address_string。"))
        raise bad(_("请提供位置：lat 和 long，或 address_string。"))
    return latitude, longitude, address


def create_request(request: HttpRequest, client: ApiClient) -> tuple[Need, str]:
    """The new need and the `account_id` to echo back."""
    form = request.POST
    code = text(form, "service_code")
    if not code:
        raise bad(_("请提供 service_code（服务类型编码，见服务列表）。"))
    category = catalogue.service(code)
    latitude, longitude, address = _location(request)
    chosen_area, kind = _attributes(request)
    area = catalogue.resolve_area(catalogue.places(client), chosen_area, address)
    account_id = text(form, "account_id")
    try:
        need = services.need_register_external(
            client=ExternalClient(name=client.name, id=client.pk, source=client.source),
            description=text(form, "description"),
            category=category,
            area=area,
            requester=RequesterInput(
                name=requester_name(text(form, "first_name"), text(form, "last_name")),
                phone=text(form, "phone"),
            ),
            email=text(form, "email"),
            address=address,
            latitude=latitude,
            longitude=longitude,
            media_url=text(form, "media_url"),
            account_id=account_id,
            kind=kind,
        )
    except InvalidInput as exc:
        messages = [m for field_messages in exc.errors.values() for m in field_messages]
        raise Open311Error(400, *(messages or [exc.message])) from exc
    return need, account_id
