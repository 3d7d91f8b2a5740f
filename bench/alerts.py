"""Alerts benchmark: does a dead work-chat receiver slow POST /api/ratings?

Starts three `kiosk serve --no-demo` servers, each on a database of its own (SQLite
WAL, or PostgreSQL with --pg), loaded in turn by the same wrk script as
bench/ingest.py (bench/ingest.lua: valid ratings, ``--bad`` percent of them bad):

  off   alerts off (no ALERT_WEBHOOK_URL)
  dead  alerts on, posting to a receiver that accepts connections and never answers
        (the worker waits out ALERT_TIMEOUT_SECONDS on every try)
  live  alerts on, posting to a receiver that answers 200 at once

Each round runs the three in turn (each goes first in turn), so they share the
machine's state. Prints ratings/s, mean and p99 latency per round and in total, the
ratios against ``off``, and at the end, per server with alerts on, how many bad
ratings reached the outbox (all of them must, dead receiver or not) and how many
alerts the live receiver got (each once).

    python bench/alerts.py [--seconds 5] [--rounds 3] [--connections 8]
                           [--wrk-threads 2] [--threads 8] [--bad 5] [--pg [URI]]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.liveserver import LiveServer  # noqa: E402

_spec = importlib.util.spec_from_file_location("bench_ingest", ROOT / "bench" / "ingest.py")
ingest = importlib.util.module_from_spec(_spec)
sys.modules["bench_ingest"] = ingest  # (its dataclasses look their module up)
_spec.loader.exec_module(ingest)

TIMEOUT = "5"  # ALERT_TIMEOUT_SECONDS of the servers with alerts on


class LiveReceiver:
    """A robot that answers 200 {"errcode": 0} at once and counts what it got."""

    def __init__(self) -> None:
        self.keys: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.keys.append(body["text"]["content"])
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/send?key=bench"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def dead_receiver() -> tuple[socket.socket, str]:
    """Takes connections (into its backlog) and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}/send?key=bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ingest.add_load_options(parser)  # (--bad: try 20)
    parser.add_argument("--pg", nargs="?", const=ingest.PG_SERVER, default=None,
                        metavar="URI", help="PostgreSQL (a database per server, dropped "
                        "afterwards) instead of SQLite")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-alerts-"))
    sock, dead_url = dead_receiver()
    live = LiveReceiver()
    names = ("off", "dead", "live")
    urls = {"off": None, "dead": dead_url, "live": live.url}
    uris, servers, made_pg = {}, {}, []
    try:
        for name in names:
            if args.pg:
                db_name = f"kiosk_bench_alerts_{name}"
                made_pg.append(db_name)
                uris[name] = ingest.fresh_pg_database(args.pg, db_name)
            else:
                uris[name] = f"sqlite:///{tmp / name / 'kiosk.sqlite'}"
            (tmp / name).mkdir(exist_ok=True)
            ingest.prepare(uris[name], tmp / name)
            config = ({"ALERT_WEBHOOK_URL": urls[name], "ALERT_WEBHOOK_FORMAT": "wecom",
                       "ALERT_TIMEOUT_SECONDS": TIMEOUT, "ALERT_KINDS": "bad_rating,bad_burst"}
                      if urls[name] else {})
            servers[name] = LiveServer(uris[name], tmp / name, threads=args.threads,
                                       config=config)
        load = dict(connections=args.connections, wrk_threads=args.wrk_threads, work=tmp,
                    mix=(args.bad, 30.0))
        runs: dict[str, list] = {name: [] for name in names}
        for name in names:  # warm up
            s = servers[name]
            ingest.wrk([s.port], [s.proc.pid], 1.0, run_id=f"warm{name}{uuid.uuid4().hex[:6]}",
                       **load)
        print(f"wrk -t {args.wrk_threads} -c {args.connections}; waitress threads "
              f"{args.threads}; {args.rounds} rounds of {args.seconds:g}s; {args.bad:g}% bad; "
              f"{'PostgreSQL' if args.pg else 'SQLite WAL'}; a database per server")
        print("  off  = alerts off\n  dead = alerts on, receiver never answers "
              f"(timeout {TIMEOUT}s)\n  live = alerts on, receiver answers 200")
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'':9}" + "".join(f"{n + '/s':>9}" for n in names)
              + f"{'dead/off':>10}{'live/off':>10}   mean ms (off/dead/live)   "
                "p99 ms (off/dead/live)")
        for r in range(1, args.rounds + 1):
            order = names[(r - 1) % 3:] + names[:(r - 1) % 3]
            for name in order:
                s = servers[name]
                runs[name].append(ingest.wrk([s.port], [s.proc.pid], args.seconds,
                                             run_id=f"{name}{uuid.uuid4().hex[:8]}", **load))
            last = {n: runs[n][-1] for n in names}
            print(f"round {r:<3}" + "".join(f"{last[n].rate:9.0f}" for n in names)
                  + f"{last['dead'].rate / last['off'].rate:10.2f}"
                  + f"{last['live'].rate / last['off'].rate:10.2f}   "
                  + "/".join(f"{last[n].lat_mean_ms:.1f}" for n in names).ljust(26)
                  + "/".join(f"{last[n].lat_p99_ms:.1f}" for n in names))
        rate = {n: sum(x.s201 for x in runs[n]) / sum(x.seconds for x in runs[n])
                for n in names}
        errors = {n: sum(x.other + x.errors + x.s200 for x in runs[n]) for n in names}
        print("total    " + "".join(f"{rate[n]:9.0f}" for n in names)
              + f"{rate['dead'] / rate['off']:10.2f}{rate['live'] / rate['off']:10.2f}")
        print("answers other than 201: " + ", ".join(f"{n} {errors[n]}" for n in names))
        # Every bad rating must reach the outbox, whatever the receiver does.
        time.sleep(3)
        deadline = time.monotonic() + 60
        for name in ("dead", "live"):
            engine = sa.create_engine(uris[name])
            while True:
                with engine.connect() as conn:
                    bad = conn.scalar(sa.text(
                        "SELECT count(*) FROM rating WHERE score <= 2 AND counted"))
                    queued = conn.scalar(sa.text(
                        "SELECT count(*) FROM alert WHERE kind = 'bad_rating'"))
                    states = dict(conn.execute(sa.text(
                        "SELECT status, count(*) FROM alert GROUP BY status")).all())
                settled = name == "dead" or not states.get("pending")
                if (queued >= bad and settled) or time.monotonic() > deadline:
                    break
                time.sleep(1)
            engine.dispose()
            extra = ""
            if name == "live":
                extra = (f"; the receiver got {len(live.keys)} posts "
                         f"({'each alert once' if len(live.keys) == states.get('sent', 0) else 'MISMATCH'}"
                         f" with {states.get('sent', 0)} marked sent)")
            print(f"{name:5}: {bad} bad ratings stored, {queued} bad_rating alerts in the "
                  f"outbox ({'OK' if queued == bad else 'MISSING'}); by status "
                  f"{json.dumps(states)}{extra}")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        for server in servers.values():
            server.stop()
        sock.close()
        live.close()
        shutil.rmtree(tmp, ignore_errors=True)
        for db_name in made_pg:
            ingest.drop_pg_database(args.pg, db_name)


if __name__ == "__main__":
    main()
