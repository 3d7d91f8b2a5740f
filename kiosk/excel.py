"""CSV files for Excel: UTF-8 with a BOM (so Excel reads Chinese right), and every
cell that Excel would take for a formula defused with a leading apostrophe."""
from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

BOM = "\ufeff"
# A cell starting with one of these is a formula (or DDE) to Excel and LibreOffice.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as Excel should show it: text that would run as a formula gets a
    leading ``'``; numbers stay numbers (a negative number is not a formula)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def excel_csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The whole CSV text, BOM first, CRLF line ends as Excel writes them."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([safe_cell(h) for h in header])
    for row in rows:
        writer.writerow([safe_cell(v) for v in row])
    return out.getvalue()
