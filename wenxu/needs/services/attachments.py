"""Photos and documents kept with a need.

An upload is first checked and normalised by `prepare_upload` (outside any transaction: it may
take a moment for a phone photo), then stored by `attachment_add` in the caller's transaction,
so a need and its attachments are written together or not at all.

- Photos: JPEG, PNG or WebP, recognised by Pillow from the content, never from the file name.
  Each is re-encoded as a JPEG of at most 1600 px on the long side, without EXIF (which holds the
  GPS position of the phone, often the resident's home), plus a 320 px thumbnail.
- Documents: PDF, Word (docx) or Excel (xlsx), recognised by their leading bytes (and, for the
  two ZIP-based formats, by the parts the archive holds). Stored as they came.
- At most 10 MB per file and 9 files per need.
"""

import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from io import BytesIO
from pathlib import PurePath
from typing import Protocol
from uuid import UUID

from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models.fields.files import FieldFile
from django.utils.translation import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError

from wenxu.accounts.models import User
from wenxu.lib import clock
from wenxu.needs.exceptions import IdempotencyConflict, InvalidInput, NotFound
from wenxu.needs.models import Attachment, Need
from wenxu.needs.selectors import need_queryset_for_user

MAX_BYTES = 10 * 1024 * 1024
MAX_ATTACHMENTS = 9
MAX_EDGE = 1600
THUMBNAIL_EDGE = 320
# Larger pictures are refused before they are decoded (a 10 MB PNG can unpack to gigabytes).
MAX_PIXELS = 60_000_000
JPEG_QUALITY = 85

PHOTO_FORMATS = {"JPEG", "PNG", "WEBP"}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Upload(Protocol):
    """What `prepare_upload` reads: Django's UploadedFile, or any file-like with a name."""

    name: str | None
    size: int | None

    def read(self, size: int = ..., /) -> bytes: ...

    def seek(self, offset: int, whence: int = ..., /) -> int: ...


@dataclass(frozen=True)
class PreparedUpload:
    """A checked upload, ready to store: `content` is what will be kept."""

    kind: str
    original_name: str
    content_type: str
    extension: str
    content: bytes
    thumbnail: bytes | None = None


def _display_name(upload: Upload) -> str:
    name = PurePath((upload.name or "").replace("\\", "/")).name.strip()
    return name[:200] or _("未命名文件")


def _refuse(message: str) -> InvalidInput:
    return InvalidInput({"attachments": [message]})


def prepare_upload(upload: Upload, *, kind: str) -> PreparedUpload:
    """Check one upload and bring it into the stored form; `InvalidInput` says what is wrong."""
    name = _display_name(upload)
    size = upload.size
    if size is not None and size > MAX_BYTES:
        raise _refuse(
            _("“%(name)s”有 %(size).1f MB，超过了每个文件 10 MB 的上限。")
            % {"name": name, "size": size / 1024 / 1024}
        )
    upload.seek(0)
    data = upload.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise _refuse(_("“%(name)s”超过了每个文件 10 MB 的上限。") % {"name": name})
    if not data:
        raise _refuse(_("“%(name)s”是空文件。") % {"name": name})
    if kind == Attachment.Kind.PHOTO:
        return _prepare_photo(name, data)
    if kind == Attachment.Kind.DOCUMENT:
        return _prepare_document(name, data)
    raise ValueError(f"unknown attachment kind {kind!r}")


def _prepare_photo(name: str, data: bytes) -> PreparedUpload:
    not_a_photo = _refuse(
        _("“%(name)s”不是可用的照片：只支持 JPEG、PNG、WebP 格式的图片。") % {"name": name}
    )
    try:
        with Image.open(BytesIO(data)) as probe:
            if probe.format not in PHOTO_FORMATS:
                raise not_a_photo
            if probe.width * probe.height > MAX_PIXELS:
                raise _refuse(
                    _("“%(name)s”的像素太多（%(w)d×%(h)d），请拍摄或选择较小的照片。")
                    % {"name": name, "w": probe.width, "h": probe.height}
                )
            probe.verify()
        with Image.open(BytesIO(data)) as image:
            # JPEG: decode at a reduced scale straight away (much faster for phone photos).
            image.draft("RGB", (MAX_EDGE, MAX_EDGE))
            icc_profile = image.info.get("icc_profile")
            picture = _flatten(ImageOps.exif_transpose(image))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, SyntaxError) as exc:
        raise not_a_photo from exc
    picture.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
    content = _jpeg(picture, icc_profile)
    picture.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE), Image.Resampling.LANCZOS)
    return PreparedUpload(
        kind=Attachment.Kind.PHOTO,
        original_name=name,
        content_type="image/jpeg",
        extension="jpg",
        content=content,
        thumbnail=_jpeg(picture, icc_profile),
    )


def _flatten(image: Image.Image) -> Image.Image:
    """An RGB copy without any metadata; transparency becomes white."""
    if image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
    else:
        flat = image.convert("RGB")
    # A fresh image's `info` is empty, but `convert` copies EXIF, XMP and comments along.
    flat.info = {}
    return flat


def _jpeg(image: Image.Image, icc_profile: bytes | None) -> bytes:
    out = BytesIO()
    options: dict[str, object] = {"quality": JPEG_QUALITY, "optimize": True, "progressive": True}
    if icc_profile:
        options["icc_profile"] = icc_profile  # colours, not personal data
    image.save(out, "JPEG", **options)
    return out.getvalue()


def _document_type(data: bytes) -> tuple[str, str] | None:
    """(extension, content type) of a PDF, docx or xlsx file, from its content."""
    if data.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                parts = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            return None
        if "[Content_Types].xml" in parts:
            if "word/document.xml" in parts:
                return "docx", DOCX
            if "xl/workbook.xml" in parts:
                return "xlsx", XLSX
    return None


def _prepare_document(name: str, data: bytes) -> PreparedUpload:
    detected = _document_type(data)
    if detected is None:
        raise _refuse(
            _(
                "“%(name)s”不是可用的文件：只支持 PDF、Word（docx）和 Excel（xlsx）。"
                "旧版 doc、xls 文件请先另存为新格式；照片请在“照片”中上传。"
            )
            % {"name": name}
        )
    extension, content_type = detected
    return PreparedUpload(
        kind=Attachment.Kind.DOCUMENT,
        original_name=name,
        content_type=content_type,
        extension=extension,
        content=data,
    )


@transaction.atomic
def attachment_add(
    *, actor: User, need: Need, upload: PreparedUpload, client_uuid: UUID | None = None
) -> Attachment:
    """Keep a prepared upload with `need`, in the caller's transaction.

    The files are written to storage before the row; should the surrounding transaction roll
    back, the caller removes them (`attachment_discard_files`), as the capture view does.
    With `client_uuid`, a retried upload returns the attachment the first one stored (same
    need); the UUID used for another need is refused.
    """
    if not need_queryset_for_user(user=actor).filter(pk=need.pk).exists():
        raise NotFound()
    # Lock the need so that two uploads at once cannot both pass the count check.
    list(Need.objects.select_for_update(of=("self",)).filter(pk=need.pk).values_list("pk"))
    if client_uuid is not None:
        existing = Attachment.objects.filter(client_uuid=client_uuid).first()
        if existing is not None:
            if existing.need_id != need.pk:
                raise IdempotencyConflict()
            return existing
    if Attachment.objects.filter(need_id=need.pk).count() >= MAX_ATTACHMENTS:
        raise _refuse(_("每项诉求最多 %(count)d 个附件，已达上限。") % {"count": MAX_ATTACHMENTS})
    attachment = Attachment(
        need=need,
        client_uuid=client_uuid,
        kind=upload.kind,
        original_name=upload.original_name,
        content_type=upload.content_type,
        size=len(upload.content),
        uploaded_by=actor,
        uploaded_at=clock.now(),
    )
    store_upload(attachment, upload)
    return attachment


class StoredUpload(Protocol):
    """A row keeping an upload's file and thumbnail (Attachment, VisitPhoto)."""

    file: FieldFile
    thumbnail: FieldFile

    def full_clean(self) -> None: ...

    def save(self) -> None: ...


def store_upload(row: StoredUpload, upload: PreparedUpload) -> None:
    """Write the upload's files, then the row; the files go again if the row cannot be saved."""
    stored_as = f"upload.{upload.extension}"  # upload_to makes the random name from this
    row.file.save(stored_as, ContentFile(upload.content), save=False)
    try:
        if upload.thumbnail is not None:
            row.thumbnail.save("thumb.jpg", ContentFile(upload.thumbnail), save=False)
        row.full_clean()
        row.save()
    except BaseException:
        attachment_discard_files([row])
        raise


def attachment_discard_files(attachments: Sequence[StoredUpload]) -> None:
    """Remove stored files whose rows did not commit (the transaction rolled back)."""
    for attachment in attachments:
        for stored in (attachment.file, attachment.thumbnail):
            if stored and stored.name:
                stored.storage.delete(stored.name)
