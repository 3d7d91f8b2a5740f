"""Bulk import benchmark: `kiosk import-ratings` on a generated CSV of N ratings,
against a bare ``executemany`` of the same rows into a plain SQLite table.

    python bench/import_ratings.py [--rows 1000000] [--rounds 2] [--database URI | --pg]

Prints the time (wall and this process's CPU) of a first import (all new) and a second
one of the same file (all updates by client_id), live summary included, into a new
SQLite file per round by default (``--pg``: a fresh PostgreSQL database per round,
dropped after; its CPU figure leaves out the server's). Interleaved with each round,
on SQLite:

- bare: ``executemany`` of the file's rows, already parsed into the 13 stored columns,
  into a plain table with no index, in one transaction (the target: the import within
  4x of it);
- bare + unique index: the same table with a unique index on ``client_id``;
- csv + bare: reading the file with ``csv.reader`` and ``executemany`` of what it
  yields, the floor for anything that starts from the file.

The machine is shared: the best of the rounds is compared, and the load average shown.
The file is generated once and kept in the temp folder.
"""
from __future__ import annotations

import argparse
import csv
import io
import os
import random
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOWS = [f"W{i:02d}" for i in range(40)]
PLAIN = ("CREATE TABLE plain (client_id VARCHAR(64), window_id INTEGER, staff_id INTEGER, "
         "score SMALLINT, channel VARCHAR(16), reasons VARCHAR(400), comment TEXT, "
         "phone VARCHAR(20), ticket VARCHAR(64), created_at DATETIME, "
         "received_at DATETIME, counted BOOLEAN, flags VARCHAR(200))")
INSERT = "INSERT INTO plain VALUES (" + ", ".join("?" * 13) + ")"


def make_csv(path: Path, rows: int) -> None:
    rng = random.Random(1)
    start = datetime(2025, 1, 1, 9, 0)
    reasons = ["attitude", "waiting", "efficiency;guidance", ""]
    with open(path, "w", encoding="utf-8") as out:
        out.write("client_id,window,score,channel,reasons,comment,phone,created_at,ticket\n")
        for i in range(rows):
            score = rng.choice((5, 5, 5, 4, 4, 3, 2, 1))
            bad = score <= 2
            when = start + timedelta(seconds=i * 20)
            out.write(f"hist-{i:09d},{WINDOWS[i % len(WINDOWS)]},{score},"
                      f"{'qr' if i % 5 == 0 else 'kiosk'},"
                      f"{rng.choice(reasons) if bad else ''},"
                      f"{'等候时间太长' if bad else ''},"
                      f"{'138%08d' % (i % 10**8) if bad and i % 2 else ''},"
                      f"{when.isoformat()}+08:00,T{i % 500:03d}\n")


def csv_file(rows: int) -> Path:
    """The generated file, kept in the temp folder between runs."""
    folder = Path(tempfile.gettempdir()) / "kiosk-bench-import"
    folder.mkdir(exist_ok=True)
    path = folder / f"ratings-{rows}-v1.csv"
    if not path.exists():
        t = time.perf_counter()
        make_csv(path.with_suffix(".tmp"), rows)
        path.with_suffix(".tmp").rename(path)
        print(f"generated {rows} rows in {time.perf_counter() - t:.1f}s")
    print(f"file: {path} ({path.stat().st_size / 2**20:.0f} MiB)")
    return path


def plain_rows(path: Path) -> list[tuple]:
    """The file's rows as the 13 stored columns (what the import would store)."""
    codes = {c: i + 1 for i, c in enumerate(WINDOWS)}
    received = datetime.now().isoformat(" ", "microseconds")
    out = []
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        next(reader)
        for cid, window, score, channel, reasons, comment, phone, created, ticket in reader:
            utc = datetime.fromisoformat(created).replace(tzinfo=None) - timedelta(hours=8)
            out.append((cid, codes[window], None, int(score), channel, reasons,
                        comment or None, phone or None, ticket,
                        utc.isoformat(" ", "microseconds"), received, 1, ""))
    return out


def bare(folder: Path, label: str, rows, index: bool = False) -> tuple[float, float]:
    """Seconds (wall, CPU of this process) to executemany ``rows`` into a new plain
    table, committed, with the app's SQLite settings (WAL, synchronous=FULL)."""
    path = folder / f"bare-{label}.sqlite"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(PLAIN)
    if index:
        conn.execute("CREATE UNIQUE INDEX plain_client_id ON plain (client_id)")
    t, cpu = time.perf_counter(), time.process_time()
    conn.execute("BEGIN IMMEDIATE")
    if callable(rows):
        rows = rows()
    conn.executemany(INSERT, rows)
    conn.execute("COMMIT")
    took = time.perf_counter() - t, time.process_time() - cpu
    conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return took


def csv_rows(path: Path):
    """csv.reader straight into executemany: the file's cells padded to 13 columns."""
    def gen():
        with open(path, encoding="utf-8", newline="") as fh:
            reader = csv.reader(fh)
            next(reader)
            for cid, window, score, channel, reasons, comment, phone, created, ticket \
                    in reader:
                yield (cid, window, None, score, channel, reasons, comment, phone,
                       ticket, created, None, 1, "")
    return gen


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of every figure, interleaved; the best is compared")
    parser.add_argument("--database", help="SQLAlchemy URI of an empty database "
                        "(one round only; default: a new SQLite file per round)")
    parser.add_argument("--pg", nargs="?", const="postgresql://127.0.0.1:5432/test",
                        help="import into a fresh PostgreSQL database per round, made "
                        "next to this one (default %(const)s) and dropped after")
    parser.add_argument("--no-bare", action="store_true", help="skip the bare baselines")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-import-"))
    os.environ["KIOSK_INSTANCE_PATH"] = str(tmp)
    print(f"load average at start: {load()}")
    csv_path = csv_file(args.rows)
    prepared = None if args.no_bare else plain_rows(csv_path)
    figures: dict[str, list[tuple[float, float]]] = {}
    for n in range(1 if args.database else args.rounds):
        print(f"-- round {n + 1} (load {load()})", flush=True)
        if prepared is not None:
            for label, rows, index in (("bare", prepared, False),
                                       ("bare + unique index", prepared, True),
                                       ("csv + bare", csv_rows(csv_path), False)):
                took = bare(tmp, label.replace(" ", ""), rows, index)
                figures.setdefault(label, []).append(took)
                print(f"{label:>34s}: {took[0]:6.1f}s (CPU {took[1]:5.1f}s)", flush=True)
        uri, drop = database(args, tmp, n)
        try:
            last = n + 1 == args.rounds or args.database
            for label, took in run(uri, csv_path, check=last):
                figures.setdefault(label, []).append(took)
        finally:
            drop()
    print(f"\nbest of {len(figures[next(iter(figures))])} rounds, {args.rows:,} rows:")
    bares = {k: v for k, v in figures.items() if k.endswith("bare") or "index" in k}
    for label, values in figures.items():
        wall, cpu = min(v[0] for v in values), min(v[1] for v in values)
        line = f"{label:>34s}: {wall:6.1f}s (CPU {cpu:5.1f}s) = {args.rows / wall:9,.0f} rows/s"
        if label not in bares and bares:
            line += "\n" + " " * 36 + "  ".join(
                f"{wall / min(b[0] for b in base):.2f}x {name} "
                f"(CPU {cpu / min(b[1] for b in base):.2f}x)" for name, base in bares.items())
        print(line)
    print(f"load average at end: {load()}")


def database(args, tmp: Path, n: int):
    """A URI to import into, and how to get rid of it."""
    if args.database:
        return args.database, lambda: None
    if not args.pg:
        return f"sqlite:///{tmp / f'kiosk-{n}.sqlite'}", lambda: None
    import psycopg
    name = f"kiosk_bench_import_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(args.pg, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    base = args.pg.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", drop


def run(uri: str, csv_path: Path, check: bool):
    """Import the file twice into the empty database at ``uri``; yields (label, (wall,
    CPU)) of each import."""
    from kiosk import clock, create_app, summary
    from kiosk.bootstrap import init_db
    from kiosk.db import db
    from kiosk.imports import import_ratings
    from kiosk.windows import import_windows

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench"})
    with app.app_context():
        init_db()
        import_windows(io.StringIO("code,name,department\n" +
                                   "".join(f"{c},窗口{c},测试局\n" for c in WINDOWS)))
        db.session.commit()
        tz = clock.zone(app.config["TIMEZONE"])
        dialect = db.engine.dialect.name
        for label in ("import, all new", "import again, all updates"):
            t, cpu = time.perf_counter(), time.process_time()
            with open(csv_path, encoding="utf-8-sig", newline="") as fh:
                result = import_ratings(fh, tz)
            db.session.commit()
            took = time.perf_counter() - t, time.process_time() - cpu
            print(f"{dialect + ' ' + label:>34s}: {took[0]:6.1f}s (CPU {took[1]:5.1f}s) "
                  f"{result.created} new, {result.updated} updated (load {load()})",
                  flush=True)
            yield f"{dialect} {label}", took
        if check:
            t = time.perf_counter()
            same = summary.stored(db.session) == summary.scan(db.session, tz)
            print(f"summary equal to a scan: {same} "
                  f"(checked in {time.perf_counter() - t:.0f}s)")
        db.session.rollback()
        db.engine.dispose()


if __name__ == "__main__":
    main()
