"""Ingest benchmark: durable rating writes against a bare Flask endpoint.

Starts `kiosk serve` (waitress, SQLite in WAL mode with synchronous=FULL) and a bare
Flask app that parses the same JSON and answers 201 without storing, drives both with
the same 8-client load in alternating rounds, checks that the stored count equals the
201 count, and prints ratings/s for both and their ratio.

    python bench/ingest.py [--seconds 5] [--rounds 3] [--clients 8] [--threads 8]
"""
from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.liveserver import Client, LiveServer, free_port  # noqa: E402

WINDOWS = [f"W{i:02d}" for i in range(12)]


def prepare(uri: str, instance: Path) -> None:
    """A migrated database with a dozen windows."""
    import os

    from kiosk import create_app
    from kiosk.bootstrap import init_db
    from kiosk.db import db
    from kiosk.windows import import_windows

    os.environ["KIOSK_INSTANCE_PATH"] = str(instance)
    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench"})
    with app.app_context():
        init_db()
        csv = "code,name,department\n" + "".join(f"{c},窗口{c},测试局\n" for c in WINDOWS)
        import_windows(io.StringIO(csv))
        db.session.commit()
        db.engine.dispose()


def drive(port: int, clients: int, seconds: float) -> int:
    """``clients`` keep-alive clients posting ratings for ``seconds``; returns the 201s."""
    counts = [0] * clients
    failures: list = []
    deadline = time.monotonic() + seconds

    def run(n: int) -> None:
        client = Client(port)
        i = 0
        while time.monotonic() < deadline:
            body = {"window": WINDOWS[(n + i) % len(WINDOWS)], "score": 1 + i % 5,
                    "channel": "kiosk", "client_id": uuid.uuid4().hex,
                    "reasons": ["waiting"] if i % 5 == 0 else [],
                    "comment": "排队时间太长" if i % 5 == 0 else None}
            status, _ = client.post("/api/ratings", body)
            if status == 201:
                counts[n] += 1
            else:
                failures.append(status)
            i += 1
        client.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"{len(failures)} requests failed: {failures[:5]}")
    return sum(counts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    uri = f"sqlite:///{tmp / 'kiosk.sqlite'}"
    prepare(uri, tmp)
    ours = LiveServer(uri, tmp, threads=args.threads)
    bare_port = free_port()
    bare = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_app.py"),
                             str(bare_port), str(args.threads)])
    time.sleep(1.0)
    try:
        drive(ours.port, args.clients, 1.0)  # warm up both
        drive(bare_port, args.clients, 1.0)
        engine = sa.create_engine(uri)
        with engine.connect() as conn:
            before = conn.scalar(sa.text("SELECT count(*) FROM rating"))
        ours_total = bare_total = 0
        print(f"{args.clients} clients, waitress threads={args.threads}, "
              f"{args.rounds} rounds of {args.seconds:g}s each")
        for r in range(1, args.rounds + 1):
            n_ours = drive(ours.port, args.clients, args.seconds)
            n_bare = drive(bare_port, args.clients, args.seconds)
            ours_total += n_ours
            bare_total += n_bare
            print(f"round {r}: durable {n_ours / args.seconds:8.0f}/s   "
                  f"bare {n_bare / args.seconds:8.0f}/s   "
                  f"ratio {n_ours / n_bare:.2f}")
        with engine.connect() as conn:
            stored = conn.scalar(sa.text("SELECT count(*) FROM rating")) - before
            sync = conn.exec_driver_sql("PRAGMA synchronous").scalar()
            mode = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
        engine.dispose()
        span = args.seconds * args.rounds
        print(f"journal_mode={mode} synchronous={sync} (2 = FULL)")
        print(f"stored {stored} ratings for {ours_total} answers 201: "
              f"{'OK' if stored == ours_total else 'MISMATCH'}")
        print(f"durable writes: {ours_total / span:.0f} ratings/s")
        print(f"bare endpoint : {bare_total / span:.0f} ratings/s")
        print(f"ratio         : {ours_total / bare_total:.2f} (target >= 0.60)")
        if stored != ours_total:
            raise SystemExit(1)
    finally:
        ours.stop()
        bare.terminate()
        bare.wait()


if __name__ == "__main__":
    main()
