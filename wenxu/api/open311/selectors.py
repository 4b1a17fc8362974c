"""The needs a client key may read: those in its areas (every area when it has none).

Out-of-scope needs are absent from lists and answer 404 like unknown ones, so a key cannot
learn that they exist. The queryset loads everything `present` reads, so one page of any size
costs the same few queries.
"""

from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch, QuerySet

from wenxu.integrations.models import ApiClient
from wenxu.integrations.services import api_client_area_q
from wenxu.needs.models import Need, NeedEvent
from wenxu.organisations.models import Unit


def requests_for_client(*, client: ApiClient, extensions: bool = False) -> QuerySet[Need]:
    events = NeedEvent.objects.order_by("seq").only(
        "need_id", "seq", "action", "to_status", "note", "data", "created_at"
    )
    related: list[Prefetch[Any, Any, Any]] = [Prefetch("events", queryset=events)]
    if extensions:
        related.append(Prefetch("co_units", queryset=Unit.objects.only("name")))
    return (
        Need.objects.filter(api_client_area_q(client=client, field="area"))
        .select_related("category", "lead_unit", "area", "requester", "merged_into")
        .prefetch_related(*related)
    )


def unit_names(needs: Iterable[Need]) -> dict[int, str]:
    """The names of the lead units the needs' events mention, in one query."""
    ids = {
        int(event.data["lead_unit"])
        for need in needs
        for event in need.events.all()
        if isinstance(event.data, dict) and event.data.get("lead_unit")
    }
    if not ids:
        return {}
    return dict(Unit.objects.filter(pk__in=ids).values_list("pk", "name"))


def visible_needs(*, client: ApiClient, needs: Iterable[int | None]) -> frozenset[int]:
    """Which of these needs (ids; None is skipped) the client may see, in at most one query: a
    merged request names its target only when the key covers the target too."""
    ids = {pk for pk in needs if pk is not None}
    if not ids:
        return frozenset()
    scope = api_client_area_q(client=client, field="area")
    return frozenset(Need.objects.filter(scope, pk__in=ids).values_list("pk", flat=True))
