"""Checking and applying a place import (住户 / 企业 / 公共场所): all or nothing (ADR 0010).

Every row of the file (read by `wenxu.visits.place_files`) is checked first, and a file with any
bad row writes nothing and comes back with every problem (row, column, value, what is wrong and
how to fix it). A clean file creates the places that are new and updates those that already
exist in the same area under the same name, in one transaction.

A blank cell keeps what is stored; only the marker 清空 clears a stored value, so a list
re-imported with some cells left empty loses nothing.

Between the preview and the confirmation the checked rows stay on the server in a
`PlaceImportBatch` of the user who uploaded them (never in the page: they hold contact names and
phones), with the version of each place the preview compared against. The confirmation locks
the places, checks every row again, refuses when a place was changed since the preview, writes,
and deletes the batch.
"""

import re
import secrets
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.audit import actions
from wenxu.audit.services import audit_record
from wenxu.lib import clock, masking
from wenxu.lib.phones import normalise_phone
from wenxu.lib.text import join_list
from wenxu.organisations.models import Area
from wenxu.visits.models import Place, PlaceImportBatch, PlaceKind
from wenxu.visits.place_files import (
    HEADERS,
    PlaceImportRejected,
    Problem,
    RawRow,
    file_problem,
    place_import_read,
)
from wenxu.visits.places import editable_areas, require_place_editor

KIND_VALUES = {
    "住户": PlaceKind.HOUSEHOLD,
    "企业": PlaceKind.ENTERPRISE,
    "公共场所": PlaceKind.PUBLIC,
    **{value: PlaceKind(value) for value in PlaceKind.values},
}
_PATH_SPLIT = re.compile(r"\s*[/／\\>＞]\s*")
MAX_LENGTHS = {"name": 100, "address": 200, "contact_name": 100, "note": 200}  # as on Place
# The columns a row may leave blank: blank keeps the stored value, CLEAR empties it.
OPTIONAL_FIELDS = ("address", "contact_name", "contact_phone", "members", "note")
CLEAR = "清空"
BATCH_LIFETIME = timedelta(hours=1)
CHUNK = 500


class AreaResolver:
    """Finds the area a 网格 cell names, among the areas the actor keeps places in.

    A cell holds a 区划代码, or a name path ending at the area ("东河镇/东河村/东河村第一网格",
    upper levels may be left off while the rest is unique), or just the name when it is unique
    within the actor's scope.
    """

    def __init__(self, actor: User) -> None:
        areas = list(editable_areas(user=actor).only("id", "name", "code", "path", "depth"))
        ancestor_ids = {
            int(part) for area in areas for part in area.path.strip("/").split("/") if part
        }
        names = dict(Area.objects.filter(pk__in=ancestor_ids).values_list("pk", "name"))
        self.areas = areas
        self.by_code = {area.code: area for area in areas if area.code}
        self.names = names
        self.by_last_name: dict[str, list[Area]] = {}
        for area in areas:
            self.by_last_name.setdefault(area.name, []).append(area)
        self.cache: dict[str, Area | str] = {}

    def out_of_scope(self) -> str:
        """What to say about an area that exists but lies outside the actor's scope."""
        return _(
            "该网格不在您可维护的范围内：只能导入您负责区域内的走访对象，请核对网格或联系上级调度员。"
        )

    def _path_names(self, area: Area) -> list[str]:
        return [self.names.get(int(p), "") for p in area.path.strip("/").split("/") if p]

    def label(self, area: Area) -> str:
        return "/".join(self._path_names(area))

    def resolve(self, text: str) -> Area | str:
        """The area, or a message saying what is wrong and how to fix it."""
        if text not in self.cache:
            self.cache[text] = self._resolve(text)
        return self.cache[text]

    def _resolve(self, text: str) -> Area | str:
        if text in self.by_code:
            return self.by_code[text]
        parts = [part for part in _PATH_SPLIT.split(unicodedata.normalize("NFKC", text)) if part]
        if not parts:
            return _(
                "网格不能为空：请填写网格的名称路径（如 东河镇/东河村/东河村第一网格）或区划代码。"
            )
        matches = [
            area
            for area in self.by_last_name.get(parts[-1], [])
            if self._path_names(area)[-len(parts) :] == parts
        ]
        if len(matches) == 1:
            return matches[0]
        if matches:
            examples = join_list(self.label(area) for area in matches[:3])
            return _(
                "有 %(count)d 个区域都叫这个名字（%(examples)s）："
                "请改填带上级的名称路径或区划代码。"
            ) % {"count": len(matches), "examples": examples}
        namesakes = self.by_last_name.get(parts[-1], [])
        if namesakes:
            return _(
                "上级名称与系统中的不一致，系统中是：%(labels)s。请照此填写，或只填网格名称。"
            ) % {"labels": join_list(self.label(area) for area in namesakes[:3])}
        if Area.objects.filter(Q(code=text) | Q(name=parts[-1])).exists():
            return self.out_of_scope()
        return _(
            "系统中没有这个网格：请核对名称（与系统中的写法一致），"
            "或改填名称路径（如 东河镇/东河村/东河村第一网格）或区划代码。"
        )


def _check_length(problems: list[Problem], row: RawRow, key: str, value: str) -> None:
    limit = MAX_LENGTHS[key]
    if len(value) > limit:
        problems.append(
            Problem(
                row.number,
                HEADERS[key],
                value,
                _("最多 %(limit)d 个字，这里有 %(length)d 个：请删减。")
                % {"limit": limit, "length": len(value)},
                key,
            )
        )


def _is_clear(text: str) -> bool:
    return re.sub(r"\s", "", unicodedata.normalize("NFKC", text)) == CLEAR


@dataclass(frozen=True)
class ParsedRow:
    """A checked row: where and what the place is, and the optional fields the row sets
    (a cleared field as "" or, for 人数, None; a blank cell is absent)."""

    row: RawRow
    area: Area
    kind: str
    name: str
    given: dict[str, Any]


def _parse_row(row: RawRow, resolver: AreaResolver, problems: list[Problem]) -> ParsedRow | None:
    """The row checked, or None after adding its problems."""
    before = len(problems)
    cells = row.cells

    def bad(key: str, message: str) -> None:
        problems.append(Problem(row.number, HEADERS[key], cells.get(key, ""), message, key))

    area_text = cells["area"]
    area: Area | None = None
    if not area_text:
        bad(
            "area",
            _("网格不能为空：请填写网格的名称路径（如 东河镇/东河村/东河村第一网格）或区划代码。"),
        )
    else:
        found = resolver.resolve(area_text)
        if isinstance(found, Area):
            area = found
        else:
            bad("area", found)
    kind_text = re.sub(r"\s", "", cells["kind"])
    kind = KIND_VALUES.get(kind_text) or KIND_VALUES.get(kind_text.lower())
    if not kind:
        bad(
            "kind",
            _("类型不能为空：请填写 住户、企业 或 公共场所。")
            if not kind_text
            else _("类型无效：只能填写 住户、企业 或 公共场所。"),
        )
    name = cells["name"]
    if not name:
        bad("name", _("名称/门牌不能为空：住户填门牌（如 3栋2单元401），企业和公共场所填名称。"))
    elif _is_clear(name):
        bad("name", _("名称/门牌不能清空：它用来找到系统中的走访对象。"))
    _check_length(problems, row, "name", name)
    given: dict[str, Any] = {}
    for key in OPTIONAL_FIELDS:
        text = cells[key]
        if not text:
            continue  # blank: keep what is stored
        if _is_clear(text):
            given[key] = None if key == "members" else ""
            continue
        if key in MAX_LENGTHS:
            _check_length(problems, row, key, text)
            given[key] = text
        elif key == "contact_phone":
            try:
                given[key] = normalise_phone(text)
            except ValidationError as error:
                bad(key, str(error.messages[0]))
        else:  # members
            members = text.removesuffix("人").strip()
            if members.isdigit() and len(members) <= 6:
                given[key] = int(members)
            else:
                bad(
                    key,
                    _(
                        "人数应为 0 或正整数（如 3）：请改正；不清楚可以留空，"
                        "要清除已登记的人数请填“清空”。"
                    ),
                )
    if len(problems) > before or area is None or not kind:
        return None
    return ParsedRow(row=row, area=area, kind=kind, name=name, given=given)


@dataclass(frozen=True)
class FieldChange:
    """One field of an existing place the import changes, as the preview shows it (contact
    fields masked; "" for empty)."""

    key: str
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class PlaceUpdate:
    place: Place  # the stored place with the row's values set
    row: int
    changes: list[FieldChange]


@dataclass(frozen=True)
class ImportPlan:
    create: list[Place]
    update: list[PlaceUpdate]
    unchanged: int
    # Per row number, the `updated_at` (ISO) of the place it matched, or None for a new place:
    # what the confirmation expects to find.
    versions: dict[int, str | None] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return len(self.create) + len(self.update) + self.unchanged


@dataclass(frozen=True)
class ImportResult:
    created: int
    updated: int
    unchanged: int


def _shown(key: str, value: Any) -> str:
    if value is None:
        return ""
    if key == "kind":
        return str(PlaceKind(value).label)
    if key == "contact_name":
        return masking.mask_name(str(value))
    if key == "contact_phone":
        return masking.mask_phone(str(value))
    return str(value)


def _version(place: Place) -> str:
    return place.updated_at.isoformat()


def _existing(parsed: Sequence[ParsedRow], *, lock: bool) -> dict[tuple[int, str], Place]:
    """The stored places the rows name, locked (in the caller's transaction) when `lock`."""
    found: dict[tuple[int, str], Place] = {}
    wanted = {(item.area.pk, item.name) for item in parsed}
    for start in range(0, len(parsed), CHUNK):
        chunk = parsed[start : start + CHUNK]
        qs = Place.objects.filter(
            area_id__in={item.area.pk for item in chunk}, name__in={item.name for item in chunk}
        ).order_by("pk")
        if lock:
            qs = qs.select_for_update()
        for place in qs:
            if (place.area_id, place.name) in wanted:
                found[(place.area_id, place.name)] = place
    return found


def place_import_check(
    *,
    actor: User,
    rows: Iterable[RawRow],
    lock: bool = False,
    expected: Mapping[int, str | None] | None = None,
) -> ImportPlan:
    """What importing `rows` would do, or `PlaceImportRejected` listing every bad row.

    `lock` locks the stored places the rows name (for the caller's transaction); `expected`
    (the plan's `versions` from the preview) refuses rows whose place changed since.
    """
    require_place_editor(actor)
    resolver = AreaResolver(actor)
    problems: list[Problem] = []
    parsed: list[ParsedRow] = []
    seen: dict[tuple[int, str], int] = {}
    for row in rows:
        item = _parse_row(row, resolver, problems)
        if item is None:
            continue
        key = (item.area.pk, item.name)
        if key in seen:
            problems.append(
                Problem(
                    row.number,
                    HEADERS["name"],
                    item.name,
                    _(
                        "与第 %(row)d 行重复（同一网格、同一名称）："
                        "请删去其中一行，或改成不同的门牌/名称。"
                    )
                    % {"row": seen[key]},
                    "name",
                )
            )
            continue
        seen[key] = row.number
        parsed.append(item)
    if problems:
        raise PlaceImportRejected(
            problems, bad_rows=len({p.row for p in problems if p.row is not None})
        )
    existing = _existing(parsed, lock=lock)
    if expected is not None:
        _refuse_changed_since_preview(parsed, existing, expected)
    create: list[Place] = []
    update: list[PlaceUpdate] = []
    versions: dict[int, str | None] = {}
    unchanged = 0
    for item in parsed:
        current = existing.get((item.area.pk, item.name))
        versions[item.row.number] = None if current is None else _version(current)
        if current is None:
            create.append(Place(area=item.area, kind=item.kind, name=item.name, **item.given))
            continue
        current.area = item.area  # the same row, already loaded: spares a query per place
        changes = []
        for name, value in {"kind": item.kind, **item.given}.items():
            old = getattr(current, name)
            if old != value:
                changes.append(
                    FieldChange(name, HEADERS[name], _shown(name, old), _shown(name, value))
                )
                setattr(current, name, value)
        if changes:
            update.append(PlaceUpdate(place=current, row=item.row.number, changes=changes))
        else:
            unchanged += 1
    return ImportPlan(create=create, update=update, unchanged=unchanged, versions=versions)


def _refuse_changed_since_preview(
    parsed: Sequence[ParsedRow],
    existing: Mapping[tuple[int, str], Place],
    expected: Mapping[int, str | None],
) -> None:
    problems = []
    for item in parsed:
        current = existing.get((item.area.pk, item.name))
        if (None if current is None else _version(current)) != expected.get(item.row.number):
            problems.append(
                Problem(
                    item.row.number,
                    HEADERS["name"],
                    item.name,
                    _(
                        "预览之后，有人修改或新登记了这个走访对象：为免覆盖，本次未导入任何数据。"
                        "请重新上传文件，核对预览后再确认。"
                    ),
                    "name",
                )
            )
    if problems:
        raise PlaceImportRejected(problems, bad_rows=len(problems))


def place_import_apply(
    *, actor: User, rows: Sequence[RawRow], expected: Mapping[int, str | None] | None = None
) -> ImportResult:
    """Locks the places the rows name, checks `rows` again against them (and against the
    preview's `expected` versions when given) and writes in one transaction: all, or none."""
    with transaction.atomic():
        plan = place_import_check(actor=actor, rows=rows, lock=True, expected=expected)
        now = clock.now()
        for place in plan.create:
            place.created_at = now
            place.updated_at = now
        fields = {change.key for item in plan.update for change in item.changes}
        for item in plan.update:
            item.place.updated_at = now
        try:
            with transaction.atomic():
                Place.objects.bulk_create(plan.create, batch_size=CHUNK)
                if plan.update:
                    Place.objects.bulk_update(
                        [item.place for item in plan.update],
                        sorted(fields | {"updated_at"}),
                        batch_size=CHUNK,
                    )
        except IntegrityError as error:
            raise file_problem(
                _("导入时有人同时录入了同名的走访对象，本次未导入任何数据：请重新上传同一文件。")
            ) from error
        audit_record(
            action=actions.IMPORT,
            actor=actor,
            target="places",
            detail={
                "kind": "places",
                "rows": len(rows),
                "created": len(plan.create),
                "updated": len(plan.update),
                "unchanged": plan.unchanged,
            },
        )
    return ImportResult(
        created=len(plan.create), updated=len(plan.update), unchanged=plan.unchanged
    )


def place_import(*, actor: User, upload: UploadedFile) -> ImportResult:
    """Reads, checks and writes an uploaded file at once (no preview): all rows or none."""
    require_place_editor(actor)
    return place_import_apply(actor=actor, rows=place_import_read(upload=upload))


# --- preview and confirmation ----------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    batch_id: str
    plan: ImportPlan


def _purge_expired() -> None:
    PlaceImportBatch.objects.filter(expires_at__lte=clock.now()).delete()


def place_import_preview(*, actor: User, upload: UploadedFile) -> Preview:
    """Reads and checks a file and keeps its rows for the confirmation, for this user only."""
    require_place_editor(actor)
    rows = place_import_read(upload=upload)
    plan = place_import_check(actor=actor, rows=rows)
    _purge_expired()  # stale batches of anyone go with the next import
    now = clock.now()
    batch = PlaceImportBatch.objects.create(
        id=secrets.token_urlsafe(32),
        user=actor,
        rows=[[*row.to_json(), plan.versions.get(row.number)] for row in rows],
        created_at=now,
        expires_at=now + BATCH_LIFETIME,
    )
    return Preview(batch_id=batch.pk, plan=plan)


def place_import_confirm(*, actor: User, batch_id: str) -> ImportResult:
    """Writes the rows the user previewed, if nothing they touch changed since; the batch is
    gone afterwards either way (a refused confirmation asks for the file again)."""
    require_place_editor(actor)
    try:
        with transaction.atomic():
            batch = (
                PlaceImportBatch.objects.select_for_update().filter(pk=batch_id, user=actor).first()
            )
            if batch is None:
                raise file_problem(_("确认信息无效或已经用过：请重新上传文件。"))
            if batch.expires_at <= clock.now():
                raise file_problem(_("预览已过期，请重新上传。"))
            try:
                rows = [RawRow.from_json(entry[:2]) for entry in batch.rows]
                expected = {int(entry[0]): entry[2] for entry in batch.rows}
            except (IndexError, TypeError, ValueError) as error:
                raise file_problem(_("确认信息无效或已经用过：请重新上传文件。")) from error
            result = place_import_apply(actor=actor, rows=rows, expected=expected)
            batch.delete()
    except PlaceImportRejected:
        PlaceImportBatch.objects.filter(pk=batch_id, user=actor).delete()
        _purge_expired()
        raise
    return result
