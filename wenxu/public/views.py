"""群众端: pages residents open without an account (WeChat's browser included)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from wenxu.lib import clientip, ratelimit
from wenxu.public.tracking import need_for_tracking, normalise_code

# Lookups per address, and failed tries per code, before the page asks to wait.
LOOKUPS_PER_ADDRESS = (20, 600)
FAILURES_PER_CODE = (5, 3600)


def _client(request: HttpRequest) -> str:
    # The resident's address, also behind a trusted proxy (WENXU_TRUSTED_PROXIES).
    return clientip.client_ip(request) or ""


@never_cache
@require_GET
def track(request: HttpRequest) -> HttpResponse:
    """查询办理进度: the tracking code plus the last four digits of the phone on record."""
    code = request.GET.get("code", "").strip()[:40]
    tail = request.GET.get("phone_tail", "").strip()[:20]
    context: dict[str, object] = {"code": code, "phone_tail": tail}
    status = 200
    if code or tail:
        key = normalise_code(code)
        limit, window = FAILURES_PER_CODE
        if not ratelimit.hit("track", _client(request), limit=LOOKUPS_PER_ADDRESS[0],
                             window=LOOKUPS_PER_ADDRESS[1]) or ratelimit.exceeded(
            "track-code", key, limit=limit, window=window
        ):  # fmt: skip
            context["error"] = _("查询次数过多，请过一会儿再试。")
            status = 429
        else:
            tracked = need_for_tracking(code=code, phone_tail=tail)
            if tracked is None:
                ratelimit.hit("track-code", key, limit=limit, window=window)
                context["error"] = _(
                    "没有找到相符的诉求。请核对查询码；登记时留了电话的，还要填写该电话的后四位。"
                )
            else:
                context["tracked"] = tracked
    response = render(request, "public/track.html", context, status=status)
    response["Referrer-Policy"] = "no-referrer"  # the code and digits are in the URL
    return response
