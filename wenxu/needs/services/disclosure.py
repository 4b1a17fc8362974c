"""批评/投诉 about a unit: kept from that unit's staff unless a dispatcher decides otherwise.

A need of kind criticism, complaint or report may name the unit it is about (`Need.about_unit`),
at registration or later by a dispatcher (`need_set_about_unit`). Until a dispatcher discloses it
(`need_disclose_to_unit`, with a reason, in the need's events and the security log):

- staff on that unit's line (the unit, the units above it, the units under it) do not see the
  need at all: `selectors.scope_q` leaves it out of every list, count, export and page (404);
- it is not given to a unit on that line, as lead or co unit (`check_units_not_criticised`,
  called by assign and reopen), so nobody is asked to handle a complaint about themselves.

A disclosure shows the need to the unit's staff, not the person: the requester stays
confidential to them (`selectors.requester_for_viewer`). Area scopes (dispatchers, officers,
county leaders) are unaffected throughout.
"""

from collections.abc import Iterable

from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.audit import actions as audit_actions
from wenxu.audit.services import audit_record, scrub_text
from wenxu.lib import masking
from wenxu.needs.exceptions import IllegalTransition
from wenxu.needs.models import Need
from wenxu.needs.selectors import on_the_line
from wenxu.needs.services._core import _begin, _raise, _record, _required_text
from wenxu.needs.states import ABOUT_UNIT_KINDS, Action
from wenxu.organisations.models import Unit

REASON_MAX = 2000


def refused_unit_message() -> str:
    return _(
        "该诉求是对本单位的批评或投诉，不能交由本单位办理；如确需本单位办理，请先由调度员决定公开"
    )


def about_unit_errors(*, kind: str, about_unit: Unit | None) -> dict[str, list[str]]:
    """Registration's check: only criticism, complaints and reports name a unit."""
    if about_unit is not None and kind not in ABOUT_UNIT_KINDS:
        return {
            "about_unit": [
                _("只有批评、投诉、举报类诉求可以填写被批评/投诉单位；请改选诉求类型或清空此项。")
            ]
        }
    return {}


def check_units_not_criticised(
    errors: dict[str, list[str]],
    need: Need,
    *,
    lead_unit: Unit | None,
    co_units: Iterable[Unit] = (),
) -> None:
    """Add an error for a lead or co unit on the line of the unit the need criticises, unless
    a dispatcher has disclosed the need to it."""
    if need.about_unit_id is None or need.about_unit_disclosed:
        return
    about = need.about_unit
    assert about is not None
    if lead_unit is not None and on_the_line(lead_unit.path, about.path):
        errors.setdefault("lead_unit", []).append(refused_unit_message())
    if any(on_the_line(unit.path, about.path) for unit in co_units):
        errors.setdefault("co_units", []).append(refused_unit_message())


def _masked_reason(need: Need, text: str) -> str:
    """The reason as it is kept (the need's event, shown to the disclosed unit's staff too, and
    the security log): phone and ID numbers and the requester's name masked, since the
    requester stays confidential to that unit."""
    text = scrub_text(text)
    name = (need.requester.name if need.requester is not None else "").strip()
    if len(name) >= 2:
        text = text.replace(name, masking.mask_name(name))
    return text


def _handling_units(need: Need) -> list[Unit]:
    units = [need.lead_unit] if need.lead_unit is not None else []
    return units + list(need.co_units.all())


@transaction.atomic
def need_set_about_unit(
    *,
    actor: User,
    need: Need | int,
    version: int | None,
    about_unit: Unit | None,
    reason: str,
    request: HttpRequest | None = None,
) -> Need:
    """更正被批评/投诉单位: a dispatcher names (or clears) the unit the need is about.

    The new unit has not been told: the need is hidden from it again (`about_unit_disclosed`
    is reset). A unit that is handling the need cannot be named: the need would vanish from
    the people working on it; it has to be returned first. Taking the name off an undisclosed
    unit (for none, or for a unit off its line) lets its staff see the need, which is a
    disclosure: it goes to the security log as one.
    """
    change = _begin(actor=actor, need=need, version=version, action=Action.ABOUT_UNIT)
    n = change.need
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("更正理由"))
    if len(change.note) > REASON_MAX:
        errors["reason"] = [_("理由最多 %(max)d 字。") % {"max": REASON_MAX}]
    errors.update(about_unit_errors(kind=n.kind, about_unit=about_unit))
    old = n.about_unit
    new_pk = about_unit.pk if about_unit is not None else None
    if new_pk == n.about_unit_id:
        errors.setdefault("about_unit", []).append(_("被批评/投诉单位没有变化。"))
    elif about_unit is not None and any(
        on_the_line(unit.path, about_unit.path) for unit in _handling_units(n)
    ):
        errors.setdefault("about_unit", []).append(
            _(
                "该诉求正由这个单位（或其上下级单位）办理，不能再标记为对它的批评或投诉；"
                "请待其退回后再更正，然后交由其他单位办理。"
            )
        )
    _raise(errors)
    change.note = _masked_reason(n, change.note)
    # The old unit's staff see the need from now on, unless the new unit is on its line.
    shown_to_old = (
        old is not None
        and not n.about_unit_disclosed
        and (about_unit is None or not on_the_line(old.path, about_unit.path))
    )
    change.set(about_unit=about_unit, about_unit_disclosed=False)
    change.data = {
        "about_unit": new_pk,
        "about_unit_from": old.pk if old is not None else None,
    }
    _record(change)
    if shown_to_old:
        assert old is not None
        audit_record(
            action=audit_actions.DISCLOSE,
            actor=actor,
            target=f"need:{n.number}",
            detail={
                "unit": old.pk,
                "unit_name": old.name,
                "reason": change.note,
                "by": "about_unit",
            },
            request=request,
        )
    return n


@transaction.atomic
def need_disclose_to_unit(
    *,
    actor: User,
    need: Need | int,
    version: int | None,
    reason: str,
    request: HttpRequest | None = None,
) -> Need:
    """决定公开: a dispatcher lets the criticised unit see the need (and be given it).

    The requester stays confidential to that unit. Written to the need's events and to the
    security log (`audit.actions.DISCLOSE`) with the reason, masked (`_masked_reason`).
    """
    change = _begin(actor=actor, need=need, version=version, action=Action.DISCLOSE_TO_UNIT)
    n = change.need
    about = n.about_unit
    if about is None:
        raise IllegalTransition(_("该诉求没有填写被批评/投诉单位，无需公开。"))
    if n.about_unit_disclosed:
        raise IllegalTransition(
            _("已决定向%(unit)s公开该诉求，无需再次决定。") % {"unit": about.name}
        )
    errors: dict[str, list[str]] = {}
    change.note = _required_text(errors, "reason", reason, _("公开理由"))
    if len(change.note) > REASON_MAX:
        errors["reason"] = [_("理由最多 %(max)d 字。") % {"max": REASON_MAX}]
    _raise(errors)
    change.note = _masked_reason(n, change.note)
    change.set(about_unit_disclosed=True)
    change.data = {"about_unit": about.pk}
    _record(change)
    audit_record(
        action=audit_actions.DISCLOSE,
        actor=actor,
        target=f"need:{n.number}",
        detail={"unit": about.pk, "unit_name": about.name, "reason": change.note},
        request=request,
    )
    return n
