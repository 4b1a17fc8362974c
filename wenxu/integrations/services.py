"""Writes and checks on client API keys: issue, authenticate, throttle, revoke.

Only the SHA-256 of a key is stored; the raw key is returned once, at issue. `last_used_at` is
written at most once a minute per key (a hint for administrators, not an audit trail).
"""

from collections.abc import Iterable
from datetime import datetime, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.integrations.models import ApiClient, ClientAction
from wenxu.lib import ratelimit
from wenxu.organisations.models import Area

TOUCH_INTERVAL = timedelta(minutes=1)


@transaction.atomic
def api_client_issue(
    *,
    name: str,
    areas: Iterable[Area] = (),
    actions: Iterable[str] = (ClientAction.READ, ClientAction.CREATE),
    source: str = "",
    rate_limit: int | None = None,
    expires_at: datetime | None = None,
    note: str = "",
    created_by: User | None = None,
) -> tuple[str, ApiClient]:
    """A new client key; the raw key is returned here and never again.

    Raises `django.core.exceptions.ValidationError` (per field, in the user's language) on a
    duplicate name, an unknown action or a bad rate limit; nothing is stored then. Recorded in
    the security log with `created_by` (None from the command line).
    """
    from wenxu.audit import actions as audit_actions
    from wenxu.audit.services import audit_record

    raw, prefix, key_hash = ApiClient.generate()
    client = ApiClient(
        name=name.strip(),
        prefix=prefix,
        key_hash=key_hash,
        actions=list(dict.fromkeys(str(a) for a in actions)),
        note=note,
        created_by=created_by,
        expires_at=expires_at,
    )
    if source:
        client.source = source
    if rate_limit is not None:
        client.rate_limit = rate_limit
    client.full_clean()
    client.save()
    areas = list(areas)
    client.areas.set(areas)
    audit_record(
        action=audit_actions.APIKEY_ISSUE,
        actor=created_by,
        target=f"apiclient:{client.pk}",
        detail={
            "name": client.name,
            "prefix": prefix,
            "actions": client.actions,
            "areas": [area.code or area.name for area in areas],
            "expires_at": client.expires_at.isoformat() if client.expires_at else None,
        },
    )
    return raw, client


def api_client_authenticate(*, raw: str) -> ApiClient | None:
    """The usable client for `raw`, or None for an unknown, revoked or expired key."""
    if not raw or len(raw) > 200:
        return None
    client = ApiClient.objects.filter(key_hash=ApiClient.hash_of(raw.strip())).first()
    now = timezone.now()
    if client is None or not client.is_usable(now):
        return None
    if client.last_used_at is None or client.last_used_at < now - TOUCH_INTERVAL:
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=now)
        client.last_used_at = now
    return client


def api_client_throttle(*, client: ApiClient) -> bool:
    """Count one request; False once the client has used its `rate_limit` for this minute."""
    return ratelimit.hit("apiclient", str(client.pk), limit=client.rate_limit, window=60)


@transaction.atomic
def api_client_revoke(*, client: ApiClient, actor: User | None = None) -> None:
    """Revoke the key now (a second revocation changes nothing and is not logged again)."""
    from wenxu.audit import actions as audit_actions
    from wenxu.audit.services import audit_record

    revoked = ApiClient.objects.filter(pk=client.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    if revoked:
        audit_record(
            action=audit_actions.APIKEY_REVOKE,
            actor=actor,
            target=f"apiclient:{client.pk}",
            detail={"name": client.name, "prefix": client.prefix},
        )


def api_client_area_q(*, client: ApiClient, field: str = "area") -> Q:
    """Rows whose `field` (an Area) lies in one of the client's area subtrees; all when none."""
    paths = list(client.areas.values_list("path", flat=True))
    if not paths:
        return Q()
    q = Q(pk__in=[])
    for path in paths:
        q |= Q(**{f"{field}__path__startswith": path})
    return q


def api_client_covers(*, client: ApiClient, area: Area) -> bool:
    paths = list(client.areas.values_list("path", flat=True))
    return not paths or any(area.path.startswith(p) for p in paths)


@transaction.atomic
def api_client_update(
    *,
    client: ApiClient,
    areas: Iterable[Area],
    actions: Iterable[str],
    rate_limit: int,
    note: str | None = None,
    actor: User | None = None,
) -> ApiClient:
    """Change what a key may do (areas, actions, rate limit, note); the key itself stays.

    Raises `ValidationError` like `api_client_issue`, and on `areas` when a webhook
    subscription's area would fall outside the new areas; nothing is changed then. With an
    `actor` (the 接口密钥 page) the change goes to the security log; the Django admin's own
    change log is mirrored there already.
    """
    areas = list(areas)
    paths = [area.path for area in areas]
    if paths:
        for subscription in client.webhooks.filter(area__isnull=False).select_related("area"):
            area = subscription.area
            if area is not None and not any(area.path.startswith(p) for p in paths):
                raise ValidationError(
                    {
                        "areas": _(
                            "事件推送订阅“%(subscription)s”的区域“%(area)s”不在新的区域范围内："
                            "请先修改或删除该订阅，或保留包含该区域的范围。"
                        )
                        % {
                            "subscription": f"{subscription.pk} → {subscription.url}",
                            "area": area.name,
                        }
                    }
                )
    client.actions = list(dict.fromkeys(str(a) for a in actions))
    client.rate_limit = rate_limit
    fields = ["actions", "rate_limit"]
    if note is not None:
        client.note = note
        fields.append("note")
    client.full_clean()
    client.save(update_fields=fields)
    client.areas.set(areas)
    if actor is not None:
        from wenxu.audit import actions as audit_actions
        from wenxu.audit.services import audit_record

        audit_record(
            action=audit_actions.SETTING_CHANGE,
            actor=actor,
            target=f"apiclient:{client.pk}",
            detail={
                "name": client.name,
                "areas": sorted(area.pk for area in areas),
                "actions": client.actions,
                "rate_limit": client.rate_limit,
            },
        )
    return client
