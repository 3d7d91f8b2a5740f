"""Bulk import benchmark: `kiosk import-ratings` on a generated CSV of N ratings.

    python bench/import_ratings.py [--rows 1000000] [--database URI]

Prints rows/s for a first import (all new) and a second one of the same file (all
updates by client_id), on SQLite by default.
"""
from __future__ import annotations

import argparse
import io
import os
import random
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WINDOWS = [f"W{i:02d}" for i in range(40)]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database", help="SQLAlchemy URI of an empty database "
                        "(default: a new SQLite file)")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="kiosk-import-"))
    os.environ["KIOSK_INSTANCE_PATH"] = str(tmp)
    uri = args.database or f"sqlite:///{tmp / 'kiosk.sqlite'}"

    from kiosk import clock, create_app
    from kiosk.bootstrap import init_db
    from kiosk.db import db
    from kiosk.imports import import_ratings
    from kiosk.windows import import_windows

    csv_path = tmp / "ratings.csv"
    t = time.perf_counter()
    make_csv(csv_path, args.rows)
    print(f"generated {args.rows} rows ({csv_path.stat().st_size / 2**20:.0f} MiB) "
          f"in {time.perf_counter() - t:.1f}s")
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench"})
    with app.app_context():
        init_db()
        import_windows(io.StringIO("code,name,department\n" +
                                   "".join(f"{c},窗口{c},测试局\n" for c in WINDOWS)))
        db.session.commit()
        tz = clock.zone(app.config["TIMEZONE"])
        for label in ("first import (all new)", "second import (all updates)"):
            t = time.perf_counter()
            with open(csv_path, encoding="utf-8-sig", newline="") as fh:
                result = import_ratings(fh, tz)
            db.session.commit()
            took = time.perf_counter() - t
            print(f"{label}: {result.rows} rows ({result.created} new, {result.updated} "
                  f"updated) in {took:.1f}s = {result.rows / took:,.0f} rows/s")
        db.engine.dispose()


if __name__ == "__main__":
    main()
