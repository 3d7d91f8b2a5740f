"""The call list (回访清单): which follow-up cases a caller works through, in what
order, and the rows its page, print sheet, JSON and CSV show.

Order: overdue cases first, then by the deadline that matters next (the contact
deadline until the citizen was first contacted, the resolve deadline after), then by
tap time. Overdue itself is kiosk/followups.py's rule (``overdue_clause``), never
restated here.

Phones: the list page shows every number masked; the case page, the print sheet, the
JSON and the CSV show it whole to the roles ``privacy.may_see_whole_phone`` allows,
and each whole number shown is one ``phone.reveal`` entry in the audit log (one per
case, per time it is shown). Functions here flush, never commit.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from . import audit, clock, followups, paging, privacy
from .db import db
from .fields import InputError
from .models import FollowupCase, Rating, ReasonCode, User, Window
from .scale import SCORES

# The status filter: "active" (what still needs work) is the list's default.
STATUSES = {"active": "待办（未结案）", "open": "待处理", "in_progress": "处理中",
            "closed": "已结案", "all": "全部"}
ASSIGNED = {"all": "全部", "me": "指派给我", "none": "未指派"}
PER_PAGE = 50
PRINT_MAX = 500  # a call sheet longer than this is not a morning's work


@dataclass(frozen=True)
class CallFilter:
    """What the call list shows: a status, a kind, one window, whose, only overdue."""

    status: str = "active"
    kind: str | None = None
    window: str | None = None  # window code
    assigned: str = "all"
    overdue: bool = False

    def conditions(self, user: User, today: date) -> list:
        where = []
        if self.status == "active":
            where.append(FollowupCase.status != "closed")
        elif self.status != "all":
            where.append(FollowupCase.status == self.status)
        if self.kind:
            where.append(FollowupCase.kind == self.kind)
        if self.window:
            where.append(FollowupCase.window_id.in_(
                sa.select(Window.id).where(Window.code == self.window)))
        if self.assigned == "me":
            where.append(FollowupCase.assigned_to_id == user.id)
        elif self.assigned == "none":
            where.append(FollowupCase.assigned_to_id.is_(None))
        if self.overdue:
            where.append(followups.overdue_clause(today))
        return where

    def args(self) -> dict[str, str]:
        """The filter as query arguments (defaults left out)."""
        args = {"status": self.status if self.status != "active" else None,
                "kind": self.kind, "window": self.window,
                "assigned": self.assigned if self.assigned != "all" else None,
                "overdue": "1" if self.overdue else None}
        return {k: v for k, v in args.items() if v}


def parse_filter(args) -> CallFilter:
    """The filter of a query string (a Mapping); InputError naming a bad value."""
    status = args.get("status", "").strip() or "active"
    if status not in STATUSES:
        raise InputError(f"状态只能是 {', '.join(STATUSES)}，收到“{status}” "
                         f"(status must be one of {', '.join(STATUSES)})")
    kind = args.get("kind", "").strip() or None
    if kind is not None and kind not in followups.KIND_LABELS:
        raise InputError(f"类型只能是 {', '.join(followups.KIND_LABELS)}，收到“{kind}” "
                         f"(kind must be one of {', '.join(followups.KIND_LABELS)})")
    assigned = args.get("assigned", "").strip() or "all"
    if assigned not in ASSIGNED:
        raise InputError(f"指派只能是 {', '.join(ASSIGNED)}，收到“{assigned}” "
                         f"(assigned must be one of {', '.join(ASSIGNED)})")
    overdue = args.get("overdue", "").strip().lower()
    if overdue not in ("", "0", "1", "true", "false", "on"):
        raise InputError(f"overdue 只能是 1 或 0，收到“{overdue}” (overdue must be 1 or 0)")
    return CallFilter(status=status, kind=kind, window=args.get("window", "").strip() or None,
                      assigned=assigned, overdue=overdue in ("1", "true", "on"))


def next_due_column():
    """The deadline that matters next: contact until the first contact, then resolve."""
    return sa.case((FollowupCase.contacted_at.is_(None), FollowupCase.contact_due),
                   else_=FollowupCase.resolve_due)


def ordered(query: sa.Select, today: date) -> sa.Select:
    """Overdue first, then by the next deadline, then oldest rating first."""
    overdue_first = sa.case((followups.overdue_clause(today), 0), else_=1)
    return query.order_by(overdue_first, next_due_column(), FollowupCase.rated_at,
                          FollowupCase.id)


def _query(user: User, flt: CallFilter, today: date) -> sa.Select:
    return (followups.visible_cases(user).where(*flt.conditions(user, today))
            .options(joinedload(FollowupCase.rating).joinedload(Rating.staff),
                     joinedload(FollowupCase.window).joinedload(Window.department),
                     joinedload(FollowupCase.assigned_to),
                     joinedload(FollowupCase.working_by)))


def count(user: User, flt: CallFilter, today: date) -> int:
    inner = followups.visible_cases(user).where(*flt.conditions(user, today)).subquery()
    return db.session.scalar(sa.select(sa.func.count()).select_from(inner))


def find(user: User, flt: CallFilter, today: date, number: int = 1,
         per_page: int = PER_PAGE) -> paging.Page:
    """One page of the call list, in call order."""
    return paging.fetch(ordered(_query(user, flt, today), today), count(user, flt, today),
                        number, per_page)


def matching(user: User, flt: CallFilter, today: date,
             limit: int | None = None) -> list[FollowupCase]:
    """Every case that matches (the print sheet, JSON, CSV), in call order."""
    query = ordered(_query(user, flt, today), today)
    if limit is not None:
        query = query.limit(limit)
    return list(db.session.scalars(query).unique())


def get(user: User, case_id: int) -> FollowupCase | None:
    """One case the user may see, or None (absent, or another department's)."""
    return db.session.scalar(followups.visible_cases(user).where(FollowupCase.id == case_id))


def next_case_id(user: User, case: FollowupCase, today: date) -> int | None:
    """The case after ``case`` in the user's default call list (what to call next)."""
    ids = list(db.session.scalars(ordered(
        followups.visible_cases(user).with_only_columns(FollowupCase.id)
        .where(*CallFilter().conditions(user, today)), today).limit(PRINT_MAX)))
    if case.id in ids:
        rest = ids[ids.index(case.id) + 1:]
    else:
        rest = ids
    return rest[0] if rest else None


def reason_labels() -> dict[str, str]:
    """Reason code -> Chinese label (codes admins added included)."""
    return dict(db.session.execute(sa.select(ReasonCode.code, ReasonCode.zh)).all())


def working_other(case: FollowupCase, user: User) -> User | None:
    """Someone other than ``user`` who has the case open right now (the list's
    "正在处理"; the case page asks followups.touch_working, which also claims it)."""
    other = followups.working_on(case)
    return other if other is not None and other.id != user.id else None


def work_on(case: FollowupCase, user: User) -> User | None:
    """``user`` opens ``case`` to work on it: they leave whatever case they had open
    before (a caller works one case at a time, so the list stops showing them on the
    last one), and learn who else has this one open (followups.touch_working)."""
    for earlier in db.session.scalars(sa.select(FollowupCase).where(
            FollowupCase.working_by_id == user.id, FollowupCase.id != case.id)):
        followups.release_working(earlier, user)
    return followups.touch_working(case, user)


def next_due(case: FollowupCase) -> tuple[str, date]:
    """The deadline that matters next and its name (next_due_column's rule, for one
    case): 联系 until the first contact, then 办结."""
    if case.contacted_at is None:
        return "联系", case.contact_due
    return "办结", case.resolve_due


# -- phones ---------------------------------------------------------------------------

def whole_phones(user: User) -> bool:
    return privacy.may_see_whole_phone(user.role)


def shown_phone(case: FollowupCase, whole: bool) -> str | None:
    """The case's number as this view shows it (privacy.shown_phone unseals it)."""
    return privacy.shown_phone(case.rating.phone, whole)


def reveal(user: User, cases: Iterable[FollowupCase]) -> int:
    """Log one ``phone.reveal`` per case whose number is about to be shown whole to
    ``user``; returns how many. Nothing is logged for a role that sees masks only or a
    case with no number. Flushes."""
    if not whole_phones(user):
        return 0
    n = 0
    for case in cases:
        if case.rating.phone:
            audit.record(user, "phone.reveal", "followup_case", case.id)
            n += 1
    return n


# -- rows for JSON and CSV ---------------------------------------------------------------

FIELDS = ("id", "rating_id", "window", "window_name", "department", "score", "kind",
          "phone", "status", "contact_due", "resolve_due", "overdue", "rated_at", "clerk",
          "reasons", "comment", "assigned_to", "contacted_at", "reached_at", "outcome",
          "closed_at")


def _iso(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else clock.to_local(moment, tz).isoformat()


def row(case: FollowupCase, today: date, tz: ZoneInfo, whole: bool) -> dict:
    """One case as the JSON and CSV carry it (FIELDS); ``reasons`` is a list of codes
    (joined by ``;`` in the CSV, as the rating export does)."""
    rating, window = case.rating, case.window
    return {
        "id": case.id, "rating_id": case.rating_id, "window": window.code,
        "window_name": window.name, "department": window.department.name,
        "score": rating.score, "kind": case.kind, "phone": shown_phone(case, whole),
        "status": case.status, "contact_due": case.contact_due.isoformat(),
        "resolve_due": case.resolve_due.isoformat(),
        "overdue": followups.is_overdue(case, today), "rated_at": _iso(case.rated_at, tz),
        "clerk": rating.staff.name if rating.staff else None,
        "reasons": rating.reason_codes, "comment": rating.comment,
        "assigned_to": case.assigned_to.username if case.assigned_to else None,
        "contacted_at": _iso(case.contacted_at, tz), "reached_at": _iso(case.reached_at, tz),
        "outcome": case.outcome, "closed_at": _iso(case.closed_at, tz),
    }


def csv_rows(rows: Sequence[dict]) -> list[list]:
    return [[";".join(r[f]) if f == "reasons" else r[f] for f in FIELDS] for r in rows]


# -- labels the pages show ----------------------------------------------------------------

def face(score: int) -> str:
    return SCORES[score].zh
