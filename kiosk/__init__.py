"""政务服务"好差评": citizen ratings at service-hall windows."""
from __future__ import annotations

import importlib
import os
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application; works with no arguments (``waitress-serve --call``)."""
    from . import cli, config, db, errors, i18n, readapi, security, views

    app = Flask(
        __name__,
        instance_path=os.environ.get("KIOSK_INSTANCE_PATH") or str(ROOT / "instance"),
        instance_relative_config=True,
        static_folder=str(ROOT / "static"),
    )
    config.load(app, test_config)
    db.init_app(app, migrations_dir=str(ROOT / "migrations"))
    errors.init_app(app)
    i18n.init_app(app)
    views.init_app(app)
    readapi.init_app(app)
    cli.init_app(app)
    # Packages that build on kiosk/ (the back office) plug in here, so kiosk/ never
    # imports them.
    for name in app.config["EXTENSIONS"]:
        importlib.import_module(name).init_app(app)
    security.init_app(app)  # last: its headers wrap every answer, hotpath's included
    return app
