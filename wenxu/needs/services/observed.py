"""望闻问切: the resident confirms a need the official observed but the resident did not voice."""

from django.db import transaction
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs.exceptions import IllegalTransition
from wenxu.needs.models import Need
from wenxu.needs.services._core import _begin, _record
from wenxu.needs.states import Action


@transaction.atomic
def need_confirm_observed(*, actor: User, need: Need, version: int, note: str = "") -> Need:
    """群众确认: the resident has said this observed need is theirs. No status change."""
    change = _begin(actor=actor, need=need, version=version, action=Action.CONFIRM_OBSERVED)
    if not change.need.is_observed:
        raise IllegalTransition(_("只有“望闻问切”发现的诉求需要群众确认。"))
    if change.need.observed_confirmed_at is not None:
        raise IllegalTransition(_("群众已确认过该诉求。"))
    change.set(observed_confirmed_at=clock.now())
    change.note = note.strip()
    _record(change)
    return change.need
