"""API tokens (kiosk/tokens.py): made, listed and revoked on the CLI, stored hashed,
and the read API's answers to no token, a bad one, a revoked one, the wrong scope."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk import tokens
from kiosk.db import db, utcnow
from kiosk.models import ApiToken


def create(runner, name: str, *args: str) -> str:
    result = runner.invoke(args=["create-token", name, *args])
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_create_token_prints_it_last_and_stores_only_its_hash(app, runner):
    token = create(runner, "province", "--scope", "read")
    assert token.startswith("kiosk_") and len(token) > 40
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "province"))
    assert row.scope == "read"
    assert row.secret_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token[:12] == row.prefix
    # Nowhere in the table is the token itself.
    dumped = db.session.execute(sa.select(ApiToken.__table__)).all()
    assert token not in repr(dumped)
    assert row.last_used_at is None and row.revoked_at is None
    # A second token is a different secret.
    assert create(runner, "queue", "--scope", "evaluations") != token


def test_create_token_refuses_a_taken_name_a_bad_name_and_a_bad_scope(app, runner):
    create(runner, "province")
    again = runner.invoke(args=["create-token", "province"])
    assert again.exit_code != 0 and "已有名为“province”的令牌" in again.output
    bad = runner.invoke(args=["create-token", "has space"])
    assert bad.exit_code != 0 and "令牌名称" in bad.output
    scope = runner.invoke(args=["create-token", "x", "--scope", "write"])
    assert scope.exit_code != 0 and "write" in scope.output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiToken)) == 1


def test_list_and_revoke(app, runner, client):
    token = create(runner, "province")
    create(runner, "queue", "--scope", "evaluations")
    listed = runner.invoke(args=["list-tokens"]).output
    assert "province\tread\tkiosk_" in listed and "queue\tevaluations" in listed
    assert token not in listed
    assert client.get("/api/v1/ratings", headers=bearer(token)).status_code == 200

    result = runner.invoke(args=["revoke-token", "province"])
    assert result.exit_code == 0 and "token province revoked" in result.output
    assert client.get("/api/v1/ratings", headers=bearer(token)).status_code == 401
    listed = runner.invoke(args=["list-tokens"]).output
    lines = {line.split("\t")[0]: line for line in listed.splitlines()}
    assert "\trevoked 20" in lines["province"] and lines["queue"].endswith("\tactive")
    missing = runner.invoke(args=["revoke-token", "nobody"])
    assert missing.exit_code != 0 and "没有名为“nobody”的令牌" in missing.output
    with app.app_context():  # made and revoked from the command line: in the audit log
        from kiosk.models import AuditEntry
        logged = [(e.action, e.username) for e in db.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.target_type == "api_token")
            .order_by(AuditEntry.id))]
    assert logged == [("token.create", "(system)"), ("token.create", "(system)"),
                      ("token.revoke", "(system)")]


def test_list_tokens_when_there_are_none(app, runner):
    assert "no API tokens" in runner.invoke(args=["list-tokens"]).output


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Basic a2lvc2s6a2lvc2s="},
    {"Authorization": "Bearer kiosk_not-a-real-token"},
    {"Authorization": "Bearer something-else"},
])
def test_no_or_bad_token_is_401_with_a_json_error(app, runner, client, headers):
    create(runner, "province")
    for path in ("/api/v1/ratings", "/api/v1/league", "/api/v1/followups"):
        resp = client.get(path, headers=headers)
        assert resp.status_code == 401, path
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        assert "API 令牌" in resp.get_json()["error"]


def test_a_token_of_another_scope_is_403(app, runner, client):
    token = create(runner, "queue", "--scope", "evaluations")
    for path in ("/api/v1/ratings", "/api/v1/league", "/api/v1/followups"):
        resp = client.get(path, headers=bearer(token))
        assert resp.status_code == 403, path
        assert "evaluations" in resp.get_json()["error"]


def test_last_used_is_noted_at_most_once_a_minute(app, runner, client):
    token = create(runner, "province")
    assert client.get("/api/v1/ratings", headers=bearer(token)).status_code == 200
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == "province"))
    first = row.last_used_at
    assert first is not None and utcnow() - first < timedelta(minutes=1)
    client.get("/api/v1/ratings", headers=bearer(token))
    db.session.refresh(row)
    assert row.last_used_at == first  # within the minute: no write
    # A minute later, the use is noted again.
    status, _ = tokens.authenticate(token, "read", now=first + timedelta(minutes=2))
    db.session.commit()
    db.session.refresh(row)
    assert status == 200 and row.last_used_at == first + timedelta(minutes=2)


def test_the_document_needs_no_token(client):
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200 and resp.get_json()["openapi"].startswith("3.1")
