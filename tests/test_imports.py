"""Bulk rating imports: the fast paths give exactly what the general checks give."""
from __future__ import annotations

import io
import random
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import clock, imports, summary
from kiosk.csvfiles import ImportFailed
from kiosk.db import db
from kiosk.imports import Stamps, import_ratings
from kiosk.models import Rating
from kiosk.privacy import unseal_phone
from kiosk.ratings import sqlite_timestamp

from .helpers import make_window

TZ = clock.zone("Asia/Shanghai")
ZONES = ["Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
         "Europe/London", "UTC"]


def expected(text: str, tz) -> tuple[str, object] | str:
    """What clock.parse_timestamp makes of ``text``: stored text and hall day, or the
    error message."""
    try:
        moment = clock.parse_timestamp(text, tz)
    except ValueError as exc:
        return str(exc)
    return sqlite_timestamp(moment), summary.local_day(moment, tz)


def texts(rng: random.Random) -> list[str]:
    """Timestamps as files carry them, around clock changes and midnights, and broken."""
    out = []
    for start in (datetime(2025, 3, 9), datetime(2025, 4, 6), datetime(2025, 10, 5),
                  datetime(2025, 11, 2), datetime(2025, 3, 30), datetime(2025, 10, 26),
                  datetime(2025, 6, 30, 12)):
        for _ in range(120):
            moment = start + timedelta(minutes=rng.randint(-300, 1800),
                                       seconds=rng.randint(0, 59))
            if rng.random() < 0.5:
                moment = moment.replace(microsecond=rng.randint(0, 999_999))
            zone = rng.choice(["", "Z", "+08:00", "-05:00", "+05:45", "+10:30", "+00:00",
                               "-00:30"])
            text = moment.isoformat(rng.choice("T "), "microseconds"
                                    if moment.microsecond else "seconds") + zone
            out.append(text)
            # The same hour with a broken minute, second or fraction: the cache is warm.
            out.append(text[:14] + rng.choice(["60", "6x", "5", "٣٣", "99"]) + text[16:])
            out.append(text[:17] + rng.choice(["60", "x1", "²3", "1"]) + text[19:])
            if moment.microsecond:
                out.append(text[:20] + rng.choice(["12345", "12345x", "１２３４５６"])
                           + text[26:])
            out.append(" " + text + " ")
    out += ["2025-02-30T10:00:00+08:00", "2025-01-01T24:00:00+08:00", "not-a-date",
            "0001-01-01T00:00:00", "0001-01-01T00:30:00+08:00", "9999-12-31T23:59:59-08:00",
            "2025-01-01T09:00:00+25:00", "2025-01-01T09:00:00.123+08:00", ""]
    return out


@pytest.mark.parametrize("zone", ZONES)
def test_stamps_convert_exactly_as_parse_timestamp(zone):
    tz = clock.zone(zone)
    stamps = Stamps(tz)
    rng = random.Random(zone)
    cases = texts(rng)
    for text in cases + cases:  # the second round runs on a warm cache
        want = expected(text, tz)
        try:
            got = stamps(text)
        except ValueError as exc:
            got = str(exc)
        assert got == want, text
    good = [t for t in cases if not isinstance(expected(t, tz), str)]
    for column in (Stamps(tz).column, stamps.column):  # cold and warm
        assert list(zip(*column(good + good))) == [expected(t, tz) for t in good + good]


def rows_csv(*lines: str) -> io.StringIO:
    return io.StringIO("\n".join(lines) + "\n")


def test_a_chunk_of_new_and_stored_rows_updates_only_the_stored_ones(app, monkeypatch):
    make_window("A01", on_duty_since=datetime(2026, 1, 1))
    monkeypatch.setattr(imports, "CHUNK", 3)
    header = "client_id,window,score,created_at,phone,comment"
    import_ratings(rows_csv(header,
                            "keep-0001,A01,5,2026-03-02T09:00:00+08:00,13800138000,原话",
                            "keep-0002,A01,1,2026-03-02T10:00:00+08:00,,"), TZ)
    db.session.commit()
    # One chunk holds a new row between two stored ones; a masked phone keeps the
    # stored number; the missing column (counted) keeps the stored value.
    result = import_ratings(rows_csv(
        header,
        "keep-0001,A01,2,2026-03-09T09:00:00+08:00,138****8000,改过",
        "new-000003,A01,4,2026-03-09T11:00:00+08:00,,",
        "keep-0002,A01,3,2026-03-09T10:00:00+08:00,,",
        "new-000004,A01,5,2026-03-10T11:00:00+08:00,,"), TZ)
    db.session.commit()
    assert (result.rows, result.created, result.updated) == (4, 2, 2)
    stored = {r.client_id: r for r in db.session.scalars(sa.select(Rating))}
    assert len(stored) == 4
    assert stored["keep-0001"].score == 2
    assert unseal_phone(stored["keep-0001"].phone) == "13800138000"  # kept, sealed
    assert stored["keep-0001"].comment == "改过"
    assert stored["keep-0001"].created_at == datetime(2026, 3, 9, 1)
    assert stored["new-000003"].staff_id == stored["keep-0001"].staff_id is not None
    assert summary.stored(db.session) == summary.scan(db.session, TZ)


def test_a_bad_line_after_stored_chunks_imports_nothing(app, monkeypatch):
    make_window("A01")
    monkeypatch.setattr(imports, "CHUNK", 2)
    lines = [f"row-{i:06d},A01,5,2026-03-02T09:{i:02d}:00+08:00" for i in range(7)]
    lines.insert(5, "row-bad-01,A01,5,2026-03-02T09:61:00+08:00")
    with pytest.raises(ImportFailed) as failed:
        import_ratings(rows_csv("client_id,window,score,created_at", *lines), TZ)
    db.session.rollback()
    assert failed.value.errors == ["line 7: '2026-03-02T09:61:00+08:00' is not an "
                                   "ISO 8601 timestamp"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0
    assert not summary.stored(db.session)


class FakeDuty:
    def __init__(self, window_id, staff_id, started_at, ended_at):
        self.window_id, self.staff_id = window_id, staff_id
        self.started_at, self.ended_at = started_at, ended_at


def test_the_roster_answers_the_same_for_text_timestamps_in_any_order():
    rng = random.Random(6)
    base = datetime(2026, 3, 2, 1)
    duties = []
    for window_id in (1, 2, 3):
        at = base
        for staff_id in range(window_id * 10, window_id * 10 + 8):
            length = timedelta(hours=rng.randint(1, 30), minutes=rng.choice([0, 30]))
            duties.append(FakeDuty(window_id, staff_id, at,
                                   None if staff_id % 10 == 7 else at + length))
            if rng.random() < 0.3:  # a relief inside the duty, and a gap after it
                duties.append(FakeDuty(window_id, staff_id + 100, at + length / 3,
                                       at + length / 2))
            at += length + timedelta(minutes=rng.choice([0, 0, 45]))
    roster = imports.DutyRoster(duties)
    moments = [base + timedelta(minutes=rng.randint(-60, 60 * 24 * 12)) for _ in range(3000)]
    moments += [d.started_at for d in duties] + [d.ended_at for d in duties if d.ended_at]
    for order in (sorted(moments), moments):
        for moment in order:
            for window_id in (1, 2, 3, 4):
                assert (roster.staff_at_stamp(window_id, sqlite_timestamp(moment))
                        == roster.staff_at(window_id, moment)), (window_id, moment)


CELLS = {
    "client_id": ["cid-{i:06d}", " cid-{i:06d} ", "", "short", "cid-{i:06d}\x07", "雪-{i:06d}-id"],
    "window": ["W1", "W2", " W1", "W9"],
    "score": ["5", "4", "1", " 3", "0", "５", "x"],
    "created_at": ["2026-03-02T09:{m:02d}:{s:02d}+08:00", "2026-03-02 01:{m:02d}:00Z",
                   "2026-03-02T09:{m:02d}:{s:02d}.250000+08:00", "2026-03-02T09:{m:02d}",
                   "2026-03-02T09:61:00+08:00"],
    "channel": ["kiosk", "qr", "", " qr ", "fax"],
    "reasons": ["", "attitude", "waiting; attitude", "bribery"],
    "comment": ["", "等候太久", "a\x00b", "x" * 501],
    "phone": ["", "13800138000", "138****8000", " ", "12345"],
    "staff_no": ["", "S1", " S2", "S9"],
    "ticket": ["", "A001", " A002 ", "t\x00", "x" * 65],
    "counted": ["", "true", "FALSE", "0", "maybe"],
    "flags": ["", "misuse", " misuse ; burst", "x" * 201],
}


def test_a_chunk_parsed_by_column_equals_the_rows_parsed_one_by_one(app):
    """The column-at-a-time path gives exactly the row-by-row result, or declines
    (phones compared opened: each sealing draws a fresh nonce)."""
    from zoneinfo import ZoneInfo

    def opened(rows: list) -> list:
        return [p[:7] + (p[7] and unseal_phone(p[7]),) + p[8:] for p in rows]

    class Duty:
        window_id, staff_id, started_at, ended_at = 1, 7, datetime(2026, 3, 2, 1, 30), None

    parse = imports.RowParser({"W1": 1, "W2": 2}, {"S1": 7, "S2": 8},
                              {"attitude", "waiting"}, imports.DutyRoster([Duty()]),
                              ZoneInfo("Asia/Shanghai"), "kiosk", datetime(2026, 4, 1))
    rng = random.Random(61)
    taken = 0
    for round_ in range(600):
        names = rng.sample(sorted(CELLS), rng.randint(3, len(CELLS)))
        for required in ("window", "score", "created_at"):
            if required not in names:
                names.append(required)
        # A third of the chunks use only good values, a third have one column with any
        # value, a third any value anywhere.
        spicy = set(names) if round_ % 3 == 2 else {rng.choice(names)} if round_ % 3 else set()
        records = []
        for i in range(rng.randint(1, 12)):
            cells = [rng.choice(CELLS[name] if name in spicy else CELLS[name][:2])
                     for name in names]
            records.append([c.format(i=i + 100 * round_, m=rng.randint(0, 59),
                                     s=rng.randint(0, 59)) for c in cells])
        columns = imports.ColumnParser(names, parse)
        seen: set[str] = set()
        got = columns(records, seen)
        expected, failed = ([], []), False
        for record in records:
            try:
                params, key = parse(columns.row(record))
            except ValueError:
                failed = True
                continue
            expected[0].append(params)
            expected[1].append(key)
        ids = [p[0] for p in expected[0]]
        if got is None:
            continue
        taken += 1
        assert not failed and len(set(ids)) == len(ids)
        assert (opened(got[0]), got[1]) == (opened(expected[0]), expected[1])
        assert seen == set(ids)
    assert taken >= 100  # the column path did take most plain chunks


def test_a_client_id_repeated_in_a_later_chunk_is_named(app, monkeypatch):
    make_window("A01")
    monkeypatch.setattr(imports, "CHUNK", 2)
    lines = [f"twice-{i:04d},A01,5,2026-03-02T09:0{i}:00+08:00" for i in range(4)]
    lines.append("twice-0001,A01,4,2026-03-02T10:00:00+08:00")
    with pytest.raises(ImportFailed) as failed:
        import_ratings(rows_csv("client_id,window,score,created_at", *lines), TZ)
    db.session.rollback()
    assert failed.value.errors == ["line 6: client_id twice-0001 appears twice in the file"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0


@pytest.mark.parametrize("zone", ZONES)
def test_the_hall_day_of_a_stored_timestamp_is_the_local_day(zone):
    tz = clock.zone(zone)
    day_of = imports.DayOf(tz)
    rng = random.Random(zone)
    for start in (datetime(2025, 3, 8, 12), datetime(2025, 4, 5, 12), datetime(2025, 10, 4),
                  datetime(2025, 11, 1, 12), datetime(2025, 3, 29, 12)):
        for _ in range(400):
            moment = start + timedelta(seconds=rng.randint(0, 3 * 86400),
                                       microseconds=rng.randint(0, 999_999))
            want = summary.local_day(moment, tz)
            assert day_of(moment) == want and day_of(sqlite_timestamp(moment)) == want


def test_a_rating_stored_meanwhile_by_another_writer_is_updated_not_doubled(
        app, monkeypatch):
    """PostgreSQL inserts a chunk with nothing stored before by plain INSERT; if another
    writer stored one of its ratings after the look, the chunk is looked at again."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the plain INSERT path is PostgreSQL's")
    make_window("A01")
    import_ratings(rows_csv("client_id,window,score,created_at",
                            "race-0001,A01,5,2026-03-02T09:00:00+08:00"), TZ)
    db.session.commit()
    looks = []
    real = imports._stored_before

    def blind_first(cur):  # the first look misses race-0001, as if stored meanwhile
        looks.append(1)
        return {} if len(looks) == 1 else real(cur)
    monkeypatch.setattr(imports, "_stored_before", blind_first)
    result = import_ratings(rows_csv("client_id,window,score,created_at",
                                     "race-0001,A01,1,2026-03-02T09:00:00+08:00",
                                     "race-0002,A01,4,2026-03-02T10:00:00+08:00"), TZ)
    db.session.commit()
    assert (result.created, result.updated, len(looks)) == (1, 1, 2)
    scores = dict(db.session.execute(sa.select(Rating.client_id, Rating.score)).all())
    assert scores == {"race-0001": 1, "race-0002": 4}
    assert summary.stored(db.session) == summary.scan(db.session, TZ)
