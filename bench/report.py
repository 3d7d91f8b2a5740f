"""Monthly bulletin benchmark: seconds to make the PDF of one month on a year of data.

    python bench/report.py [--ratings 1000000] [--windows 500] [--month 2025-06]
                           [--repeat 3] [--backend both|sqlite|postgresql]

The year (2025) is bench/league.py's: the same generator and the same cached SQLite
file (built once, minutes), copied into a fresh PostgreSQL database for that backend.
Each run gathers the figures (``reports.bulletin``: the month's and last month's
window tables, the staff table, follow-ups, trend, heatmap, reasons, appeals,
suggestions) and draws the PDF (``reports.render_pdf``), timed apart, in the process
as ``kiosk report`` runs them; then ``kiosk report`` itself is run once as an
operator would, start-up included. Target: a few seconds.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import league as year  # noqa: E402  (the year of ratings, cached)


def measure(backend: str, uri: str, month: str, repeat: int, instance: Path) -> None:
    from kiosk import clock, create_app, reports
    from kiosk.db import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench"})
    with app.app_context():
        tz = clock.zone(app.config["TIMEZONE"])
        period = reports.month_of(month)
        gather, draw, pdf = [], [], b""
        for _ in range(repeat):
            t = time.perf_counter()
            data = reports.bulletin(db.session, period, tz, prior=app.config["LEAGUE_PRIOR"])
            gather.append(time.perf_counter() - t)
            t = time.perf_counter()
            pdf = reports.render_pdf(data)
            draw.append(time.perf_counter() - t)
            db.session.rollback()
        ratings = data.this.ratings
        windows, staff = len(data.window_rows), len(data.staff_rows)
        db.engine.dispose()
    out = instance / f"bulletin-{backend}.pdf"
    out.write_bytes(pdf)
    pages = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
    pages = next((line.split()[-1] for line in pages.splitlines()
                  if line.startswith("Pages:")), "?")
    env = dict(os.environ, KIOSK_SQLALCHEMY_DATABASE_URI=uri, KIOSK_SECRET_KEY="bench",
               KIOSK_INSTANCE_PATH=str(instance))
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "kiosk", "report", "--month", month, "--out",
                    str(instance / "cli.pdf")], env=env, check=True, capture_output=True)
    cli = time.perf_counter() - t
    total = [g + d for g, d in zip(gather, draw)]
    print(f"{backend}: {month}, {ratings:,} counted ratings, {windows} windows, "
          f"{staff} clerks -> {pages} pages, {len(pdf) / 1024:,.0f} KiB")
    print(f"  figures  first {gather[0]:.2f}s  median {statistics.median(gather):.2f}s")
    print(f"  PDF      first {draw[0]:.2f}s  median {statistics.median(draw):.2f}s")
    print(f"  total    first {total[0]:.2f}s  median {statistics.median(total):.2f}s")
    print(f"  `kiosk report` end to end (python start-up included): {cli:.2f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    year.add_year_options(parser)
    parser.add_argument("--month", default="2025-06")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"load average: {year._load()}")
    path = year.cached_database(args)
    instance = Path(tempfile.mkdtemp(prefix="kiosk-report-"))
    os.environ["KIOSK_INSTANCE_PATH"] = str(instance)
    try:
        if args.backend in ("both", "sqlite"):
            uri = f"sqlite:///{path}"
            year.migrate(uri)
            measure("sqlite", uri, args.month, args.repeat, instance)
        if args.backend in ("both", "postgresql"):
            name, uri = year.copy_to_postgres(path, args.pg)
            try:
                year.migrate(uri)
                measure("postgresql", uri, args.month, args.repeat, instance)
            finally:
                year.drop_postgres(args.pg, name)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
