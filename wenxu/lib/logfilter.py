"""A logging filter that masks mainland mobile numbers and ID numbers (issue #9).

Attached to every handler in `settings.LOGGING`. Whatever a log call carries, the line that is
written shows `138****5678` and `110101********1234` (wenxu.lib.masking), never the number: the
message is formatted with its arguments and masked (the arguments are then dropped, so no other
handler formats them again), and so are the traceback and the stack text.

Caught: 11-digit mobiles starting with 1, also after +86 / 0086 / 86 and written 138-1234-5678,
138 1234 5678 or in full-width digits; 18-character ID numbers (17 digits and a digit or X),
also as 6-8-4 groups. A longer run of digits is not a phone and is left alone.
"""

import logging
import re
import traceback

from wenxu.lib import masking

_D = "[0-9０-９]"  # ASCII or full-width digit
_SEP = r"[ \u3000\-－.]?"  # at most one space, ideographic space, hyphen or dot between groups
_ID = re.compile(
    rf"(?<![0-9０-９]){_D}{{6}}{_SEP}{_D}{{8}}{_SEP}{_D}{{3}}[0-9０-９XxＸｘ](?![0-9０-９])"
)
_MOBILE = re.compile(
    rf"(?<![0-9０-９])(?:[+＋]?(?:00|００)?(?:86|８６)[ \u3000\-－]?)?"
    rf"[1１]{_D}{{2}}{_SEP}{_D}{{4}}{_SEP}{_D}{{4}}(?![0-9０-９])"
)


# UUIDs (job ids, client uuids) are left whole: their digit groups can look like a mobile number
# ("…c167-4510-8975…"), and a masked id cannot be looked up.
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def _mask_numbers(text: str) -> str:
    text = _ID.sub(lambda m: masking.mask_id_number(m.group()), text)
    return _MOBILE.sub(lambda m: masking.mask_phone(m.group()), text)


def mask_text(text: str) -> str:
    """`text` with every mobile number and ID number in it masked."""
    if not any(ch.isdigit() for ch in text):
        return text
    parts = []
    last = 0
    for found in _UUID.finditer(text):
        parts.append(_mask_numbers(text[last : found.start()]))
        parts.append(found.group())
        last = found.end()
    parts.append(_mask_numbers(text[last:]))
    return "".join(parts)


class MaskPersonalData(logging.Filter):
    """Masks the record in place (every handler shares it) and lets it through."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad arguments: the handler reports it, with nothing unmasked
            record.msg = mask_text(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(mask_text(repr(arg)) for arg in record.args)
            elif record.args is not None:
                record.args = (mask_text(repr(record.args)),)
        else:
            record.msg = mask_text(message)
            record.args = ()
        if record.exc_info and record.exc_info[0] is not None:
            # Formatters reuse exc_text when it is set; without exc_info no handler can render
            # the exception (or its arguments) again unmasked.
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
            record.exc_info = None
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True
