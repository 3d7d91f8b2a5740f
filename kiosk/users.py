"""Back-office users: signing in (with per-account throttling), passwords, and the
changes an admin makes to accounts. Every change here goes to the audit log."""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_sqlalchemy.pagination import Pagination
from werkzeug.security import check_password_hash, generate_password_hash

from . import audit, clock
from .db import db, utcnow
from .fields import InputError
from .models import ROLES, Department, User

PASSWORD_MIN = 8
PASSWORD_MAX = 200
USERNAME_MAX = 64
ROLE_LABELS = {"admin": "系统管理员", "supervisor": "督查", "caller": "回访员",
               "department": "股室负责人"}
# Failed sign-ins of one account before each answer is held back, how much longer
# each further failure waits, and the most it waits (seconds).
DELAY_AFTER_FAILURES = 3
DELAY_STEP = 0.5
DELAY_MAX = 2.0
# What the audit log keeps of an account (never the password hash).
AUDITED = ("username", "role", "department", "active")
USERNAME = re.compile(r"[^\s\x00-\x1f\x7f]{1,64}")  # no spaces, no control codes

WRONG = "用户名或密码不正确"


class FieldError(InputError):
    """Input a person must fix, naming the form field(s) it belongs to: ``errors`` maps
    each field to its message; ``field`` is the first of them."""

    def __init__(self, field: str | dict[str, str], message: str | None = None) -> None:
        errors = dict(field) if isinstance(field, dict) else {field: message or ""}
        super().__init__("；".join(errors.values()))
        self.errors = errors
        self.field = next(iter(errors))


def save_user(username: str, role: str, password: str,
              department: str | None = None) -> tuple[User, bool]:
    """Create the user, or give an existing one this role and password (the
    ``kiosk create-user`` command). A department head needs ``department``, the name
    of the department they run. Returns the user and whether it is new. Flushes; the
    caller commits."""
    username = username.strip()
    if not username or len(username) > USERNAME_MAX:
        raise InputError("the user name must be 1–64 characters")
    if role not in ROLES:
        raise InputError("role must be one of " + ", ".join(ROLES))
    if len(password) < PASSWORD_MIN:
        raise InputError(f"the password must be at least {PASSWORD_MIN} characters")
    department_id = _department_named(department) if department else None
    if role == "department" and department_id is None:
        raise InputError("a department head needs --department (the department's name), "
                         "or sees nothing")
    user = db.session.scalar(sa.select(User).where(User.username == username))
    created = user is None
    if created:
        user = User(username=username, role=role, active=True)
        db.session.add(user)
        before = None
    else:
        before = describe(user)
        user.session_version += 1  # a new password ends the old sessions
        user.failed_logins, user.locked_until = 0, None
    user.role = role
    user.department_id = department_id if role == "department" else None
    user.set_password(password)
    db.session.flush()
    # Logged as "(system)": made on the server's command line, not in the back office.
    if created:
        audit.record(None, "user.create", "user", user.id, None, describe(user))
    else:
        audit.record(None, "user.update", "user", user.id, before, describe(user))
        audit.record(None, "user.password_reset", "user", user.id)
    return user, created


def _department_named(name: str) -> int:
    """The id of the one department called ``name``; InputError naming the choices."""
    found = db.session.scalars(sa.select(Department.id).where(Department.name == name.strip())).all()
    if len(found) == 1:
        return found[0]
    names = sorted(set(db.session.scalars(sa.select(Department.name))))
    if not found:
        raise InputError(f"no department is called {name!r}; there are: "
                         + ("、".join(names) or "(none yet)"))
    raise InputError(f"several halls have a department called {name!r}; "
                     "set the department on the user's page in the back office")


# ---------------------------------------------------------------- signing in

@dataclass(frozen=True)
class SignIn:
    """The outcome of one sign-in attempt.

    ``delay`` is how long the caller should hold the answer back (seconds); it waits
    *after* committing, so no database lock is held while it sleeps.
    """

    user: User | None
    error: str | None = None
    delay: float = 0.0
    locked_until: datetime | None = None


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return generate_password_hash("decoy password, never used")


def failure_delay(failures: int) -> float:
    """How long to hold back the answer after an account's ``failures``-th failure."""
    if failures < DELAY_AFTER_FAILURES:
        return 0.0
    return min(DELAY_MAX, DELAY_STEP * (failures - DELAY_AFTER_FAILURES + 1))


def authenticate(username: str, password: str, *, now: datetime | None = None,
                 tz: ZoneInfo | None = None, max_failures: int = 5,
                 lock_minutes: int = 15) -> SignIn:
    """Check a sign-in, counting failures per account (never per address: a hall
    shares one). After ``max_failures`` failures in a row the account is locked for
    ``lock_minutes``, right password or not; once that lapses, the next failure locks
    it again. A success clears the count. An unknown name costs the same password
    check as a wrong password, so the answer's timing does not tell which names exist.
    ``now`` is naive UTC (default: the clock); ``tz`` the hall's zone for the unlock
    time in the message. Records auth.login, auth.login_failed and auth.locked in the
    audit log. Flushes; the caller commits."""
    now = now or utcnow()
    name = username.strip()
    user = db.session.scalar(sa.select(User).where(User.username == name))
    if user is None:
        check_password_hash(_decoy_hash(), password)
        audit.record(None, "auth.login_failed", "user", None,
                     after={"reason": "unknown user"}, username=name or "(blank)")
        return SignIn(None, WRONG)
    if user.locked_until is not None and user.locked_until > now:
        audit.record(None, "auth.login_failed", "user", user.id,
                     after={"reason": "locked"}, username=name)
        return SignIn(None, locked_message(user.locked_until, tz, now=now),
                      locked_until=user.locked_until)
    if not user.check_password(password):
        return _failed(user, now, max_failures, lock_minutes, tz)
    if not user.active:
        audit.record(None, "auth.login_failed", "user", user.id,
                     after={"reason": "inactive"}, username=name)
        return SignIn(None, "该账号已停用，请联系系统管理员")
    user.failed_logins, user.locked_until, user.last_login_at = 0, None, now
    audit.record(user, "auth.login", "user", user.id)
    return SignIn(user)


def _failed(user: User, now: datetime, max_failures: int, lock_minutes: int,
            tz: ZoneInfo | None) -> SignIn:
    # One UPDATE adds the failure, so attempts made at the same moment each count.
    failures = db.session.execute(
        sa.update(User).where(User.id == user.id)
        .values(failed_logins=User.failed_logins + 1).returning(User.failed_logins)
        .execution_options(synchronize_session=False)).scalar_one()
    db.session.refresh(user, ["failed_logins"])
    audit.record(None, "auth.login_failed", "user", user.id,
                 after={"reason": "wrong password", "failed_logins": failures},
                 username=user.username)
    if failures < max_failures:
        return SignIn(None, WRONG, failure_delay(failures))
    user.locked_until = now + timedelta(minutes=lock_minutes)
    audit.record(None, "auth.locked", "user", user.id,
                 after={"failed_logins": failures, "locked_until": user.locked_until},
                 username=user.username)
    db.session.flush()
    return SignIn(None, locked_message(user.locked_until, tz, failures, now),
                  failure_delay(failures), user.locked_until)


def locked_message(until: datetime, tz: ZoneInfo | None, failures: int | None = None,
                   now: datetime | None = None) -> str:
    """What a locked account is told, with the hall-time minute it unlocks."""
    local = clock.to_local(until, tz or clock.zone("Asia/Shanghai"))
    today = clock.to_local(now or utcnow(), local.tzinfo).date()
    # Round up: "after 10:05" must not be a minute early.
    if local.second or local.microsecond:
        local = local.replace(second=0, microsecond=0) + timedelta(minutes=1)
    when = local.strftime("%H:%M" if local.date() == today else "%m月%d日 %H:%M")
    why = f"连续 {failures} 次密码错误，" if failures else ""
    return f"{why}账号已锁定，请于 {when} 之后再试，或请系统管理员解除锁定"


def is_locked(user: User, now: datetime | None = None) -> bool:
    return user.locked_until is not None and user.locked_until > (now or utcnow())


# ---------------------------------------------------------------- passwords

def check_new_password(password: str, confirm: str, username: str,
                       field: str = "password") -> None:
    """Raise FieldError unless ``password`` is a password we accept."""
    if len(password) < PASSWORD_MIN:
        raise FieldError(field, f"密码至少 {PASSWORD_MIN} 个字符")
    if len(password) > PASSWORD_MAX:
        raise FieldError(field, f"密码不能超过 {PASSWORD_MAX} 个字符")
    if password.strip().casefold() == username.casefold():
        raise FieldError(field, "密码不能与用户名相同")
    if password != confirm:
        raise FieldError("confirm", "两次输入的新密码不一致")


def change_password(user: User, old: str, new: str, confirm: str) -> None:
    """The user's own password change. Ends every other session of the user (the
    caller signs the current one in again). Flushes; the caller commits."""
    errors: dict[str, str] = {}
    if not user.check_password(old):
        errors["old_password"] = "当前密码不正确"
    try:
        check_new_password(new, confirm, user.username)
    except FieldError as exc:
        errors.update(exc.errors)
    if new == old and "password" not in errors:
        errors["password"] = "新密码不能与当前密码相同"
    if errors:
        raise FieldError(errors)
    user.set_password(new)
    user.session_version += 1
    audit.record(user, "user.password_change", "user", user.id)
    db.session.flush()


def reset_password(actor: User, user: User, new: str, confirm: str) -> None:
    """An admin sets another user's password: ends that user's sessions and lifts a
    lock. The log says a reset happened, never what to. Flushes; the caller commits."""
    check_new_password(new, confirm, user.username)
    user.set_password(new)
    user.session_version += 1
    user.failed_logins, user.locked_until = 0, None
    audit.record(actor, "user.password_reset", "user", user.id)
    db.session.flush()


def unlock(actor: User, user: User) -> None:
    """Lift a sign-in lock and clear the failure count. Flushes; the caller commits."""
    before = {"failed_logins": user.failed_logins, "locked_until": user.locked_until}
    user.failed_logins, user.locked_until = 0, None
    audit.record(actor, "user.unlock", "user", user.id, before,
                 {"failed_logins": 0, "locked_until": None})
    db.session.flush()


# ---------------------------------------------------------------- managing accounts

def describe(user: User) -> dict:
    """The account as the audit log keeps it."""
    return {"username": user.username, "role": user.role,
            "department": department_label(user.department) if user.department else None,
            "active": user.active}


def department_label(department: Department) -> str:
    return f"{department.hall.name} · {department.name}"


def departments() -> list[Department]:
    """Every department, for choosing a department head's own."""
    return list(db.session.scalars(
        sa.select(Department).join(Department.hall)
        .order_by(Department.hall_id, Department.name)))


def _department(role: str, department_id: int | None) -> Department | None:
    if role not in ROLES:
        raise FieldError("role", "请选择角色")
    if role != "department":
        return None  # only a department head belongs to one
    if not department_id:
        raise FieldError("department_id", "股室负责人必须选择所属股室")
    department = db.session.get(Department, department_id)
    if department is None:
        raise FieldError("department_id", "所选股室不存在")
    return department


def create_user(actor: User | None, username: str, role: str, password: str,
                confirm: str, department_id: int | None = None) -> User:
    """A new account; raises FieldError naming what is wrong. Flushes; the caller
    commits."""
    username = username.strip()
    errors: dict[str, str] = {}  # every mistake at once, not one per submission
    if not username:
        errors["username"] = "请输入用户名"
    elif not USERNAME.fullmatch(username):
        errors["username"] = f"用户名为 1–{USERNAME_MAX} 个字符，不能含空格"
    elif db.session.scalar(sa.select(User.id).where(
            sa.func.lower(User.username) == username.lower())) is not None:
        errors["username"] = f"用户名“{username}”已被使用"
    department = None
    try:
        department = _department(role, department_id)
    except FieldError as exc:
        errors.update(exc.errors)
    try:
        check_new_password(password, confirm, username)
    except FieldError as exc:
        errors.update(exc.errors)
    if errors:
        raise FieldError(errors)
    user = User(username=username, role=role, department=department, active=True)
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit.record(actor, "user.create", "user", user.id, None, describe(user))
    return user


def update_user(actor: User, user: User, role: str, department_id: int | None,
                active: bool) -> bool:
    """Change an account's role, department and whether it may sign in. Deactivating
    ends its sessions. An admin cannot demote or deactivate themself (the back office
    always keeps the admin who is using it). Returns whether anything changed.
    Flushes; the caller commits."""
    if user.id == actor.id and role != user.role:
        raise FieldError("role", "不能修改自己的角色")
    if user.id == actor.id and not active:
        raise FieldError("active", "不能停用自己的账号")
    department = _department(role, department_id)
    before = describe(user)
    user.role, user.department, user.active = role, department, active
    if before["active"] and not active:
        user.session_version += 1
    db.session.flush()
    return audit.record(actor, "user.update", "user", user.id, before,
                        describe(user)) is not None


def search_users(q: str = "", role: str = "", status: str = "", page: int = 1,
                 per_page: int = 50) -> Pagination:
    """Accounts whose name contains ``q``, of ``role``, ``status`` active, inactive or
    locked; by name."""
    query = sa.select(User)
    if q.strip():
        query = query.where(User.username.icontains(q.strip(), autoescape=True))
    if role in ROLES:
        query = query.where(User.role == role)
    if status == "active":
        query = query.where(User.active.is_(True))
    elif status == "inactive":
        query = query.where(User.active.is_(False))
    elif status == "locked":
        query = query.where(User.locked_until > utcnow())
    return db.paginate(query.order_by(User.username), page=page, per_page=per_page,
                       error_out=False)
