"""Serving stored files that are personal data (photos of homes, petition letters).

There is no public URL for MEDIA_ROOT: the views that call `private_file_response` first find
the file through a scoped selector, so everyone else gets 404.
"""

from pathlib import PurePath

from django.db.models.fields.files import FieldFile
from django.http import FileResponse, Http404
from django.utils.cache import patch_cache_control


def private_file_response(
    *, stored: FieldFile, content_type: str, original_name: str, inline: bool
) -> FileResponse:
    try:
        handle = stored.open("rb")
    except FileNotFoundError as exc:
        raise Http404() from exc
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=not inline,
        filename=download_name(original_name, stored.name or ""),
    )
    # Only the viewer's own browser may keep it; nothing in between.
    patch_cache_control(response, private=True, max_age=3600)
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def download_name(original: str, stored: str) -> str:
    """The name the user gave, with the extension of what is stored (photos became JPEG)."""
    extension = PurePath(stored).suffix.lower()
    base = PurePath(original)
    if base.suffix.lower() == extension or (extension == ".jpg" and base.suffix.lower() == ".jpeg"):
        return original
    return f"{base.stem or original}{extension}"
