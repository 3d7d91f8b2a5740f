"""Phone numbers sealed at rest: AES-GCM with a key that lives in the instance folder.

A citizen's number is personal information (PIPL). The database (and every backup or
copy of it) holds only sealed strings ``ph1.<key id>.<nonce+ciphertext, base64url>``;
the key that opens them is a file beside the database, never in it, so a leaked
database file or dump shows no number. Plain numbers exist only in memory.

The key file holds one key a line (``<key id> <base64 key>``), the first being the one
new numbers are sealed with; older lines only open numbers sealed before a rotation.
``kiosk rotate-phone-key`` adds a new first line, re-seals every stored number and then
drops the old lines. Running servers notice a changed file by itself (checked at most
every ``RELOAD_SECONDS``), so a rotation needs no restart.

Sealing and opening need no app context (the rating writer thread and the hot path
call them) and cost a few microseconds.
"""
from __future__ import annotations

import base64
import binascii
import logging
import os
import re
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Flask, current_app

from .models import PHONE_SEALED_LEN, Rating, Suggestion

log = logging.getLogger(__name__)

VERSION = "ph1"
KEY_FILE = "phone.key"
EXTENSION = "kiosk.phonekeys"
RELOAD_SECONDS = 2.0
NONCE_LEN = 12
# Bound to every sealed value: a sealed phone opens as a phone and as nothing else.
AAD = b"kiosk phone v1"
SEALED = re.compile(r"ph1\.([0-9a-f]{8})\.([A-Za-z0-9_-]+)")
KEY_LINE = re.compile(r"([0-9a-f]{8})\s+([A-Za-z0-9+/=]+)")
# The tables whose ``phone`` column holds sealed numbers.
SEALED_COLUMNS = (Rating, Suggestion)


class PhoneKeyError(RuntimeError):
    """The key file is missing a key, unreadable, or a sealed value does not open."""


def is_sealed(value: str | None) -> bool:
    """Whether ``value`` is a sealed number (as opposed to a plain one from before)."""
    return bool(value) and SEALED.fullmatch(value) is not None


@dataclass(frozen=True)
class _Keys:
    """One consistent view of the key file: swapped whole, never changed in place."""

    current: str  # key id new numbers are sealed with
    aeads: dict[str, AESGCM]
    mtime: float


class Keyring:
    """The instance's phone keys. ``seal``/``unseal`` are thread-safe and app-free."""

    def __init__(self, path: Path, reload_seconds: float = RELOAD_SECONDS) -> None:
        self.path = Path(path)
        self.reload_seconds = reload_seconds
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self._keys = self._read()

    # -- the hot path ---------------------------------------------------------------
    def seal(self, plain: str) -> str:
        """``plain`` sealed with the current key (random nonce: equal numbers seal to
        different strings, so the column reveals not even who rated twice)."""
        keys = self._fresh()
        nonce = os.urandom(NONCE_LEN)
        blob = nonce + keys.aeads[keys.current].encrypt(nonce, plain.encode("utf-8"), AAD)
        sealed = f"{VERSION}.{keys.current}.{_b64(blob)}"
        if len(sealed) > PHONE_SEALED_LEN:
            raise ValueError("phone number too long to store")
        return sealed

    def unseal(self, sealed: str) -> str:
        """The plain number of a ``seal`` result; PhoneKeyError if no key opens it."""
        match = SEALED.fullmatch(sealed or "")
        if match is None:
            raise PhoneKeyError("not a sealed phone number")
        kid, body = match.groups()
        aead = self._fresh().aeads.get(kid)
        if aead is None:  # sealed by a key another process added since we last looked
            aead = self.reload().aeads.get(kid)
        if aead is None:
            raise PhoneKeyError(f"phone key {kid} is not in {self.path}")
        try:
            blob = _unb64(body)
            return aead.decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], AAD).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise PhoneKeyError(f"a phone number sealed with key {kid} does not open") from None

    @property
    def current(self) -> str:
        """The id of the key new numbers are sealed with."""
        return self._fresh().current

    @property
    def key_ids(self) -> list[str]:
        """Every key id in the file, the current one first."""
        keys = self._fresh()
        return [keys.current] + [k for k in keys.aeads if k != keys.current]

    # -- the key file ---------------------------------------------------------------
    def _fresh(self) -> _Keys:
        if time.monotonic() - self._checked >= self.reload_seconds:
            self._checked = time.monotonic()
            try:
                if self.path.stat().st_mtime != self._keys.mtime:
                    return self.reload()
            except (OSError, PhoneKeyError) as exc:
                # A key file gone or broken while serving: keep sealing with the keys
                # in memory (a rating is never refused for it), and say so.
                log.error("phone key file %s: %s; keeping the keys in memory",
                          self.path, exc)
        return self._keys

    def reload(self) -> _Keys:
        with self._lock:
            self._keys = self._read()
            self._checked = time.monotonic()
            return self._keys

    def _read(self) -> _Keys:
        mtime = self.path.stat().st_mtime if self.path.exists() else 0.0
        lines = _key_lines(self.path)
        if not lines:
            raise PhoneKeyError(f"{self.path} holds no phone key")
        aeads = {kid: AESGCM(key) for kid, key in lines}
        return _Keys(lines[0][0], aeads, mtime)

    def add_key(self) -> str:
        """Write a new current key in front of the others; returns its id."""
        with self._lock:
            lines = _key_lines(self.path)
            kid = _new_kid({k for k, _ in lines})
            _write_key_file(self.path, [(kid, AESGCM.generate_key(bit_length=256))] + lines)
        self.reload()
        return kid

    def keep_only(self, kids: Iterable[str]) -> list[str]:
        """Drop every key but ``kids`` from the file; returns the ids dropped."""
        keep = set(kids)
        with self._lock:
            lines = _key_lines(self.path)
            if lines[0][0] not in keep:
                raise PhoneKeyError("the current phone key cannot be dropped")
            _write_key_file(self.path, [(k, v) for k, v in lines if k in keep])
        self.reload()
        return [k for k, _ in lines if k not in keep]


def key_path(app: Flask) -> Path:
    """``PHONE_KEY_FILE`` when set, else ``phone.key`` in the instance folder."""
    configured = app.config.get("PHONE_KEY_FILE")
    return Path(configured) if configured else Path(app.instance_path) / KEY_FILE


def keyring(app: Flask | None = None) -> Keyring:
    """The app's keyring (made once per app; the key file is created on first use)."""
    app = app or current_app._get_current_object()
    ring = app.extensions.get(EXTENSION)
    if ring is None:
        path = key_path(app)
        ensure_key_file(path)
        ring = app.extensions.setdefault(EXTENSION, Keyring(path))
    return ring


def ensure_key_file(path: Path) -> None:
    """Create the key file with one random key unless it exists (mode 0600)."""
    if path.exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    kid = _new_kid(set())
    line = f"{kid} {base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}\n"
    # Written whole to a private temporary file, then linked into place: two processes
    # starting at once see either no file or a whole one, and only one key wins.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".phone.key.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(_HEADER + line)
        try:
            os.link(tmp, path)
            log.warning("created the phone key %s: back it up apart from the database; "
                        "without it no stored number can be read", path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)


_HEADER = ("# Phone number keys (kiosk/phonekeys.py). The first line seals new numbers;\n"
           "# the others open older ones. Keep this file out of every database backup.\n")


def _key_lines(path: Path) -> list[tuple[str, bytes]]:
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise PhoneKeyError(f"cannot read the phone key file {path}: {exc}") from None
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = KEY_LINE.fullmatch(line)
        key = base64.b64decode(match.group(2)) if match else b""
        if len(key) not in (16, 24, 32):
            raise PhoneKeyError(f"{path} line {number} is not '<key id> <base64 key>'")
        out.append((match.group(1), key))
    return out


def _write_key_file(path: Path, lines: list[tuple[str, bytes]]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".phone.key.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(_HEADER + "".join(f"{k} {base64.b64encode(v).decode()}\n"
                                       for k, v in lines))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # mkstemp made it 0600; replace keeps that
    except BaseException:
        os.unlink(tmp)
        raise


def _new_kid(taken: set[str]) -> str:
    while True:
        kid = secrets.token_hex(4)
        if kid not in taken:
            return kid


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- re-sealing what is stored ------------------------------------------------------
BATCH = 2000


def reseal_stored(session, ring: Keyring, normalize=None, plain_only: bool = False) -> int:
    """Re-seal every stored number not sealed with the current key (``plain_only``:
    only numbers still stored plain, from before sealing). Plain ones pass through
    ``normalize`` first when given (a number it refuses is sealed as it was: better
    kept than lost). Each row is updated only if it still holds what was read, so a
    number changed meanwhile is left to the next run. Flushes; returns how many."""
    prefix = f"{VERSION}.{ring.current}.%"
    done = 0
    for model in SEALED_COLUMNS:
        table = model.__table__
        if plain_only:
            stale = table.c.phone.not_like(f"{VERSION}.%")
        else:
            stale = table.c.phone.not_like(prefix)
        last = 0
        while True:
            rows = session.execute(
                sa.select(table.c.id, table.c.phone)
                .where(table.c.phone.is_not(None), stale, table.c.id > last)
                .order_by(table.c.id).limit(BATCH)).all()
            if not rows:
                break
            last = rows[-1].id
            changes = []
            for row in rows:
                plain = _plain(row.phone, ring, normalize)
                if plain is None:
                    continue
                changes.append({"rid": row.id, "old": row.phone, "new": ring.seal(plain)})
            if changes:
                result = session.execute(
                    table.update()
                    .where(table.c.id == sa.bindparam("rid"),
                           table.c.phone == sa.bindparam("old"))
                    .values(phone=sa.bindparam("new")), changes)
                done += result.rowcount if result.rowcount >= 0 else len(changes)
    session.flush()
    return done


def _plain(stored: str, ring: Keyring, normalize) -> str | None:
    if is_sealed(stored):
        return ring.unseal(stored)
    value = stored.strip()
    if not value or "*" in value:
        return None  # nothing to keep (a masked number never carried one)
    if normalize is not None:
        try:
            return normalize(value)
        except ValueError:
            log.warning("a stored phone number does not validate; sealed as it was")
    return value


def count_not_current(session, ring: Keyring) -> int:
    """How many stored numbers are not (yet) sealed with the current key."""
    prefix = f"{VERSION}.{ring.current}.%"
    return sum(session.scalar(
        sa.select(sa.func.count()).select_from(model.__table__)
        .where(model.__table__.c.phone.is_not(None),
               model.__table__.c.phone.not_like(prefix))) or 0
        for model in SEALED_COLUMNS)


@dataclass
class Rotation:
    new_key: str
    resealed: int
    dropped: list[str]  # old key ids removed from the file
    kept: list[str]  # old key ids still needed (numbers written meanwhile); run again


def rotate(session, ring: Keyring, settle_seconds: float | None = None) -> Rotation:
    """Seal every stored number with a new key and drop the old ones from the file.

    The new key goes first into the file; we wait until every running server has
    noticed it (``settle_seconds``, default the reload interval plus a margin), so none
    seals with an old key any more; then we re-seal in batches and commit; only when
    no stored number needs an old key are the old keys dropped. Commits.
    """
    old = ring.key_ids
    kid = ring.add_key()
    time.sleep(ring.reload_seconds + 1 if settle_seconds is None else settle_seconds)
    resealed = reseal_stored(session, ring)
    session.commit()
    if count_not_current(session, ring) == 0:
        return Rotation(kid, resealed, ring.keep_only([kid]), [])
    return Rotation(kid, resealed, [], old)


def seal_plain_numbers(session, app: Flask | None = None) -> int:
    """Seal every number still stored plain (a database from before sealing); the
    key file is made only if there is one. Flushes; returns how many."""
    plain = sum(session.scalar(
        sa.select(sa.func.count()).select_from(model.__table__)
        .where(model.__table__.c.phone.is_not(None),
               model.__table__.c.phone.not_like(f"{VERSION}.%"))) or 0
        for model in SEALED_COLUMNS)
    if not plain:
        return 0
    from .privacy import normalize_phone

    done = reseal_stored(session, keyring(app), normalize_phone, plain_only=True)
    log.warning("sealed %d phone numbers that were stored plain", done)
    return done
