"""Imports every area of the back office so its routes land on the blueprint."""
from . import audit, auth, charts, dashboard, league, suggestions, users  # noqa: F401
from . import catalog, manage, qr, staff, windows  # noqa: F401  (窗口与人员)
