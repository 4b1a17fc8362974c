"""登记诉求: the capture form and its htmx helpers (area and category search, precision hints).

Officers and dispatchers only; everyone else gets 403. A valid form registers the need (or
records it as solved on the spot) and keeps its attachments in one transaction, then redirects
to the need's page. An invalid one comes back with every typed value and a message per field;
nothing is created.
"""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from wenxu.accounts.models import User
from wenxu.accounts.selectors import user_roles
from wenxu.lib.text import join_list
from wenxu.needs import pickers, services
from wenxu.needs.exceptions import InvalidInput
from wenxu.needs.forms.capture import CaptureForm
from wenxu.needs.models import Attachment, Need
from wenxu.needs.precision import precision_gaps


def _registrar(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    if not user_roles(user) & pickers.REGISTER_ROLES:
        raise PermissionDenied(_("只有走访干部、网格员或调度人员可以登记诉求。"))
    return user


def _selected(value: object) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None


def _register(user: User, form: CaptureForm) -> Need:
    stored: list[Attachment] = []
    try:
        with transaction.atomic():
            if form.cleaned_data["on_the_spot"]:
                need = services.need_register_on_the_spot(
                    actor=user, **form.need_values(), **form.on_the_spot_values()
                )
            else:
                need = services.need_register(actor=user, **form.need_values())
            for upload in form.uploads:
                stored.append(services.attachment_add(actor=user, need=need, upload=upload))
    except BaseException:
        services.attachment_discard_files(stored)
        raise
    return need


@login_required
@require_http_methods(["GET", "POST"])
def capture(request: HttpRequest) -> HttpResponse:
    user = _registrar(request)
    if request.method == "POST":
        form = CaptureForm(request.POST, request.FILES, user=user)
        if form.is_valid():
            try:
                need = _register(user, form)
            except InvalidInput as exc:
                form.add_service_errors(exc)
            else:
                messages.success(
                    request, _("已登记，台账编号 %(number)s") % {"number": need.number}
                )
                gaps = precision_gaps(
                    title=need.title, description=need.description, address=need.address
                )
                if gaps:
                    messages.warning(
                        request,
                        _("需求精度：这条诉求还没有写明%(gaps)s，下次联系群众时可以问清楚。")
                        % {"gaps": join_list(f"“{gap.label}”" for gap in gaps)},
                    )
                return redirect("needs:detail", need.number)
    else:
        form = CaptureForm(user=user)
    area = _selected(form["area"].value())
    category = _selected(form["category"].value())
    context = {
        "form": form,
        "files_dropped": request.method == "POST" and bool(request.FILES),
        "error_fields": form.error_fields() if form.is_bound else [],
        "area_choices": pickers.area_choices(user, selected=area),
        "area_selected": area,
        "category_choices": pickers.category_choices(selected=category),
        "category_selected": category,
        "gaps": _gaps_for(form) if form.is_bound else None,
        "max_attachments": services.MAX_ATTACHMENTS,
    }
    return render(request, "needs/capture.html", context)


def _gaps_for(form: CaptureForm) -> list[object] | None:
    title, description = form["title"].value() or "", form["description"].value() or ""
    if not (str(title).strip() or str(description).strip()):
        return None
    return list(
        precision_gaps(
            title=str(title),
            description=str(description),
            address=str(form["address"].value() or ""),
        )
    )


@login_required
@require_GET
def capture_areas(request: HttpRequest) -> HttpResponse:
    """<option>s of the areas the user may register in that match ?q= (htmx)."""
    user = _registrar(request)
    query = request.GET.get("q", "").strip()[:50]
    selected = _selected(request.GET.get("area"))
    choices = pickers.area_choices(user, query=query, selected=selected)
    return _options(request, choices, selected)


@login_required
@require_GET
def capture_categories(request: HttpRequest) -> HttpResponse:
    """<option>s of the active categories that match ?q= (htmx)."""
    _registrar(request)
    query = request.GET.get("q", "").strip()[:50]
    selected = _selected(request.GET.get("category"))
    choices = pickers.category_choices(query=query, selected=selected)
    return _options(request, choices, selected)


def _options(request: HttpRequest, choices: pickers.Choices, selected: int | None) -> HttpResponse:
    if choices.query and choices.found == 1 and selected is None:
        # One match: choose it, the person searched for exactly this.
        selected = choices.groups[0].options[0].id
    return render(
        request, "needs/capture/_options.html", {"choices": choices, "selected": selected}
    )


@login_required
@require_POST
def capture_precision(request: HttpRequest) -> HttpResponse:
    """The precision hints for the title and description typed so far (htmx, on change)."""
    _registrar(request)
    title = request.POST.get("title", "")
    description = request.POST.get("description", "")
    gaps = (
        precision_gaps(
            title=title, description=description, address=request.POST.get("address", "")
        )
        if (title.strip() or description.strip())
        else None
    )
    return render(request, "needs/capture/_precision.html", {"gaps": gaps})
