"""Writes on accounts. For now: API tokens (issue, authenticate, revoke).

Only the SHA-256 of a token is stored; the raw value is returned once, at issue. A token also
keeps the user's session auth hash from its issue, so a password change ends it (as it ends
the user's sessions); tokens issued before that hash was kept have none and must be renewed.
"""

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.translation import gettext as _

from wenxu.accounts.models import ApiToken, User
from wenxu.core import generation

# `last_used_at` is a hint for administrators, not an audit trail: write it at most this often,
# so that a busy client does not turn every read into a write.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


class TokenRefusal(StrEnum):
    """Why a bearer token was not accepted, so that the answer can tell the caller."""

    INVALID = "invalid"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password


@transaction.atomic
def api_token_issue(*, user: User, name: str = "", days: int | None = None) -> tuple[str, ApiToken]:
    """A new bearer token for `user`, valid for `days` days, at most (and by default)
    `WENXU_API_TOKEN_DAYS`. Recorded in the security log (the user issues their own token)."""
    from wenxu.audit import actions
    from wenxu.audit.services import audit_record

    limit = settings.WENXU_API_TOKEN_DAYS
    days = limit if days is None else max(1, min(days, limit))
    raw, prefix, key_hash = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=prefix,
        key_hash=key_hash,
        session_hash=user.get_session_auth_hash(),
        expires_at=timezone.now() + timedelta(days=days),
    )
    audit_record(
        action=actions.TOKEN_ISSUE,
        actor=user,
        target=f"apitoken:{token.pk}",
        detail={"prefix": prefix, "name": token.name, "user": user.get_username(), "days": days},
    )
    return raw, token


def api_token_authenticate(*, raw: str) -> ApiToken | TokenRefusal:
    """The usable token for `raw` (with its active user loaded), or why it is refused.

    Expired, revoked and unknown tokens and tokens of deactivated users are `INVALID`; a token
    issued before its user's password last changed is `PASSWORD_CHANGED`.
    """
    if not raw or len(raw) > 200:
        return TokenRefusal.INVALID
    token = _token(ApiToken.hash_of(raw))
    now = timezone.now()
    if token is None or not token.is_usable(now) or not token.user.is_active:
        return TokenRefusal.INVALID
    if not token.session_hash:  # issued before the hash was kept
        return TokenRefusal.INVALID
    if not constant_time_compare(token.session_hash, token.user.get_session_auth_hash()):
        return TokenRefusal.PASSWORD_CHANGED
    used = max(filter(None, (token.last_used_at, _touched.get(token.key_hash))), default=None)
    if used is None or now - used >= TOKEN_TOUCH_INTERVAL:
        # Conditional update: concurrent requests write at most once per interval.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOKEN_TOUCH_INTERVAL)
        ).update(last_used_at=now)
        if len(_touched) >= _TOUCHED_MAX:
            _touched.clear()
        _touched[token.key_hash] = now
        used = now
    token.last_used_at = used
    return token


# When this process last wrote each token's `last_used_at`, by its key's hash: the kept rows
# keep the value they were read with (a use changes nothing kept, ADR 0032). Bounded: a token
# forgotten here is written once more at most.
_touched: dict[str, datetime] = {}
_TOUCHED_MAX = 10_000


def _token(key_hash: str) -> ApiToken | None:
    """The token whose key hashes to `key_hash`, with its user: new objects built from rows
    kept between requests under the configuration generation, which a revocation, any other
    change of a token but its use, and any change of a user but a login changes (ADR 0032).
    Read together, in one query. Unknown keys are read each time, not kept (a stream of
    made-up keys keeps nothing)."""
    token_fields = [field.attname for field in ApiToken._meta.concrete_fields]
    user_fields = [field.attname for field in User._meta.concrete_fields]
    joined = [*token_fields, *(f"user__{name}" for name in user_fields)]

    def read(missing: list[str]) -> dict[str, tuple[Any, ...]]:
        rows = ApiToken.objects.filter(key_hash__in=missing).values_list("key_hash", *joined)
        return {row[0]: tuple(row[1:]) for row in rows}

    row = generation.remember_many("api_tokens_with_users", [key_hash], read).get(key_hash)
    if row is None:
        return None
    at = len(token_fields)
    token = ApiToken.from_db(DEFAULT_DB_ALIAS, token_fields, row[:at])
    token.user = User.from_db(DEFAULT_DB_ALIAS, user_fields, row[at:])
    return token


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: User | None = None) -> None:
    """Revoke `token` now; revoking twice keeps the first time. The security log names `actor`
    (default: the token's owner, revoking their own token) on the first revocation only."""
    from wenxu.audit import actions
    from wenxu.audit.services import audit_record

    now = timezone.now()
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.revoked_at = token.revoked_at or now
    if revoked:
        audit_record(
            action=actions.TOKEN_REVOKE,
            actor=actor or token.user,
            target=f"apitoken:{token.pk}",
            detail={"prefix": token.prefix, "name": token.name, "user": token.user.get_username()},
        )


# The validity periods offered on 我的令牌, before the cap of `WENXU_API_TOKEN_DAYS`.
TOKEN_DAY_CHOICES = (7, 30, 90)


def api_token_day_choices() -> list[int]:
    """The validity periods a user may pick: the standard ones within the cap, or the cap."""
    limit = settings.WENXU_API_TOKEN_DAYS
    return [d for d in TOKEN_DAY_CHOICES if d <= limit] or [limit]


def api_token_active_q(*, at: datetime) -> Q:
    """Tokens that are neither revoked nor expired at `at`."""
    return Q(revoked_at__isnull=True, expires_at__gt=at)


@transaction.atomic
def api_token_issue_named(*, user: User, name: str, days: int) -> tuple[str, ApiToken]:
    """A token issued from 我的令牌: a name is required and unique among the user's active
    tokens (not counting those a password change ended), and `days` must be one of
    `api_token_day_choices()`.

    Raises `ValidationError` (per field, in the user's language); nothing is stored then.
    """
    name = name.strip()
    if not name:
        raise ValidationError({"name": _("请填写令牌名称，例如用途或所在系统。")})
    if len(name) > 100:
        raise ValidationError({"name": _("令牌名称不能超过 100 个字。")})
    if days not in api_token_day_choices():
        raise ValidationError({"days": _("请选择有效期。")})
    # Uniqueness among *active* tokens depends on the clock, so no constraint can hold it: the
    # user's row is locked instead, which serialises concurrent issues for the same user.
    # A token made stale by a password change (or issued before the hash was kept) can never
    # be used again and shows as such on the page: it does not hold its name.
    locked = User.objects.select_for_update().filter(pk=user.pk).first() or user
    current = locked.get_session_auth_hash()
    same_name = ApiToken.objects.filter(user=user, name=name).filter(
        api_token_active_q(at=timezone.now())
    )
    if any(
        token.session_hash and constant_time_compare(token.session_hash, current)
        for token in same_name.only("pk", "session_hash")
    ):
        raise ValidationError(
            {"name": _("您已有一个同名的有效令牌，请换一个名称，或先吊销原令牌。")}
        )
    return api_token_issue(user=user, name=name, days=days)
