"""Attachments are served only here, to users who can see their need (404 for everyone else).

There is no public URL for MEDIA_ROOT: a photo of a resident's yard is personal data.
"""

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.views.decorators.http import require_GET

from wenxu.accounts.models import User
from wenxu.lib.private_files import private_file_response
from wenxu.needs import selectors


@login_required
@require_GET
def attachment(request: HttpRequest, number: str, pk: int) -> FileResponse:
    """The file itself; `?thumb=1` gives a photo's small version for lists."""
    assert isinstance(request.user, User)
    need = selectors.need_get_for_user(user=request.user, number=number, with_events=False)
    found = need.attachments.filter(pk=pk).first()
    if found is None:
        raise Http404()
    thumb = bool(request.GET.get("thumb") and found.thumbnail)
    return private_file_response(
        stored=found.thumbnail if thumb else found.file,
        content_type="image/jpeg" if thumb else found.content_type,
        original_name=found.original_name,
        inline=found.is_photo,
    )
