"""The yardstick for bench/ingest.py: Flask parsing the same JSON and storing nothing."""
from __future__ import annotations

import itertools
import logging
import sys

import waitress
from flask import Flask, jsonify, request

app = Flask(__name__)
ids = itertools.count(1)


@app.post("/api/ratings")
def rating():
    body = request.get_json()
    return jsonify(id=next(ids), client_id=body["client_id"]), 201


if __name__ == "__main__":
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)
    waitress.serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]),
                   _quiet=True)
