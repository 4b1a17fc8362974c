"""登记 and 马上就办: needs entering the ledger."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from uuid import UUID

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models.expressions import RawSQL
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.accounts.selectors import roles_over_area, user_roles
from wenxu.lib import clock, ids
from wenxu.lib.planned import planned_rows
from wenxu.needs import states
from wenxu.needs.exceptions import IdempotencyConflict, InvalidInput, NotPermitted
from wenxu.needs.models import Category, LedgerCounter, Need, NeedEvent
from wenxu.needs.services._core import (
    _append_event,
    _raise,
    _required_text,
    scrub_need_texts,
)
from wenxu.needs.services.disclosure import about_unit_errors
from wenxu.needs.states import Action, Outcome, Status
from wenxu.organisations.models import Area, Unit
from wenxu.residents.models import Requester

if TYPE_CHECKING:
    from wenxu.visits.models import Visit

# --------------------------------------------------------------------------- register


@dataclass(frozen=True)
class RequesterInput:
    name: str = ""
    phone: str = ""
    confidential: bool = False
    kind: str = Requester.Kind.PERSON
    id_number: str = ""
    address: str = ""


@dataclass(frozen=True)
class Origin:
    """Where a need came from beyond the form: the visit that raised it, and the client's UUID
    (with the digest of what the client sent) when a field app or the offline outbox sent it."""

    visit: "Visit | None" = None
    client_uuid: UUID | None = None
    payload_hash: str = ""


def _next_number(year: int) -> str:
    """The year's next ledger number: one `UPDATE … RETURNING`, which locks the counter's row
    until the registration commits (so numbers are issued in commit order, without gaps unless
    a registration rolls back). The first registration of a year creates the row. SQLite's;
    PostgreSQL numbers the need in its INSERT (`_insert_numbered`)."""
    table = connection.ops.quote_name(LedgerCounter._meta.db_table)
    sql = f"UPDATE {table} SET last = last + 1 WHERE year = %s RETURNING last"  # noqa: S608
    with connection.cursor() as cursor:
        cursor.execute(sql, [year])
        row = cursor.fetchone()
        if row is None:
            LedgerCounter.objects.get_or_create(year=year)  # a racing first one: either wins
            cursor.execute(sql, [year])
            row = cursor.fetchone()
    assert row is not None
    return ids.ledger_number(year, int(row[0]))


def _numbered_last() -> bool:
    """Whether a new need's row is written last in its transaction, numbered by the database
    function `wenxu_next_ledger_number` in its own INSERT (PostgreSQL, ADR 0036), rather than
    written first with a number from `_next_number` (SQLite, where one writer at a time holds
    the whole database anyway)."""
    return connection.vendor == "postgresql"


def _new_tracking_code() -> tuple[str, int | None]:
    """A random code no need holds yet (a clash is rare, but the column is unique) and, where
    the need's row is written last (`_numbered_last`), the id it will have: drawn from the
    table's sequence in the same statement, so that what refers to the need can be written
    before it."""
    table = connection.ops.quote_name(Need._meta.db_table)
    # Plain SQL like `_next_number`: on the intake path the ORM's query building costs more
    # than the lookup itself.
    taken = f"SELECT 1 FROM {table} WHERE tracking_code = %s"  # noqa: S608
    with connection.cursor() as cursor:
        code = ids.tracking_code()
        pk = None
        if _numbered_last():
            ((pk, clash),) = planned_rows(
                f"SELECT nextval(pg_get_serial_sequence(%s, 'id')), EXISTS ({taken})",
                [Need._meta.db_table, code],
            )
        else:
            cursor.execute(taken, [code])
            clash = cursor.fetchone() is not None
        while clash:
            code = ids.tracking_code()
            cursor.execute(taken, [code])
            clash = cursor.fetchone() is not None
    return code, pk


def _validate_register(
    *,
    actor: User | None,
    title: str,
    description: str,
    kind: str,
    source: str,
    urgency: str,
    nature_tags: Iterable[str],
    area: Area | None,
    category: Category | None,
    handling: str,
) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    _required_text(errors, "title", title, _("标题"))
    _required_text(errors, "description", description, _("诉求内容"))
    if len(title) > 200:
        errors.setdefault("title", []).append(_("标题最多 200 字。"))
    if kind not in states.Kind.values:
        errors["kind"] = [_("诉求类型无效。")]
    if source not in states.Source.values:
        errors["source"] = [_("来源无效。")]
    if urgency not in Need.Urgency.values:
        errors["urgency"] = [_("紧急程度无效。")]
    if handling not in states.Handling.values:
        errors["handling"] = [_("办理方式无效。")]
    unknown = [tag for tag in nature_tags if tag not in states.NatureTag.values]
    if unknown:
        errors["nature_tags"] = [_("未知的急难愁盼标签：%(tags)s") % {"tags": ", ".join(unknown)}]
    if area is None:
        errors["area"] = [_("请选择诉求所属区域。")]
    elif actor is not None and not roles_over_area(actor, area.path) & {
        states.OFFICER,
        states.DISPATCHER,
    }:
        # (No actor: a resident's online submission, which checks its area itself.)
        errors["area"] = [_("该区域不在您的登记范围内。")]
    if category is not None and not category.active:
        errors["category"] = [_("该分类已停用，请另选分类。")]
    return errors


@transaction.atomic
def need_register(
    *,
    actor: User,
    title: str,
    description: str,
    kind: str,
    source: str,
    area: Area | None,
    category: Category | None = None,
    urgency: str = "normal",
    nature_tags: Iterable[str] = (),
    address: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    requester: RequesterInput | None = None,
    handling: str = states.Handling.ROUTINE,
    origin: "Origin | None" = None,
    about_unit: Unit | None = None,
) -> Need:
    """登记: a new need enters the ledger as `registered`.

    `about_unit`: the unit a criticism, complaint or report is about; its staff do not see the
    need (services.disclosure)."""
    if not actor.is_active or not user_roles(actor) & {states.OFFICER, states.DISPATCHER}:
        raise NotPermitted(_("只有走访干部、网格员或调度人员可以登记诉求。"))
    tags = list(dict.fromkeys(nature_tags))
    errors = _validate_register(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        urgency=urgency,
        nature_tags=tags,
        area=area,
        category=category,
        handling=handling,
    )
    if handling == states.Handling.ON_THE_SPOT:
        errors.setdefault("handling", []).append(_("马上就办请使用“现场办结”登记。"))
    errors.update(about_unit_errors(kind=kind, about_unit=about_unit))
    _raise(errors)
    with _new_need(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        area=area,
        category=category,
        urgency=urgency,
        nature_tags=tags,
        address=address,
        latitude=latitude,
        longitude=longitude,
        requester=requester,
        handling=handling,
        status=Status.REGISTERED,
        origin=origin,
        about_unit=about_unit,
    ) as need:
        event = _append_event(
            need=need,
            actor=actor,
            action=Action.REGISTER,
            from_status="",
            to_status=need.status,
            first=True,
            data={"about_unit": about_unit.pk} if about_unit is not None else None,
        )
    _keep_registered_event(need, event)
    return need


# Where a registration leaves its event on the need it returns (see `registered_event`).
_REGISTERED_EVENT = "_wenxu_registered_event"


def _keep_registered_event(need: Need, event: NeedEvent) -> None:
    need.__dict__[_REGISTERED_EVENT] = event


def registered_event(need: Need) -> NeedEvent | None:
    """The event that registered `need`, when `need` is the object `need_register` or
    `need_register_on_the_spot` just returned (else None): at that moment the need's only
    event, so that the caller can show it without reading it back."""
    event = need.__dict__.get(_REGISTERED_EVENT)
    return event if isinstance(event, NeedEvent) else None


@contextmanager
def _new_need(
    *,
    requester: RequesterInput | None,
    origin: "Origin | None",
    **values: Any,
) -> Iterator[Need]:
    """A new need, validated, with its id and its requester saved, for the block to write what
    refers to it (its first events, attachments); its own row is in the database when the
    block ends.

    On PostgreSQL the row is written as the block ends, numbered in that INSERT: the year's
    ledger counter is then locked from the last statement of the registration to its commit
    only (ADR 0036), where the number drawn first held it while everything after it ran. The
    foreign keys to the need are checked at the commit, so rows that name it may come first."""
    now = clock.now()
    if origin is not None:
        values.update(
            visit=origin.visit,
            client_uuid=origin.client_uuid,
            client_payload_hash=origin.payload_hash,
        )
    tracking_code, pk = _new_tracking_code()
    need = Need(
        tracking_code=tracking_code,
        recorded_by=values.pop("actor"),
        registered_at=now,
        **values,
    )
    need.title = need.title.strip()
    need.description = need.description.strip()
    if requester is not None and (requester.name.strip() or requester.phone.strip()):
        person = Requester(
            kind=requester.kind,
            name=requester.name.strip(),
            phone=requester.phone.strip(),
            id_number=requester.id_number.strip(),
            address=requester.address.strip(),
            confidential=requester.confidential,
        )
        try:
            # Its one constraint (the kind) repeats the field's choices, checked here anyway.
            person.full_clean(validate_constraints=False)
        except ValidationError as exc:
            raise InvalidInput({"requester": exc.messages}) from exc
        person.save()
        need.requester = person
        # What was typed before the requester was known: their own numbers kept masked only.
        scrub_need_texts(need)
    try:
        # The database enforces the check constraints; validating them here costs a query each.
        # `client_uuid` too: its uniqueness is the database's to enforce, so that a racing
        # duplicate meets the constraint (and is recognised as a replay) instead of a 422.
        # A foreign key set to a saved object (the area and category the caller resolved, the
        # actor, the requester just saved, the visit) exists: validating it would read it again.
        need.full_clean(
            exclude=["number", "tracking_code", "client_uuid", *_loaded_relations(need)],
            validate_constraints=False,
        )
    except ValidationError as exc:
        raise InvalidInput(exc.message_dict) from exc
    year = clock.today().year
    if pk is None:
        # The counter's row stays locked until the commit: taken last before the INSERT.
        need.number = _next_number(year)
        need.save()
        yield need
        return
    need.pk = pk  # after full_clean, which would look the id up as a unique value
    yield need
    _insert_numbered(need, year)


def _insert_numbered(need: Need, year: int) -> None:
    """INSERT `need` (its id drawn already) with the year's next ledger number, which the
    database function `wenxu_next_ledger_number` takes from the counter in the same statement
    (the counter's row is locked from there to the commit); the INSERT returns it
    (`wenxu.lib.inserts`)."""
    need.number = RawSQL("wenxu_next_ledger_number(%s)", (year,))
    need.save(force_insert=True)


def _loaded_relations(need: Need) -> list[str]:
    """The names of `need`'s foreign keys that hold a saved object (not an id alone, not None)
    and limit nothing else (`limit_choices_to` would still need the query)."""
    names = []
    for field in Need._meta.concrete_fields:
        remote = field.remote_field
        if not field.many_to_one or remote is None or remote.limit_choices_to:
            continue
        if field.is_cached(need):  # type: ignore[attr-defined]
            related = field.get_cached_value(need)  # type: ignore[attr-defined]
            if related is not None and related.pk is not None and not related._state.adding:
                names.append(field.name)
    return names


@transaction.atomic
def need_register_on_the_spot(
    *,
    actor: User,
    title: str,
    description: str,
    kind: str,
    source: str,
    area: Area | None,
    reply_text: str,
    confirmed: bool = False,
    satisfaction: str = "",
    category: Category | None = None,
    urgency: str = "normal",
    nature_tags: Iterable[str] = (),
    address: str = "",
    latitude: Decimal | None = None,
    longitude: Decimal | None = None,
    requester: RequesterInput | None = None,
    origin: "Origin | None" = None,
    about_unit: Unit | None = None,
) -> Need:
    """马上就办: solved during the visit; closed at once when the resident confirms on the spot."""
    if not actor.is_active or states.OFFICER not in user_roles(actor):
        raise NotPermitted(_("只有走访干部或网格员可以现场办结。"))
    tags = list(dict.fromkeys(nature_tags))
    errors = _validate_register(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        urgency=urgency,
        nature_tags=tags,
        area=area,
        category=category,
        handling=states.Handling.ON_THE_SPOT,
    )
    if area is not None and states.OFFICER not in roles_over_area(actor, area.path):
        errors["area"] = [_("只有负责该区域的走访干部或网格员可以现场办结。")]
    proof = _required_text(errors, "reply_text", reply_text, _("现场办理情况"))
    if confirmed and satisfaction not in states.Satisfaction.values:
        errors["satisfaction"] = [_("群众现场确认时请选择满意度。")]
    errors.update(about_unit_errors(kind=kind, about_unit=about_unit))
    _raise(errors)
    now = clock.now()
    status = Status.CLOSED if confirmed else Status.REPLIED
    with _new_need(
        actor=actor,
        title=title,
        description=description,
        kind=kind,
        source=source,
        area=area,
        category=category,
        urgency=urgency,
        nature_tags=tags,
        address=address,
        latitude=latitude,
        longitude=longitude,
        requester=requester,
        handling=states.Handling.ON_THE_SPOT,
        status=status,
        origin=origin,
        about_unit=about_unit,
        outcome=Outcome.RESOLVED,
        reply_text=proof,
        replied_at=now,
        responded_at=now,
        **(
            {
                "callback_resolved": states.CallbackResolved.YES,
                "callback_satisfaction": satisfaction,
                "callback_channel": states.CallbackChannel.ON_SITE,
                "callback_at": now,
                "closed_at": now,
            }
            if confirmed
            else {}
        ),
    ) as need:
        event = _append_event(
            need=need,
            actor=actor,
            action=Action.REGISTER_ON_THE_SPOT,
            from_status="",
            to_status=status,
            first=True,
            note=proof,
            data={
                "confirmed": confirmed,
                "satisfaction": satisfaction,
                **({"about_unit": about_unit.pk} if about_unit is not None else {}),
            },
        )
    _keep_registered_event(need, event)
    return need


def need_replay(*, actor: User, client_uuid: UUID, payload_hash: str) -> Need | None:
    """The need a client already created with `client_uuid`, when this is a replay of it.

    None when the UUID is new. A UUID that names a need with other content, or one another
    user sent, is refused: the client must not reuse it for a different record.
    """
    existing = Need.objects.filter(client_uuid=client_uuid).first()
    if existing is None:
        return None
    if existing.recorded_by_id != actor.pk or existing.client_payload_hash != payload_hash:
        raise IdempotencyConflict()
    return existing
