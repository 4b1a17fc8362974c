"""Places (走访对象) pages: the list per grid, a household's page, hand entry and the Excel import.

Reads go through the scoped selectors (a place out of scope answers 404). Officers and
dispatchers keep the places of their areas; anyone else gets 403 on the write pages.

The import is all or nothing (ADR 0010): a file is read and every row checked; any bad row
means nothing is written and the page lists every problem. A clean file is shown as a preview
(how many places will be created, updated, left unchanged, and per updated place which fields
change) and written when the user confirms; the checked rows wait on the server in a batch of
the user's (`PlaceImportBatch`), and are checked again on confirmation.
"""

import io
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs.exceptions import InvalidInput, StaleVersion
from wenxu.needs.selectors import COUNT_CAP, keyset_page
from wenxu.organisations.models import Area
from wenxu.visits import place_files, places
from wenxu.visits import place_import as importer
from wenxu.visits.forms import PlaceFilterForm, PlaceForm, PlaceImportForm
from wenxu.visits.models import PlaceKind
from wenxu.visits.periods import quarter_window
from wenxu.visits.selectors import place_get_for_user

PAGE_SIZE = 50
# The preview lists the changes to existing places up to this many (it counts them all).
PREVIEW_UPDATES_SHOWN = 300


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _editor(request: HttpRequest) -> User:
    user = _user(request)
    if not places.may_edit_places(user):
        raise PermissionDenied(_("只有走访干部、网格员或调度人员可以维护走访对象。"))
    return user


@login_required
@require_GET
def place_list(request: HttpRequest) -> HttpResponse:
    """The places in scope, 50 a page by cursor (keyset, `places.PLACE_ORDER`), never OFFSET:
    a city's households run to the hundreds of thousands."""
    user = _user(request)
    form = PlaceFilterForm(request.GET, user=user)
    filters = form.filters()
    listed = places.place_list_for_user(user=user, filters=filters)
    cursor = request.GET.get("cursor") or None
    problems: list[str] = []
    try:
        found, next_cursor = _page(listed, user, cursor)
    except InvalidInput as error:
        problems = [message for messages in error.errors.values() for message in messages]
        cursor = None
        found, next_cursor = _page(listed, user, cursor)
    count = listed.order_by()[: COUNT_CAP + 1].count()
    since = quarter_window(clock.today()).start
    rows = [
        {
            "place": place,
            "visited_this_quarter": bool(place.last_visit and place.last_visit >= since),
        }
        for place in found
    ]
    query = urlencode(
        [(key, value) for key, value in request.GET.items() if key != "cursor" and value]
    )
    return render(
        request,
        "visits/places/list.html",
        {
            "form": form,
            "rows": rows,
            "count": min(count, COUNT_CAP),
            "count_capped": count > COUNT_CAP,
            "problems": problems,
            "query": query,
            "first_url": f"?{query}" if cursor else "",
            "next_url": f"?{query}{'&' if query else ''}{urlencode({'cursor': next_cursor})}"
            if next_cursor
            else "",
            "can_edit": places.may_edit_places(user),
            "filtered": any([filters.area, filters.kind, filters.q, filters.active is not True]),
        },
    )


def _page(listed: Any, user: User, cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of places after `cursor`; their visit counts are computed for the page only."""

    def rows(chosen: Any) -> list[Any]:
        return list(places.place_rows(chosen, user=user))

    return keyset_page(listed, places.PLACE_ORDER, cursor, PAGE_SIZE, rows=rows)


@login_required
@require_GET
def place_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    household = places.household_for_user(user=user, pk=pk)
    return render(
        request,
        "visits/places/detail.html",
        {
            "household": household,
            "place": household.place,
            "can_edit": places.may_edit_places(user, household.place.area),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def place_create(request: HttpRequest) -> HttpResponse:
    user = _editor(request)
    initial: dict[str, Any] = {"active": True}
    if (area := request.GET.get("area", "")).isdigit():
        initial["area"] = area
    if request.GET.get("kind") in PlaceKind.values:
        initial["kind"] = request.GET["kind"]
    form = PlaceForm(request.POST or None, user=user, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            place = places.place_create(actor=user, values=form.values())
        except InvalidInput as error:
            form.add_service_errors(error)
        else:
            messages.success(request, _("已登记走访对象“%(name)s”。") % {"name": place.name})
            return redirect("visits:place", pk=place.pk)
    return render(
        request, "visits/places/form.html", {"form": form, "place": None}, status=_status(form)
    )


@login_required
@require_http_methods(["GET", "POST"])
def place_edit(request: HttpRequest, pk: int) -> HttpResponse:
    user = _user(request)
    place = place_get_for_user(user=user, pk=pk)
    if not places.may_edit_places(user, place.area):
        raise PermissionDenied(_("您可以查看这个走访对象，但不能修改。"))
    form = PlaceForm(request.POST or None, user=user, place=place)
    stale = False
    if request.method == "POST" and form.is_valid():
        try:
            place = places.place_update(
                actor=user,
                place=place,
                values=form.values(),
                expected_updated_at=form.cleaned_data["updated"],
            )
        except InvalidInput as error:
            form.add_service_errors(error)
        except StaleVersion as error:
            stale = True
            form.add_error(None, error.message)
        else:
            messages.success(request, _("已保存。"))
            return redirect("visits:place", pk=place.pk)
    return render(
        request,
        "visits/places/form.html",
        {"form": form, "place": place, "stale": stale},
        status=409 if stale else _status(form),
    )


def _status(form: PlaceForm) -> int:
    return 422 if form.is_bound and form.errors else 200


@login_required
@require_http_methods(["GET", "POST"])
def place_import(request: HttpRequest) -> HttpResponse:
    user = _editor(request)
    context: dict[str, Any] = {
        "form": PlaceImportForm(),
        "max_rows": place_files.MAX_IMPORT_ROWS,
        "columns": list(place_files.HEADERS.values()),
        "clear_marker": importer.CLEAR,
    }
    if request.method != "POST":
        return render(request, "visits/places/import.html", context)
    try:
        if request.POST.get("confirm") == "1":
            result = importer.place_import_confirm(
                actor=user, batch_id=request.POST.get("batch", "")
            )
            return _imported(request, result)
        form = PlaceImportForm(request.POST, request.FILES)
        context["form"] = form
        if not form.is_valid():
            return render(request, "visits/places/import.html", context, status=422)
        upload = form.cleaned_data["file"]
        context["file_name"] = upload.name
        preview = importer.place_import_preview(actor=user, upload=upload)
    except place_files.PlaceImportRejected as rejected:
        context["rejected"] = rejected
        return render(request, "visits/places/import.html", context, status=422)
    context.update(
        {
            "plan": preview.plan,
            "batch": preview.batch_id,
            "updates": preview.plan.update[:PREVIEW_UPDATES_SHOWN],
            "form": PlaceImportForm(),
        }
    )
    return render(request, "visits/places/import.html", context)


def _imported(request: HttpRequest, result: importer.ImportResult) -> HttpResponse:
    messages.success(
        request,
        _("导入完成：新增 %(created)d 个，更新 %(updated)d 个，未变 %(unchanged)d 个。")
        % {"created": result.created, "updated": result.updated, "unchanged": result.unchanged},
    )
    return redirect("visits:places")


@login_required
@require_GET
def place_import_template(request: HttpRequest) -> HttpResponse:
    user = _editor(request)
    return HttpResponse(
        import_template(user),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={
            "Content-Disposition": 'attachment; filename="places-template.xlsx"; '
            "filename*=UTF-8''%E8%B5%B0%E8%AE%BF%E5%AF%B9%E8%B1%A1%E5%AF%BC%E5%85%A5%E6%A8%A1%E6%9D%BF.xlsx"
        },
    )


def import_template(user: User) -> bytes:
    """The import template: the sheet to fill, how to fill each column, and the user's grids."""
    import xlsxwriter  # type: ignore[import-untyped]

    areas = list(places.editable_areas(user=user).only("id", "name", "code", "path", "depth"))
    area_paths = _area_paths(areas)
    deepest = max(areas, key=lambda area: area.depth, default=None)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
    wrap = book.add_format({"text_wrap": True, "valign": "top"})
    text = book.add_format({"num_format": "@"})

    sheet = book.add_worksheet(_("走访对象"))
    widths = (36, 10, 22, 30, 14, 18, 8, 30)
    for index, (header, width) in enumerate(zip(place_files.HEADERS.values(), widths, strict=True)):
        sheet.write(0, index, header, head)
        sheet.set_column(index, index, width, text if header != "人数" else None)
    sheet.freeze_panes(1, 0)
    sheet.data_validation(
        1,
        1,
        place_files.MAX_IMPORT_ROWS,
        1,
        {
            "validate": "list",
            "source": ["住户", "企业", "公共场所"],
            "error_title": _("类型"),
            "error_message": _("请从 住户、企业、公共场所 中选择。"),
        },
    )
    sheet.data_validation(
        1,
        6,
        place_files.MAX_IMPORT_ROWS,
        6,
        {
            "validate": "integer",
            "criteria": ">=",
            "value": 0,
            "ignore_blank": True,
            "error_message": _("人数应为 0 或正整数。"),
        },
    )

    guide = book.add_worksheet(_("填写说明"))
    guide.set_column(0, 0, 14)
    guide.set_column(1, 1, 8)
    guide.set_column(2, 2, 70, wrap)
    guide.set_column(3, 3, 30, wrap)
    for col, title in enumerate((_("列"), _("必填"), _("填写要求"), _("示例"))):
        guide.write(0, col, title, head)
    example = area_paths[areas.index(deepest)][0] if deepest else "东河镇/东河村/东河村第一网格"
    keep = _("留空：不改变系统中已登记的内容；填“%(clear)s”：清除已登记的内容。") % {
        "clear": importer.CLEAR
    }
    rules = (
        (
            "网格",
            _("是"),
            _(
                "走访对象所属的网格（或村社区）。可以填：名称路径（上级/下级，用 / 分隔，"
                "上面的层级可以省略，如 东河村/东河村第一网格）；区划代码；或在您负责的范围内"
                "不重名时只填名称。同名时请带上上级。只能填写您负责的区域，见“网格列表”工作表。"
            ),
            example,
        ),
        ("类型", _("是"), _("住户、企业 或 公共场所，三者选一。"), "住户"),
        (
            "名称/门牌",
            _("是"),
            _(
                "住户填门牌（如 3栋2单元401、东河村12号），企业和公共场所填名称；最多 100 字。"
                "同一网格内不能重名：系统里已有同网格同名的对象时，这一行会更新它。"
            ),
            "3栋2单元401",
        ),
        ("地址", _("否"), _("详细地址，最多 200 字。") + keep, "东河村东街12号"),
        (
            "户主/负责人",
            _("否"),
            _("姓名，最多 100 字。属于个人信息，系统中脱敏显示。") + keep,
            "张三",
        ),
        (
            "联系电话",
            _("否"),
            _("手机号（1 开头的 11 位数字）或带区号的固定电话（如 0571-88886666）。") + keep,
            "13812345678",
        ),
        ("人数", _("否"), _("0 或正整数，不清楚可以留空。") + keep, "3"),
        ("备注", _("否"), _("最多 200 字。") + keep, _("独居老人")),
    )
    for row, rule in enumerate(rules, start=1):
        for col, value in enumerate(rule):
            guide.write_string(row, col, str(value), wrap)
    notes = (
        _(
            "整个文件一次导入：只要有一行有误，就一行也不导入，页面会列出每一个错误（行号、列、内容、"
            "怎样改正）。改好后重新上传同一文件即可。"
        ),
        _("第一行是表头，不要修改列名；从第二行起每行一个走访对象，空行会被跳过。"),
        _("一次最多 %(rows)d 行、5 MB；更多请拆成几个文件。")
        % {"rows": place_files.MAX_IMPORT_ROWS},
        _(
            "更新已有对象时，留空的格子不改变系统中已登记的内容；要清除已登记的地址、户主/负责人、"
            "联系电话、人数或备注，请在格子里填“%(clear)s”两个字。"
        )
        % {"clear": importer.CLEAR},
        _("导入不会改变“在册”状态，也不会删除系统中已有而文件中没有的对象；注销请在系统中操作。"),
    )
    start = len(rules) + 2
    for offset, note in enumerate(notes):
        guide.merge_range(start + offset, 0, start + offset, 3, note, wrap)
        guide.set_row(start + offset, 32)

    grids = book.add_worksheet(_("网格列表"))
    grids.set_column(0, 0, 48)
    grids.set_column(1, 1, 16)
    grids.write(0, 0, _("名称路径（可直接复制到“网格”列）"), head)
    grids.write(0, 1, _("区划代码"), head)
    for row, (label, code) in enumerate(area_paths, start=1):
        grids.write_string(row, 0, label)
        grids.write_string(row, 1, code)
    book.close()
    return buffer.getvalue()


def _area_paths(areas: list[Area]) -> list[tuple[str, str]]:
    """Each area's name path from the user's top scope down, with its code, in tree order."""
    by_id = {area.pk: area for area in areas}
    paths = []
    for area in areas:
        ids = [int(part) for part in area.path.strip("/").split("/") if part]
        paths.append(("/".join(by_id[pk].name for pk in ids if pk in by_id), area.code))
    return paths
