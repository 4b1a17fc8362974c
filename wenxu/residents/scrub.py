"""A requester's own phone and ID number typed into a need's texts, masked as they are stored.

Officers write "请回电 139-8765-4321" into a description, handlers repeat the number in a note:
every page, API answer and export would then show it unmasked. The services that store a need's
free texts (title, description, address, reply, reasons, notes, callback comments) pass them
through `scrub_requester_data` first, so the requester's phone (however it is spaced or dashed,
with or without +86, in full-width digits) and ID number are kept only in their masked forms
(`wenxu.lib.masking`). Other numbers (a neighbour's, a unit's hotline) stay as written: only the
requester's own values are known to be theirs.

The loose matching here is also what erasure uses to star a person's data (`residents.erasure`).
"""

import re
import unicodedata
from collections.abc import Callable

from wenxu.lib import masking

# What people put between digit groups (and between the characters of a value): spaces, dashes,
# dots, slashes, brackets, zero-width characters.
SEPARATOR_CHARS = "-－‐‑–—.．·・_/／()（）\u200b\u200c\u200d\u2060\ufeff"
SEPARATORS = "[\\s" + re.escape(SEPARATOR_CHARS) + "]*"
NO_DIGIT_BEFORE, NO_DIGIT_AFTER = r"(?<![0-9０-９])", r"(?![0-9０-９])"
# A country code written before a mobile: +86, 0086, 86 (half- or full-width).
_COUNTRY_CODE = f"[(（]?(?:(?:[+＋]|[0０][0０]){SEPARATORS})?[8８]{SEPARATORS}[6６]{SEPARATORS}"
_DIGIT = re.compile(r"[0-9０-９]")
# A phone number shorter than this is not looked for (too likely to be something else).
PHONE_MIN_DIGITS = 7


def holds_digits(text: str) -> bool:
    """Whether `text` has a digit (half- or full-width): only then can it hold a number."""
    return bool(_DIGIT.search(text or ""))


def _is_separator(char: str) -> bool:
    return char.isspace() or char in SEPARATOR_CHARS


def char_class(char: str) -> str:
    """`char` and its full-width form (digits, Latin letters, ASCII punctuation)."""
    if "!" <= char <= "~":
        return f"[{re.escape(char)}{re.escape(chr(ord(char) + 0xFEE0))}]"
    return re.escape(char)


def _body(chars: list[str]) -> str:
    return SEPARATORS.join(char_class(c) for c in chars)


def loose_pattern(value: str) -> re.Pattern[str] | None:
    """`value` matched however it is spaced or dashed, in half- or full-width characters; a
    number only as a whole (not the middle of a longer one)."""
    chars = [c for c in unicodedata.normalize("NFKC", value) if not _is_separator(c)]
    if not chars:
        return None
    body = _body(chars)
    if chars[0].isdigit():
        body = NO_DIGIT_BEFORE + body
    if chars[-1].isdigit():
        body += NO_DIGIT_AFTER
    return re.compile(body, re.IGNORECASE)


def phone_pattern(phone: str, *, min_digits: int = PHONE_MIN_DIGITS) -> re.Pattern[str] | None:
    """A stored phone found in a text however it is written: a mobile with or without +86 /
    0086 / 86, a landline with or without its area code ("0571-88886666" also finds "88886666").
    None for a value with fewer than `min_digits` digits."""
    text = unicodedata.normalize("NFKC", phone or "").strip()
    digits = re.sub(r"\D", "", text)
    if digits.startswith(("0086", "86")) and len(digits) in (13, 15):
        digits = digits[-11:]  # a mobile stored with its country code
    if len(digits) < min_digits:
        return None
    landline = re.fullmatch(r"(0(?:10|2\d|[3-9]\d{2}))-?([2-9]\d{6,7})(?:-\d{1,6})?", text)
    if landline is not None:
        area, local = landline.groups()
        body = f"(?:[(（]?{_body(list(area))}{SEPARATORS})?{_body(list(local))}"
    else:
        body = _body(list(digits))
        if len(digits) == 11 and digits.startswith("1"):
            body = f"(?:{_COUNTRY_CODE})?{body}"
    return re.compile(NO_DIGIT_BEFORE + body + NO_DIGIT_AFTER)


def _replacements(*, phone: str, id_number: str) -> list[tuple[re.Pattern[str], str]]:
    found: list[tuple[re.Pattern[str], str]] = []
    id_number = (id_number or "").strip()
    if len(re.sub(r"\s", "", id_number)) >= 8 and (pattern := loose_pattern(id_number)):
        found.append((pattern, masking.mask_id_number(id_number)))
    if pattern := phone_pattern(phone):
        found.append((pattern, masking.mask_phone(phone)))
    return found


def masked_forms(*, phone: str, id_number: str) -> list[str]:
    """The masked values `scrub_requester_data` writes for this requester (erasure stars them
    too: even masked, they are the person's)."""
    return [masked for _pattern, masked in _replacements(phone=phone, id_number=id_number)]


_NOT_ASCII_DIGITS = re.compile(r"[^0-9]")
_FULL_WIDTH_DIGITS = str.maketrans("０１２３４５６７８９", "0123456789")


def _phone_runs(phone: str) -> set[str] | None:
    """Every run of PHONE_MIN_DIGITS digits in `phone`; None when its digits are not all ASCII
    (after NFKC), so that any text with digits may hold it."""
    digits = re.sub(r"\D", "", unicodedata.normalize("NFKC", phone or ""))
    if not digits.isascii():
        return None
    size = PHONE_MIN_DIGITS
    return {digits[i : i + size] for i in range(len(digits) - size + 1)}


def _digit_count(text: str) -> int:
    return len(_NOT_ASCII_DIGITS.sub("", text.translate(_FULL_WIDTH_DIGITS)))


def _holds_a_run(text: str, runs: set[str]) -> bool:
    # A match's digits are ASCII or full-width: the same digits in ASCII, the rest left out.
    digits = _NOT_ASCII_DIGITS.sub("", text.translate(_FULL_WIDTH_DIGITS))
    return len(digits) >= PHONE_MIN_DIGITS and any(run in digits for run in runs)


def requester_scrubber(*, phone: str, id_number: str, hidden: bool = False) -> Callable[[str], str]:
    """`scrub_requester_data` for one requester, its patterns compiled once, at the first text
    that could hold one of its values.

    Compiling them takes about a millisecond (most of a ledger import's time when done for
    every row, and of a need page whose notes hold a date or a count). A phone's pattern finds
    it however it is spaced, dashed or written in full-width digits, so the digits of any match
    hold a run of PHONE_MIN_DIGITS of the phone's own digits (no shorter phone is looked for);
    an ID number's pattern needs all of its digits. A text that can hold neither keeps every
    character without a pattern compiled.

    `hidden`: replace with "***" instead of the masked forms (a requester whose identity is
    withheld from some viewers: even the masked phone would say too much to them)."""
    runs = _phone_runs(phone)
    # An ID number's pattern matches only where all its characters are: at least as many
    # digits (ASCII or full-width, the only ones its pattern takes) as it has.
    id_chars = [c for c in unicodedata.normalize("NFKC", id_number or "") if not c.isspace()]
    id_digits = sum(1 for c in id_chars if c in "0123456789")
    replacements: list[tuple[re.Pattern[str], str]] | None = None

    def scrub(text: str) -> str:
        nonlocal replacements
        if not text or not _DIGIT.search(text):
            return text
        may_hold_phone = runs is None or _holds_a_run(text, runs)
        may_hold_id = bool(id_chars) and _digit_count(text) >= id_digits
        if not (may_hold_phone or may_hold_id):
            return text
        if replacements is None:
            replacements = [
                (pattern, "***" if hidden else masked)
                for pattern, masked in _replacements(phone=phone, id_number=id_number)
            ]
        for found, masked in replacements:
            text = found.sub(masked, text)
        return text

    return scrub


def scrub_requester_data(text: str, *, phone: str, id_number: str, hidden: bool = False) -> str:
    """`text` with the requester's own `phone` and `id_number` replaced by their masked forms
    (138****5678, 110101********1234), however they were typed; everything else as it was."""
    return requester_scrubber(phone=phone, id_number=id_number, hidden=hidden)(text)
