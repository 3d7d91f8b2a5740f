"""Running the real server (waitress, in its own process) for tests and benchmarks."""
from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``kiosk serve --no-demo`` on a free port against ``database_uri``."""

    def __init__(self, database_uri: str, instance: Path, threads: int = 8,
                 log: Path | None = None, port: int | None = None,
                 config: dict[str, str] | None = None, phone_key: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        instance.mkdir(parents=True, exist_ok=True)
        self.log_path = log or instance / f"server-{self.port}.log"
        env = dict(os.environ, KIOSK_INSTANCE_PATH=str(instance),
                   KIOSK_SQLALCHEMY_DATABASE_URI=database_uri, KIOSK_SECRET_KEY="live")
        env.update({f"KIOSK_{k}": v for k, v in (config or {}).items()})
        if phone_key is not None:  # one hall, one phone key: share the test app's
            env["KIOSK_PHONE_KEY_FILE"] = str(phone_key)
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kiosk", "serve", "--no-demo", "--port", str(self.port),
             "--threads", str(threads)],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("server exited:\n" + self.log())
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start:\n" + self.log())

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return Path(self.log_path).read_text()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(10)
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self._log.close()


class Client:
    """A keep-alive JSON client, one per thread."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        data = json.dumps(body).encode()
        self.conn.request("POST", path, data, {"Content-Type": "application/json"})
        resp = self.conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")

    def close(self) -> None:
        self.conn.close()
