"""League benchmark: the week, month, quarter and year tables, read from the live
summary through the real JSON endpoints, against a plain SQL ``GROUP BY window_id,
score`` over the counted ratings of the same month, run directly on the database.

    python bench/league.py [--ratings 1000000] [--windows 500] [--repeat 30]
                           [--backend both|sqlite|postgresql] [--rebuild]

A year (2025) of ratings is generated the way a hall makes them: working days (with
the 2025 public holidays and make-up days), opening hours 9:00-12:00 and 13:30-17:30
in Asia/Shanghai with a morning and an afternoon peak, busy and quiet windows, two to
four clerks per window with duty changes and afternoon reliefs, a few windows with
no roster, scores skewed good with better and worse windows and clerks, a little
misuse left uncounted. The rows are stored through ``kiosk.imports.store_rating_rows``
(which keeps the summary) into a SQLite file cached under ``--cache`` by parameters,
since building takes minutes. PostgreSQL gets a fresh database per run, filled from
that file by COPY, vacuumed and analysed, and dropped at the end.

The server is ``kiosk serve --no-demo`` (waitress) and the client a signed-in
supervisor making sequential keep-alive requests. Target: every period's median
within 0.1x the month's plain GROUP BY median.
"""
from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import re
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.parse
import uuid
from datetime import date, datetime, timedelta
from http.cookies import SimpleCookie
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.liveserver import LiveServer  # noqa: E402

VERSION = 1  # bump when the generated data changes
YEAR = 2025
TZ = ZoneInfo("Asia/Shanghai")
# 2025 public holidays (closed) and make-up working days (调休, open on a weekend).
HOLIDAYS = {date(2025, 1, 1), *(date(2025, 1, 28) + timedelta(d) for d in range(8)),
            date(2025, 4, 4), *(date(2025, 5, 1) + timedelta(d) for d in range(5)),
            date(2025, 6, 2), *(date(2025, 10, 1) + timedelta(d) for d in range(8))}
MAKEUP = {date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28),
          date(2025, 10, 11)}
# Half-hour slots of the opening hours (local minutes after midnight) and their weights:
# a morning peak around ten, an afternoon one around half past two.
SLOTS = [(540, .8), (570, 1.2), (600, 1.4), (630, 1.3), (660, 1.1), (690, .7),
         (810, .8), (840, 1.1), (870, 1.3), (900, 1.3), (930, 1.2), (960, 1.0),
         (990, .8), (1020, .5)]
AFTERNOON = 765  # 12:45: reliefs take the card over at lunch
HAPPY = [(5, .80), (4, .16), (3, .04)]
UNHAPPY = [(5, .20), (4, .25), (3, .20), (2, .20), (1, .15)]
REASONS = ["attitude", "efficiency", "waiting", "guidance", "competence", "other"]
TABLES = ("hall", "department", "service_window", "staff", "duty", "rating",
          "rating_summary")
MONTH = (2025, 6)  # the month compared; the week and quarter hold it
WEEK = "2025-W24"
USER, PASSWORD = "bench-supervisor", "bench-password-123"


def working_days() -> list[date]:
    day, days = date(YEAR, 1, 1), []
    while day.year == YEAR:
        if (day.weekday() < 5 and day not in HOLIDAYS) or day in MAKEUP:
            days.append(day)
        day += timedelta(days=1)
    return days


# ---------------------------------------------------------------------------- build

def build(path: Path, ratings: int, n_windows: int, seed: int) -> None:
    """Generate the hall and a year of ratings into a new SQLite file at ``path``."""
    import numpy as np
    import sqlalchemy as sa

    from kiosk import create_app
    from kiosk.bootstrap import init_db
    from kiosk.db import db
    from kiosk.imports import store_rating_rows
    from kiosk.models import Department, Duty, Hall, Staff, Window

    rng = np.random.default_rng(seed)
    days = working_days()
    n_days = len(days)
    t0 = time.perf_counter()

    # Windows: 25 departments, busy and quiet windows, better and worse service.
    depts = max(1, n_windows // 20)
    win_weight = rng.lognormal(0, .6, n_windows)
    win_quality = rng.normal(0, .5, n_windows)
    # Clerks: two to four per window; ten windows in twenty have nobody on the roster.
    clerks_per = rng.integers(2, 5, n_windows)
    no_roster = set(rng.choice(n_windows, size=max(1, n_windows // 50), replace=False)
                    .tolist())
    staff_ids: list[list[int]] = []
    next_staff = 1
    for w in range(n_windows):
        staff_ids.append(list(range(next_staff, next_staff + int(clerks_per[w]))))
        next_staff += int(clerks_per[w])
    staff_quality = np.concatenate([[0.0], rng.normal(0, .3, next_staff - 1)])

    # The roster: per window, day and half day, who holds the card (0 = nobody). The
    # main clerk changes now and then (rotation); some afternoons a relief takes over.
    plan = np.zeros((n_windows, n_days, 2), dtype=np.int32)
    duties: list[dict] = []
    for w in range(n_windows):
        if w in no_roster:
            continue
        clerks = staff_ids[w]
        main = clerks[0]
        rotate = rng.random(n_days) < .08
        relief = rng.random(n_days) < .07
        pick = rng.integers(0, len(clerks), n_days)
        current = None
        for d in range(n_days):
            if rotate[d]:
                main = clerks[pick[d]]
            afternoon = clerks[(clerks.index(main) + 1) % len(clerks)] if relief[d] else main
            for half, who in ((0, main), (1, afternoon)):
                plan[w, d, half] = who
                if who != current:
                    start = datetime.combine(days[d], datetime.min.time()) + timedelta(
                        minutes=510 if half == 0 else AFTERNOON)  # 8:30 or 12:45
                    start = _utc(start)
                    if current is not None:
                        duties[-1]["ended_at"] = start
                    duties.append({"window_id": w + 1, "staff_id": who,
                                   "started_at": start, "ended_at": None})
                    current = who

    # Ratings: a day (busier on Mondays, quieter on Fridays, a seasonal swell), a
    # window, a half-hour slot and a second in it.
    day_w = np.array([(1.15 if d.weekday() == 0 else .9 if d.weekday() == 4 else 1.0)
                      * (1 + .15 * np.sin(d.timetuple().tm_yday / 58)) for d in days])
    day = rng.choice(n_days, size=ratings, p=day_w / day_w.sum())
    win = rng.choice(n_windows, size=ratings, p=win_weight / win_weight.sum())
    slot_w = np.array([s[1] for s in SLOTS])
    slot = rng.choice(len(SLOTS), size=ratings, p=slot_w / slot_w.sum())
    minute = np.array([s[0] for s in SLOTS])[slot]
    micros = (minute * 60 + rng.integers(0, 1800, ratings)) * 1_000_000 \
        + rng.integers(0, 1_000_000, ratings)
    # Local midnight of each working day as UTC microseconds since the epoch.
    epoch = datetime(1970, 1, 1)
    day_us = np.array([int((_utc(datetime.combine(d, datetime.min.time())) - epoch)
                           / timedelta(microseconds=1)) for d in days], dtype=np.int64)
    created = day_us[day] + micros
    half = (minute >= AFTERNOON).astype(np.int64)
    staff = plan[win, day, half]
    # Scores: a window's and its clerk's quality decide how often a citizen is unhappy.
    unhappy_p = np.clip(.08 * np.exp(-(win_quality[win] + staff_quality[staff])), .01, .6)
    unhappy = rng.random(ratings) < unhappy_p
    score = np.where(unhappy, _draw(rng, UNHAPPY, ratings), _draw(rng, HAPPY, ratings))
    counted = rng.random(ratings) >= .005
    qr = rng.random(ratings) < .22
    with_reason = rng.random(ratings) < .6
    reason = rng.integers(0, len(REASONS), ratings)
    with_phone = rng.random(ratings) < .3
    ticket = rng.integers(1, 400, ratings)
    order = np.argsort(created, kind="stable")
    print(f"  generated {ratings:,} ratings, {len(duties):,} duties, "
          f"{next_staff - 1} clerks in {time.perf_counter() - t0:.1f}s", flush=True)

    os.environ["KIOSK_INSTANCE_PATH"] = str(path.parent)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}",
                      "SECRET_KEY": "bench"})
    with app.app_context():
        init_db()
        session = db.session
        hall = Hall(name="市政务服务中心")
        session.add(hall)
        session.flush()
        departments = [Department(hall_id=hall.id, name=f"第{i + 1:02d}进驻部门")
                       for i in range(depts)]
        session.add_all(departments)
        session.flush()
        session.execute(sa.insert(Window), [
            {"id": w + 1, "code": f"W{w + 1:03d}", "name": f"{w + 1}号窗口",
             "hall_id": hall.id, "department_id": departments[w % depts].id,
             "active": True} for w in range(n_windows)])
        session.execute(sa.insert(Staff), [
            {"id": s, "staff_no": f"S{s:05d}", "name": f"职员{s:05d}",
             "department_id": departments[w % depts].id, "active": True}
            for w in range(n_windows) for s in staff_ids[w]])
        session.execute(sa.insert(Duty), duties)
        session.commit()
        t1 = time.perf_counter()
        conn = session.connection()
        chunk = 20_000
        for start in range(0, ratings, chunk):
            idx = order[start:start + chunk]
            rows = []
            for i, us, w, s, sc, c, q, wr, r, wp, t in zip(
                    idx.tolist(), created[idx].tolist(), win[idx].tolist(),
                    staff[idx].tolist(), score[idx].tolist(), counted[idx].tolist(),
                    qr[idx].tolist(), with_reason[idx].tolist(), reason[idx].tolist(),
                    with_phone[idx].tolist(), ticket[idx].tolist()):
                moment = epoch + timedelta(microseconds=us)
                bad = sc <= 2
                rows.append({
                    "client_id": f"{i:08x}-0000-4000-8000-{seed:04x}{i:08x}",
                    "window_id": w + 1, "staff_id": s or None, "score": sc,
                    "channel": "qr" if q else "kiosk",
                    "reasons": REASONS[r] if bad and wr else "",
                    "comment": "等候时间太长，窗口人员不够" if bad and wr and r == 2 else None,
                    "phone": f"138{i % 10**8:08d}" if bad and wp else None,
                    "ticket": f"A{t:03d}", "created_at": moment,
                    "received_at": moment + timedelta(seconds=2), "counted": c,
                    "flags": "" if c else "misuse"})
            store_rating_rows(conn, rows, TZ)
            if (start // chunk) % 50 == 49:
                session.commit()
                conn = session.connection()
                print(f"  stored {start + chunk:,} in {time.perf_counter() - t1:.0f}s",
                      flush=True)
        session.commit()
        print(f"  stored {ratings:,} ratings with their summary in "
              f"{time.perf_counter() - t1:.1f}s", flush=True)
        db.engine.dispose()
    # No ANALYZE: the app never runs it, and with its statistics SQLite answers the
    # month's GROUP BY by a skip-scan of (window_id, created_at), twice as slow as the
    # created_at range it takes on the hall's database.


def _utc(local: datetime) -> datetime:
    return local.replace(tzinfo=TZ).astimezone(ZoneInfo("UTC")).replace(tzinfo=None)


def _draw(rng, dist, size):
    import numpy as np
    values = np.array([v for v, _ in dist])
    p = np.array([w for _, w in dist])
    return values[rng.choice(len(values), size=size, p=p / p.sum())]


def cached_database(args) -> Path:
    key = hashlib.sha1(f"{VERSION}:{args.ratings}:{args.windows}:{args.seed}".encode()) \
        .hexdigest()[:10]
    folder = Path(args.cache)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"league-{args.ratings}-{args.windows}-{key}.sqlite"
    if path.exists() and not args.rebuild:
        print(f"cached database {path} ({path.stat().st_size / 2**20:,.0f} MiB)")
        return path
    partial = path.with_suffix(".building")
    for p in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
        p.unlink(missing_ok=True)
    print(f"building {path} ...", flush=True)
    t = time.perf_counter()
    build(partial, args.ratings, args.windows, args.seed)
    partial.rename(path)
    print(f"built in {time.perf_counter() - t:.0f}s "
          f"({path.stat().st_size / 2**20:,.0f} MiB)", flush=True)
    return path


# ------------------------------------------------------------------------ PostgreSQL

def copy_to_postgres(sqlite_path: Path, admin_url: str) -> tuple[str, str]:
    """A fresh, migrated PostgreSQL database filled from the SQLite file by COPY;
    returns (its name, its SQLAlchemy URI)."""
    import psycopg

    name = f"kiosk_bench_league_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    uri = f"{base}/{name}"
    migrate(uri)
    t = time.perf_counter()
    src = sqlite3.connect(sqlite_path)
    with psycopg.connect(f"{admin_url.rsplit('/', 1)[0]}/{name}") as pg:
        for table in TABLES:
            columns = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
            cols = ", ".join(columns)
            pg.execute(f"TRUNCATE {table} CASCADE")
            with pg.cursor().copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in src.execute(f"SELECT {cols} FROM {table}"):
                    copy.write_row(row)
            if "id" in columns:
                pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT max(id) FROM {table}))")
        pg.commit()
    src.close()
    with psycopg.connect(f"{admin_url.rsplit('/', 1)[0]}/{name}", autocommit=True) as pg:
        pg.execute("VACUUM ANALYZE")
    print(f"  copied into PostgreSQL {name} and vacuumed in "
          f"{time.perf_counter() - t:.0f}s", flush=True)
    return name, uri


def drop_postgres(admin_url: str, name: str) -> None:
    import psycopg
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrate(uri: str, user: bool = False) -> None:
    """Bring the schema up to date (and add the supervisor) before serving."""
    from kiosk import create_app
    from kiosk.bootstrap import init_db
    from kiosk.db import db
    from kiosk.users import save_user

    app = create_app({"SQLALCHEMY_DATABASE_URI": uri, "SECRET_KEY": "bench"})
    with app.app_context():
        init_db()
        if user:
            save_user(USER, "supervisor", PASSWORD)
            db.session.commit()
        db.engine.dispose()


# ---------------------------------------------------------------------------- timing

class Session:
    """A signed-in supervisor on one keep-alive connection."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookie = ""
        status, body = self.get("/admin/login")
        token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', body.decode())
        form = urllib.parse.urlencode({"username": USER, "password": PASSWORD,
                                       "csrf_token": token.group(1)})
        self._request("POST", "/admin/login", form,
                      {"Content-Type": "application/x-www-form-urlencoded"})
        status, _ = self.get("/admin/")
        if status != 200:
            raise RuntimeError(f"sign-in failed: /admin/ answered {status}")

    def _request(self, method, path, body=None, headers=None):
        headers = dict(headers or {})
        if self.cookie:
            headers["Cookie"] = self.cookie
        self.conn.request(method, path, body, headers)
        resp = self.conn.getresponse()
        data = resp.read()
        for header in resp.headers.get_all("Set-Cookie") or []:
            jar = SimpleCookie(header)
            for morsel in jar.values():
                self.cookie = f"{morsel.key}={morsel.value}"
        return resp.status, data

    def get(self, path: str):
        return self._request("GET", path)


def month_range_utc(year: int, month: int) -> tuple[datetime, datetime]:
    first = datetime(year, month, 1)
    following = datetime(year + month // 12, month % 12 + 1, 1)
    return _utc(first), _utc(following)


GROUP_BY = ("SELECT window_id, score, count(*) FROM rating WHERE counted "
            "AND created_at >= {m} AND created_at < {m} GROUP BY window_id, score")


def group_by_runner(backend: str, target):
    """A callable running the month's plain GROUP BY directly on the database."""
    start, end = month_range_utc(*MONTH)
    if backend == "sqlite":
        conn = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        sql = GROUP_BY.format(m="?")
        params = (start.isoformat(" ", "microseconds"), end.isoformat(" ", "microseconds"))

        def run():
            return conn.execute(sql, params).fetchall()
        return run, conn, sql, params
    import psycopg
    conn = psycopg.connect(target, autocommit=True)
    sql = GROUP_BY.format(m="%s")

    def run():
        return conn.execute(sql, (start, end)).fetchall()
    return run, conn, sql, (start, end)


# The month's sum from the summary as kiosk/league.py asks it (by window, this month
# and the one before), to show its plan next to the GROUP BY's.
SUMMARY_MONTH = ("SELECT period, window_id, "
                 + ", ".join(f"sum(CASE WHEN score = {lv} THEN n ELSE 0 END)"
                             for lv in (5, 4, 3, 2, 1))
                 + " FROM rating_summary WHERE grain = 'm' AND period IN ({m}, {m}) "
                 "GROUP BY period, window_id")


def explain(backend: str, conn, group_sql: str, group_params) -> None:
    month = date(*MONTH, 1)
    before = date(MONTH[0] - (MONTH[1] == 1), (MONTH[1] - 2) % 12 + 1, 1)
    if backend == "sqlite":
        plans = [(group_sql, group_params),
                 (SUMMARY_MONTH.format(m="?"), (month.isoformat(), before.isoformat()))]
        for sql, params in plans:
            rows = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
            print("  plan: " + "; ".join(r[-1] for r in rows))
        return
    for sql, params in [(group_sql, group_params),
                        (SUMMARY_MONTH.format(m="%s"), (month, before))]:
        rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
        print("  plan:\n" + "\n".join("    " + r[0] for r in rows))


def targets() -> list[tuple[str, str]]:
    m = f"{MONTH[0]}-{MONTH[1]:02d}"
    q = f"{MONTH[0]}-Q{(MONTH[1] - 1) // 3 + 1}"
    base = [("week", f"/admin/league.json?week={WEEK}"),
            ("month", f"/admin/assessment.json?month={m}"),
            ("quarter", f"/admin/assessment.json?quarter={q}"),
            ("year", f"/admin/assessment.json?year={MONTH[0]}")]
    return base + [(f"{label} by=staff", f"{path}&by=staff") for label, path in base]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def measure(backend: str, uri: str, db_target, instance: Path, repeat: int,
            threads: int) -> None:
    print(f"\n== {backend}  (load {_load()})", flush=True)
    run_group, gconn, gsql, gparams = group_by_runner(backend, db_target)
    run_group()
    server = LiveServer(uri, instance / backend, threads=threads)
    try:
        client = Session(server.port)
        endpoints = []
        for label, path in targets():
            status, body = client.get(path)
            if status != 200:
                print(f"  {label:18s} {path}: HTTP {status} (skipped)")
                continue
            endpoints.append((label, path))
            if label == "month":
                rows = json.loads(body)["rows"]
                served = sum(r.get("ratings") or 0 for r in rows)
                truth = sum(n for _, _, n in run_group())
                print(f"  check: month JSON counts {served:,} ratings in {len(rows)} rows, "
                      f"GROUP BY {truth:,} {'OK' if served == truth else 'MISMATCH'}")
        floor: list[float] = []
        group: list[float] = []
        times: dict[str, list[float]] = {label: [] for label, _ in endpoints}
        sizes: dict[str, int] = {}
        for _ in range(repeat):  # interleaved, so load changes hit every figure alike
            t = time.perf_counter()
            run_group()
            group.append(time.perf_counter() - t)
            t = time.perf_counter()
            client.get("/admin/login")
            floor.append(time.perf_counter() - t)
            for label, path in endpoints:
                t = time.perf_counter()
                status, body = client.get(path)
                times[label].append(time.perf_counter() - t)
                sizes[label] = len(body)
                assert status == 200, (label, status)
        g = statistics.median(group)
        print(f"  plain GROUP BY window_id, score over {MONTH[0]}-{MONTH[1]:02d}: median "
              f"{g * 1000:.1f} ms (p95 {pct(group, 95) * 1000:.1f} ms), n={repeat}")
        print(f"  (HTTP floor: GET /admin/login median "
              f"{statistics.median(floor) * 1000:.1f} ms)")
        print(f"  {'table':18s} {'median ms':>10s} {'p95 ms':>8s} {'ratio':>7s}  "
              f"{'target <= 0.10':14s} {'JSON':>8s}")
        for label, _ in endpoints:
            med = statistics.median(times[label])
            ratio = med / g
            print(f"  {label:18s} {med * 1000:10.1f} {pct(times[label], 95) * 1000:8.1f} "
                  f"{ratio:7.3f}  {'ok' if ratio <= .1 else 'MISSED':14s} "
                  f"{sizes[label] / 1024:6.0f}KiB", flush=True)
        print(f"  load after: {_load()}")
        client.conn.close()
        explain(backend, gconn, gsql, gparams)
    finally:
        server.stop()
        gconn.close()


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def add_year_options(parser: argparse.ArgumentParser) -> None:
    """The generated year of ratings (cached_database) and the databases to run on."""
    parser.add_argument("--ratings", type=int, default=1_000_000)
    parser.add_argument("--windows", type=int, default=500)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"),
                        default="both")
    parser.add_argument("--pg", default="postgresql://127.0.0.1:5432/test",
                        help="an existing PostgreSQL database to create the bench one from")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir())
                                               / "kiosk-bench-league"))
    parser.add_argument("--rebuild", action="store_true", help="ignore the cached file")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_year_options(parser)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--threads", type=int, default=4, help="waitress threads")
    parser.add_argument("--build-only", action="store_true")
    args = parser.parse_args()
    print(f"load average: {_load()}")
    path = cached_database(args)
    if args.build_only:
        return
    instance = Path(tempfile.mkdtemp(prefix="kiosk-league-"))
    os.environ["KIOSK_INSTANCE_PATH"] = str(instance)
    try:
        if args.backend in ("both", "sqlite"):
            uri = f"sqlite:///{path}"
            migrate(uri, user=True)
            measure("sqlite", uri, path, instance, args.repeat, args.threads)
        if args.backend in ("both", "postgresql"):
            name, uri = copy_to_postgres(path, args.pg)
            try:
                migrate(uri, user=True)
                dsn = f"{args.pg.rsplit('/', 1)[0]}/{name}"
                measure("postgresql", uri, dsn, instance, args.repeat, args.threads)
            finally:
                drop_postgres(args.pg, name)
    finally:
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
