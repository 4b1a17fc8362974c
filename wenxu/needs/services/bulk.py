"""登记 in bulk: many needs in one call, for an imported ledger (issue #10, ADR 0022).

`need_register_batch` registers a list of needs, and assigns the ones given a unit, with the
checks and the results of calling `need_register` (at each need's own registration time) and
then `need_assign` (at the time of the call) for each, one after the other, in one
transaction, all or nothing. What differs is only how the rows get written: per chunk of
`CHUNK_SIZE` needs, one `bulk_create` each for the requesters, the needs and their events, and
one query for the tracking codes, instead of about ten queries a need. So:

- the same checks in the same order, row by row (`need_register`'s rights and inputs, the
  requester's and the need's field validation, then `need_assign`'s rights, units and state):
  the first row that fails raises `RegistrationRejected` naming it (its index in the input and
  the service's own error), and nothing is written;
- ledger numbers from the year's counter (`LedgerCounter`, under its row lock), a block per
  chunk and year, in input order, so numbers are gap-free as with one call per need;
- tracking codes from `ids.tracking_code`, unique among all needs;
- requesters encrypted with their blind indexes (`RequesterQuerySet.bulk_create`), the need's
  texts scrubbed of the requester's own phone and ID number as `need_register` scrubs them;
- deadlines from the deadline rules and the work calendar of the moment of the call, as
  `need_assign` stores them (status assigned, version 2);
- the same `NeedEvent`s (register at the need's registration time, then assign) with the same
  data, and their notifications queued after the commit (one task per chunk:
  `deliver_need_events`).

Two things stay with the caller. Events dated in the past (a registration time from a file)
committed late could be skipped by a rollup catch-up running meanwhile: a caller writing such
events holds the rollup cursor's row lock for its transaction first, as the ledger import does.
And there is no audit entry per need (none of the per-need services writes one either): the
caller records its one entry for the whole batch.
"""

import secrets
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import islice
from operator import attrgetter
from typing import Any, Generic, TypeVar

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, connection, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import signals
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from wenxu.accounts.models import User
from wenxu.accounts.selectors import roles_over_area, user_roles
from wenxu.lib import clock, ids
from wenxu.needs import deadlines, states
from wenxu.needs.exceptions import DomainError, IllegalTransition, InvalidInput, NotPermitted
from wenxu.needs.models import Category, LedgerCounter, Need, NeedEvent, Urgency
from wenxu.needs.services._core import _may, _raise, _required_text, actor_roles
from wenxu.needs.services.disclosure import check_units_not_criticised
from wenxu.needs.services.handling import _check_units
from wenxu.needs.services.register import RequesterInput, _validate_register
from wenxu.needs.states import Action, Status
from wenxu.organisations.models import Area, Unit
from wenxu.residents.models import Requester
from wenxu.residents.scrub import requester_scrubber

CHUNK_SIZE = 1000
# `need_register`'s own texts that may hold the requester's numbers at registration.
_SCRUBBED = ("title", "description", "address")
# The need's fields whose values come from the input, validated row by row as `need_register`'s
# `full_clean` validates them. The others hold the service's own values (the status, version,
# defaults, numbers checked for uniqueness by the database), and the foreign keys objects this
# batch holds (loaded, or created in this transaction), whose existence is the database's to
# enforce rather than a query a row (`ForeignKey.validate`).
_VALIDATED = (
    "title",
    "description",
    "kind",
    "source",
    "urgency",
    "nature_tags",
    "address",
    "registered_at",
)
_NOT_VALIDATED = {f.name for f in Need._meta.fields if f.name not in _VALIDATED}
_REQUESTER_NOT_VALIDATED = {"id", "phone_index", "id_number_index", "created_at"}


def _clean_fields(instance: models.Model, exclude: set[str]) -> None:
    """`instance.clean_fields(exclude=exclude)`, the same checks, errors and cleaned values,
    with less work a row: the fields to clean listed once per model rather than all of them
    walked per row, and a value of a field with choices (kind, source, urgency) cleaned once:
    `CharField.clean` of a string is a function of the value alone (it is kept as it is, or
    refused), so a value it passed once passes again unchanged."""
    fields = _fields_to_clean(type(instance), frozenset(exclude))
    errors: dict[str, list[ValidationError]] = {}
    for field, by_choice in fields:
        raw = getattr(instance, field.attname)
        if field.blank and raw in field.empty_values:
            continue
        if by_choice and raw.__class__ is str and raw in _PASSED[field]:
            continue
        try:
            setattr(instance, field.attname, field.clean(raw, instance))
        except ValidationError as error:
            errors[field.name] = error.error_list
            continue
        if by_choice and raw.__class__ is str:
            _PASSED[field].add(raw)
    if errors:
        raise ValidationError(errors)


# Per field with choices, the strings its `clean` passed (a few each).
_PASSED: dict[models.Field[Any, Any], set[str]] = {}


@cache
def _fields_to_clean(
    model: type[models.Model], exclude: frozenset[str]
) -> list[tuple[models.Field[Any, Any], bool]]:
    """The fields `clean_fields(exclude=exclude)` cleans, in its order, and whether a passed
    value may be remembered (a `CharField` with choices and nothing else to check)."""
    fields = []
    for field in model._meta.fields:
        if field.name in exclude or field.generated:
            continue
        by_choice = type(field) is models.CharField and bool(field.choices)
        if by_choice:
            _PASSED.setdefault(field, set())
        fields.append((field, by_choice))
    return fields


@dataclass(frozen=True)
class Registration:
    """One need: `need_register`'s arguments, when it was registered, whom to assign it to."""

    title: str
    description: str
    kind: str
    source: str
    area: Area | None
    category: Category | None = None
    urgency: str = Urgency.NORMAL
    nature_tags: tuple[str, ...] = ()
    address: str = ""
    requester: RequesterInput | None = None
    # The registration time (None: the time of the call); the ledger number is of its year.
    registered_at: datetime | None = None
    # Assign at once to this lead unit, at the time of the call (`need_assign`); None: don't.
    assign_to: Unit | None = None


class RegistrationRejected(DomainError):
    """Registration `index` (of the input, from 0) failed a check; nothing was written.
    `error` is what `need_register` or `need_assign` would have raised for it."""

    def __init__(self, index: int, error: DomainError) -> None:
        self.index = index
        self.error = error
        self.status_code = error.status_code
        self.code = error.code
        super().__init__(error.message)


M = TypeVar("M", bound=models.Model)


class Positional(Generic[M]):
    """Makes instances of `model` from the values of all its fields in order, as Django builds
    the rows it reads (`Model.from_db`): given keywords, the constructor looks up the default
    of every field not given (most of a need's 53) and checks every related object given,
    which took as long as the rest of a row's checks. Foreign keys are given as ids
    (`area_id`); `constant` are the values every instance starts from.

    When that changes nothing, the instance is made as that constructor makes it from all its
    fields' values (a `ModelState`, then each value as the field's attribute), without its
    `setattr` through a descriptor per field and its two signals, a fifth of the import's
    checking time: when no `pre_init` or `post_init` receiver listens (when this is made) and
    every field's attribute is a plain one (`DeferredAttribute`, or a foreign key's id, which
    on a new instance has no related object cached to forget)."""

    _PLAIN_ATTRIBUTES = (DeferredAttribute, ForeignKeyDeferredAttribute)

    def __init__(self, model: type[M], **constant: Any) -> None:
        fields = model._meta.concrete_fields
        self.model = model
        self.index = {field.attname: i for i, field in enumerate(fields)}
        self.names = [field.attname for field in fields]
        self.direct = not (
            signals.pre_init.has_listeners(model) or signals.post_init.has_listeners(model)
        ) and all(type(getattr(model, name, None)) in self._PLAIN_ATTRIBUTES for name in self.names)
        prototype = model(**constant)
        self.values = [getattr(prototype, field.attname) for field in fields]
        # Defaults made anew for each instance (a new list or dict), as the constructor does.
        self.fresh = [
            (i, f) for i, f in enumerate(fields) if f.has_default() and callable(f.default)
        ]

    def __call__(self, **values: Any) -> M:
        row = self.values.copy()
        for i, field in self.fresh:
            if field.attname not in values:
                row[i] = field.get_default()
        for name, value in values.items():
            row[self.index[name]] = value
        if not self.direct:
            return self.model(*row)
        instance = self.model.__new__(self.model)
        instance._state = ModelState()
        instance.__dict__.update(zip(self.names, row, strict=True))
        return instance


@dataclass
class _Batch:
    """What every row of one call shares: the actor's rights by area, the rules, the clock."""

    actor: User
    now: datetime
    calendar: Any = None
    rights: dict[str, bool] | None = None
    dues: dict[tuple[int | None, str], dict[str, Any]] | None = None
    checks: dict[tuple[Any, ...], dict[str, list[str]]] | None = None
    labels: dict[str, str] | None = None
    area_roles: dict[str, frozenset[str]] | None = None
    needs: Positional[Need] | None = None
    events: Positional[NeedEvent] | None = None

    def need(self, **values: Any) -> Need:
        """A need as `need_register` makes it, before its checks."""
        if self.needs is None:
            self.needs = Positional(
                Need,
                recorded_by=self.actor,
                handling=states.Handling.ROUTINE,
                status=Status.REGISTERED,
            )
        return self.needs(**values)

    def event(self, **values: Any) -> NeedEvent:
        """An event of the actor, note blank."""
        if self.events is None:
            self.events = Positional(NeedEvent, actor=self.actor, note="")
        return self.events(**values)

    def register_errors(self, item: Registration, tags: list[str]) -> dict[str, list[str]]:
        """`need_register`'s input checks (`_validate_register`), its rules for everything but
        the texts asked once per combination of kind, source, urgency, tags, the actor's roles
        over the area and whether the category is given and active (all that its rules read of
        the area and the category: keyed by the area itself, it ran for most rows of a file of
        many villages); the texts' own two rules (required, a title of at most 200) row by row."""
        if self.checks is None:
            self.checks = {}
        area, category = item.area, item.category
        key = (
            item.kind,
            item.source,
            item.urgency,
            tuple(tags),
            self.roles_over(area),
            category.active if category else None,
        )
        rest = self.checks.get(key)
        if rest is None:
            rest = _validate_register(
                actor=self.actor,
                title="-",
                description="-",
                kind=item.kind,
                source=item.source,
                urgency=item.urgency,
                nature_tags=tags,
                area=area,
                category=category,
                handling=states.Handling.ROUTINE,
            )
            self.checks[key] = rest
        errors: dict[str, list[str]] = {}
        _required_text(errors, "title", item.title, self.words("title"))
        _required_text(errors, "description", item.description, self.words("description"))
        if len(item.title) > 200:
            errors.setdefault("title", []).append(_("标题最多 200 字。"))
        for name, messages in rest.items():
            errors[name] = [*errors.get(name, []), *messages]
        return errors

    def roles_over(self, area: Area | None) -> frozenset[str] | None:
        """The actor's roles over `area` (None: no area), once per area."""
        if area is None:
            return None
        if self.area_roles is None:
            self.area_roles = {}
        found = self.area_roles.get(area.path)
        if found is None:
            found = self.area_roles[area.path] = frozenset(roles_over_area(self.actor, area.path))
        return found

    def words(self, name: str) -> str:
        if self.labels is None:  # (translated once, not twice a row)
            self.labels = {"title": _("标题"), "description": _("诉求内容")}
        return self.labels[name]

    def may_assign(self, area: Area) -> bool:
        """`need_assign`'s right over a need just registered by the actor in `area`."""
        if self.rights is None:
            self.rights = {}
        found = self.rights.get(area.path)
        if found is None:
            prototype = Need(area=area, recorded_by=self.actor, status=Status.REGISTERED)
            found = _may(Action.ASSIGN, actor_roles(self.actor, prototype))
            self.rights[area.path] = found
        return found

    def due(self, category: Category | None, urgency: str) -> dict[str, Any]:
        """The deadline fields `need_assign` stores now, by the rule of category and urgency."""
        if self.dues is None:
            # (the calendar first: the writer thread reads `dues` once it is set)
            self.calendar = deadlines.current_calendar()
            self.dues = {}
        key = (category.pk if category else None, urgency)
        found = self.dues.get(key)
        if found is None:
            rule = deadlines.rule_for(category=category, urgency=urgency)
            response_due, p1 = deadlines.due_after(
                self.now, rule.response_value, rule.response_unit, self.calendar
            )
            resolve_due, p2 = deadlines.due_after(
                self.now, rule.resolve_value, rule.resolve_unit, self.calendar
            )
            found = {
                "response_due": response_due,
                "resolve_due": resolve_due,
                "provisional": p1 or p2,
                "calendar_version": self.calendar.version,
            }
            self.dues[key] = found
        return found


@dataclass
class _Row:
    index: int
    registration: Registration
    moment: datetime
    person: Requester | None
    need: Need


def _chunks(items: Iterable[Registration], size: int) -> Iterator[list[Registration]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


@transaction.atomic
def need_register_batch(
    *,
    actor: User,
    registrations: Iterable[Registration],
    chunk_size: int | None = None,
    written: Callable[[list[int]], None] | None = None,
) -> list[int]:
    """登记 (and 交办 where asked) of every registration, in order; the new needs' ids.

    All or nothing: `RegistrationRejected` for the first row that fails. Read in chunks, so
    `registrations` may be a generator; `written` is called with each chunk's new ids (in the
    transaction; on PostgreSQL on the writer thread, see `_Writer`), for a caller that records
    something per need as they come."""
    if not actor.is_active or not user_roles(actor) & {states.OFFICER, states.DISPATCHER}:
        raise NotPermitted(_("只有走访干部、网格员或调度人员可以登记诉求。"))
    batch = _Batch(actor=actor, now=clock.now())
    need_ids: list[int] = []

    def write(rows: list[_Row]) -> None:
        ids_of_chunk = _write_rows(batch, rows)
        if written is not None:
            written(ids_of_chunk)
        need_ids.extend(ids_of_chunk)

    start = 0
    with _writing(connections[DEFAULT_DB_ALIAS]) as submit:
        for chunk in _chunks(registrations, chunk_size or CHUNK_SIZE):
            rows = [_checked_row(batch, start + offset, item) for offset, item in enumerate(chunk)]
            submit(write, rows)
            start += len(chunk)
    return need_ids


_Job = Callable[[list[_Row]], None]


class _Writer:
    """Writes one chunk at a time, in order, on a thread of its own, while the caller's thread
    checks and builds the next: PostgreSQL's work on a chunk (the COPY, its indexes and
    foreign-key checks) and the Python of the next then run at the same time instead of one
    after the other (psycopg releases the GIL while it waits for the server).

    The thread uses the caller's own connection (`inc_thread_sharing`, and made the thread's
    `connections[alias]`, so the ORM there uses it too), hence the same transaction: all or
    nothing as before. psycopg's connection lock keeps the two threads' statements apart (a
    COPY holds it to its end). At most one chunk is in flight: `submit` waits for the one
    before and raises its error, so chunks are numbered, written and recorded in input order,
    and an error surfaces at the latest when the next chunk has been checked."""

    def __init__(self, db: BaseDatabaseWrapper) -> None:
        self.db = db
        self.thread: threading.Thread | None = None
        self.error: BaseException | None = None

    def submit(self, job: _Job, rows: list[_Row]) -> None:
        self.wait()
        self.thread = threading.Thread(
            target=self._run, args=(job, rows), name="need_register_batch", daemon=True
        )
        self.thread.start()

    def _run(self, job: _Job, rows: list[_Row]) -> None:
        alias = self.db.alias
        connections[alias] = self.db
        try:
            job(rows)
        except BaseException as error:  # (raised on the caller's thread by `wait`)
            self.error = error
        finally:
            del connections[alias]  # (not closed: it is the caller's)

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()
            self.thread = None

    def wait(self) -> None:
        self.join()
        if self.error is not None:
            error, self.error = self.error, None
            raise error


@contextmanager
def _writing(db: BaseDatabaseWrapper) -> Iterator[Callable[[_Job, list[_Row]], None]]:
    """`submit(job, rows)`: on PostgreSQL through a `_Writer`, with foreign keys checked as
    each statement ends (`SET CONSTRAINTS ALL IMMEDIATE`) instead of all at the commit, so
    their checks overlap the next chunk's Python too. Elsewhere (SQLite: one writer at a time)
    the job runs at once on this thread.

    Nothing leaves here while a chunk is being written: on any error the chunk in flight is
    waited for, and its own error, the earlier in input order, is the one raised."""
    if db.vendor != "postgresql":
        yield lambda job, rows: job(rows)
        return
    writer = _Writer(db)
    db.inc_thread_sharing()
    try:
        with db.cursor() as cursor:
            # (Every deferrable constraint is a foreign key, initially deferred; a chunk is
            # written parents first.)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        try:
            yield writer.submit
        except BaseException:
            writer.join()
            if writer.error is not None:
                raise writer.error from None
            raise
        writer.wait()
        with db.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    finally:
        writer.join()
        db.dec_thread_sharing()


def _write_rows(batch: _Batch, rows: list[_Row]) -> list[int]:
    """Writes a chunk of checked rows: numbers, tracking codes, requesters, needs, events."""
    _number(rows)
    for row, code in zip(rows, _tracking_codes(len(rows)), strict=True):
        row.need.tracking_code = code
    people = [row.person for row in rows if row.person is not None]
    for person in people:
        person.refresh_pii_indexes()  # (what `Requester.objects.bulk_create` does first)
    insert_rows(Requester, people)
    for row in rows:
        if row.person is not None:
            row.need.requester_id = row.person.pk  # now saved
    insert_rows(Need, [row.need for row in rows])
    events: list[NeedEvent] = []
    for row in rows:
        need = row.need
        events.append(
            batch.event(
                need_id=need.pk,
                seq=1,
                action=Action.REGISTER,
                from_status="",
                to_status=Status.REGISTERED,
                data={"lead_unit": None},
                created_at=row.moment,
            )
        )
        if row.registration.assign_to is not None:
            due = batch.due(row.registration.category, need.urgency)
            events.append(
                batch.event(
                    need_id=need.pk,
                    seq=2,
                    action=Action.ASSIGN,
                    from_status=Status.REGISTERED,
                    to_status=Status.ASSIGNED,
                    data={
                        "lead_unit": need.lead_unit_id,
                        "co_units": [],
                        "response_due": due["response_due"].isoformat(),
                        "resolve_due": due["resolve_due"].isoformat(),
                        "provisional": due["provisional"],
                        "calendar_version": due["calendar_version"],
                    },
                    created_at=batch.now,
                )
            )
    insert_rows(NeedEvent, events)
    event_ids = [event.pk for event in events]
    transaction.on_commit(lambda: deliver_need_events.enqueue(event_ids))
    return [row.need.pk for row in rows]


def _checked_row(batch: _Batch, index: int, item: Registration) -> _Row:
    """The row's need (and requester) built and checked as `need_register` and `need_assign`
    check them, in their order; nothing saved yet."""
    tags = list(dict.fromkeys(item.nature_tags))
    try:
        _raise(batch.register_errors(item, tags))
        moment = item.registered_at or batch.now
        need = batch.need(
            registered_at=moment,
            title=item.title.strip(),
            description=item.description.strip(),
            kind=item.kind,
            source=item.source,
            area_id=item.area.pk if item.area is not None else None,
            category_id=item.category.pk if item.category is not None else None,
            urgency=item.urgency,
            nature_tags=tags,
            address=item.address,
        )
        person = _person(item.requester)
        if person is not None:
            # What was typed before the requester was known: their own numbers kept masked only
            # (`scrub_need_texts`, with the requester about to be saved).
            scrub = requester_scrubber(
                phone=person.phone, id_number=person.id_number, hidden=person.confidential
            )
            for name in _SCRUBBED:
                setattr(need, name, scrub(getattr(need, name)))
        try:
            _clean_fields(need, _NOT_VALIDATED)
        except ValidationError as exc:
            raise InvalidInput(exc.message_dict) from exc
        if item.assign_to is not None:
            _assign(batch, need, item)
    except DomainError as error:
        raise RegistrationRejected(index, error) from error
    return _Row(index=index, registration=item, moment=moment, person=person, need=need)


@cache
def _requesters() -> Positional[Requester]:
    return Positional(Requester)


def _person(requester: RequesterInput | None) -> Requester | None:
    if requester is None or not (requester.name.strip() or requester.phone.strip()):
        return None
    person = _requesters()(
        kind=requester.kind,
        name=requester.name.strip(),
        phone=requester.phone.strip(),
        id_number=requester.id_number.strip(),
        address=requester.address.strip(),
        confidential=requester.confidential,
    )
    try:
        # `full_clean` of the values from the input: the kind's check constraint is its field's
        # choices (no query a row), and the other fields (blind indexes, time, id) and unique
        # checks (none but the id's) are the service's and the database's.
        _clean_fields(person, _REQUESTER_NOT_VALIDATED)
        person.clean()
    except ValidationError as exc:
        raise InvalidInput({"requester": exc.messages}) from exc
    return person


def _assign(batch: _Batch, need: Need, item: Registration) -> None:
    """`need_assign` of the need just registered (`item`'s): its checks, then its fields
    (version 2)."""
    lead_unit = item.assign_to
    assert item.area is not None
    assert lead_unit is not None
    if not batch.may_assign(item.area):
        raise NotPermitted(
            _("您的角色不能对该诉求执行“%(action)s”。") % {"action": Action.ASSIGN.label}
        )
    if not states.allowed(Action.ASSIGN, need.status):
        raise IllegalTransition(
            _("诉求当前状态为“%(status)s”，不能执行“%(action)s”。")
            % {"status": Status(need.status).label, "action": Action.ASSIGN.label}
        )
    errors: dict[str, list[str]] = {}
    _check_units(errors, lead_unit, ())
    check_units_not_criticised(errors, need, lead_unit=lead_unit)
    _raise(errors)
    due = batch.due(item.category, need.urgency)
    need.lead_unit_id = lead_unit.pk
    need.assigned_at = batch.now
    need.response_due = due["response_due"]
    need.resolve_due = due["resolve_due"]
    need.original_resolve_due = due["resolve_due"]
    need.due_provisional = due["provisional"]
    need.calendar_version = due["calendar_version"]
    need.status = Status.ASSIGNED
    need.version = 2


def _number(rows: list[_Row]) -> None:
    """Ledger numbers in input order, each year's as a block from its counter (row-locked)."""
    zone = timezone.get_current_timezone()
    years = [timezone.localdate(row.moment, zone).year for row in rows]
    following: dict[int, int] = {}
    for year, count in Counter(years).items():
        LedgerCounter.objects.get_or_create(year=year)
        counter = LedgerCounter.objects.select_for_update().get(year=year)
        following[year] = counter.last + 1
        counter.last += count
        counter.save(update_fields=["last"])
    for row, year in zip(rows, years, strict=True):
        row.need.number = ids.ledger_number(year, following[year])
        following[year] += 1


def _fresh_codes(count: int) -> list[str]:
    """`count` codes as `ids.tracking_code` draws them (its alphabet and length, each character
    uniform from the system's random source), from one `secrets.token_bytes` a chunk instead
    of a system call a character: bytes past the alphabet's last whole multiple are skipped."""
    alphabet, length = ids.TRACKING_ALPHABET, ids.TRACKING_LENGTH
    size = len(alphabet)
    limit = 256 - 256 % size
    chars: list[str] = []
    while len(chars) < count * length:
        chars += [alphabet[b % size] for b in secrets.token_bytes(count * length + 64) if b < limit]
    return ["".join(chars[i * length : (i + 1) * length]) for i in range(count)]


def _taken_codes(codes: list[str]) -> set[str]:
    if connection.vendor != "postgresql":
        return set(
            Need.objects.filter(tracking_code__in=codes).values_list("tracking_code", flat=True)
        )
    table = connection.ops.quote_name(Need._meta.db_table)
    with connection.cursor() as cursor:  # one array parameter, not a thousand
        cursor.execute(
            f"SELECT tracking_code FROM {table} WHERE tracking_code = ANY(%s)",  # noqa: S608
            [codes],
        )
        return {code for (code,) in cursor.fetchall()}


def _tracking_codes(count: int) -> list[str]:
    """`count` new tracking codes, unique among themselves and every need's."""
    codes: list[str] = []
    while len(codes) < count:
        fresh = list(dict.fromkeys(_fresh_codes(count - len(codes))))
        taken = _taken_codes(fresh)
        codes += [code for code in fresh if code not in taken and code not in codes]
    return codes


# Field classes whose attribute value is already what the database stores (no encryption, no
# JSON): COPY takes it as it is, the others go through `get_db_prep_save`.
_PLAIN = (
    models.AutoField,
    models.BigAutoField,
    models.BooleanField,
    models.CharField,
    models.DateField,
    models.DateTimeField,
    models.ForeignKey,
    models.IntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.TextField,
)


def insert_rows(model: type[models.Model], objs: list[Any]) -> None:
    """Insert `objs` and give them their ids: `bulk_create`, or on PostgreSQL COPY with ids
    taken from the table's sequence first (a tenth of the time for a chunk of needs)."""
    if not objs:
        return
    # The connection itself rather than the `connection` proxy, which looks it up (context-
    # local) at each attribute: `get_db_prep_save` reads several, for every value.
    db = connections[DEFAULT_DB_ALIAS]
    if db.vendor != "postgresql":
        model._default_manager.bulk_create(objs)
        return
    opts = model._meta
    fields = list(opts.concrete_fields)
    stamped = [
        f for f in fields if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    table, pk = opts.db_table, opts.pk
    assert pk is not None
    # Every attribute at once (one C call, not one `getattr` a field); only the fields whose
    # stored form differs from the attribute (encrypted, JSON, decimal) are prepared, and an
    # empty value only when it is not stored as NULL anyway.
    values_of = attrgetter(*(f.attname for f in fields))
    prepared = [
        (i, f, f.get_db_prep_save(None, db) is not None)
        for i, f in enumerate(fields)
        if not (type(f) in _PLAIN or isinstance(f, models.ForeignKey))
    ]
    with db.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, pk.column, len(objs)],
        )
        for obj, (new_id,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = new_id
        columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {db.ops.quote_name(table)} ({columns}) FROM STDIN") as copy:
            for obj in objs:
                for field in stamped:
                    field.pre_save(obj, True)
                if obj._state.fields_cache:  # (related objects given, not only their ids)
                    obj._prepare_related_fields_for_save(operation_name="bulk_create")
                row = list(values_of(obj))
                for i, field, prepare_none in prepared:
                    if row[i] is not None or prepare_none:
                        row[i] = field.get_db_prep_save(row[i], db)
                copy.write_row(row)
    for obj in objs:
        obj._state.adding = False
        obj._state.db = db.alias


@task()
def deliver_need_events(event_ids: list[int]) -> int:
    """The notifications of many events (`notify.tasks.deliver_need_event`, one by one)."""
    from wenxu.notify.services import notify_for_event

    return sum(notify_for_event(event_id=event_id) for event_id in event_ids)
