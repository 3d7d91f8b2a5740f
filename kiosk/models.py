"""The data model: halls and their windows, the people at them, and what citizens say."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .db import db, utcnow
from .scale import codes


class Hall(db.Model):
    """A government service hall (政务服务大厅)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100), unique=True)
    address: Mapped[str | None] = mapped_column(sa.String(200))

    departments: Mapped[list[Department]] = relationship(back_populates="hall")
    windows: Mapped[list[Window]] = relationship(back_populates="hall")


class Department(db.Model):
    """A department (股室 / 进驻部门) that staffs windows in a hall."""

    __table_args__ = (sa.UniqueConstraint("hall_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("hall.id"))
    name: Mapped[str] = mapped_column(sa.String(100))

    hall: Mapped[Hall] = relationship(back_populates="departments")
    windows: Mapped[list[Window]] = relationship(back_populates="department")


class Window(db.Model):
    """A service window (窗口), identified everywhere by its code."""

    __tablename__ = "service_window"  # "window" is reserved in PostgreSQL
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("hall.id"))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(default=True)

    hall: Mapped[Hall] = relationship(back_populates="windows")
    department: Mapped[Department] = relationship(back_populates="windows")

    def duty_at(self, moment: datetime) -> sa.Select[tuple[Duty]]:
        """The duty (挂牌) in force at this window at ``moment`` (naive UTC): the latest
        started at or before it and not yet ended. The write path (ratings.ROW_SQL)
        and bulk imports (imports.DutyRoster) apply the same rule in SQL and Python."""
        return (
            sa.select(Duty)
            .where(Duty.window_id == self.id, Duty.started_at <= moment,
                   sa.or_(Duty.ended_at.is_(None), Duty.ended_at > moment))
            .order_by(Duty.started_at.desc())
            .limit(1)
        )


class Staff(db.Model):
    """A window clerk (窗口工作人员) as shown on the 挂牌 card."""

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_no: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(50))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"))
    duties: Mapped[str | None] = mapped_column(sa.String(200))  # 岗位职责
    photo: Mapped[str | None] = mapped_column(sa.String(200))  # file name under instance/photos
    active: Mapped[bool] = mapped_column(default=True)

    department: Mapped[Department | None] = relationship()


class Duty(db.Model):
    """Who is on duty at which window, from when until when (open-ended if current)."""

    __table_args__ = (sa.Index("ix_duty_window_started", "window_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"))
    staff_id: Mapped[int] = mapped_column(sa.ForeignKey("staff.id"))
    started_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]

    window: Mapped[Window] = relationship()
    staff: Mapped[Staff] = relationship()


class ServiceItem(db.Model):
    """A service item (事项) a department handles."""

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    # 事项公示 (kiosk/items.py): the legal time limit in working days (0: 即办件) and
    # the documents to bring, one a line.
    time_limit_days: Mapped[int | None]
    documents: Mapped[str | None] = mapped_column(sa.Text)

    department: Mapped[Department | None] = relationship()


class ReasonCode(db.Model):
    """A reason a citizen may give for a low rating; never changes meaning once used."""

    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    zh: Mapped[str] = mapped_column(sa.String(50))
    en: Mapped[str] = mapped_column(sa.String(80))
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


# A phone number as stored: sealed with the instance's key (kiosk/phonekeys.py).
PHONE_SEALED_LEN = 120


class Rating(db.Model):
    """One citizen's rating of one service (一次一评)."""

    __table_args__ = (
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        sa.Index("ix_rating_window_created", "window_id", "created_at"),
        sa.Index("ix_rating_created", "created_at"),
        sa.Index("ix_rating_feed", "txid", "id"),
        sa.Index("ix_rating_device_created", "device_id", "created_at"),
        sa.Index("ix_rating_rater_created", "rater", "created_at"),
        # One rating per service event (a unique index: SQLite cannot add a constraint).
        sa.Index("uq_rating_evaluation_id", "evaluation_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)  # idempotency key
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    score: Mapped[int] = mapped_column(sa.SmallInteger)
    channel: Mapped[str] = mapped_column(sa.String(16))
    reasons: Mapped[str] = mapped_column(sa.String(400), default="")  # codes joined by ';'
    comment: Mapped[str | None] = mapped_column(sa.Text)
    # Sealed (encrypted) with the instance's phone key: kiosk/phonekeys.py.
    phone: Mapped[str | None] = mapped_column(sa.String(PHONE_SEALED_LEN))
    ticket: Mapped[str | None] = mapped_column(sa.String(64))  # 叫号票号 or 办件编号
    service_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_item.id"))
    created_at: Mapped[datetime]  # when the citizen tapped (UTC)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)  # when it reached us
    counted: Mapped[bool] = mapped_column(default=True)
    flags: Mapped[str] = mapped_column(sa.String(200), default="")  # codes joined by ';'
    # The inserting transaction's id on PostgreSQL (a server default; 0 on SQLite, and
    # for rows older than the column): with ``id`` the read API's cursor, kiosk/readapi.py.
    txid: Mapped[int] = mapped_column(sa.BigInteger, server_default=sa.FetchedValue())
    # The paired tablet that sent a kiosk rating (kiosk/devices.py).
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id"))
    # The service event (一次一评) the rating answers: one rating per event.
    evaluation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("evaluation.id"))
    # A QR-page rating's phone, as the hash of its first-party cookie (never the IP):
    # what misuse filtering tells phones apart by (kiosk/integrity.py).
    rater: Mapped[str | None] = mapped_column(sa.String(32))

    window: Mapped[Window] = relationship()
    staff: Mapped[Staff | None] = relationship()

    @property
    def reason_codes(self) -> list[str]:
        return codes(self.reasons)

    @property
    def flag_codes(self) -> list[str]:
        return codes(self.flags)


class Suggestion(db.Model):
    """A suggestion (意见建议): the old paper 意见簿, no rating needed."""

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_window.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.String(PHONE_SEALED_LEN))  # sealed
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The hall office's handling (意见箱): when, by whom, and the reply note.
    handled_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    reply: Mapped[str | None] = mapped_column(sa.Text)

    window: Mapped[Window | None] = relationship()
    handled_by: Mapped[User | None] = relationship()


ROLES = ("admin", "supervisor", "caller", "department")


class User(db.Model):
    """A back-office user: admin, supervisor, caller or department head."""

    __tablename__ = "app_user"  # "user" is reserved in PostgreSQL
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(256))
    role: Mapped[str] = mapped_column(sa.String(16))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("department.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Sign-in throttling, per account (never per IP: a hall shares one address).
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None]
    last_login_at: Mapped[datetime | None]
    # Part of the session's identity: bumping it (a password change) ends every
    # other session of this user.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")

    department: Mapped[Department | None] = relationship()

    # What Flask-Login asks of a user. The session stores id and session_version, so
    # a session made before the last password change no longer loads.
    is_authenticated = True
    is_anonymous = False

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        return f"{self.id}:{self.session_version}"

    def set_password(self, password: str) -> None:
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)


class AuditEntry(db.Model):
    """One change made in the back office: who, when, what, before → after."""

    __table_args__ = (sa.Index("ix_audit_entry_target", "target_type", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    username: Mapped[str] = mapped_column(sa.String(64))  # kept if the user is renamed
    action: Mapped[str] = mapped_column(sa.String(64), index=True)  # e.g. "window.update"
    target_type: Mapped[str | None] = mapped_column(sa.String(32))
    target_id: Mapped[str | None] = mapped_column(sa.String(64))
    before: Mapped[str | None] = mapped_column(sa.Text)  # JSON
    after: Mapped[str | None] = mapped_column(sa.Text)  # JSON

    user: Mapped[User | None] = relationship()


class RatingSummary(db.Model):
    """Counted ratings per period, window, clerk and level, kept up to date as ratings
    are stored, imported or excluded (kiosk/summary.py), so a league table is a small
    sum instead of a scan. ``grain`` is d(ay), w(eek), m(onth) or y(ear) in the hall's
    time zone; ``period`` is the first day of that period; ``staff_id`` 0 means no
    clerk was on duty. It is derived data: ``kiosk rebuild-summary`` recomputes it."""

    grain: Mapped[str] = mapped_column(sa.String(1), primary_key=True)
    period: Mapped[date] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    staff_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    score: Mapped[int] = mapped_column(sa.SmallInteger, primary_key=True,
                                       autoincrement=False)
    n: Mapped[int]


class SummaryState(db.Model):
    """Which hall time zone the live summary was last rebuilt in (one row). A summary
    never built, or built in another TIMEZONE than the hall's now, must be rebuilt
    before its tables can be trusted."""

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    timezone: Mapped[str | None] = mapped_column(sa.String(64))
    built_at: Mapped[datetime | None]


# Follow-up of bad ratings (差评回访整改): kiosk/followups.py.
CASE_KINDS = ("callback", "verify", "sample")
CASE_STATUSES = ("open", "in_progress", "closed")


class FollowupCase(db.Model):
    """A follow-up case, opened with its rating in the writer's transaction: a call
    back (bad rating with a phone), an on-site check (bad rating without one), or a
    sampled call back of a good rating (抽查回访). ``window_id`` and ``rated_at`` are
    copies of the rating's, so the call list and the rates need no join to sort."""

    __tablename__ = "followup_case"
    __table_args__ = (
        sa.Index("ix_followup_case_status_due", "status", "contact_due"),
        sa.Index("ix_followup_case_window_rated", "window_id", "rated_at"),
        sa.Index("ix_followup_case_rated", "rated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rating_id: Mapped[int] = mapped_column(sa.ForeignKey("rating.id"), unique=True)
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"))
    rated_at: Mapped[datetime]  # the rating's tap time (UTC)
    kind: Mapped[str] = mapped_column(sa.String(16))  # CASE_KINDS
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # CASE_STATUSES
    # Hall-time days: contact by the end of contact_due, resolve by the end of resolve_due.
    contact_due: Mapped[date]
    resolve_due: Mapped[date]
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    contacted_at: Mapped[datetime | None]  # first call attempt, or the on-site check
    reached_at: Mapped[datetime | None]  # first time the citizen was reached
    assigned_to_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    # Who has the case open right now, and since when (two callers see each other).
    working_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    working_since: Mapped[datetime | None]
    # Rectification (整改) by the department.
    verification: Mapped[str | None] = mapped_column(sa.Text)  # what it verified
    rectification: Mapped[str | None] = mapped_column(sa.Text)  # what it changed
    rectified_at: Mapped[datetime | None]
    citizen_view: Mapped[str | None] = mapped_column(sa.String(16))  # after the fix
    outcome: Mapped[str | None] = mapped_column(sa.String(32))  # set when closed
    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    # Bumped by every change: a form posted from an older view is not applied blindly.
    version: Mapped[int] = mapped_column(default=1, server_default="1")

    rating: Mapped[Rating] = relationship()
    window: Mapped[Window] = relationship()
    assigned_to: Mapped[User | None] = relationship(foreign_keys=[assigned_to_id])
    working_by: Mapped[User | None] = relationship(foreign_keys=[working_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])


class CaseEvent(db.Model):
    """One step in a case's history: an attempt, an assignment, a rectification, a
    state change, an appeal or a ruling; who and when."""

    __tablename__ = "followup_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("followup_case.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    username: Mapped[str] = mapped_column(sa.String(64))
    action: Mapped[str] = mapped_column(sa.String(32))  # attempt, assign, close, ...
    result: Mapped[str | None] = mapped_column(sa.String(16))  # an attempt's result
    note: Mapped[str | None] = mapped_column(sa.Text)
    status_before: Mapped[str | None] = mapped_column(sa.String(16))
    status_after: Mapped[str | None] = mapped_column(sa.String(16))

    user: Mapped[User | None] = relationship()


APPEAL_STATUSES = ("pending", "upheld", "rejected", "reversed")


class Appeal(db.Model):
    """A department's appeal of a bad rating (申诉复核) and the supervisor's ruling.
    Upheld, the rating stops being counted (it stays on record, flagged ``appeal``);
    a reversal counts it again."""

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("followup_case.id"), index=True)
    rating_id: Mapped[int] = mapped_column(sa.ForeignKey("rating.id"), index=True)
    reason: Mapped[str] = mapped_column(sa.Text)
    filed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    filed_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")
    ruled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    ruled_at: Mapped[datetime | None]
    ruling_note: Mapped[str | None] = mapped_column(sa.Text)
    reversed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    reversed_at: Mapped[datetime | None]
    reversal_note: Mapped[str | None] = mapped_column(sa.Text)

    case: Mapped[FollowupCase] = relationship()
    rating: Mapped[Rating] = relationship()
    filed_by: Mapped[User | None] = relationship(foreign_keys=[filed_by_id])
    ruled_by: Mapped[User | None] = relationship(foreign_keys=[ruled_by_id])
    reversed_by: Mapped[User | None] = relationship(foreign_keys=[reversed_by_id])


class CalendarYear(db.Model):
    """A year whose holidays and make-up working days (调休) an admin entered from the
    State Council's notice. For such a year these take precedence over the
    chinese-calendar package: a day not listed follows Monday–Friday."""

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source: Mapped[str | None] = mapped_column(sa.Text)  # the text as entered
    entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)


class CalendarDay(db.Model):
    """One day of an entered year that differs from Monday–Friday: a public holiday
    (``workday`` false) or a make-up working day (true)."""

    day: Mapped[date] = mapped_column(primary_key=True)
    workday: Mapped[bool]
    name: Mapped[str | None] = mapped_column(sa.String(32))  # 国庆节, 春节, ...


# Tokens for other systems (kiosk/tokens.py): a queue system opening evaluations, a
# provincial platform reading ratings.
TOKEN_SCOPES = ("read", "evaluations")


class ApiToken(db.Model):
    """An API token: only the SHA-256 of its secret is kept, so a copy of the database
    lets nobody call the API; revoked tokens stay on record."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scope: Mapped[str] = mapped_column(sa.String(16))  # TOKEN_SCOPES
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 hex
    prefix: Mapped[str] = mapped_column(sa.String(16))  # the token's start, to recognise it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


DEVICE_KINDS = ("kiosk", "clerk")  # the tablet citizens tap; the clerk's 请评价 screen


class Device(db.Model):
    """A tablet (or a clerk's PC) paired with one window. The browser keeps the
    device secret in an HttpOnly cookie; only its SHA-256 is stored. Revoked devices
    stay on record."""

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(16), default="kiosk")  # DEVICE_KINDS
    name: Mapped[str | None] = mapped_column(sa.String(64))
    secret_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)  # sha256 hex
    paired_at: Mapped[datetime] = mapped_column(default=utcnow)
    paired_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    # The last heartbeat: when, the page's app version, ratings queued offline.
    last_seen_at: Mapped[datetime | None]
    app_version: Mapped[str | None] = mapped_column(sa.String(32))
    queued: Mapped[int | None]

    window: Mapped[Window] = relationship()
    paired_by: Mapped[User | None] = relationship(foreign_keys=[paired_by_id])
    revoked_by: Mapped[User | None] = relationship(foreign_keys=[revoked_by_id])


class PairingCode(db.Model):
    """A one-time code (in a link) that pairs the browser opening it with a window.
    Only its SHA-256 is stored; it expires, and works once."""

    __tablename__ = "pairing_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"))
    kind: Mapped[str] = mapped_column(sa.String(16), default="kiosk")  # DEVICE_KINDS
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id"))

    window: Mapped[Window] = relationship()


class Evaluation(db.Model):
    """A service event (一次一评): the queue system or the clerk asks the citizen just
    served to rate. The kiosk shows it as a prompt; the rating tapped while it is open
    is bound to it (``Rating.evaluation_id``, unique: one rating per event)."""

    __table_args__ = (sa.Index("ix_evaluation_window_opened", "window_id", "opened_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"))
    ticket: Mapped[str] = mapped_column(sa.String(64))  # 叫号票号
    case_no: Mapped[str | None] = mapped_column(sa.String(64))  # 办件编号
    service_item: Mapped[str | None] = mapped_column(sa.String(200))  # as the caller named it
    service_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_item.id"))
    staff_no: Mapped[str | None] = mapped_column(sa.String(32))
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    # Who opened it: an API token (a queue system) or a clerk's paired device.
    token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_token.id"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("device.id"))
    # Set when a newer event at the window replaces it, or it is cancelled.
    closed_at: Mapped[datetime | None]

    window: Mapped[Window] = relationship()


# ---- questionnaires (问卷调查): kiosk/surveys.py ----

class Survey(db.Model):
    """A questionnaire: its slug, where it is offered and when, and the draft an admin
    is editing. What citizens answer is always a published ``SurveyVersion``."""

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    # The unpublished edit (the questionnaire as in CONTRACT.md), None when there is none.
    draft: Mapped[dict | None] = mapped_column(sa.JSON)
    # The published version new answers get (SurveyVersion.number); None: never published.
    current_version: Mapped[int | None]
    starts: Mapped[date | None]  # hall-time dates, both inclusive
    ends: Mapped[date | None]
    offer_on_qr: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    offer_on_kiosk: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    versions: Mapped[list[SurveyVersion]] = relationship(
        back_populates="survey", order_by="SurveyVersion.number")


class SurveyVersion(db.Model):
    """A published questionnaire, frozen: editing after publishing makes a new one."""

    __tablename__ = "survey_version"
    __table_args__ = (sa.UniqueConstraint("survey_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(sa.ForeignKey("survey.id"))
    number: Mapped[int]  # 1, 2, …
    title: Mapped[str] = mapped_column(sa.String(200))  # the Chinese title, for lists
    definition: Mapped[dict] = mapped_column(sa.JSON)  # normalised, as in CONTRACT.md
    published_at: Mapped[datetime] = mapped_column(default=utcnow)
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))

    survey: Mapped[Survey] = relationship(back_populates="versions")


class SurveyResponse(db.Model):
    """One citizen's answers to one published version."""

    __tablename__ = "survey_response"
    __table_args__ = (
        # One response per phone per version (the respondent cookie's hash; NULLs, as
        # for phone surveys by a caller, never collide).
        sa.UniqueConstraint("version_id", "respondent"),
        sa.Index("ix_survey_response_version_created", "version_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)  # idempotency key
    version_id: Mapped[int] = mapped_column(sa.ForeignKey("survey_version.id"))
    channel: Mapped[str] = mapped_column(sa.String(16))  # DOMAIN.md's channels, or phone
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_window.id"))
    case_id: Mapped[int | None] = mapped_column(sa.ForeignKey("followup_case.id"))
    respondent: Mapped[str | None] = mapped_column(sa.String(32))
    answers: Mapped[dict] = mapped_column(sa.JSON)  # question id -> level, id(s) or text
    created_at: Mapped[datetime]  # when the citizen submitted (UTC; the tap time offline)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    taken_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("app_user.id"))

    version: Mapped[SurveyVersion] = relationship()
    window: Mapped[Window | None] = relationship()


# ---- alerts to the work chat: kiosk/alerts.py (models below this line) ----

ALERT_STATUSES = ("pending", "sent", "failed")


class Alert(db.Model):
    """One alert in the durable outbox: an event (a bad rating, a burst, a case about
    to be overdue, a silent tablet, the weekly summary) kept until the work chat has
    it. ``event_key`` is unique: one event is one row, whichever server saw it first
    and however often delivery is retried. The message is stored already masked."""

    __table_args__ = (sa.Index("ix_alert_status_next", "status", "next_attempt_at"),
                      sa.Index("ix_alert_created", "created_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    event_key: Mapped[str] = mapped_column(sa.String(160), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # alerts.KINDS
    hall: Mapped[str] = mapped_column(sa.String(100))
    window: Mapped[str | None] = mapped_column(sa.String(32))  # the window's code
    at: Mapped[datetime]  # when it happened (UTC)
    message: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(16), default="pending")  # ALERT_STATUSES
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    # A sender's lease: while it runs, no other server posts the same row.
    claimed_by: Mapped[str | None] = mapped_column(sa.String(40))
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(500))
    sent_at: Mapped[datetime | None]


class AlertCursor(db.Model):
    """How far the alert scanner has read the rating feed (kiosk/readapi.py's
    ``(txid, id)`` order): ratings past it have not been looked at yet."""

    __tablename__ = "alert_cursor"

    name: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    txid: Mapped[int] = mapped_column(sa.BigInteger)
    rating_id: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ---- 事项公示 and the monthly bulletin: kiosk/items.py, kiosk/reports.py (models below this line) ----

class WindowServiceItem(db.Model):
    """A service item a window handles (事项公示 on its kiosk card and the board)."""

    __tablename__ = "window_service_item"

    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"),
                                           primary_key=True)
    service_item_id: Mapped[int] = mapped_column(sa.ForeignKey("service_item.id"),
                                                 primary_key=True, index=True)
