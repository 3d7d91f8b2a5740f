"""Back-office accounts: throttled sign-in, passwords, account changes (kiosk/users.py)."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from kiosk import users
from kiosk.clock import zone
from kiosk.db import db
from kiosk.models import AuditEntry, User
from kiosk.users import FieldError, authenticate

from .helpers import PASSWORD, make_user, make_window

SHANGHAI = zone("Asia/Shanghai")
T0 = datetime(2026, 3, 2, 1, 30)  # naive UTC: 09:30 in the hall


def attempt(name, password, at=T0):
    result = authenticate(name, password, now=at, tz=SHANGHAI, max_failures=5,
                          lock_minutes=15)
    db.session.commit()
    return result


def log(action=None):
    query = sa.select(AuditEntry).order_by(AuditEntry.id)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def test_the_right_password_signs_in_and_is_logged(app):
    zhang = make_user("zhang", "supervisor")
    result = attempt("zhang", PASSWORD)
    assert result.user is zhang and result.error is None and result.delay == 0
    assert zhang.last_login_at == T0
    [entry] = log("auth.login")
    assert entry.user_id == zhang.id and entry.username == "zhang"


def test_five_failures_lock_the_account_for_fifteen_minutes_even_for_the_right_password(app):
    zhang = make_user("zhang", "supervisor")
    for n in range(1, 5):
        result = attempt("zhang", "wrong password", T0 + timedelta(seconds=n))
        assert result.error == "用户名或密码不正确"
        assert result.locked_until is None
    result = attempt("zhang", "wrong password", T0 + timedelta(seconds=5))
    assert result.locked_until == T0 + timedelta(seconds=5, minutes=15)
    # Unlocks at 09:45:05 hall time: the message names the minute after, never before.
    assert "账号已锁定" in result.error and "09:46" in result.error
    assert "连续 5 次" in result.error

    refused = attempt("zhang", PASSWORD, T0 + timedelta(minutes=14))
    assert refused.user is None
    assert "账号已锁定" in refused.error and "09:46" in refused.error
    assert db.session.get(User, zhang.id).last_login_at is None

    later = attempt("zhang", PASSWORD, T0 + timedelta(minutes=16))
    assert later.user is zhang
    assert zhang.failed_logins == 0 and zhang.locked_until is None


def test_the_lock_is_per_account_not_per_address(app):
    make_user("zhang", "supervisor")
    make_user("li", "caller")
    for _ in range(5):
        attempt("zhang", "wrong password")
    assert attempt("zhang", PASSWORD).user is None
    assert attempt("li", PASSWORD).user is not None


def test_once_a_lock_lapses_the_next_failure_locks_again(app):
    zhang = make_user("zhang", "supervisor")
    for _ in range(5):
        attempt("zhang", "wrong password")
    after = T0 + timedelta(minutes=20)
    result = attempt("zhang", "wrong password", after)
    assert result.locked_until == after + timedelta(minutes=15)
    assert zhang.failed_logins == 6


def test_a_success_resets_the_count(app):
    zhang = make_user("zhang", "supervisor")
    for _ in range(4):
        attempt("zhang", "wrong password")
    assert attempt("zhang", PASSWORD).user is zhang
    assert zhang.failed_logins == 0
    for _ in range(4):
        assert attempt("zhang", "wrong password").locked_until is None


def test_the_delay_grows_after_the_third_failure_and_is_capped(app):
    make_user("zhang", "supervisor")
    delays = [attempt("zhang", "wrong password").delay for _ in range(5)]
    assert delays[:2] == [0, 0]
    assert 0 < delays[2] < delays[3] < delays[4] <= 2.0
    assert [users.failure_delay(n) for n in (10, 100)] == [2.0, 2.0]


def test_an_unknown_name_gets_the_same_answer_as_a_wrong_password(app):
    make_user("zhang", "supervisor")
    unknown = attempt("nobody", PASSWORD)
    wrong = attempt("zhang", "wrong password")
    assert unknown.error == wrong.error == "用户名或密码不正确"
    assert unknown.locked_until is None


def _fastest(name: str, runs: int = 3) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        authenticate(name, "wrong password", now=T0)
        best = min(best, time.perf_counter() - started)
        db.session.rollback()  # keep the count below the lock
    return best


def test_an_unknown_name_takes_as_long_as_a_wrong_password(app):
    make_user("zhang", "supervisor")
    _fastest("nobody", 1)  # the decoy hash is made once, on first use
    unknown, known = _fastest("nobody"), _fastest("zhang")
    # The password check dominates both; without the decoy an unknown name answers
    # in about a millisecond.
    assert unknown > 0.5 * known, (unknown, known)


def test_an_inactive_account_is_refused_only_once_the_password_is_right(app):
    zhang = make_user("zhang", "supervisor")
    zhang.active = False
    db.session.commit()
    assert attempt("zhang", "wrong password").error == "用户名或密码不正确"
    result = attempt("zhang", PASSWORD)
    assert result.user is None and "已停用" in result.error


def test_failures_and_locks_are_logged_without_the_password(app):
    zhang = make_user("zhang", "supervisor")
    attempt("nobody", "secret guess 1")
    for _ in range(5):
        attempt("zhang", "secret guess 2")
    failed = log("auth.login_failed")
    assert [e.username for e in failed] == ["nobody"] + ["zhang"] * 5
    assert all(e.user_id is None for e in failed)  # nobody was signed in
    assert failed[1].target_type == "user" and failed[1].target_id == str(zhang.id)
    [locked] = log("auth.locked")
    assert json.loads(locked.after)["failed_logins"] == 5
    everything = " ".join(f"{e.before} {e.after}" for e in log())
    assert "secret guess" not in everything and zhang.password_hash not in everything


def test_changing_ones_password_ends_other_sessions(app):
    zhang = make_user("zhang", "caller")
    version = zhang.session_version
    users.change_password(zhang, PASSWORD, "a new password 2", "a new password 2")
    db.session.commit()
    assert zhang.session_version == version + 1
    assert zhang.check_password("a new password 2")
    [entry] = log("user.password_change")
    assert entry.before is None and entry.after is None


@pytest.mark.parametrize("old, new, confirm, field, message", [
    ("not it at all", "a new password 2", "a new password 2", "old_password", "当前密码不正确"),
    (PASSWORD, "short", "short", "password", "至少 8 个字符"),
    (PASSWORD, "a new password 2", "a new password 3", "confirm", "不一致"),
    (PASSWORD, PASSWORD, PASSWORD, "password", "不能与当前密码相同"),
    (PASSWORD, "ZHANGSAN", "ZHANGSAN", "password", "不能与用户名相同"),
])
def test_a_password_change_says_what_is_wrong(app, old, new, confirm, field, message):
    zhang = make_user("zhangsan", "caller")
    with pytest.raises(FieldError) as caught:
        users.change_password(zhang, old, new, confirm)
    assert caught.value.field == field and message in caught.value.message


def test_creating_a_department_head_needs_a_department(app):
    window = make_window()
    admin = make_user("boss", "admin")
    with pytest.raises(FieldError) as caught:
        users.create_user(admin, "wang", "department", PASSWORD, PASSWORD, None)
    assert caught.value.field == "department_id"
    wang = users.create_user(admin, "wang", "department", PASSWORD, PASSWORD,
                             window.department_id)
    db.session.commit()
    assert wang.department_id == window.department_id
    # Other roles belong to no department.
    li = users.create_user(admin, "li", "caller", PASSWORD, PASSWORD, window.department_id)
    assert li.department_id is None


def test_user_names_are_unique_whatever_the_case(app):
    admin = make_user("boss", "admin")
    make_user("Zhang", "caller")
    with pytest.raises(FieldError, match="已被使用"):
        users.create_user(admin, " zhang ", "caller", PASSWORD, PASSWORD)
    with pytest.raises(FieldError, match="不能含空格"):
        users.create_user(admin, "zhang san", "caller", PASSWORD, PASSWORD)


def test_creating_and_editing_are_logged_before_and_after_without_hashes(app):
    window = make_window()
    admin = make_user("boss", "admin")
    wang = users.create_user(admin, "wang", "caller", PASSWORD, PASSWORD)
    users.update_user(admin, wang, "department", window.department_id, True)
    db.session.commit()
    created, updated = log("user.create")[0], log("user.update")[0]
    assert created.username == "boss" and created.before is None
    assert json.loads(created.after) == {"username": "wang", "role": "caller",
                                         "department": None, "active": True}
    assert json.loads(updated.before) == {"role": "caller", "department": None}
    assert json.loads(updated.after) == {"role": "department",
                                         "department": "测试政务服务大厅 · 政务服务中心"}
    assert "scrypt" not in created.after + updated.after


def test_deactivating_ends_sessions_and_an_admin_cannot_lock_themself_out(app):
    admin = make_user("boss", "admin")
    li = make_user("li", "caller")
    version = li.session_version
    assert users.update_user(admin, li, "caller", None, False)
    assert li.session_version == version + 1
    with pytest.raises(FieldError, match="不能停用自己的账号"):
        users.update_user(admin, admin, "admin", None, False)
    with pytest.raises(FieldError, match="不能修改自己的角色"):
        users.update_user(admin, admin, "caller", None, True)
    assert not users.update_user(admin, li, "caller", None, False)  # nothing changed


def test_an_admin_reset_ends_sessions_lifts_the_lock_and_logs_no_secret(app):
    admin = make_user("boss", "admin")
    li = make_user("li", "caller")
    for _ in range(5):
        attempt("li", "wrong password")
    assert li.locked_until is not None
    version = li.session_version
    users.reset_password(admin, li, "temporary pass 1", "temporary pass 1")
    db.session.commit()
    assert li.session_version == version + 1
    assert li.locked_until is None and li.failed_logins == 0
    assert attempt("li", "temporary pass 1").user is li
    [entry] = log("user.password_reset")
    assert entry.username == "boss" and entry.target_id == str(li.id)
    assert entry.before is None and entry.after is None


def test_cli_save_user_resets_an_existing_user_and_logs_it_as_the_system(app):
    li = make_user("li", "caller")
    for _ in range(5):
        attempt("li", "wrong password")
    version = li.session_version
    users.save_user("li", "supervisor", "another password")
    db.session.commit()
    assert li.session_version == version + 1 and li.role == "supervisor"
    assert li.locked_until is None  # how a locked-out sole admin gets back in
    [update] = log("user.update")
    assert update.username == "(system)"
    assert json.loads(update.after) == {"role": "supervisor"}
    assert len(log("user.password_reset")) == 1
    users.save_user("zhao", "admin", "a password 1")
    assert json.loads(log("user.create")[0].after)["role"] == "admin"


def test_search_finds_by_name_role_and_status_and_pages(app):
    for n in range(7):
        db.session.add(User(username=f"clerk{n}", role="caller", password_hash="x"))
    db.session.add(User(username="chief", role="supervisor", password_hash="x",
                        active=False))
    db.session.commit()
    assert [u.username for u in users.search_users("LERK1").items] == ["clerk1"]
    assert users.search_users(role="supervisor").total == 1
    assert [u.username for u in users.search_users(status="inactive").items] == ["chief"]
    second = users.search_users(role="caller", page=2, per_page=5)
    assert (second.total, second.pages, [u.username for u in second.items]) \
        == (7, 2, ["clerk5", "clerk6"])
    assert users.search_users("%").total == 0  # LIKE wildcards are plain text
