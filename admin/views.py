"""Imports every area of the back office so its routes land on the blueprint."""
from . import auth, dashboard  # noqa: F401
