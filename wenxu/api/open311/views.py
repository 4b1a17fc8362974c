"""Open311 GeoReport v2 endpoints under /open311/v2/ (docs/api/open311.md).

Thin adapters: `access` checks keys and formats errors, `params` reads arguments, `catalogue`
lists services and places, `selectors` scopes needs to the key, `present` shapes them, `render`
writes JSON or XML.
"""

import uuid

from django.conf import settings
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt

from wenxu.api.open311 import catalogue, present
from wenxu.api.open311.access import authenticate, open311_view, optional_client, request_language
from wenxu.api.open311.create import create_request
from wenxu.api.open311.params import (
    MAX_PAGE,
    Open311Error,
    bad,
    comma_list,
    flag,
    number,
    positive,
    statuses,
    window,
)
from wenxu.api.open311.render import JSON, XML, errors_response, respond
from wenxu.api.open311.selectors import requests_for_client, unit_names, visible_needs
from wenxu.integrations.models import ClientAction
from wenxu.needs.models import Need

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
# When this server's discovery document or service definitions last changed shape.
CHANGESET = "2026-11-29T00:00:00+08:00"


@open311_view("GET")
def discovery(request: HttpRequest, *, fmt: str) -> HttpResponse:
    data = {
        "changeset": CHANGESET,
        "contact": _("问需系统管理员：%(site)s") % {"site": settings.WENXU_SITE_URL},
        "key_service": _(
            "接口密钥由系统管理员在“接口密钥”页面签发，按区域和操作（查询、提交）授权。"
        ),
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": request.build_absolute_uri("/open311/v2"),
                "changeset": CHANGESET,
                "type": "production",
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return respond(fmt, "discovery", data)


@open311_view("GET")
def services(request: HttpRequest, *, fmt: str) -> HttpResponse:
    items = [catalogue.service_json(c) for c in catalogue.services()]
    return respond(fmt, "services", items)


@open311_view("GET")
def service_definition(request: HttpRequest, code: str, *, fmt: str) -> HttpResponse:
    category = catalogue.defined(code)
    client = optional_client(request)
    data = catalogue.definition_json(category, catalogue.places(client))
    return respond(fmt, "service_definition", data)


@open311_view("GET", "POST")
def requests(request: HttpRequest, *, fmt: str) -> HttpResponse:
    if request.method == "POST":
        return _create(request, fmt)
    return _list(request, fmt)


def _create(request: HttpRequest, fmt: str) -> HttpResponse:
    client = authenticate(request, ClientAction.CREATE)
    need, account_id = create_request(request, client)
    item = {
        "service_request_id": need.number,
        "service_notice": _("诉求已登记（台账编号 %(number)s），将尽快交由责任单位办理。")
        % {"number": need.number},
        "account_id": account_id or None,
        "token": str(need.client_uuid),
    }
    return respond(fmt, "service_requests", [item])


def _list(request: HttpRequest, fmt: str) -> HttpResponse:
    client = authenticate(request, ClientAction.READ)
    params = request.GET
    limit = settings.WENXU_OPEN311_MAX_REQUESTS
    page = positive(params, "page", 1, maximum=MAX_PAGE)
    size = min(positive(params, "page_size", limit), limit)
    extensions = flag(params, "extensions")
    needs = requests_for_client(client=client, extensions=extensions)
    numbers = comma_list(params, "service_request_id")
    if numbers:  # "This overrides all other arguments."
        if len(numbers) > limit:
            raise bad(_("service_request_id 最多 %(n)d 个。") % {"n": limit})
        needs = needs.filter(number__in=numbers)
    else:
        codes = [number(code) for code in comma_list(params, "service_code")]
        if None in codes:
            raise bad(_("service_code 须为服务列表中的编码，可用逗号分隔。"))
        if codes:
            needs = needs.filter(category_id__in=codes)
        span = window(params)
        needs = needs.filter(registered_at__gte=span.start, registered_at__lte=span.end)
        wanted = statuses(params)
        if len(wanted) == 1:
            closed = Q(status__in=present.CLOSED)
            needs = needs.filter(closed if wanted == ["closed"] else ~closed)
    start = (page - 1) * size
    found = list(needs.order_by("-registered_at", "-id")[start : start + size])
    units = unit_names(found) if extensions else {}
    visible = visible_needs(client=client, needs=[n.merged_into_id for n in found])
    items = [
        present.request_json(n, extensions=extensions, units=units, visible=visible) for n in found
    ]
    return respond(fmt, "service_requests", items)


@open311_view("GET")
def request_detail(request: HttpRequest, number: str, *, fmt: str) -> HttpResponse:
    client = authenticate(request, ClientAction.READ)
    extensions = flag(request.GET, "extensions")
    need = requests_for_client(client=client, extensions=extensions).filter(number=number).first()
    if need is None:
        raise Open311Error(
            404, _("未找到诉求 %(number)s，或本接口密钥无权查看。") % {"number": number}
        )
    units = unit_names([need]) if extensions else {}
    visible = visible_needs(client=client, needs=[need.merged_into_id])
    item = present.request_json(need, extensions=extensions, units=units, visible=visible)
    return respond(fmt, "service_requests", [item])


@open311_view("GET")
def token(request: HttpRequest, token: str, *, fmt: str) -> HttpResponse:
    client = authenticate(request, ClientAction.READ)
    need: Need | None = None
    try:
        key = uuid.UUID(token)
    except ValueError:
        key = None
    if key is not None:
        need = requests_for_client(client=client).filter(client_uuid=key).first()
    if need is None:
        raise Open311Error(
            404, _("未找到 token %(token)s，或本接口密钥无权查看。") % {"token": token}
        )
    item = {"service_request_id": need.number, "token": str(need.client_uuid)}
    return respond(fmt, "service_requests", [item])


@csrf_exempt
def not_found(request: HttpRequest, rest: str) -> HttpResponse:
    """Any other address under /open311/v2/: a 404 in the spec's format (XML unless .json)."""
    fmt = JSON if rest.endswith(".json") else XML
    with request_language(request):
        message = _(
            "没有这个 Open311 地址：/open311/v2/%(rest)s。可用的有 discovery、services、"
            "services/{service_code}、requests、requests/{service_request_id}、tokens/{token}，"
            "以 .json 或 .xml 结尾。"
        ) % {"rest": rest}
        return errors_response(fmt, 404, [message])
