"""Tables for spreadsheets: every CSV the product writes (list exports, report tables,
rejected import rows, `metacrm report --format csv`) and the text cells of its XLSX files go
through here, so none of them can carry a formula into Excel or LibreOffice.

A text cell that starts with = + - @ (or a tab or carriage return) is a formula to a
spreadsheet (`@SUM(1+1)`, `=HYPERLINK(...)`): it is written with a leading apostrophe, which
the spreadsheet shows as text. Numbers keep their sign (`-5`, `+84903123456`). An import
takes the apostrophe off again, so a file exported and imported back keeps its values.

    >>> guard("=1+1"), guard("-5"), guard("Hà Nội")
    ("'=1+1", '-5', 'Hà Nội')
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard(value: Any) -> Any:
    """`value`, made safe for a spreadsheet cell (non-text values are returned as they are)."""
    if isinstance(value, str) and value.startswith(FORMULA_START) and not _is_number(value):
        return "'" + value
    return value


def unguard(text: str) -> str:
    """A cell read from a file, without the apostrophe `guard` put before a formula."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_text(rows: Iterable[Iterable[Any]], *, bom: bool = False,
             lineterminator: str = "\r\n") -> str:
    """The rows as CSV text, every cell guarded; `bom` puts a UTF-8 byte-order mark first
    (Excel then reads the accents)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerows([guard(c) for c in row] for row in rows)
    return ("\ufeff" if bom else "") + out.getvalue()


__all__ = ["FORMULA_START", "csv_text", "guard", "unguard"]
