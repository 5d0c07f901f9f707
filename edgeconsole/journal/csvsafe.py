"""CSV that a spreadsheet cannot be tricked into executing.

A text cell starting with = + - @ (or tab / carriage return, which some
spreadsheets strip before parsing) is prefixed with a single quote so it stays
text (OWASP "CSV injection"). Numbers are written as numbers and need no
escaping: a spreadsheet never treats a plain number as a formula.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def safe_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (int, float)):
        return value
    text = str(value)
    if text.startswith(_TRIGGERS):
        return "'" + text
    return text


def write_csv(fh: io.TextIOBase | Any, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    w = csv.writer(fh, lineterminator="\r\n")
    w.writerow([safe_cell(h) for h in header])
    n = 0
    for row in rows:
        w.writerow([safe_cell(c) for c in row])
        n += 1
    return n
