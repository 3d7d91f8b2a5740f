"""Back-office users."""
from __future__ import annotations

import sqlalchemy as sa

from .db import db, utcnow
from .fields import InputError
from .models import ROLES, User

PASSWORD_MIN = 8
ROLE_LABELS = {"admin": "系统管理员", "supervisor": "督查", "caller": "回访员",
               "department": "股室负责人"}


def save_user(username: str, role: str, password: str) -> tuple[User, bool]:
    """Create the user, or give an existing one this role and password.

    Returns the user and whether it is new. Flushes; the caller commits.
    """
    username = username.strip()
    if not username or len(username) > 64:
        raise InputError("the user name must be 1–64 characters")
    if role not in ROLES:
        raise InputError("role must be one of " + ", ".join(ROLES))
    if len(password) < PASSWORD_MIN:
        raise InputError(f"the password must be at least {PASSWORD_MIN} characters")
    user = db.session.scalar(sa.select(User).where(User.username == username))
    created = user is None
    if created:
        user = User(username=username, role=role)
        db.session.add(user)
    user.role = role
    user.set_password(password)
    db.session.flush()
    return user, created


def authenticate(username: str, password: str) -> tuple[User | None, str | None]:
    """The active user with this name and password, or None and a reason a person can
    read. Flushes; the caller commits."""
    user = db.session.scalar(sa.select(User).where(User.username == username.strip()))
    if user is None or not user.active or not user.check_password(password):
        return None, "用户名或密码不正确"
    user.last_login_at = utcnow()
    db.session.flush()
    return user, None
