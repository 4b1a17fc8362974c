"""The JSON API, v1, under `/api/v1/`.

Schema at `/api/v1/openapi.json`, interactive docs at `/api/v1/docs`.
"""

from typing import Any

from ninja import NinjaAPI
from ninja.renderers import JSONRenderer

from wenxu.api import exports, needs, reference, similar, stats, tokens, visits
from wenxu.api.auth import api_auth
from wenxu.api.errors import JsonParser, install_exception_handlers

DESCRIPTION = """
问需 wenxu 的 JSON 接口：诉求台账的登记、查询与全流程办理。

**认证** `POST /api/v1/auth/token` 用用户名和密码换取令牌，之后每个请求带
`Authorization: Bearer <token>`；浏览器中已登录的会话也可直接调用（写操作需带 `X-CSRFToken`）。

**权限** 与网页一致：只能看到权限范围内的诉求，范围外的诉求返回 404，也不出现在列表中；
角色不能执行的操作返回 403。

**办理** `POST /api/v1/needs/{number}/{action}`，请求体带上客户端看到的 `version`：
状态不允许该操作、或记录已被他人修改时返回 409，什么都不会改变。

**错误** 一律为 `{"code", "message"}`；输入有误时为 422，另带 `errors: {字段: [说明]}`。
说明默认为中文，请求头 `Accept-Language: en` 时为英文。

**分页** 列表按登记先后倒序，返回 `next`；把它作为 `cursor` 传入即得下一页，为 null 时已到末页。
"""


class ReadableJSONRenderer(JSONRenderer):
    """UTF-8 JSON with Chinese as Chinese, not `\\uXXXX` escapes."""

    json_dumps_params: dict[str, Any] = {"ensure_ascii": False}


api = NinjaAPI(
    title="问需 wenxu API",
    version="1",
    description=DESCRIPTION.strip(),
    urls_namespace="api-v1",
    auth=api_auth,
    parser=JsonParser(),
    renderer=ReadableJSONRenderer(),
)
install_exception_handlers(api)

api.add_router("/auth", tokens.router)
# Before the needs router: its POST /needs/{number}/{action} would otherwise take the path.
api.add_router("/", similar.router)
api.add_router("/", needs.router)
api.add_router("/", reference.router)
api.add_router("/", visits.router)
api.add_router("/", exports.router)
api.add_router("/", stats.router)
