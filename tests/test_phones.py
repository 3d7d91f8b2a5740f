"""Phone numbers end to end: numbers from Hong Kong, Macao, Taiwan and abroad through
the API, imports and exports; sealed at rest (never plain in the database file); the
key file; ``kiosk init-db`` sealing numbers from before; ``kiosk rotate-phone-key``."""
from __future__ import annotations

import csv
import io
import os
import re
import stat
import time
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import phonekeys
from kiosk.db import db
from kiosk.models import Rating, Suggestion
from kiosk.privacy import unseal_phone

from .helpers import make_window, rating_body

# typed by the citizen -> stored (opened) -> shown masked
NUMBERS = [
    ("+852 9123 4567", "+85291234567", "+852****4567"),  # Hong Kong
    ("+853 6612 3456", "+85366123456", "+853****3456"),  # Macao
    ("+886 912 345 678", "+886912345678", "+886****5678"),  # Taiwan
    ("+1 (202) 555-0143", "+12025550143", "+1****0143"),  # abroad
    ("00852 6123 4567", "+85261234567", "+852****4567"),  # 00 for +
    ("138 0013 8000", "13800138000", "138****8000"),  # mainland mobile
    ("+86 10 6552 1234", "01065521234", "010****1234"),  # mainland landline
]
T0 = datetime(2026, 3, 2, 1)  # naive UTC, as stored
# How a number shows up inside a file: its digits in a row.


def run(runner, *args):
    return runner.invoke(args=list(args), catch_exceptions=False)


def stored_phones(model=Rating) -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(model.phone).where(model.phone.is_not(None))
                                   .order_by(model.id)))


def export(runner, *options) -> list[dict]:
    result = run(runner, "export-ratings", *options)
    assert result.exit_code == 0, result.output
    return list(csv.DictReader(io.StringIO(result.output)))


@pytest.fixture
def window(app):
    return make_window("A01")


def test_numbers_from_everywhere_are_accepted_sealed_and_masked(client, runner, window):
    for i, (typed, _, _) in enumerate(NUMBERS):
        body = rating_body(score=1 + i % 5, phone=typed)
        resp = client.post("/api/ratings", json=body)
        assert resp.status_code == 201, resp.get_json()
    sealed = stored_phones()
    assert all(phonekeys.is_sealed(p) for p in sealed)
    assert [unseal_phone(p) for p in sealed] == [n[1] for n in NUMBERS]
    # Exports: masked (country or region code and the last four) unless --with-phone.
    assert [r["phone"] for r in export(runner)] == [n[2] for n in NUMBERS]
    assert [r["phone"] for r in export(runner, "--with-phone")] == [n[1] for n in NUMBERS]
    jsonl = run(runner, "export-ratings", "--format", "jsonl").output
    assert "+852****4567" in jsonl and "91234567" not in jsonl


def test_suggestions_take_the_same_numbers_sealed_and_masked(client, login, window):
    for i, (typed, _, _) in enumerate(NUMBERS[:4]):
        resp = client.post("/api/suggestions", json={"text": f"建议{i}", "window": "A01",
                                                     "phone": typed})
        assert resp.status_code == 201, resp.get_json()
    sealed = stored_phones(Suggestion)
    assert [unseal_phone(p) for p in sealed] == [n[1] for n in NUMBERS[:4]]
    supervisor = login("supervisor")
    listing = supervisor.get("/admin/suggestions").get_data(as_text=True)
    text = supervisor.get("/admin/suggestions.csv").get_data().decode("utf-8-sig")
    for _, whole, masked in NUMBERS[:4]:
        assert masked in listing and masked in text
        assert whole not in listing and whole not in text
    first = db.session.scalar(sa.select(sa.func.min(Suggestion.id)))
    assert "+852****4567" in supervisor.get(f"/admin/suggestions/{first}").get_data(as_text=True)


def test_an_admin_reveal_opens_the_sealed_number(client, login, window):
    client.post("/api/suggestions", json={"text": "请回电", "phone": "+853 6612 3456"})
    [sid] = db.session.scalars(sa.select(Suggestion.id))
    admin = login("admin")
    page = admin.get(f"/admin/suggestions/{sid}").get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    shown = admin.post(f"/admin/suggestions/{sid}/phone", data={"csrf_token": token})
    assert "+85366123456" in shown.get_data(as_text=True)


@pytest.mark.parametrize("typed, hint", [
    ("9123 4567", "+852 9123 4567"),  # a Hong Kong number without +852
    ("852 9123 4567", "+852 9123 4567"),
    ("+852 123", "+852"),
    ("+1 000 000 0000", "+1"),
    ("+999 1234 5678", "+852 9123 4567"),  # no such code
    ("12345", "mainland"),
])
def test_nonsense_is_refused_by_the_api_with_a_hint(client, window, typed, hint):
    for url, body in (("/api/ratings", rating_body(score=1, phone=typed)),
                      ("/api/suggestions", {"text": "好", "phone": typed})):
        resp = client.post(url, json=body)
        assert resp.status_code == 400
        assert resp.get_json()["error"].startswith("phone") and hint in resp.get_json()["error"]
    assert stored_phones() == [] and stored_phones(Suggestion) == []


def test_imports_take_the_numbers_and_seal_them(runner, window, tmp_path):
    lines = ["window,score,created_at,phone"] + [
        f"A01,{1 + i % 5},2026-03-0{1 + i}T09:00:00+08:00,\"{typed}\""
        for i, (typed, _, _) in enumerate(NUMBERS)]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run(runner, "import-ratings", str(path))
    assert result.exit_code == 0, result.output
    assert all(phonekeys.is_sealed(p) for p in stored_phones())
    assert [r["phone"] for r in export(runner)] == [n[2] for n in NUMBERS]
    assert [r["phone"] for r in export(runner, "--with-phone")] == [n[1] for n in NUMBERS]
    bad = tmp_path / "bad.csv"
    bad.write_text("window,score,created_at,phone\nA01,1,2026-03-09T09:00:00+08:00,852 123\n",
                   encoding="utf-8")
    refused = runner.invoke(args=["import-ratings", str(bad)])
    assert refused.exit_code != 0 and "line 2" in refused.output and "phone" in refused.output


def test_no_number_is_in_the_database_in_plain_text(app, client, window, database_uri):
    typed = [n[0] for n in NUMBERS]
    for i, number in enumerate(typed):
        assert client.post("/api/ratings", json=rating_body(score=1 + i % 5, phone=number)
                           ).status_code == 201
        assert client.post("/api/suggestions", json={"text": "建议", "phone": number}
                           ).status_code == 201
    wholes = [n[1].lstrip("+").encode() for n in NUMBERS]
    if database_uri.startswith("sqlite"):
        # The file itself, and its write-ahead log: every byte that reached the disk.
        path = Path(database_uri.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        assert len(raw) > 10_000
        for whole in wholes:
            assert whole not in raw
            assert whole[-8:] not in raw  # not even the local part
    else:
        with db.engine.connect() as conn:
            raw = [row[0] for table in ("rating", "suggestion")
                   for row in conn.exec_driver_sql(f"SELECT phone FROM {table}")]
        assert len(raw) == 2 * len(typed)
        assert all(value.startswith("ph1.") for value in raw)
        column = "\n".join(raw).encode()
        for whole in wholes:
            assert whole not in column
            assert whole[-8:] not in column  # not even the local part
    # Equal numbers seal differently: the column does not even tell who rated twice.
    sealed = stored_phones()
    assert len(set(sealed)) == len(sealed)
    assert client.post("/api/ratings", json=rating_body(phone=typed[0])).status_code == 201
    assert len(set(stored_phones())) == len(sealed) + 1


def test_the_key_lives_in_the_instance_folder_readable_by_the_owner_only(app, client, window,
                                                                      database_uri):
    client.post("/api/ratings", json=rating_body(score=1, phone="+852 9123 4567"))
    path = Path(app.instance_path) / "phone.key"
    assert phonekeys.keyring(app).path == path
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    [line] = [x for x in path.read_text().splitlines() if x and not x.startswith("#")]
    key_b64 = line.split()[1].encode()
    if database_uri.startswith("sqlite"):
        assert key_b64 not in Path(database_uri.removeprefix("sqlite:///")).read_bytes()
    # Without the key nothing opens: another key file cannot read the number.
    other = phonekeys.Keyring(_new_key_file(path.parent / "other.key"))
    with pytest.raises(phonekeys.PhoneKeyError):
        other.unseal(stored_phones()[0])


def _new_key_file(path: Path) -> Path:
    phonekeys.ensure_key_file(path)
    return path


def test_a_configured_key_file_is_used(database_uri, tmp_path):
    from .conftest import _dispose, _make_app

    key = tmp_path / "keys" / "hall.key"
    other = _make_app(database_uri, str(tmp_path / "inst"), PHONE_KEY_FILE=str(key))
    try:
        ring = phonekeys.keyring(other)
        assert ring.path == key and key.exists()
        assert ring.unseal(ring.seal("+85291234567")) == "+85291234567"
    finally:
        _dispose(other)


def test_sealing_is_fast_and_needs_no_app(tmp_path):
    ring = phonekeys.Keyring(_new_key_file(tmp_path / "phone.key"))
    start = time.perf_counter()
    for _ in range(2000):
        assert ring.unseal(ring.seal("+85291234567")) == "+85291234567"
    assert (time.perf_counter() - start) / 2000 < 200e-6  # well under a request's cost
    assert len(ring.seal("+" + "9" * 17)) <= 120  # PHONE_SEALED_LEN


def test_init_db_seals_numbers_stored_plain_before(app, runner, window):
    # A database from before sealing: plain numbers, as the old code stored them.
    for i, plain in enumerate(["13800138000", "057188001234", "138-0013-8000"]):
        db.session.add(Rating(client_id=f"old-{i:05d}", window_id=window.id, score=1,
                              channel="kiosk", phone=plain, created_at=T0))
    db.session.add(Suggestion(text="旧建议", phone="13900001111", created_at=T0))
    db.session.commit()
    result = run(runner, "init-db")
    assert result.exit_code == 0, result.output
    phones = stored_phones()
    assert all(phonekeys.is_sealed(p) for p in phones + stored_phones(Suggestion))
    assert [unseal_phone(p) for p in phones] == ["13800138000", "057188001234", "13800138000"]
    assert unseal_phone(stored_phones(Suggestion)[0]) == "13900001111"
    again = list(phones)
    assert run(runner, "init-db").exit_code == 0
    assert stored_phones() == again  # nothing left to seal: untouched


def test_rotation_reseals_every_number_and_keeps_it_readable(app, client, runner, window):
    for i, (typed, _, _) in enumerate(NUMBERS):
        client.post("/api/ratings", json=rating_body(score=1 + i % 5, phone=typed))
        client.post("/api/suggestions", json={"text": "建议", "phone": typed})
    ring = phonekeys.keyring(app)
    old_key = ring.current
    # A server that started before the rotation and still holds the old key in memory.
    running = phonekeys.Keyring(ring.path, reload_seconds=0.5)
    before = stored_phones() + stored_phones(Suggestion)
    result = run(runner, "rotate-phone-key")
    assert result.exit_code == 0, result.output
    assert f"re-sealed {2 * len(NUMBERS)} phone numbers" in result.output
    assert f"retired key(s) {old_key}" in result.output
    after = stored_phones() + stored_phones(Suggestion)
    assert ring.current != old_key and ring.key_ids == [ring.current]
    assert all(p.startswith(f"ph1.{ring.current}.") for p in after)
    assert set(before).isdisjoint(after)
    opened = [n[1] for n in NUMBERS] * 2
    assert sorted(map(unseal_phone, after)) == sorted(opened)
    assert sorted(map(running.unseal, after)) == sorted(opened)  # it reloads the file
    assert running.seal("+1").startswith(f"ph1.{ring.current}.")  # and seals anew
    fresh = phonekeys.Keyring(ring.path)  # a server started after the rotation
    assert sorted(map(fresh.unseal, after)) == sorted(opened)
    assert old_key not in ring.path.read_text()
    assert stat.S_IMODE(os.stat(ring.path).st_mode) == 0o600
    assert [r["phone"] for r in export(runner, "--with-phone")] == [n[1] for n in NUMBERS]


def test_a_number_no_key_opens_shows_as_stars_not_a_traceback(app, runner, window):
    db.session.add(Rating(client_id="broken-0001", window_id=window.id, score=1,
                          channel="kiosk", phone="ph1.deadbeef.AAAAAAAAAAAAAAAAAAAAAAAA",
                          created_at=T0))
    db.session.commit()
    assert [r["phone"] for r in export(runner)] == ["****"]
