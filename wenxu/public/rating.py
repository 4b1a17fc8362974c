"""/r/<token>: the resident rates a reply, from the link in the reply's text message.

The page names the need (title, tracking code), the unit that answered and the reply, never
staff or internal notes. A forged or unknown token, a used link, an expired one and a reply
already rated another way each get a short page of their own that shows nothing of the need.
Only invalid or unknown tokens count against the client address's rate limit (the token is
HMAC-signed, so guessing is what needs slowing down): residents behind one carrier address
opening genuine links are never turned away for each other's clicks.
"""

from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from wenxu.lib import clientip, ratelimit
from wenxu.needs import services
from wenxu.needs.exceptions import IllegalTransition, InvalidInput
from wenxu.needs.models import Need, RatingLink
from wenxu.needs.rating import rating_link_from_token
from wenxu.needs.services.reopen import (
    COMMENT_MAX,
    RatingLinkExpired,
    RatingLinkUsed,
    is_unsatisfied,
    rating_link_problem,
)
from wenxu.needs.states import CallbackResolved, Outcome, Satisfaction

# Invalid or unknown tokens per client address before the page asks to wait.
REQUESTS_PER_ADDRESS = (30, 600)

# The reply's outcome as a resident would say it.
OUTCOME_WORDS: dict[str, Any] = {
    Outcome.RESOLVED: gettext_lazy("问题已解决"),
    Outcome.EXPLAINED: gettext_lazy("已向您解释说明有关政策或情况"),
    Outcome.PLANNED: gettext_lazy("暂时不能马上解决，正在创造条件推动，办成后再告知您"),
    Outcome.REFERRED: gettext_lazy("已转交有权处理的部门办理"),
}


class RatingForm(forms.Form):
    resolved = forms.ChoiceField(
        label=gettext_lazy("您反映的问题解决了吗？"),
        choices=CallbackResolved.choices,
        widget=forms.RadioSelect(attrs={"class": "btn-check", "autocomplete": "off"}),
        error_messages={"required": gettext_lazy("请选择问题是否解决。")},
    )
    satisfaction = forms.ChoiceField(
        label=gettext_lazy("您对办理结果满意吗？"),
        choices=Satisfaction.choices,
        widget=forms.RadioSelect(attrs={"class": "btn-check", "autocomplete": "off"}),
        error_messages={"required": gettext_lazy("请选择满意程度。")},
    )
    comment = forms.CharField(
        label=gettext_lazy("您的意见（可不填）"),
        required=False,
        max_length=COMMENT_MAX,
        widget=forms.Textarea(
            attrs={
                "rows": 4,
                "class": "form-control",
                "placeholder": gettext_lazy("不满意的，请说说哪里没有解决，方便重新办理。"),
            }
        ),
        error_messages={"max_length": gettext_lazy("意见最多 %(limit_value)d 字，请精简。")},
    )
    public_consent = forms.BooleanField(
        label=gettext_lazy("同意在回音墙匿名公开办理结果"),
        required=False,
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
        help_text=gettext_lazy("只公开诉求内容和答复，不公开您的姓名、电话和住址。"),
    )


def _client(request: HttpRequest) -> str:
    # The resident's address, also behind a trusted proxy (WENXU_TRUSTED_PROXIES).
    return clientip.client_ip(request) or ""


def _track_url(need: Need) -> str:
    return f"{reverse('public:track')}?{urlencode({'code': need.tracking_code})}"


def _closed(request: HttpRequest, kind: str, *, status: int) -> HttpResponse:
    """A page that says why there is nothing to rate, showing nothing of the need."""
    context: dict[str, Any] = {"kind": kind, "track_url": reverse("public:track")}
    response = render(request, "public/rate_closed.html", context, status=status)
    response["Referrer-Policy"] = "same-origin"
    return response


def _page(
    request: HttpRequest, link: RatingLink, form: RatingForm, *, status: int = 200
) -> HttpResponse:
    need = link.need
    for name in form.errors:
        if name in form.fields:
            widget = form.fields[name].widget
            widget.attrs["class"] = (widget.attrs.get("class", "") + " is-invalid").strip()
    context = {
        "need": need,
        "unit": need.lead_unit.name if need.lead_unit else "",
        "outcome_words": OUTCOME_WORDS.get(need.outcome, "") if need.outcome else "",
        "outcome_label": Outcome(need.outcome).label if need.outcome else "",
        "form": form,
        "expires_at": link.expires_at,
    }
    response = render(request, "public/rate.html", context, status=status)
    # The token is in the URL: no other site learns it. Not "no-referrer", which would make the
    # browser send `Origin: null` with the form and fail Django's CSRF origin check.
    response["Referrer-Policy"] = "same-origin"
    return response


def _problem_page(request: HttpRequest, problem: IllegalTransition) -> HttpResponse:
    if isinstance(problem, RatingLinkUsed):
        return _closed(request, "used", status=200)
    if isinstance(problem, RatingLinkExpired):
        return _closed(request, "expired", status=410)
    return _closed(request, "superseded", status=200)


@never_cache
@require_http_methods(["GET", "POST"])
def rate(request: HttpRequest, token: str) -> HttpResponse:
    """评价办理结果: resolved or not, satisfaction on five levels, a comment."""
    limit, window = REQUESTS_PER_ADDRESS
    if ratelimit.exceeded("rate", _client(request), limit=limit, window=window):
        return _closed(request, "busy", status=429)
    link = rating_link_from_token(token[:200])
    if link is None:
        ratelimit.hit("rate", _client(request), limit=limit, window=window)
        return _closed(request, "invalid", status=404)
    link = RatingLink.objects.select_related("need__lead_unit").get(pk=link.pk)
    problem = rating_link_problem(link)
    if problem is not None:
        return _problem_page(request, problem)
    if request.method == "GET":
        return _page(request, link, RatingForm())

    form = RatingForm(request.POST)
    if not form.is_valid():
        return _page(request, link, form, status=422)
    data = form.cleaned_data
    try:
        need = services.need_rate(
            link=link,
            resolved=data["resolved"],
            satisfaction=data["satisfaction"],
            comment=data["comment"],
            public_consent=data["public_consent"],
        )
    except InvalidInput as exc:
        for name, errors in exc.errors.items():
            for error in errors:
                form.add_error(name if name in form.fields else None, error)
        return _page(request, link, form, status=422)
    except IllegalTransition as exc:
        return _problem_page(request, exc)
    context = {
        "need": need,
        "unsatisfied": is_unsatisfied(resolved=data["resolved"], satisfaction=data["satisfaction"]),
        "track_url": _track_url(need),
    }
    response = render(request, "public/rate_done.html", context)
    response["Referrer-Policy"] = "same-origin"
    return response


__all__ = ["RatingForm", "rate"]
