"""Ingest benchmark: durable rating writes against a bare endpoint, loaded by wrk.

Starts `kiosk serve --no-demo` (waitress, SQLite in WAL mode with synchronous=FULL)
and bench/bare_app.py (Flask parsing the same JSON and answering 201 without
storing) under the same server (kiosk.serving), plus, unless --no-stock, the bare app
under stock `waitress.serve` (the yardstick the issue's 0.43x was measured against).
`wrk` drives each in turn (a load generator outside this Python, so it shares no GIL
with the servers) with the same 8 keep-alive connections, every request posting a
valid rating with a client_id of its own (bench/ingest.lua). After each round of the
durable server it checks that every rating answered 201 was stored, nothing else but
the requests wrk left in flight at its deadline, and that no answer was a 200 (a
repeat) or an error; at the end, that the live summary counts every stored rating.
Prints ratings/s per round and in total, the ratio, latency and the servers' CPU time
per request.

Ratings are a hall's mix: ``--bad`` percent of them bad (default 5; try 40), a third
with a phone number, so the durable server opens callback, verify and sampled
follow-up cases in the same transactions; at the end every stored rating must have
exactly the case kiosk/caseopen.py calls for.

    python bench/ingest.py [--seconds 5] [--rounds 3] [--connections 8] [--threads 8]
                           [--wrk-threads 2] [--bad 5] [--phones 30] [--no-stock]
                           [--pg [URI] [--two]] [--thread-writer] [--core-each]

``--pg`` runs the durable server on PostgreSQL instead (default: a fresh database
``kiosk_bench`` on the server at 127.0.0.1:5432, dropped afterwards); PostgreSQL
shares the machine's cores with everything else, as in a one-box hall. ``--two`` adds
the city-wide setup: two servers on that database, each loaded by a wrk of its own
with half the connections (the same load in all as the one server gets).
``--core-each`` holds each server, its writer process with it, to one core of its
own (the bare app to the first server's), as if each ran on a one-core machine of its
own, while PostgreSQL and wrk use every core: on a two-core machine that is the only
way two servers can add what a second machine would. Without it, one server already
takes what PostgreSQL and wrk leave of the two cores, and the second server can only
add its overhead. Before each run on PostgreSQL the live summary is vacuumed
(``settle``), so that no run inherits the dead rows of the one before.
``kiosk serve`` stores through a writer process (kiosk/writerproc.py), on either
database; ``--thread-writer`` adds a server with WRITER_PROCESS=false, its writer a
thread in the server process as before, so the two are compared in one run. A
server's CPU column counts its writer process too.
"""
from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from tests.liveserver import LiveServer, free_port  # noqa: E402

WINDOWS = [f"W{i:02d}" for i in range(12)]  # as in ingest.lua
LUA = ROOT / "bench" / "ingest.lua"
TARGET, GOAL = 0.6, 0.8
PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
PG_BENCH_DB = "kiosk_bench"


def fresh_pg_database(server: str, name: str = PG_BENCH_DB) -> str:
    """A new, empty database ``name`` on ``server``; its URI."""
    drop_pg_database(server, name, create=True)
    return f"{server}/{name}"


def drop_pg_database(server: str, name: str = PG_BENCH_DB, create: bool = False) -> None:
    """Drop database ``name`` on ``server`` if it is there (and make it anew)."""
    admin = sa.create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        if create:
            conn.exec_driver_sql(f"CREATE DATABASE {name}")
    admin.dispose()


def prepare(uri: str, instance: Path) -> None:
    """A migrated database with a dozen windows."""
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


@dataclass
class Run:
    """One wrk run, from the line ingest.lua's done() prints."""

    sent: int  # requests wrk began (the last few may be unanswered at its deadline)
    requests: int  # answers received
    seconds: float
    s201: int
    s200: int
    other: int
    errors: int  # socket errors and timeouts
    lat_mean_ms: float
    lat_p99_ms: float
    cpu_ms: float  # the server's CPU time (user + system; its writer process's too)
    own_cpu_ms: float  # the server process's alone (without its writer process)
    db_cpu_ms: float  # PostgreSQL's (every postgres process) during the run; 0 on SQLite
    idle_cores: float  # the machine's idle time over the run, in cores
    acks: set[str]

    @property
    def rate(self) -> float:
        return self.s201 / self.seconds

    @property
    def cpu_per_request(self) -> float:
        return self.cpu_ms / max(self.requests, 1)

    @property
    def db_cpu_per_request(self) -> float:
        return self.db_cpu_ms / max(self.requests, 1)

    def cores(self) -> str:
        """Where the machine's cores went during the run."""
        per_second = 1000 * self.seconds
        writer = (self.cpu_ms - self.own_cpu_ms) / per_second
        database = self.db_cpu_ms / per_second
        return (f"server {self.own_cpu_ms / per_second:.2f}"
                + (f" + writer {writer:.2f}" if writer >= 0.005 else "")
                + (f" + PostgreSQL {database:.2f}" if database >= 0.005 else "")
                + f", idle {self.idle_cores:.2f}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def family_cpu_seconds(pid: int) -> float:
    """CPU time of ``pid`` and its live children: a server and its writer process."""
    return sum(map(cpu_seconds, family(pid)))


def idle_ticks() -> tuple[int, int]:
    """(idle, all) clock ticks of the whole machine so far (/proc/stat)."""
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return ticks[3] + ticks[4], sum(ticks)  # idle + iowait


def family(pid: int) -> list[int]:
    """``pid`` and its live descendants: a server and its writer process."""
    out = [pid]
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            kids = (task / "children").read_text().split()
        except OSError:
            continue
        for kid in kids:
            out += family(int(kid))
    return out


def pin(pid: int, core: int) -> None:
    """Hold ``pid``, its threads and its child processes to one core (they keep it for
    the threads and processes they start later)."""
    for member in family(pid):
        for task in Path(f"/proc/{member}/task").iterdir():
            os.sched_setaffinity(int(task.name), {core})


def postgres_cpu_seconds() -> float:
    """CPU time of every process named postgres on this machine (0 without any): what
    the database spends, on a one-box hall where it shares the cores."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "comm").read_text().strip() == "postgres":
                    total += cpu_seconds(int(entry.name))
            except OSError:  # gone meanwhile
                pass
    return total


def wrk(ports: list[int], pids: list[int], seconds: float, connections: int,
        wrk_threads: int, run_id: str, work: Path, mix: tuple[float, float]) -> Run:
    """One wrk per port, all at once, the connections shared out among them (two
    servers behind one address, without a proxy's cost in the figures); their answers
    summed. Client ids start with ``run_id``."""
    cmds, acks_paths = [], []
    share = max(connections // len(ports), 1)
    for k, port in enumerate(ports):
        acks_paths.append(work / f"acks-{run_id}-{k}.txt")
        # The same wrk threads in all, as the connections: the load generator's share
        # of the cores stays the same.
        cmds.append([WRK, "-t", str(max(wrk_threads // len(ports), 1)), "-c", str(share),
                     "-d", f"{seconds:g}s", "--timeout", "30s", "-s", str(LUA),
                     f"http://127.0.0.1:{port}/api/ratings", "--", f"{run_id}{k}",
                     f"{mix[0]:g}", f"{mix[1]:g}"])
    cpu0, db0 = sum(map(family_cpu_seconds, pids)), postgres_cpu_seconds()
    own0, (idle0, all0) = sum(map(cpu_seconds, pids)), idle_ticks()
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, INGEST_ACKS=str(path)))
             for cmd, path in zip(cmds, acks_paths)]
    outs = [proc.communicate(timeout=seconds + 60) for proc in procs]
    cpu, db_cpu = sum(map(family_cpu_seconds, pids)) - cpu0, postgres_cpu_seconds() - db0
    own, (idle1, all1) = sum(map(cpu_seconds, pids)) - own0, idle_ticks()
    idle_cores = os.cpu_count() * (idle1 - idle0) / max(all1 - all0, 1)
    runs = []
    for proc, (stdout, stderr), path in zip(procs, outs, acks_paths):
        line = next((x for x in stdout.splitlines() if x.startswith("INGEST ")), None)
        if proc.returncode or line is None:
            raise SystemExit(f"wrk failed ({proc.returncode}):\n{stdout}\n{stderr}")
        runs.append({k: float(n) for k, n in re.findall(r"(\w+)=([\d.]+)", line)})
        runs[-1]["acks"] = set(path.read_text().split())
        path.unlink()

    def total(key: str) -> int:
        return int(sum(v[key] for v in runs))
    return Run(total("sent"), total("requests"), max(v["duration_us"] for v in runs) / 1e6,
               total("s201"), total("s200"), total("other"),
               total("connect") + total("read") + total("write") + total("timeout"),
               sum(v["lat_mean_us"] * v["requests"] for v in runs)
               / max(total("requests"), 1) / 1000,
               max(v["lat_p99_us"] for v in runs) / 1000, cpu * 1000, own * 1000,
               db_cpu * 1000, idle_cores, set().union(*(v["acks"] for v in runs)))


def settle(engine: sa.Engine) -> None:
    """PostgreSQL: vacuum the live summary before a run, as autovacuum does in a live
    hall once a minute (migration d7e4a0000004). A run stores thousands of ratings a
    second, each rewriting four summary rows; without this, each run inherits the dead
    row versions the one before left (more after two servers, whose writers keep each
    other from pruning the pages), and the order of the runs decides the figures: a
    server storing 5,500 ratings/s stored 2,000/s right after the two-server run."""
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM rating_summary")


def check_stored(engine: sa.Engine, run_id: str, run: Run) -> tuple[str, str]:
    """(problems, '' when none; what was stored against what was answered)."""
    with engine.connect() as conn:
        stored = set(conn.scalars(sa.text("SELECT client_id FROM rating WHERE client_id "
                                          "LIKE :p"), {"p": f"{run_id}%"}))
    problems = []
    if run.s200 or run.other or run.errors:
        problems.append(f"{run.s200} answers 200, {run.other} other statuses, "
                        f"{run.errors} socket errors/timeouts")
    if len(run.acks) != run.s201:
        problems.append(f"{run.s201} answers 201 but {len(run.acks)} distinct client ids")
    missing = run.acks - stored
    if missing:
        problems.append(f"{len(missing)} ratings answered 201 are NOT stored")
    # wrk stops at its deadline with up to one request per connection unanswered; the
    # server may have stored those, but nothing it was never sent.
    unanswered = stored - run.acks
    in_flight = run.sent - run.requests
    if len(unanswered) > in_flight:
        problems.append(f"{len(unanswered)} stored ratings were never answered, "
                        f"{in_flight} requests were in flight")
    detail = (f"stored {len(stored)} = {len(run.acks & stored)} answered 201 "
              f"+ {len(unanswered)} of {in_flight} in flight at wrk's deadline")
    return "; ".join(problems), detail


@dataclass
class Target:
    name: str
    ports: list[int]
    pids: list[int]
    runs: list[Run]

    @property
    def rate(self) -> float:
        """Answers 201 per second over all rounds."""
        return sum(r.s201 for r in self.runs) / sum(r.seconds for r in self.runs)


def start_bare(threads: int, stock: bool) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bare_app.py"), str(port),
                             str(threads)] + (["--stock"] if stock else []),
                            stdout=subprocess.DEVNULL)
    _wait_port(port)
    return proc, port


def add_load_options(parser: argparse.ArgumentParser) -> None:
    """The wrk load and the servers' threads, as every HTTP bench here takes them."""
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8, help="waitress threads")
    parser.add_argument("--bad", type=float, default=5.0, help="percent bad ratings")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_load_options(parser)
    parser.add_argument("--phones", type=float, default=30.0,
                        help="percent of ratings with a phone number")
    parser.add_argument("--pg", nargs="?", const=PG_SERVER, default=None, metavar="URI",
                        help="the durable server on PostgreSQL (server URI without a "
                             f"database; default {PG_SERVER})")
    parser.add_argument("--no-stock", action="store_true",
                        help="leave out the bare app under stock waitress.serve")
    parser.add_argument("--two", action="store_true",
                        help="also two durable servers on the one database, each loaded "
                             "by a wrk with half the connections (with --pg)")
    parser.add_argument("--thread-writer", action="store_true",
                        help="also a durable server storing through its writer thread "
                             "(WRITER_PROCESS=false), as every server did before "
                             "kiosk/writerproc.py")
    parser.add_argument("--core-each", action="store_true",
                        help="hold each server (its writer process with it) to one core "
                             "of its own, as if each ran on a one-core machine: the first "
                             "server and the bare app to core 0, the second server to "
                             "core 1; PostgreSQL and wrk use every core")
    args = parser.parse_args()
    if args.two and not args.pg:
        parser.error("--two needs --pg: two servers share a PostgreSQL database")

    tmp = Path(tempfile.mkdtemp(prefix="kiosk-bench-"))
    uri = fresh_pg_database(args.pg) if args.pg else f"sqlite:///{tmp / 'kiosk.sqlite'}"
    prepare(uri, tmp)
    ours = [LiveServer(uri, tmp, threads=args.threads) for _ in range(2 if args.two else 1)]
    if args.thread_writer:
        ours.append(LiveServer(uri, tmp, threads=args.threads,
                               config={"WRITER_PROCESS": "false"}))
    procs = []
    engine = sa.create_engine(uri)
    failed = False
    try:
        targets = [Target("durable", [ours[0].port], [ours[0].proc.pid], [])]
        for name, stock in [("bare", False)] + ([] if args.no_stock else [("stock", True)]):
            proc, port = start_bare(args.threads, stock)
            procs.append(proc)
            targets.append(Target(name, [port], [proc.pid], []))
        if args.thread_writer:
            targets.append(Target("thread", [ours[-1].port], [ours[-1].proc.pid], []))
        if args.two:
            targets.append(Target("two", [s.port for s in ours[:2]],
                                  [s.proc.pid for s in ours[:2]], []))
        durable, bare = targets[0], targets[1]
        if args.core_each:
            cores = sorted(os.sched_getaffinity(0))
            if len(cores) < 2:
                raise SystemExit("--core-each needs two cores or more")
            for k, server in enumerate(ours):
                pin(server.proc.pid, cores[k % len(cores)])
            for proc in procs:  # the bare app(s): on the first server's core
                pin(proc.pid, cores[0])
        stored_by = [t for t in targets if t.name in ("durable", "two", "thread")]
        load = dict(connections=args.connections, wrk_threads=args.wrk_threads, work=tmp,
                    mix=(args.bad, args.phones))
        for t in targets:
            settle(engine)
            wrk(t.ports, t.pids, 1.0, run_id=f"warm{t.name}{uuid.uuid4().hex[:6]}", **load)
        print(f"wrk -t {args.wrk_threads} -c {args.connections}; waitress threads "
              f"{args.threads}; {args.rounds} rounds of {args.seconds:g}s; "
              f"{args.bad:g}% bad, {args.phones:g}% with a phone; in turn:\n"
              + ("  durable = kiosk serve (PostgreSQL, writer process)\n" if args.pg else
                 "  durable = kiosk serve (SQLite WAL, synchronous=FULL, writer process)\n")
              + "  bare    = bench/bare_app.py under kiosk.serving, as kiosk serve"
              + ("" if args.no_stock else
                 "\n  stock   = bench/bare_app.py under waitress.serve")
              + ("\n  thread  = kiosk serve with WRITER_PROCESS=false (the writer thread)"
                 if args.thread_writer else "")
              + ("\n  two     = two kiosk serve on the one database, a wrk with half the "
                 "connections on each" if args.two else "")
              + ("\n  each server with its writer process held to one core, the bare "
                 "app to the first server's (--core-each)" if args.core_each else ""))
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"{'':8}" + "".join(f"{t.name + '/s':>10}" for t in targets)
              + f"{'ratio':>7}" + ("" if args.no_stock else f"{'vs stock':>9}")
              + (f"{'two':>6}" if args.two else "")
              + f"   {'p99 ms (d/b)':>13}   {'CPU ms/req (d/b)':>17}   stored")
        for r in range(1, args.rounds + 1):
            run_id = uuid.uuid4().hex[:10]
            k = (r - 1) % len(targets)
            for t in targets[k:] + targets[:k]:  # each goes first in turn
                settle(engine)
                t.runs.append(wrk(t.ports, t.pids, args.seconds, run_id=t.name + run_id,
                                  **load))
            o, b = durable.runs[-1], bare.runs[-1]
            checks = [check_stored(engine, t.name + run_id, t.runs[-1]) for t in stored_by]
            problem = "; ".join(p for p, _ in checks if p)
            detail = " | ".join(d for _, d in checks)
            failed = failed or bool(problem)
            stock = "" if args.no_stock else f"{o.rate / targets[2].runs[-1].rate:9.2f}"
            two = f"{targets[-1].runs[-1].rate / b.rate:6.2f}" if args.two else ""
            print(f"round {r:<2}" + "".join(f"{t.runs[-1].rate:10.0f}" for t in targets)
                  + f"{o.rate / b.rate:7.2f}{stock}{two}"
                  + f"   {o.lat_p99_ms:6.1f}/{b.lat_p99_ms:<6.1f}   "
                  f"{o.cpu_per_request:7.3f}/{b.cpu_per_request:<7.3f}"
                  + (f"  pg {o.db_cpu_per_request:5.3f}" if args.pg else "")
                  + f"   {problem or 'OK'}: {detail}")
            for t in targets:
                print(f"{'':10}{t.name + ':':9}cores {t.runs[-1].cores()}")
        with engine.connect() as conn:
            ratings = conn.scalar(sa.text("SELECT count(*) FROM rating"))
            counted = conn.scalar(sa.text(
                "SELECT coalesce(sum(n), 0) FROM rating_summary WHERE grain = 'd'"))
            if args.pg:
                storage = ("PostgreSQL, synchronous_commit="
                           + conn.exec_driver_sql("SHOW synchronous_commit").scalar())
            else:
                storage = (f"journal_mode={conn.exec_driver_sql('PRAGMA journal_mode').scalar()} "
                           f"synchronous={conn.exec_driver_sql('PRAGMA synchronous').scalar()}"
                           " (2 = FULL)")
        if counted != ratings:
            failed = True
        cases, wrong = check_cases(engine)
        failed = failed or bool(wrong)
        ratios = [o.rate / b.rate for o, b in zip(durable.runs, bare.runs)]
        print(f"{storage}; the summary counts "
              f"{counted} of {ratings} stored ratings: "
              f"{'OK' if counted == ratings else 'MISMATCH'}")
        print("follow-up cases: " + ", ".join(f"{n} {k}" for k, n in sorted(cases.items()))
              + f"; {wrong or 'every rating has the case it calls for: OK'}")
        for t in targets:
            print(f"{t.name:8}: {t.rate:5.0f} ratings/s")
        print(f"ratio   : {durable.rate / bare.rate:.2f} durable/bare (rounds "
              f"{min(ratios):.2f}-{max(ratios):.2f}; target >= {TARGET}, toward {GOAL})")
        if not args.no_stock:
            print(f"          {durable.rate / targets[2].rate:.2f} durable/stock")
        if args.thread_writer:
            thread = next(t for t in targets if t.name == "thread")
            print(f"thread  : {thread.rate / bare.rate:.2f} thread writer/bare; the writer "
                  f"process stores {durable.rate / thread.rate:.2f}x the thread's")
        if args.two:
            print(f"two     : {targets[-1].rate / bare.rate:.2f} two servers/bare; "
                  f"{targets[-1].rate / durable.rate:.2f} two servers/one")
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    finally:
        engine.dispose()
        for server in ours:
            server.stop()
        for proc in procs:
            proc.terminate()
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        if args.pg:
            drop_pg_database(args.pg)
    if failed:
        raise SystemExit(1)


def check_cases(engine: sa.Engine) -> tuple[dict[str, int], str]:
    """(cases stored per kind, what is wrong: '' when every stored rating has exactly
    the case caseopen.case_kind calls for, at the default sample rate)."""
    from kiosk.caseopen import case_kind
    from kiosk.config import Defaults

    with engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT r.id, r.client_id, r.score, r.phone IS NOT NULL, c.kind "
            "FROM rating r LEFT JOIN followup_case c ON c.rating_id = r.id")).all()
    kinds: dict[str, int] = {}
    wrong = 0
    for rid, cid, score, phone, kind in rows:
        if kind:
            kinds[kind] = kinds.get(kind, 0) + 1
        wrong += kind != case_kind(score, bool(phone), cid, rid, Defaults.FOLLOWUP_SAMPLE_RATE)
    return kinds, f"{wrong} ratings without the case they call for" if wrong else ""


def _wait_port(port: int, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on port {port}")


WRK = shutil.which("wrk") or "/usr/bin/wrk"

if __name__ == "__main__":
    main()
