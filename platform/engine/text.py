"""Text folding for accent-insensitive search: 'Nguyễn Văn Đức' -> 'nguyen van duc'.

Đ/đ is a letter of its own in Vietnamese, not a D with a mark, so Unicode decomposition
leaves it alone; we fold it to d ourselves.
"""

from __future__ import annotations

import re
import unicodedata

_MARKS = re.compile(r"[\u0300-\u036f]")
_SPACES = re.compile(r"\s+")
_NOT_KEY = re.compile(r"[^a-z0-9]")


def fold(text: str | None) -> str:
    """Lowercase, without diacritics, with đ as d and runs of spaces as one."""
    if not text:
        return ""
    decomposed = unicodedata.normalize("NFD", str(text))
    stripped = _MARKS.sub("", decomposed).replace("đ", "d").replace("Đ", "D")
    return _SPACES.sub(" ", unicodedata.normalize("NFC", stripped).lower()).strip()


def match_key(text: object) -> str:
    """`fold` without spaces or punctuation: two spellings of one name give one key
    ('Hà Nội', 'HA-NOI' -> 'hanoi'). For matching column names, options and look-alikes."""
    return _NOT_KEY.sub("", fold(str(text)))


def is_digits(text: str) -> bool:
    """Only the digits 0-9: `str.isdigit` is also true of '¹' (which int() refuses) and
    of '٣' (which int() reads as 3); an id or a number from a form or a URL is neither."""
    return text.isascii() and text.isdigit()


def search_terms(query: str | None) -> list[str]:
    """The folded words of a quick-search query."""
    return [t for t in fold(query).split(" ") if t]


def like_escape(text: str) -> str:
    """Escape LIKE's wildcards (with backslash as the escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
