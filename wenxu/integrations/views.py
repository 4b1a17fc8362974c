"""接口密钥: users holding the admin role list, issue, re-scope and revoke client API keys.

Others get 403. A key outside the admin's areas answers 404. As on 我的令牌, the raw key is
shown once, in the response to the POST that issued it, with headers that forbid caching; it
is never put in the session, a message or a log. A re-sent POST is refused by the unique name.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.forms import Form
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods

from wenxu.accounts.models import User
from wenxu.integrations import selectors, services
from wenxu.integrations.forms import ClientCreateForm, ClientEditForm
from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.lib import clock


def _admin(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not selectors.may_manage_keys(user):
        raise PermissionDenied(_("接口密钥只对系统管理员开放。"))
    return user


def _client(user: User, pk: int) -> ApiClient:
    client = selectors.api_client_get_for_user(user=user, pk=pk)
    if client is None:
        raise Http404(_("没有这个接口密钥。"))
    return client


STATE_LABELS = {
    "active": gettext_lazy("有效"),
    "expired": gettext_lazy("已过期"),
    "revoked": gettext_lazy("已吊销"),
}


@dataclass(frozen=True)
class KeyRow:
    client: ApiClient
    state: str

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])

    @property
    def action_labels(self) -> list[str]:
        labels = dict(ClientAction.choices)
        return [str(labels.get(a, a)) for a in self.client.actions or []]

    @property
    def area_names(self) -> list[str]:
        return [area.name for area in self.client.areas.all()]


def _row(client: ApiClient) -> KeyRow:
    if client.revoked_at is not None:
        state = "revoked"
    elif client.expires_at is not None and client.expires_at <= clock.now():
        state = "expired"
    else:
        state = "active"
    return KeyRow(client=client, state=state)


def _add_errors(form: Form, exc: ValidationError) -> None:
    for field, errors in exc.message_dict.items():
        for error in errors:
            form.add_error(field if field in form.fields else None, error)


@login_required
@require_GET
def key_list(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    rows = [_row(client) for client in selectors.api_client_list_for_user(user=user)]
    return render(request, "integrations/keys.html", {"rows": rows})


@login_required
@require_http_methods(["GET", "POST"])
def key_create(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    if request.method == "GET":
        form = ClientCreateForm(user=user)
        return render(request, "integrations/keys_form.html", {"form": form, "creating": True})
    form = ClientCreateForm(request.POST, user=user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            raw, client = services.api_client_issue(
                name=data["name"],
                areas=data["areas"],
                actions=data["actions"],
                source=data["source"],
                rate_limit=data["rate_limit"],
                expires_at=form.expires_at(),
                note=data["note"],
                created_by=user,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        except IntegrityError:  # the same name issued at the same moment
            form.add_error("name", _("已有同名的接口密钥，请换一个名称。"))
        else:
            response = render(
                request,
                "integrations/keys_created.html",
                {"row": _row(client), "raw_key": raw},
            )
            # The page carries the raw key: never keep it in a cache or the browser's history.
            add_never_cache_headers(response)
            return response
    return render(
        request, "integrations/keys_form.html", {"form": form, "creating": True}, status=422
    )


@login_required
@require_http_methods(["GET", "POST"])
def key_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _admin(request)
    client = _client(user, pk)
    if request.method == "GET":
        initial = {
            "areas": list(client.areas.all()),
            "actions": client.actions,
            "rate_limit": client.rate_limit,
            "note": client.note,
        }
        form = ClientEditForm(user=user, initial=initial)
        return render(request, "integrations/keys_form.html", {"form": form, "client": client})
    form = ClientEditForm(request.POST, user=user)
    if form.is_valid():
        data = form.cleaned_data
        try:
            services.api_client_update(
                client=client,
                areas=data["areas"],
                actions=data["actions"],
                rate_limit=data["rate_limit"],
                note=data["note"],
                actor=user,
            )
        except ValidationError as exc:
            _add_errors(form, exc)
        else:
            messages.success(request, _("已保存接口密钥“%(name)s”。") % {"name": client.name})
            return HttpResponseRedirect(reverse("keys:list"))
    return render(
        request, "integrations/keys_form.html", {"form": form, "client": client}, status=422
    )


@login_required
@require_http_methods(["GET", "POST"])
def key_revoke(request: HttpRequest, pk: int) -> HttpResponse:
    user = _admin(request)
    client = _client(user, pk)
    if request.method == "GET":
        return render(request, "integrations/keys_revoke.html", {"client": client})
    services.api_client_revoke(client=client, actor=user)
    client.refresh_from_db(fields=["revoked_at"])
    if getattr(request, "htmx", False):
        return render(
            request,
            "integrations/keys_row.html",
            {"row": _row(client), "revoked_now": True},
        )
    messages.success(request, _("已吊销接口密钥“%(name)s”。") % {"name": client.name})
    return HttpResponseRedirect(reverse("keys:list"))
