"""The yardstick for bench/ingest.py: Flask parsing the same JSON and storing nothing.

It runs under the same server as `kiosk serve` (kiosk.serving: waitress with its
non-spinning channel), so the ratio measures the rating write path, not the server;
`--stock` serves it with plain waitress.serve instead.

    python bench/bare_app.py PORT THREADS [--stock]
"""
from __future__ import annotations

import itertools
import logging
import sys
from pathlib import Path

import waitress
from flask import Flask, jsonify, request

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from kiosk import serving  # noqa: E402

app = Flask(__name__)
ids = itertools.count(1)


@app.post("/api/ratings")
def rating():
    body = request.get_json()
    return jsonify(id=next(ids), client_id=body["client_id"]), 201


if __name__ == "__main__":
    port, threads = int(sys.argv[1]), int(sys.argv[2])
    if "--stock" in sys.argv[3:]:
        logging.getLogger("waitress.queue").setLevel(logging.ERROR)
        waitress.serve(app, host="127.0.0.1", port=port, threads=threads, _quiet=True)
    else:
        serving.serve(app, host="127.0.0.1", port=port, threads=threads)
