"""What the rating pages (kiosk tablet and QR phone page) need to know to run offline."""
from __future__ import annotations

import hashlib
from datetime import datetime
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa

from . import privacy
from .db import db
from .i18n import page_strings
from .models import ReasonCode
from .ratings import COMMENT_MAX
from .scale import SCORES
from .suggestions import TEXT_MAX
from .windows import WindowCard, card_version

MODES = {"kiosk": "kiosk", "qr": "qr"}  # page mode -> rating channel
# Assets a rating page needs offline; the service worker precaches them.
PAGE_ASSETS = ("kiosk/rate.css", "kiosk/rate.js", "kiosk/device.js", "kiosk/prompt.js")
PRESS_LOCK_MS = 1500


def page_config(card: WindowCard, mode: str, lang: str, urls: dict[str, str],
                settings: dict, now: datetime, static_folder: str) -> dict:
    """The JSON a rating page embeds: labels in both languages, rules, timings, URLs;
    on the kiosk also its heartbeat and service-event (一次一评) settings."""
    reasons = db.session.scalars(
        sa.select(ReasonCode).where(ReasonCode.active).order_by(ReasonCode.sort_order,
                                                                ReasonCode.code))
    config = {
        "mode": mode,
        "lang": lang,
        "channel": MODES[mode],
        "window": card.code,
        "scores": [{"value": s.value, "zh": s.zh, "en": s.en, "bad": s.is_bad}
                   for s in SCORES.values()],
        "reasons": [{"code": r.code, "zh": r.zh, "en": r.en} for r in reasons],
        "strings": page_strings(),
        "phone": phone_rules(),
        "comment_max": COMMENT_MAX,
        "suggestion_max": TEXT_MAX,
        "idle_seconds": settings["KIOSK_IDLE_SECONDS"],
        "thanks_seconds": settings["KIOSK_THANKS_SECONDS"],
        "press_lock_ms": PRESS_LOCK_MS,
        # The idle kiosk polls urls.card and redraws the 挂牌 card when this changes.
        "card_version": card_version(card),
        "card_poll_seconds": settings["KIOSK_CARD_POLL_SECONDS"],
        "server_now": now.isoformat(timespec="milliseconds") + "Z",
        "urls": urls,
    }
    if mode == "kiosk":
        config.update(app_version=app_version(static_folder),
                      heartbeat_seconds=settings["KIOSK_HEARTBEAT_SECONDS"],
                      require_prompt=bool(settings["REQUIRE_PROMPT"]))
    return config


def app_version(static_folder: str) -> str:
    """The rating page's version: one hash of every asset it runs on (what a tablet
    reports in its heartbeat, so the admin sees which tablets run an old page)."""
    joined = "-".join(asset_version(static_folder, name) for name in PAGE_ASSETS)
    return hashlib.sha256(joined.encode()).hexdigest()[:10]


@lru_cache(maxsize=64)
def asset_version(static_folder: str, name: str) -> str:
    """A short content hash of a static file, so a changed file gets a new URL."""
    data = (Path(static_folder) / name).read_bytes()
    return hashlib.sha256(data).hexdigest()[:10]


@lru_cache(maxsize=1)
def phone_rules() -> dict:
    """What the pages check a number against before sending it, so a number the API
    would refuse is never queued (a refused rating is dropped, not retried): the
    mainland rules of kiosk/privacy.py, and for every other country or region code
    the national number pattern and lengths of ``phonenumbers``' own metadata (the
    API checks the same numbers with ``phonenumbers.is_valid_number``)."""
    import phonenumbers
    from phonenumbers import PhoneMetadata
    from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

    codes = {}
    for code, regions in COUNTRY_CODE_TO_REGION_CODE.items():
        patterns: list[str] = []
        lengths: set[int] = set()
        for region in regions:
            if region == phonenumbers.UNKNOWN_REGION or region == "001":
                meta = PhoneMetadata.metadata_for_nongeo_region(code)
            else:
                meta = PhoneMetadata.metadata_for_region(region)
            desc = meta.general_desc if meta else None
            if desc is None or not desc.national_number_pattern:
                continue
            patterns.append(desc.national_number_pattern)
            lengths.update(desc.possible_length or ())
        if patterns:
            codes[str(code)] = ["|".join(dict.fromkeys(patterns)), sorted(lengths)]
    return {"mobile": privacy.MOBILE.pattern, "landline": privacy.LANDLINE.pattern,
            "separators": privacy.SEPARATORS.pattern, "mainland": str(privacy.MAINLAND),
            "international": privacy.INTERNATIONAL.pattern, "codes": codes}
