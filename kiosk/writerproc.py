"""The rating writer in a process of its own: group commit without a GIL convoy.

In one server process the writer thread shares the GIL with every waitress thread.
Under load each of its database round trips (the misuse screen's read, the store
with its COMMIT) ends with the driver wanting the GIL back while request threads
parse JSON: on PostgreSQL, round trips of 0.25 ms in a quiet process took 4-7 ms in
a busy server, a batch cycle took 10-12 ms, and one server stored a third of what the
bare endpoint answered (bench/ingest.py --pg). Lowering sys.setswitchinterval and
cutting round trips barely moved it. On SQLite the writer thread's Python (the
screen, the parameters, the summary delta) took the GIL from the request threads:
one server stored 0.49x the bare endpoint's rate with the thread, 0.97-1.03x with
this process (bench/ingest.py --thread-writer, one run).

Here the request threads hand their validated ratings (``NewRating``, phones sealed
already) over a pipe to a child process that runs the same ``RatingWriter`` with a
GIL of its own: it takes whatever has queued in the pipe as one batch, stores it in
one transaction, and sends the batch's answers back in one message. A request thread
still answers only after its rating's transaction committed. The server pays a
pickle and a pipe write per rating and one wake-up per batch; the child's round
trips take what the database takes.

The child is the server's app made again (``create_app`` with the parent's config,
the thread writer inside), so the screen, the case opener and the deadlines read
the same settings and the same database. If it dies, the ratings it held are
answered with an error (a tablet keeps them and retries: client_ids make that safe)
and the next rating starts a new one.
"""
from __future__ import annotations

import logging
import os
import pickle
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection
from typing import Any

from .fields import InputError
from .ratings import NewRating, RatedEvent, Stored

log = logging.getLogger(__name__)

START_SECONDS = 120  # a cold start imports the app: a few seconds on a busy machine
IDLE_SECONDS = 5.0  # the child gives its database connection back after this long idle


class _Slot:
    __slots__ = ("stored", "error", "done")

    def __init__(self) -> None:
        self.stored: Stored | None = None
        self.error: Exception | None = None
        self.done = threading.Lock()  # held until the child answered
        self.done.acquire()


def _picklable(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config values that can cross to the child (all the settings are plain)."""
    out = {}
    for key, value in config.items():
        try:
            pickle.dumps(value)
        except Exception:
            continue
        out[key] = value
    return out


class ProcessWriter:
    """``RatingWriter.write`` through a child process (see the module's docstring)."""

    def __init__(self, config: Mapping[str, Any], instance_path: str) -> None:
        self.config = _picklable(config) | {"WRITER_PROCESS": False}
        self.instance_path = instance_path
        self._lock = threading.Lock()  # guards the pipe, the slots and the child
        self._slots: dict[int, _Slot] = {}
        self._next = 0
        self._pipe: Connection | None = None  # our end of the child's pipe; None: no child running
        self._child: subprocess.Popen | None = None

    def start(self) -> None:
        """Start the child now (``kiosk serve`` does, so no rating waits for it)."""
        with self._lock:
            if self._pipe is None:
                self._start()

    def _start(self) -> None:
        # A new interpreter (never a fork of a threaded server, and unlike
        # multiprocessing's spawn, whatever started the server: `kiosk`, `python -m
        # kiosk`, a test), joined to us by a socket pair. Its own session: a Ctrl-C at
        # the terminal stops the server, and the child leaves when the socket closes.
        ours_sock, theirs_sock = socket.socketpair()
        with theirs_sock:
            child = subprocess.Popen(
                [sys.executable, "-m", "kiosk.writerproc", str(theirs_sock.fileno())],
                pass_fds=(theirs_sock.fileno(),), start_new_session=True,
                env=dict(os.environ, KIOSK_INSTANCE_PATH=self.instance_path))
        ours = Connection(ours_sock.detach())
        try:
            ours.send(self.config)
            if not ours.poll(START_SECONDS):
                raise RuntimeError("the rating writer process did not start")
            ready = ours.recv()
            if ready != "ready":
                raise RuntimeError(f"the rating writer process said {ready!r}")
        except (EOFError, OSError, RuntimeError) as exc:
            ours.close()
            child.kill()
            raise RuntimeError(f"the rating writer process failed to start ({exc!r}; "
                               f"exit code {child.wait()})") from None
        self._pipe, self._child = ours, child
        threading.Thread(target=self._receive, args=(ours, child), name="rating-answers",
                         daemon=True).start()
        log.info("rating writer process %d started", child.pid)

    def write(self, rating: NewRating) -> Stored:
        """Store ``rating`` durably (or find it stored before) and return its id."""
        slot = _Slot()
        with self._lock:
            if self._pipe is None:
                self._start()
            key = self._next
            self._next += 1
            self._slots[key] = slot
            try:
                self._pipe.send((key, rating))
            except OSError as exc:  # the child is gone; its reader fails the others
                self._slots.pop(key, None)
                raise RuntimeError(f"the rating could not be stored ({exc})") from None
        slot.done.acquire()  # released when the batch holding our rating committed
        if slot.error is not None:
            raise slot.error
        assert slot.stored is not None
        return slot.stored

    def _receive(self, pipe: Connection, child: subprocess.Popen) -> None:
        """Wake each batch's requests as the child answers; fail them if it dies."""
        while True:
            try:
                answers = pipe.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                slots = [(self._slots.pop(key), result) for key, result in answers]
            for slot, (kind, value) in slots:
                if kind == "stored":
                    slot.stored = value
                elif kind == "rated":
                    slot.error = RatedEvent()
                elif kind == "input":
                    slot.error = InputError(*value)
                else:
                    slot.error = RuntimeError(value)
                slot.done.release()
        with self._lock:
            if self._pipe is pipe:
                self._pipe = None  # the next rating starts a new child
            lost = list(self._slots.values())
            self._slots.clear()
        if lost:
            log.error("the rating writer process stopped; %d rating(s) answered with an "
                      "error", len(lost))
        for slot in lost:
            slot.error = RuntimeError("the rating could not be stored (the writer "
                                      "process stopped)")
            slot.done.release()
        pipe.close()
        try:
            child.wait(10)  # (reaped: no zombie)
        except subprocess.TimeoutExpired:  # alive but silent: a new one takes over
            child.kill()
            child.wait()

    def stop(self) -> None:
        """End the child (tests; a server's child ends with it)."""
        with self._lock:
            pipe, child = self._pipe, self._child
            if pipe is not None:
                try:
                    pipe.send(None)  # the child leaves when it reads this
                except OSError:
                    pass  # gone already
        if child is not None:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    @property
    def pid(self) -> int | None:
        """The running child's process id (None when none runs)."""
        child = self._child
        return child.pid if child is not None and child.poll() is None else None


def attach(app) -> ProcessWriter | None:
    """Give ``app``'s rating intake a writer process and start it, unless its config
    says not to (``WRITER_PROCESS``). For a server, before its first request."""
    if not app.config.get("WRITER_PROCESS"):
        return None
    writer = ProcessWriter(app.config, app.instance_path)
    writer.start()
    app.extensions["kiosk.intake"].writer = writer
    return writer


def _answer(result: Stored | Exception) -> tuple[str, Any]:
    if isinstance(result, Stored):
        return "stored", result
    if isinstance(result, RatedEvent):
        return "rated", None
    if isinstance(result, InputError):
        return "input", (result.message, result.status)
    return "error", str(result)


def _child_main(pipe: Connection) -> None:
    """The child: the app made again from the server's config, then batches from the
    pipe until it closes."""
    from . import create_app

    try:
        config = pipe.recv()
    except EOFError:
        return
    app = create_app(config)
    writer = app.extensions["kiosk.intake"].writer  # the thread writer (not started)
    pipe.send("ready")
    while True:
        try:
            if not pipe.poll(IDLE_SECONDS):
                writer.close_connection()  # nothing coming: back to the database
                pipe.poll(None)
            batch = [pipe.recv()]
            while len(batch) < writer.MAX_BATCH and pipe.poll():
                batch.append(pipe.recv())
        except (EOFError, OSError):
            return  # the server is gone
        stopping = batch[-1] is None  # ProcessWriter.stop: store what came before
        batch = [message for message in batch if message is not None]
        if batch:
            results = writer.store_batch([rating for _, rating in batch])
            try:
                pipe.send([(key, _answer(result))
                           for (key, _), result in zip(batch, results)])
            except OSError:
                return  # the server is gone (what it was not told, its tablets retry)
        if stopping:
            writer.close_connection()
            return


if __name__ == "__main__":
    _child_main(Connection(int(sys.argv[1])))
