"""Writes on accounts. For now: API tokens (issue, authenticate, revoke).

Only the SHA-256 of a token is stored; the raw value is returned once, at issue. A token also
keeps the user's session auth hash from its issue, so a password change ends it (as it ends
the user's sessions); tokens issued before that hash was kept have none and must be renewed.
"""

from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from wenxu.accounts.models import ApiToken, User

# `last_used_at` is a hint for administrators, not an audit trail: write it at most this often,
# so that a busy client does not turn every read into a write.
TOKEN_TOUCH_INTERVAL = timedelta(minutes=1)


class TokenRefusal(StrEnum):
    """Why a bearer token was not accepted, so that the answer can tell the caller."""

    INVALID = "invalid"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password


@transaction.atomic
def api_token_issue(*, user: User, name: str = "") -> tuple[str, ApiToken]:
    """A new bearer token for `user`, valid for `WENXU_API_TOKEN_DAYS` days."""
    raw, prefix, key_hash = ApiToken.generate()
    token = ApiToken.objects.create(
        user=user,
        name=name[:100],
        prefix=prefix,
        key_hash=key_hash,
        session_hash=user.get_session_auth_hash(),
        expires_at=timezone.now() + timedelta(days=settings.WENXU_API_TOKEN_DAYS),
    )
    return raw, token


def api_token_authenticate(*, raw: str) -> ApiToken | TokenRefusal:
    """The usable token for `raw` (with its active user loaded), or why it is refused.

    Expired, revoked and unknown tokens and tokens of deactivated users are `INVALID`; a token
    issued before its user's password last changed is `PASSWORD_CHANGED`.
    """
    if not raw or len(raw) > 200:
        return TokenRefusal.INVALID
    token = ApiToken.objects.select_related("user").filter(key_hash=ApiToken.hash_of(raw)).first()
    now = timezone.now()
    if token is None or not token.is_usable(now) or not token.user.is_active:
        return TokenRefusal.INVALID
    if not token.session_hash:  # issued before the hash was kept
        return TokenRefusal.INVALID
    if not constant_time_compare(token.session_hash, token.user.get_session_auth_hash()):
        return TokenRefusal.PASSWORD_CHANGED
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_TOUCH_INTERVAL:
        # Conditional update: concurrent requests write at most once per interval.
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - TOKEN_TOUCH_INTERVAL)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke `token` now; revoking twice keeps the first time."""
    now = timezone.now()
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    token.revoked_at = token.revoked_at or now
