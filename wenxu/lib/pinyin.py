"""Finding places and categories by pinyin: "dhc" or "donghe" finds 东河村.

Grid workers on a phone type initials faster than characters. The romanisations are computed
on demand and cached per name (a county has a few thousand area names; each costs ~50 µs once).
Polyphones take pypinyin's most common reading for the phrase.
"""

import unicodedata
from functools import lru_cache

from pypinyin import Style, lazy_pinyin


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip().lower()


@lru_cache(maxsize=50_000)
def initials(name: str) -> str:
    """东河村第一网格 → "dhcdywg"; digits and Latin letters are kept as they are."""
    return "".join(lazy_pinyin(_fold(name), style=Style.FIRST_LETTER)).replace(" ", "")


@lru_cache(maxsize=50_000)
def spelled(name: str) -> str:
    """东河村 → "donghecun"."""
    return "".join(lazy_pinyin(_fold(name))).replace(" ", "")


def matches(name: str, query: str) -> bool:
    """Whether `query` finds `name`: part of the name, of its initials, or of its pinyin."""
    q = _fold(query).replace(" ", "")
    if not q:
        return True
    if q in _fold(name):
        return True
    if q.isascii():
        return q in initials(name) or q in spelled(name)
    return False
