"""Rating links (`/r/<token>`): issued with the reply's text message, used once, expiring.

The token is the link's id signed with the site's secret key (`django.core.signing`), so it
cannot be guessed or altered, and it is the same each time it is rendered: the outbox stores
messages with a `{link}` placeholder and fills it in when sending. Whether a link still works
(unused, unexpired, the need still awaiting this reply's rating) is the row's state, not the
token's.
"""

from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction

from wenxu.lib import clock
from wenxu.needs.models import Need, RatingLink

_SALT = "wenxu.rating-link"


def rating_link_issue(need: Need) -> RatingLink:
    """The rating link for the need's current reply, made on first call (idempotent)."""
    if need.replied_at is None:
        raise ValueError("a need without a reply has nothing to rate")
    existing = RatingLink.objects.filter(need=need, replied_at=need.replied_at).first()
    if existing is not None:
        return existing
    now = clock.now()
    try:
        with transaction.atomic():
            return RatingLink.objects.create(
                need=need,
                replied_at=need.replied_at,
                created_at=now,
                expires_at=now + timedelta(days=settings.WENXU_RATING_LINK_DAYS),
            )
    except IntegrityError:  # made meanwhile by another transaction
        return RatingLink.objects.get(need=need, replied_at=need.replied_at)


def rating_token(link: RatingLink) -> str:
    # A plain Signer, not signing.dumps: that one stamps the time, so the token would change
    # from one second to the next and a retried message would carry a different link.
    return signing.Signer(salt=_SALT).sign_object(link.pk)


def rating_url(link: RatingLink) -> str:
    return f"{settings.WENXU_SITE_URL}/r/{rating_token(link)}"


def rating_link_from_token(token: str) -> RatingLink | None:
    """The link a token names, or None for a forged, altered or unknown token."""
    try:
        pk = signing.Signer(salt=_SALT).unsign_object(token)
    except (signing.BadSignature, ValueError):
        return None
    if not isinstance(pk, int):
        return None
    return RatingLink.objects.select_related("need").filter(pk=pk).first()
