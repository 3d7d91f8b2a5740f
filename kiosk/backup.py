"""``kiosk backup``: a consistent copy of the SQLite database, taken while serving.

Copying ``kiosk.sqlite`` with ``cp`` while the server writes can catch a commit
half-way, and misses whatever still sits in the ``-wal`` file. SQLite's online backup
API copies the database as of one read transaction instead: every commit before it
and none after, WAL included. In WAL mode (kiosk/db.py) that read blocks no writer,
so taps keep being stored while the copy runs.

The copy is written to a temporary file next to the target, checked with
``PRAGMA integrity_check`` and only then renamed into place, so ``--out`` is either
the old file or a whole, checked backup: never half of one.

PostgreSQL has its own consistent online copy (``pg_dump``, one snapshot); this
module only says so (README, "Backups").
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa


class BackupError(Exception):
    """A backup that cannot be taken, with a message for the operator."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int  # bytes
    ratings: int  # ratings in the copy


def sqlite_path(uri: str) -> Path:
    """The database file behind a ``sqlite:///`` URI; a clear error for anything else
    (PostgreSQL: use pg_dump; an in-memory database has nothing to copy)."""
    url = sa.engine.make_url(uri)
    if url.get_backend_name() == "postgresql":
        # libpq's form of the address, without the password: pg_dump reads that from
        # ~/.pgpass or PGPASSWORD, and a terminal must not show it.
        user = f"{url.username}@" if url.username else ""
        port = f":{url.port}" if url.port else ""
        target = f"postgresql://{user}{url.host or ''}{port}/{url.database or ''}"
        raise BackupError(
            "kiosk backup copies a SQLite database; this one is PostgreSQL. Take a "
            "consistent copy while serving with pg_dump, e.g.\n"
            f"  pg_dump --format=custom --file=kiosk-$(date +%F).dump '{target}'\n"
            "and restore it with pg_restore (README, \"Backups\").")
    if url.get_backend_name() != "sqlite":
        raise BackupError(f"kiosk backup copies SQLite databases, not {url.get_backend_name()}")
    if not url.database or url.database == ":memory:":
        raise BackupError("the database is in memory: there is no file to back up")
    return Path(url.database)


def backup_sqlite(source: Path, out: Path) -> BackupResult:
    """Copy the live database ``source`` to ``out`` with SQLite's online backup.

    The copy is taken in one step, inside one read transaction: a copy in several
    steps starts over whenever another connection writes in between, which under a
    steady stream of taps could be forever. In WAL mode that read blocks no writer
    (the WAL just grows until the copy is done). The busy timeout lets it wait out a
    checkpoint instead of failing."""
    source = Path(source)
    out = Path(out)
    if not source.is_file():
        raise BackupError(f"no database at {source}")
    if out.resolve() == source.resolve():
        raise BackupError("--out is the live database itself: choose another file")
    if out.is_dir():
        raise BackupError(f"--out {out} is a folder: give a file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        src = sqlite3.connect(source, timeout=30)
        try:
            src.execute("PRAGMA busy_timeout=30000")
            dst = sqlite3.connect(tmp)
            try:
                src.backup(dst, pages=-1)
                # A backup is one file: no -wal beside it to lose on the way to
                # another disk.
                dst.execute("PRAGMA journal_mode=DELETE")
                check = dst.execute("PRAGMA integrity_check").fetchone()[0]
                if check != "ok":
                    raise BackupError(f"the copy failed SQLite's integrity check: {check}")
                ratings = dst.execute("SELECT count(*) FROM rating").fetchone()[0]
            finally:
                dst.close()
        finally:
            src.close()
        os.replace(tmp, out)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {source} failed: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(out, out.stat().st_size, ratings)
