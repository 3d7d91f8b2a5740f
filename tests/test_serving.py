"""kiosk.serving: waitress whose main loop leaves a connection alone while a request
thread writes to it. Answers must still arrive whole, also when the socket is full."""
from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from waitress import wasyncore

from kiosk import serving


@contextmanager
def served(app) -> Iterator[int]:
    """``app`` under ``serving.make_server`` in a thread; yields the port."""
    server = serving.make_server(app, host="127.0.0.1", port=0, threads=2)
    # Small send buffers: an answer of a few MiB cannot go out in one send().
    server.adj.socket_options = server.adj.socket_options + [
        (socket.SOL_SOCKET, socket.SO_SNDBUF, 32 * 1024)]
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            wasyncore.loop(timeout=0.05, map=server._map, count=1)
        server.task_dispatcher.shutdown()
        for channel in list(server.active_channels.values()):
            channel.handle_close()  # also its buffers, which may be temporary files
        wasyncore.close_all(server._map)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        yield int(server.effective_port)
    finally:
        stop.set()
        thread.join(10)


def slow_client(port: int) -> socket.socket:
    """A connection with a small receive window, so the server's sends stall."""
    sock = socket.socket()
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 * 1024)
        sock.settimeout(20)
        sock.connect(("127.0.0.1", port))
        sock.sendall(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
    except BaseException:
        sock.close()
        raise
    return sock


def read_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(min(65536, n - len(data)))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return bytes(data)


def read_head(sock: socket.socket) -> bytes:
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += read_exactly(sock, 1)
    return head


def test_a_large_answer_reaches_a_slow_reader_whole():
    body = bytes(range(256)) * (16 * 1024)  # 4 MiB, far more than the socket holds

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body[i:i + 65536] for i in range(0, len(body), 65536)]

    with served(app) as port:
        sock = slow_client(port)
        try:
            assert read_head(sock).startswith(b"HTTP/1.1 200")
            assert read_exactly(sock, len(body)) == body
        finally:
            sock.close()


def test_an_answer_keeps_flowing_while_the_app_is_still_working():
    """What a request thread could not send is sent by the main loop meanwhile: the
    app goes on only once the client holds everything it wrote so far."""
    first = b"x" * (2 * 1024 * 1024)
    app_waits, client_has_first = threading.Event(), threading.Event()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Length", str(len(first) + 4))])
        yield first
        app_waits.set()
        if client_has_first.wait(15):
            yield b"done"

    with served(app) as port:
        sock = slow_client(port)
        try:
            # Read nothing until the request thread has given up sending: the rest of
            # ``first`` is left to the main loop.
            assert app_waits.wait(15)
            read_head(sock)
            assert read_exactly(sock, len(first)) == first
            client_has_first.set()
            assert read_exactly(sock, 4) == b"done"
        finally:
            sock.close()


def test_behind_a_trusted_proxy_the_session_cookie_is_secure(database_uri, tmp_path):
    """kiosk serve with PROXY_COUNT=1 (behind nginx): waitress passes the proxy's
    X-Forwarded-Proto on, so a session made over HTTPS gets a Secure cookie; without
    the setting a forged header changes nothing."""
    import http.client

    from .liveserver import LiveServer

    def login_cookie(port: int) -> str:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/admin/login", headers={"X-Forwarded-Proto": "https"})
            answer = conn.getresponse()
            answer.read()
            return answer.getheader("Set-Cookie") or ""
        finally:
            conn.close()

    for proxies, secure in (("1", True), ("0", False)):
        server = LiveServer(database_uri, tmp_path / f"proxy{proxies}", threads=2,
                            config={"PROXY_COUNT": proxies})
        try:
            cookie = login_cookie(server.port)
        finally:
            server.stop()
        assert cookie.startswith("session=")
        assert ("Secure" in cookie) is secure
