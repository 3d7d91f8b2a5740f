"""API tokens for other systems: a queue system opening evaluations (scope
``evaluations``), a provincial platform pulling ratings (scope ``read``).

A token is shown once, when it is made (``kiosk create-token``); only the SHA-256 of
its secret is stored, so a stolen database or backup opens no API. The secret has 256
bits of entropy, which is why a plain fast hash suffices (a password hash's slowness
protects guessable secrets, and this one is not guessable). Revoking keeps the row,
so the list still says which system had which token and when it last called.
Functions here flush, never commit.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from . import audit
from .db import db, utcnow
from .fields import InputError
from .models import TOKEN_SCOPES, ApiToken

PREFIX = "kiosk_"
NAME = re.compile(r"[\w.\-]{1,64}")
PREFIX_SHOWN = 12  # characters kept to recognise a token in the list
# last_used_at is written at most this often per token: a platform polling every few
# seconds must not turn each read into a write.
TOUCH_EVERY = timedelta(minutes=1)


def secret_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class NewToken:
    row: ApiToken
    token: str  # the whole token: shown once, never stored


def create_token(name: str, scope: str) -> NewToken:
    """A new token called ``name`` (unique, also among revoked ones) with ``scope``."""
    name = name.strip()
    if not NAME.fullmatch(name):
        raise InputError(f"令牌名称只能包含字母、数字、汉字和 . _ -，最长 64 个字符，收到“{name}” "
                         "(name: letters, digits, . _ -, at most 64 characters)")
    if scope not in TOKEN_SCOPES:
        raise InputError(f"scope 只能是 {', '.join(TOKEN_SCOPES)}，收到“{scope}” "
                         f"(scope must be one of {', '.join(TOKEN_SCOPES)})")
    if db.session.scalar(sa.select(ApiToken.id).where(ApiToken.name == name)) is not None:
        raise InputError(f"已有名为“{name}”的令牌 (a token called {name} exists)", 409)
    token = PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(name=name, scope=scope, secret_hash=secret_hash(token),
                   prefix=token[:PREFIX_SHOWN])
    db.session.add(row)
    db.session.flush()
    audit.record(None, "token.create", "api_token", row.id, after={"name": name, "scope": scope})
    return NewToken(row, token)


def all_tokens() -> list[ApiToken]:
    return list(db.session.scalars(sa.select(ApiToken).order_by(ApiToken.name)))


def revoke_token(name: str, now: datetime | None = None) -> ApiToken:
    """Revoke the token called ``name``; revoking twice keeps the first time."""
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.name == name))
    if row is None:
        raise InputError(f"没有名为“{name}”的令牌 (no token called {name})", 404)
    if row.revoked_at is None:
        row.revoked_at = now or utcnow()
        db.session.flush()
        audit.record(None, "token.revoke", "api_token", row.id, after={"name": name})
    return row


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    kind, _, value = header.partition(" ")
    value = value.strip()
    return value if kind.lower() == "bearer" and value else None


def authenticate(token: str | None, scope: str,
                 now: datetime | None = None) -> tuple[int, ApiToken | None]:
    """Check a presented token for ``scope``: (200, row), (401, None) for a missing,
    unknown or revoked token, (403, row) for one of another scope. Notes the use
    (``last_used_at``, at most once a ``TOUCH_EVERY``); flushes."""
    if not token or not token.startswith(PREFIX):
        return 401, None
    digest = secret_hash(token)
    row = db.session.scalar(sa.select(ApiToken).where(ApiToken.secret_hash == digest))
    # Looked up by its hash: how long the lookup takes says nothing about the secret.
    if row is None or row.revoked_at is not None:
        return 401, None
    if row.scope != scope:
        return 403, row
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= TOUCH_EVERY:
        row.last_used_at = now
        db.session.flush()
    return 200, row
