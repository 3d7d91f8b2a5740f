"""Erasing phone numbers once nobody needs them (PIPL: kept no longer than necessary).

A number is left for one reason: to call the citizen back. Once that is over for
``PHONE_RETENTION_DAYS`` it is erased (set to NULL; the rating, its case and their
history stay):

- a rating's number, ``days`` after its follow-up case closed;
- a rating's number that never got a case (a good rating not drawn for the sample,
  or history imported without ``--open-cases``), ``days`` after the rating;
- a suggestion's number, ``days`` after the suggestion was marked handled.

A case still open, or closed more recently, keeps its number, and so does an
unhandled suggestion. ``kiosk purge-phones`` runs this; it is safe to run every day
(a second run the same day finds nothing).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from .db import db
from .models import FollowupCase, Rating, Suggestion


@dataclass(frozen=True)
class PurgeReport:
    cutoff: datetime  # naive UTC: what ended before this is erased
    closed_cases: int  # ratings whose case closed before the cutoff
    no_case: int  # ratings with no case, rated before the cutoff
    suggestions: int  # suggestions handled before the cutoff
    dry_run: bool

    @property
    def total(self) -> int:
        return self.closed_cases + self.no_case + self.suggestions

    def lines(self) -> list[str]:
        verb = "would erase" if self.dry_run else "erased"
        when = self.cutoff.strftime("%Y-%m-%d %H:%M UTC")
        return [
            f"{verb} {self.closed_cases} phone numbers of ratings whose case closed "
            f"before {when}",
            f"{verb} {self.no_case} phone numbers of ratings with no case, rated before {when}",
            f"{verb} {self.suggestions} phone numbers of suggestions handled before {when}",
            f"{'dry run: nothing changed' if self.dry_run else 'done'}: {self.total} in all",
        ]


def _closed_case_ratings(cutoff: datetime):
    return sa.select(FollowupCase.rating_id).where(
        FollowupCase.status == "closed", FollowupCase.closed_at < cutoff)


def _ratings_without_case():
    return ~sa.exists().where(FollowupCase.rating_id == Rating.id)


def purge_phones(now: datetime, days: int, dry_run: bool) -> PurgeReport:
    """Erase (or with ``dry_run`` only count) the numbers whose time is up at ``now``
    (naive UTC). Flushes; the caller commits."""
    if days < 0:
        raise ValueError("PHONE_RETENTION_DAYS must not be negative")
    cutoff = now - timedelta(days=days)
    has_phone = Rating.phone.is_not(None)
    targets = {
        "closed_cases": (Rating, [has_phone, Rating.id.in_(_closed_case_ratings(cutoff))]),
        "no_case": (Rating, [has_phone, Rating.created_at < cutoff, _ratings_without_case()]),
        "suggestions": (Suggestion, [Suggestion.phone.is_not(None),
                                     Suggestion.handled_at < cutoff]),
    }
    counts = {}
    session = db.session
    for name, (model, where) in targets.items():
        if dry_run:
            counts[name] = session.scalar(
                sa.select(sa.func.count()).select_from(model).where(*where)) or 0
        else:
            result = session.execute(sa.update(model).where(*where).values(phone=None)
                                     .execution_options(synchronize_session=False))
            counts[name] = result.rowcount
    session.flush()
    return PurgeReport(cutoff, dry_run=dry_run, **counts)
