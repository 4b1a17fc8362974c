"""Attachments are served only here, to users who can see their need (404 for everyone else).

There is no public URL for MEDIA_ROOT: a photo of a resident's yard is personal data.
"""

from pathlib import PurePath

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpRequest
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from wenxu.accounts.models import User
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
    stored = found.thumbnail if thumb else found.file
    try:
        handle = stored.open("rb")
    except FileNotFoundError as exc:
        raise Http404() from exc
    response = FileResponse(
        handle,
        content_type="image/jpeg" if thumb else found.content_type,
        as_attachment=not found.is_photo,
        filename=_download_name(found.original_name, stored.name or ""),
    )
    # Only the viewer's own browser may keep it; nothing in between.
    patch_cache_control(response, private=True, max_age=3600)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _download_name(original: str, stored: str) -> str:
    """The name the user gave, with the extension of what is stored (photos became JPEG)."""
    extension = PurePath(stored).suffix.lower()
    base = PurePath(original)
    if base.suffix.lower() == extension or (extension == ".jpg" and base.suffix.lower() == ".jpeg"):
        return original
    return f"{base.stem or original}{extension}"
