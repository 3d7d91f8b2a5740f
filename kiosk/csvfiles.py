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


def read_header(fh: IO[str], required: set[str]) -> tuple[Iterator[list[str]], list[str]]:
    """A CSV reader past the header, and the header's lower-cased names.

    ImportFailed when the header is missing or lacks a ``required`` column.
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
    return reader, header


def records(reader) -> Iterator[tuple[int, list[str]]]:
    """Yield ``(first line number, cells)`` of every record that is not blank.

    ImportFailed on a line CSV cannot read."""
    for lines, chunk in record_chunks(reader, 1):
        yield lines[0], chunk[0]


def record_chunks(reader, size: int) -> Iterator[tuple[list[int], list[list[str]]]]:
    """``records`` a list of ``size`` at a time: (first line numbers, cells)."""
    lines: list[int] = []
    chunk: list[list[str]] = []
    last = reader.line_num  # a quoted field may span lines: count from the last one
    try:
        for record in reader:
            if record and "".join(record).strip():  # not every cell blank
                lines.append(last + 1)
                chunk.append(record)
                if len(chunk) >= size:
                    yield lines, chunk
                    lines, chunk = [], []
            last = reader.line_num
    except csv.Error as exc:
        raise ImportFailed([f"line {last + 1}: {exc}"]) from None
    if chunk:
        yield lines, chunk


def rows(fh: IO[str], required: set[str], optional: set[str],
         present: set[str] | None = None) -> Iterator[tuple[int, dict]]:
    """Yield ``(first line number, row)`` keyed by lower-cased header names.

    ImportFailed on a bad header or a line CSV cannot read. ``present``, if given,
    receives the known columns the header has.
    """
    reader, header = read_header(fh, required)
    known = required | optional
    keep = [(i, h) for i, h in enumerate(header) if h in known]
    if present is not None:
        present.update(h for _, h in keep)
    width = len(header)
    for first, record in records(reader):
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
