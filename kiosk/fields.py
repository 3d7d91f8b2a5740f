"""Checks for fields that arrive from outside (API bodies, CSV rows).

Each returns the clean value or raises InputError with a sentence a person can read.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import clock, privacy

CLIENT_ID = re.compile(r"[^\x00-\x1f\x7f]{8,64}")  # 8–64 characters, no control codes


class InputError(ValueError):
    """Input a person must fix; ``status`` is the HTTP status to answer with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def text(payload: dict, key: str, max_len: int, required: bool = False) -> str | None:
    """Free text, kept exactly as sent; empty counts as absent."""
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise InputError(f"{key} is required")
        return None
    if not isinstance(value, str):
        raise InputError(f"{key} must be a string")
    storable(value, key)
    if len(value) > max_len:
        raise InputError(f"{key} is longer than {max_len} characters")
    if required and not value.strip():
        raise InputError(f"{key} is required")
    return value


def storable(value: str, key: str) -> str:
    """``value`` if every database can store it: no NUL, no lone surrogate."""
    if "\x00" in value:
        raise InputError(f"{key} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{key} contains characters that are not valid Unicode") from None
    return value


def choice(payload: dict, key: str, options, required: bool) -> str | None:
    """One of ``options`` (strings), or None when absent and not required."""
    value = payload.get(key)
    if value is None or value == "":
        if required:
            raise InputError(f"{key} is required")
        return None
    if not isinstance(value, str) or value not in options:
        raise InputError(f"{key} must be one of " + ", ".join(options))
    return value


def client_id(payload: dict, required: bool) -> str | None:
    value = payload.get("client_id")
    if value is None:
        if required:
            raise InputError("client_id is required")
        return None
    if not isinstance(value, str) or not CLIENT_ID.fullmatch(value):
        raise InputError("client_id must be 8–64 characters without control codes")
    return storable(value, "client_id")


def phone(payload: dict) -> str | None:
    """The number normalized (kiosk/privacy.py), still plain: whoever stores it seals it
    first (kiosk/phonekeys.py), so no plain number reaches the database."""
    value = payload.get("phone")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InputError("phone must be a string")
    try:
        return privacy.normalize_phone(value)
    except ValueError as exc:
        raise InputError(str(exc)) from None


@dataclass(frozen=True)
class TapBounds:
    """The hall's time zone and how far back and ahead of the server a tap time may be."""

    tz: ZoneInfo
    max_age: timedelta
    max_ahead: timedelta

    @classmethod
    def from_config(cls, config: Mapping) -> TapBounds:
        return cls(clock.zone(config["TIMEZONE"]),
                   timedelta(days=config["RATING_MAX_AGE_DAYS"]),
                   timedelta(seconds=config["RATING_MAX_FUTURE_SECONDS"]))


def tap_time(payload: dict, now: datetime, bounds: TapBounds) -> datetime:
    """``created_at`` (when the citizen tapped) as naive UTC; ``now`` when absent."""
    tz, max_age, max_ahead = bounds.tz, bounds.max_age, bounds.max_ahead
    value = payload.get("created_at")
    if value is None or value == "":
        return now
    if not isinstance(value, str):
        raise InputError("created_at must be an ISO 8601 string")
    try:
        moment = clock.parse_timestamp(value, tz)
    except ValueError as exc:
        raise InputError(f"created_at: {exc}") from None
    if moment > now + max_ahead:
        minutes = round(max_ahead.total_seconds() / 60)
        raise InputError(f"created_at is more than {minutes} minutes ahead of the server clock")
    if moment < now - max_age:
        raise InputError(f"created_at is more than {max_age.days} days in the past")
    return moment


def as_object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise InputError("the body must be a JSON object")
    return body
