"""POST /api/suggestions: the 意见簿."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from kiosk.db import db
from kiosk.models import Suggestion
from kiosk.privacy import unseal_phone

from .helpers import make_window


def stored() -> list[Suggestion]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Suggestion)))


def test_a_suggestion_with_window_and_contact(client, app):
    make_window()
    text = "建议增加老年人座椅 <b>谢谢</b>"
    resp = client.post("/api/suggestions", json={"text": text, "window": "A01",
                                                 "phone": "13800138000",
                                                 "client_id": "sugg-0001"})
    assert resp.status_code == 201
    [s] = stored()
    assert (s.text, s.window.code, s.client_id) == (text, "A01", "sugg-0001")
    assert s.phone.startswith("ph1.") and unseal_phone(s.phone) == "13800138000"  # sealed


def test_a_bare_suggestion_needs_only_text(client):
    assert client.post("/api/suggestions", json={"text": "停车难"}).status_code == 201
    [s] = stored()
    assert s.window is None and s.client_id is None


def test_the_same_client_id_is_stored_once(client):
    body = {"text": "停车难", "client_id": "sugg-0002"}
    first = client.post("/api/suggestions", json=body)
    again = client.post("/api/suggestions", json=body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json["id"] == again.json["id"]
    assert len(stored()) == 1


@pytest.mark.parametrize("body, status, message", [
    ({}, 400, "text is required"),
    ({"text": "   "}, 400, "text is required"),
    ({"text": "长" * 1001}, 400, "text"),
    ({"text": 5}, 400, "text"),
    ({"text": "好", "window": "Q9"}, 404, "Q9"),
    ({"text": "好", "phone": "110"}, 400, "phone"),
    ({"text": "好", "client_id": "x"}, 400, "client_id"),
])
def test_invalid_suggestions(client, body, status, message):
    resp = client.post("/api/suggestions", json=body)
    assert resp.status_code == status
    assert message in resp.json["error"]
    assert stored() == []


def test_suggestion_of_1000_characters_is_kept(client):
    assert client.post("/api/suggestions", json={"text": "意" * 1000}).status_code == 201


def test_hostile_suggestion_text_is_a_400(client):
    for text in ("a\u0000b", "\ud83d"):
        resp = client.post("/api/suggestions", data=json.dumps({"text": text}),
                           content_type="application/json")
        assert resp.status_code == 400
    resp = client.post("/api/suggestions", json={"text": "好", "channel": ["qr"]})
    assert resp.status_code == 400
    assert stored() == []
