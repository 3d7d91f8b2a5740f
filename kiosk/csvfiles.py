"""Reading operators' CSV files: UTF-8 (BOM tolerated), header checked, lines numbered."""
from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import IO

MAX_REPORTED = 50


class ImportFailed(Exception):
    """Nothing was imported; ``errors`` are sentences naming the bad lines."""

    def __init__(self, errors: list[str], total: int | None = None) -> None:
        self.errors = errors[:MAX_REPORTED]
        self.total = total if total is not None else len(errors)
        more = self.total - len(self.errors)
        tail = f"\n… and {more} more" if more > 0 else ""
        super().__init__("nothing imported:\n" + "\n".join(self.errors) + tail)


def rows(fh: IO[str], required: set[str], optional: set[str],
         present: set[str] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(first line number, row)`` keyed by lower-cased header names.

    ImportFailed on a bad header or a line CSV cannot read. ``present``, if given,
    receives the known columns the header has.
    """
    reader = csv.reader(fh)
    try:
        header = [h.strip().lower() for h in next(reader)]
    except StopIteration:
        raise ImportFailed(["line 1: the file is empty; expected a header row"]) from None
    except csv.Error as exc:
        raise ImportFailed([f"line 1: {exc}"]) from None
    missing = sorted(required - set(header))
    if missing:
        raise ImportFailed([f"line 1: the header lacks column(s) {', '.join(missing)}; "
                            f"expected {', '.join(sorted(required))}"])
    known = required | optional
    keep = [(i, h) for i, h in enumerate(header) if h in known]
    if present is not None:
        present.update(h for _, h in keep)
    width = len(header)
    while True:
        first = reader.line_num + 1  # a quoted field may span lines
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFailed([f"line {first}: {exc}"]) from None
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != width:
            yield first, {"__width__": f"has {len(record)} fields, the header {width}"}
            continue
        yield first, {h: record[i] for i, h in keep}


def open_text(path: str) -> IO[str]:
    """Open an operator's CSV: UTF-8 with or without BOM; ``-`` is standard input."""
    if path == "-":
        import io
        import sys
        return io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8-sig", newline="")
    return open(path, encoding="utf-8-sig", newline="")
