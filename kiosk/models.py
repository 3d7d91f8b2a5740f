"""The data model: halls and their windows, the people at them, and what citizens say."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from .db import db, utcnow


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

    department: Mapped[Department | None] = relationship()


class ReasonCode(db.Model):
    """A reason a citizen may give for a low rating; never changes meaning once used."""

    code: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    zh: Mapped[str] = mapped_column(sa.String(50))
    en: Mapped[str] = mapped_column(sa.String(80))
    sort_order: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class Rating(db.Model):
    """One citizen's rating of one service (一次一评)."""

    __table_args__ = (
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="score_range"),
        sa.Index("ix_rating_window_created", "window_id", "created_at"),
        sa.Index("ix_rating_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)  # idempotency key
    window_id: Mapped[int] = mapped_column(sa.ForeignKey("service_window.id"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("staff.id"))
    score: Mapped[int] = mapped_column(sa.SmallInteger)
    channel: Mapped[str] = mapped_column(sa.String(16))
    reasons: Mapped[str] = mapped_column(sa.String(400), default="")  # codes joined by ';'
    comment: Mapped[str | None] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.String(20))
    ticket: Mapped[str | None] = mapped_column(sa.String(64))  # 叫号票号 or 办件编号
    service_item_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_item.id"))
    created_at: Mapped[datetime]  # when the citizen tapped (UTC)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)  # when it reached us
    counted: Mapped[bool] = mapped_column(default=True)
    flags: Mapped[str] = mapped_column(sa.String(200), default="")  # codes joined by ';'

    window: Mapped[Window] = relationship()
    staff: Mapped[Staff | None] = relationship()

    @property
    def reason_codes(self) -> list[str]:
        return [c for c in self.reasons.split(";") if c]

    @property
    def flag_codes(self) -> list[str]:
        return [c for c in self.flags.split(";") if c]


class Suggestion(db.Model):
    """A suggestion (意见建议): the old paper 意见簿, no rating needed."""

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_window.id"))
    text: Mapped[str] = mapped_column(sa.Text)
    phone: Mapped[str | None] = mapped_column(sa.String(20))
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
