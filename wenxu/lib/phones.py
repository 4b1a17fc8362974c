"""Chinese phone numbers as people write them: checked and tidied for storage."""

import re
import unicodedata

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy

_MOBILE = re.compile(r"1[3-9]\d{9}")
# Area code (010, 02X, or 0 and three digits), a local number of 7–8 digits, an extension.
_LANDLINE = re.compile(r"(0(?:10|2\d|[3-9]\d{2}))-?([2-9]\d{6,7})(?:-(\d{1,6}))?")
PHONE_MESSAGE = gettext_lazy(
    "联系电话格式不对：手机号是 1 开头的 11 位数字（如 13812345678），"
    "固定电话要带区号（如 0571-88886666）。"
)


def normalise_phone(value: str) -> str:
    """A Chinese mobile (13812345678) or landline with area code (0571-88886666), tidied.

    Full-width digits, spaces, brackets and the +86 prefix are accepted, as people write them.
    Raises `ValidationError` (code "phone") with a message that says what a number looks like.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    if not text:
        return ""
    compact = re.sub(r"[\s()（）]", "", text)
    compact = re.sub(r"^(?:\+86|0086)-?", "", compact)
    digits = compact.replace("-", "")
    if _MOBILE.fullmatch(digits):
        return digits
    if landline := _LANDLINE.fullmatch(compact):
        area, local, extension = landline.groups()
        return f"{area}-{local}" + (f"-{extension}" if extension else "")
    if not compact.startswith("-") and (landline := _LANDLINE.fullmatch(digits)):
        area, local, _extension = landline.groups()
        return f"{area}-{local}"
    raise ValidationError(PHONE_MESSAGE, code="phone")
