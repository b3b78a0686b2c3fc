"""Tables for spreadsheets: every CSV the product writes (list exports, report tables,
rejected import rows, `metacrm report --format csv`) and the text cells of its XLSX files go
through here, so none of them can carry a formula into Excel or LibreOffice.

In a CSV file, a text cell that starts with = + - @ (or a tab or carriage return) is a
formula to a spreadsheet (`@SUM(1+1)`, `=HYPERLINK(...)`): it is written with a leading
apostrophe, which the spreadsheet shows as text. Numbers keep their sign (`-5`,
`+84903123456`). A text that already starts with an apostrophe and such a character gets
one more, so an import, which takes one apostrophe off again, gets back exactly what was
exported. In an XLSX file, text goes into cells typed as text: never a formula, and no
apostrophe to see.

    >>> guard("=1+1"), guard("-5"), guard("Hà Nội"), guard("'=x")
    ("'=1+1", '-5', 'Hà Nội', "''=x")
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

from openpyxl.cell import WriteOnlyCell

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def guard(value: Any) -> Any:
    """`value`, made safe for a CSV cell (non-text values are returned as they are)."""
    if not isinstance(value, str):
        return value
    if value.startswith(FORMULA_START) and not _is_number(value) \
            or value.startswith("'") and value.lstrip("'").startswith(FORMULA_START):
        return "'" + value
    return value


def unguard(text: str) -> str:
    """A CSV cell read from a file, without the apostrophe `guard` put first."""
    if text.startswith("'") and text.lstrip("'").startswith(FORMULA_START):
        return text[1:]
    return text


def xlsx_row(sheet: Any, values: Iterable[Any]) -> list[Any]:
    """A row for a write-only openpyxl sheet: text in cells typed as text (openpyxl would
    make a formula of a text starting with =); numbers and dates as they are."""
    out: list[Any] = []
    for value in values:
        if isinstance(value, str):
            cell = WriteOnlyCell(sheet, value=value)
            cell.data_type = "s"
            out.append(cell)
        else:
            out.append(value)
    return out


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


__all__ = ["FORMULA_START", "csv_text", "guard", "unguard", "xlsx_row"]
