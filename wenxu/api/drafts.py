"""Drafts synced from a device: whose they are (ADR 0009).

The browser's outbox sends each draft with the header `X-Wenxu-Draft-User` (the username of
whoever recorded it, percent-encoded). On a shared phone, a page cached for one user could
otherwise load that user's drafts and send them under the next user's session, making the
next user their author. A draft whose header names someone else than the caller is refused
with 409 `draft_user_mismatch` and changes nothing. Requests without the header (other API
clients) are not affected.
"""

from urllib.parse import unquote

from django.http import HttpRequest
from django.utils.translation import gettext as _

from wenxu.accounts.models import User
from wenxu.needs.exceptions import DomainError

DRAFT_USER_HEADER = "X-Wenxu-Draft-User"


class DraftUserMismatch(DomainError):
    status_code = 409
    code = "draft_user_mismatch"


def check_draft_user(request: HttpRequest, user: User) -> None:
    """Refuse a draft recorded by someone else than the signed-in `user`."""
    raw = request.headers.get(DRAFT_USER_HEADER)
    if raw is None:
        return
    author = unquote(raw).strip()
    if author != user.get_username():
        raise DraftUserMismatch(
            _("此记录由 %(user)s 记录，请由其本人登录后同步。") % {"user": author or "?"}
        )
