"""The operator's commands."""
from __future__ import annotations

import csv
import http.cookiejar
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import datetime

import pytest
import sqlalchemy as sa

from kiosk.db import db
from kiosk.models import (Appeal, CaseEvent, Department, FollowupCase, Hall, Rating,
                          ReasonCode, Staff, User, Window)

from .helpers import make_window


def run(runner, *args, input=None):
    return runner.invoke(args=list(args), input=input, catch_exceptions=False)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def test_init_db_is_safe_to_run_twice(runner):
    for _ in range(2):
        result = run(runner, "init-db")
        assert result.exit_code == 0, result.output
    assert count(ReasonCode) == 8
    assert count(Window) == 0


def test_demo_seeds_a_hall_with_history(runner):
    result = run(runner, "demo")
    assert result.exit_code == 0, result.output
    assert count(Window) >= 10 and count(Staff) >= 10
    days = db.session.scalar(sa.select(sa.func.count(sa.distinct(
        sa.func.date(Rating.created_at)))))
    assert days >= 20  # several weeks of working days
    bad_with_reasons = db.session.scalar(sa.select(sa.func.count()).where(
        Rating.score <= 2, Rating.reasons != ""))
    assert bad_with_reasons > 0
    unattributed = db.session.scalar(sa.select(sa.func.count()).where(
        Rating.staff_id.is_(None)))
    assert unattributed == 0
    again = run(runner, "demo")
    assert again.exit_code != 0 and "empty" in again.output


def write(tmp_path, name, text, bom=False):
    path = tmp_path / name
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return str(path)


def test_import_windows_upserts_by_code(runner, tmp_path):
    path = write(tmp_path, "w.csv", "code,name,department\r\n"
                 "A01,综合受理窗口,政务服务中心\r\nB01,企业开办窗口,市场监管局\r\n", bom=True)
    result = run(runner, "import-windows", path)
    assert result.exit_code == 0, result.output
    assert "2 windows created" in result.output
    path = write(tmp_path, "w2.csv", "code,name,department\nA01,综合受理窗口（一）,政务服务中心\n")
    result = run(runner, "import-windows", path)
    assert "1 updated" in result.output
    names = dict(db.session.execute(sa.select(Window.code, Window.name)).all())
    assert names == {"A01": "综合受理窗口（一）", "B01": "企业开办窗口"}
    assert count(Hall) == 1 and count(Department) == 2


def test_import_windows_with_a_bad_row_imports_nothing(runner, tmp_path):
    make_window("A01", name="原名")
    path = write(tmp_path, "w.csv", "code,name,department,hall\n"
                 "A01,新名,政务服务中心,东区大厅\n"
                 "B 02,企业开办,市场监管局,东区大厅\n"
                 "B03,,市场监管局,东区大厅\n"
                 "A01,重复,政务服务中心,东区大厅\n")
    result = run(runner, "import-windows", path)
    assert result.exit_code != 0
    assert "line 3" in result.output and "line 4" in result.output
    assert "line 5" in result.output and "already appears on line 2" in result.output
    assert "line 2:" not in result.output
    assert dict(db.session.execute(sa.select(Window.code, Window.name)).all()) == {
        "A01": "原名"}
    assert count(Hall) == 1


def test_import_windows_reports_a_wrong_header(runner, tmp_path):
    path = write(tmp_path, "w.csv", "code,title\nA01,x\n")
    result = run(runner, "import-windows", path)
    assert result.exit_code != 0 and "department" in result.output


def test_create_user_with_and_without_password_option(runner):
    result = run(runner, "create-user", "li", "--role", "caller", "--password", "s3cret-pw")
    assert result.exit_code == 0, result.output
    result = run(runner, "create-user", "wang", "--role", "supervisor",
                 input="another-pw\nanother-pw\n")
    assert result.exit_code == 0, result.output
    users = {u.username: u for u in db.session.scalars(sa.select(User))}
    assert users["li"].role == "caller" and users["li"].check_password("s3cret-pw")
    assert users["wang"].check_password("another-pw")
    bad = run(runner, "create-user", "x", "--role", "boss", "--password", "whatever1")
    assert bad.exit_code != 0
    short = run(runner, "create-user", "x", "--role", "admin", "--password", "short")
    assert short.exit_code != 0 and "8 characters" in short.output


def test_a_department_head_is_created_with_their_department(runner):
    make_window("A01", dept="县不动产登记中心")
    lost = run(runner, "create-user", "zhao", "--role", "department", "--password", "s3cret-pw")
    assert lost.exit_code != 0 and "--department" in lost.output
    wrong = run(runner, "create-user", "zhao", "--role", "department", "--password",
                "s3cret-pw", "--department", "县税务局")
    assert wrong.exit_code != 0 and "县不动产登记中心" in wrong.output
    ok = run(runner, "create-user", "zhao", "--role", "department", "--password",
             "s3cret-pw", "--department", "县不动产登记中心")
    assert ok.exit_code == 0, ok.output
    user = db.session.scalar(sa.select(User).where(User.username == "zhao"))
    assert user.department.name == "县不动产登记中心"


def test_export_import_round_trip(runner, app, tmp_path):
    run(runner, "demo")
    full = run(runner, "export-ratings", "--with-phone")
    assert full.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(full.output)))
    assert list(rows[0]) == ["id", "client_id", "window", "score", "channel", "reasons",
                             "comment", "phone", "created_at", "staff_no", "ticket",
                             "counted", "flags"]
    assert len(rows) == count(Rating)
    assert [r["created_at"] for r in rows] == sorted(r["created_at"] for r in rows)
    assert rows[0]["created_at"].endswith("+08:00")
    assert any(r["phone"] and "*" not in r["phone"] for r in rows)
    masked = run(runner, "export-ratings").output
    assert "****" in masked

    # Wipe the ratings (and the demo's cases), import the export, and export again:
    # the same bytes.
    for model in (Appeal, CaseEvent, FollowupCase, Rating):
        db.session.execute(sa.delete(model))
    db.session.commit()
    path = write(tmp_path, "r.csv", full.output)
    result = run(runner, "import-ratings", path)
    assert result.exit_code == 0, result.output
    assert f"{len(rows)} new" in result.output
    again = run(runner, "export-ratings", "--with-phone").output
    strip_ids = lambda text: [line.split(",", 1)[1] for line in text.splitlines()]  # noqa: E731
    assert strip_ids(again) == strip_ids(full.output)

    # Importing a masked export again updates in place and keeps the real numbers.
    path = write(tmp_path, "m.csv", masked)
    result = run(runner, "import-ratings", path)
    assert f"0 new, {len(rows)} updated" in result.output
    assert strip_ids(run(runner, "export-ratings", "--with-phone").output) == strip_ids(again)


def test_export_date_range_and_jsonl(runner):
    make_window(on_duty_since=datetime(2025, 1, 1))
    path_rows = ("window,score,created_at\n"
                 "A01,5,2026-03-01T23:59:00+08:00\n"
                 "A01,1,2026-03-02T00:00:00+08:00\n"
                 "A01,3,2026-03-03 09:00\n")
    result = run(runner, "import-ratings", "-", input=path_rows)
    assert result.exit_code == 0, result.output
    out = run(runner, "export-ratings", "--from", "2026-03-02", "--to", "2026-03-03",
              "--format", "jsonl").output
    lines = [json.loads(line) for line in out.splitlines()]
    assert [r["score"] for r in lines] == [1, 3]
    assert lines[0]["created_at"] == "2026-03-02T00:00:00+08:00"
    assert lines[0]["reasons"] == "" and lines[0]["counted"] is True
    assert lines[0]["staff_no"] == "S001"  # the clerk on duty then


def test_import_ratings_all_or_nothing(runner, tmp_path):
    make_window()
    text = ("window,score,created_at,reasons,phone\n"
            "A01,5,2026-03-01T10:00:00+08:00,,\n"
            "A01,9,2026-03-01T10:00:00+08:00,,\n"
            "Z01,1,2026-03-01T10:00:00+08:00,,\n"
            "A01,1,not-a-date,,\n"
            "A01,1,2026-03-01T10:00:00+08:00,bribery,\n"
            "A01,2,2026-03-01T10:00:00+08:00,,12345\n")
    result = run(runner, "import-ratings", write(tmp_path, "r.csv", text))
    assert result.exit_code != 0
    for line, word in [(3, "score"), (4, "Z01"), (5, "ISO 8601"), (6, "bribery"),
                       (7, "phone")]:
        assert f"line {line}:" in result.output and word in result.output
    assert "line 2:" not in result.output
    assert count(Rating) == 0


def test_import_ratings_keeps_history_time(runner, tmp_path):
    make_window()
    result = run(runner, "import-ratings", write(
        tmp_path, "r.csv", "window,score,created_at,client_id,staff_no\n"
        "A01,4,2020-01-06T09:30:00+08:00,legacy-0001,\n"))
    assert result.exit_code == 0, result.output
    rating = db.session.scalars(sa.select(Rating)).one()
    assert rating.created_at.isoformat() == "2020-01-06T01:30:00"
    assert rating.received_at.year >= 2026
    assert rating.staff_id is None  # nobody was on duty in 2020


def test_serve_on_an_empty_instance(tmp_path, database_uri):
    """`kiosk serve` creates the schema, the admin, the demo hall, and serves."""
    if database_uri.startswith("sqlite"):
        database_uri = f"sqlite:///{tmp_path / 'fresh' / 'kiosk.sqlite'}"
    else:
        _drop_all(database_uri)
    env = dict(os.environ, KIOSK_INSTANCE_PATH=str(tmp_path / "fresh"),
               KIOSK_SQLALCHEMY_DATABASE_URI=database_uri)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "kiosk", "serve", "--port", str(port)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        lines = []
        # The demo prints a one-time pairing link per window; A01's comes first.
        while not any(re.match(r"\s+A01 .*: http\S+/pair/", line) for line in lines):
            line = proc.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        output = "".join(lines)
        assert "admin" in output and "password" in output
        assert "demo hall" in output and "serving on" in output
        link = re.search(r"A01 .*: (http\S+/pair/\S+)", output).group(1)
        assert link.startswith(f"http://127.0.0.1:{port}/pair/")
        # Opening the link pairs this "browser" and lands on the kiosk page.
        tablet = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        for _ in range(50):
            try:
                with tablet.open(link) as resp:
                    assert resp.status == 200 and resp.url.endswith("/k/A01")
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        body = json.dumps({"window": "A01", "score": 5, "channel": "kiosk",
                           "client_id": "serve-test-1"}).encode()
        req = urllib.request.Request(f"http://127.0.0.1:{port}/api/ratings", data=body,
                                     headers={"Content-Type": "application/json"})
        with tablet.open(req) as resp:
            assert resp.status == 201
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
        proc.stdout.close()
    assert (tmp_path / "fresh" / "secret_key").exists()


def _drop_all(uri: str) -> None:
    engine = sa.create_engine(uri)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_import_updates_only_the_columns_it_has(runner, tmp_path):
    make_window()
    full = ("client_id,window,score,channel,reasons,comment,ticket,counted,flags,created_at\n"
            "appealed-1,A01,1,qr,attitude,态度差,A01-7,false,appeal,2026-03-01T10:00:00+08:00\n")
    assert run(runner, "import-ratings", write(tmp_path, "a.csv", full)).exit_code == 0
    slim = "client_id,window,score,created_at\nappealed-1,A01,2,2026-03-01T10:00:00+08:00\n"
    result = run(runner, "import-ratings", write(tmp_path, "b.csv", slim))
    assert "0 new, 1 updated" in result.output
    r = db.session.scalars(sa.select(Rating)).one()
    assert r.score == 2  # in the file: updated
    assert (r.channel, r.reasons, r.comment, r.ticket) == ("qr", "attitude", "态度差", "A01-7")
    assert (r.counted, r.flags) == (False, "appeal")  # the appeal ruling stands


def test_import_counts_new_and_updated(runner, tmp_path):
    make_window()
    first = "client_id,window,score,created_at\nc-000001,A01,5,2026-03-01T10:00:00\n"
    run(runner, "import-ratings", write(tmp_path, "a.csv", first))
    both = first + "c-000002,A01,4,2026-03-01T11:00:00\n"
    result = run(runner, "import-ratings", write(tmp_path, "b.csv", both))
    assert "2 ratings imported: 1 new, 1 updated" in result.output


def test_import_names_the_first_line_of_a_bad_record(runner, tmp_path):
    make_window()
    text = ('window,score,created_at,comment\n'
            'A01,5,2026-03-01T10:00:00,"第一行\n第二行"\n'
            'A01,5,0001-01-01T00:00:00,\n'
            'A01,5,2026-03-01T10:00:00,"a\x00b"\n'
            'A01,5,2026-03-01T10:00:00,"x\n'
            'y",extra\n')
    result = run(runner, "import-ratings", write(tmp_path, "r.csv", text))
    assert result.exit_code != 0
    assert "line 4:" in result.output and "out of range" in result.output
    assert "line 5:" in result.output and "NUL" in result.output
    assert "line 6:" in result.output  # the multi-line record, by its first line
    assert count(Rating) == 0


def test_demo_on_a_fresh_instance_creates_the_schema(tmp_path, monkeypatch):
    from kiosk import create_app

    monkeypatch.setenv("KIOSK_INSTANCE_PATH", str(tmp_path))
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'k.sqlite'}"})
    result = app.test_cli_runner().invoke(args=["demo"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Window)) >= 10
        db.session.remove()
        db.engine.dispose()


def test_secret_key_is_made_once_and_an_empty_one_is_refused(tmp_path, monkeypatch):
    from kiosk import create_app

    monkeypatch.setenv("KIOSK_INSTANCE_PATH", str(tmp_path))
    monkeypatch.delenv("KIOSK_SECRET_KEY", raising=False)
    uri = f"sqlite:///{tmp_path / 'k.sqlite'}"
    keys = {create_app({"SQLALCHEMY_DATABASE_URI": uri}).config["SECRET_KEY"]
            for _ in range(3)}
    assert len(keys) == 1 and len(keys.pop()) == 64
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".secret")] == []
    (tmp_path / "secret_key").write_text("")
    with pytest.raises(RuntimeError, match="empty"):
        create_app({"SQLALCHEMY_DATABASE_URI": uri})
