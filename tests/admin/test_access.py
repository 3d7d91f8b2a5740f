"""Access control for EVERY admin URL, every role and no session (table-driven).

The table is the app's URL map, read at test time: a page added to the back office
is covered here without touching this file. For each rule the expectation comes from
the view's own ``allowed_roles``; URL arguments are filled from sample objects (or
placeholders, where a 404 is the right answer for a role that may look).
"""
from __future__ import annotations

import json

import pytest
from werkzeug.routing import Rule

from admin import PUBLIC, allowed_roles
from kiosk.db import db
from kiosk.models import Department, FollowupCase, Staff, Suggestion, User, Window

from ..helpers import csrf_token, make_user, make_window, rating_body

ROLES = ("admin", "supervisor", "caller", "department")
DATA = (".json", ".csv", ".png", ".svg", ".pdf")
CHANGES = {"POST", "PUT", "PATCH", "DELETE"}
OWN, OTHER = "本股室", "他股室"
# What only the other department's head may see: its window, clerk and suggestion.
OTHER_MARKS = ("Z99", "他股室专用窗口", "赵他人", "只属于他股室的建议")
# Views a role may open whose every use kiosk/followups.may still refuses it (403):
# rectifying and appealing are a department's own work, not an admin's.
REFUSED_BY_CASE_RULES = {"admin": {"admin.followup_rectify", "admin.followup_appeal"}}


@pytest.fixture
def hall(app):
    """Two departments, each with a window, a clerk on duty, ratings this week (the
    bad one opens a follow-up case) and a suggestion; a department head of the first
    one is what ``login`` makes."""
    own = make_window("A01", "本股室综合窗口", OWN, "S001", "钱本人")
    other = make_window("Z99", "他股室专用窗口", OTHER, "S999", "赵他人")
    intake = app.extensions["kiosk.intake"]
    for window in (own, other):
        for score in (5, 4, 1):
            intake.accept(rating_body(window=window.code, score=score))
    db.session.add_all([
        Suggestion(window=own, text="本股室的建议", channel="kiosk"),
        Suggestion(window=other, text="只属于他股室的建议", channel="kiosk")])
    db.session.commit()
    return own, other


def admin_rules(app) -> list[Rule]:
    """Every rule under /admin, whoever registered it."""
    rules = [r for r in app.url_map.iter_rules()
             if r.rule == "/admin" or r.rule.startswith("/admin/")]
    assert any(r.endpoint == "admin.users" for r in rules)  # the map is really read
    return sorted(rules, key=lambda r: (r.endpoint == "admin.logout", r.rule))


def is_public(rule: Rule) -> bool:
    return PUBLIC in allowed_roles(rule.endpoint)


def is_data(path: str) -> bool:
    return path.endswith(DATA)


def _models() -> dict[str, type]:
    found = {}
    for mapper in db.Model.registry.mappers:
        cls = mapper.class_
        found[cls.__name__.lower()] = cls
        found[cls.__tablename__] = cls
    return found


def _sample(model: type, prefer_other: bool):
    """A row of ``model``: the other department's when it has one and that is asked."""
    if prefer_other:
        picks = {Window: Window.code == "Z99", Staff: Staff.staff_no == "S999",
                 Department: Department.name == OTHER,
                 Suggestion: Suggestion.text == "只属于他股室的建议",
                 FollowupCase: FollowupCase.window_id.in_(
                     db.select(Window.id).where(Window.code == "Z99"))}
        if model in picks:
            row = db.session.query(model).filter(picks[model]).first()
            if row is not None:
                return row
    return db.session.query(model).order_by(model.id).first()


def url_for_rule(rule: Rule, prefer_other: bool = False) -> str:
    """A concrete path for ``rule``: sample objects where the argument names one, a
    placeholder otherwise."""
    values = {}
    models = _models()
    for name in rule.arguments:
        converter = type(rule._converters[name]).__name__
        base = name.removesuffix("_id")
        model = models.get(base) or models.get(f"service_{base}")
        if name in ("code", "window", "window_code"):
            values[name] = _sample(Window, prefer_other).code
        elif name == "staff_no":
            values[name] = _sample(Staff, prefer_other).staff_no
        elif model is not None and (row := _sample(model, prefer_other)) is not None:
            values[name] = row.id if converter in ("IntegerConverter", "NumberConverter") \
                or name.endswith("_id") else str(row.id)
        elif converter in ("IntegerConverter", "NumberConverter"):
            values[name] = 1
        else:
            values[name] = "sample"
    built = rule.build(values, append_unknown=False)
    assert built is not None, f"cannot build {rule.rule} from {values}"
    return built[1]


def signed_in(login, role):
    return login(role, OWN if role == "department" else None)


def _token(client) -> str:
    """A valid CSRF token for this client's session (signed in or not)."""
    page = client.get("/admin/login")
    if page.status_code == 302:  # signed in: every role has its password page
        page = client.get("/admin/account/password")
    return csrf_token(page.get_data(as_text=True))


def test_without_a_session_pages_go_to_login_and_data_gets_401(app, client, hall):
    wrong = []
    for rule in admin_rules(app):
        if is_public(rule):
            continue
        path = url_for_rule(rule)
        if "GET" in rule.methods:
            response = client.get(path)
            if is_data(path):
                ok = response.status_code == 401 and "error" in response.get_json()
            else:
                ok = response.status_code == 302 and response.headers["Location"] \
                    .startswith("/admin/login?next=")
            if not ok:
                wrong.append(f"GET {path}: {response.status_code}")
        if rule.methods & CHANGES:
            # Even with a valid CSRF token, a POST without a session is turned away.
            response = client.post(path, data={"csrf_token": _token(client)})
            expected = 401 if is_data(path) else 302
            if response.status_code != expected or (
                    expected == 302 and "/admin/login" not in response.headers["Location"]):
                wrong.append(f"POST {path}: {response.status_code}")
    assert not wrong, "without a session:\n" + "\n".join(wrong)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_gets_403_exactly_where_the_view_excludes_it(app, login, hall, role):
    client = signed_in(login, role)
    wrong, checked = [], 0
    for rule in admin_rules(app):
        if is_public(rule):
            continue
        allowed = role in allowed_roles(rule.endpoint) \
            and rule.endpoint not in REFUSED_BY_CASE_RULES.get(role, ())
        path = url_for_rule(rule)
        requests = []
        if "GET" in rule.methods:
            requests.append(("GET", lambda: client.get(path)))
        if rule.methods & CHANGES:
            requests.append(("POST", lambda: client.post(
                path, data={"csrf_token": _token(client)})))
        for method, send in requests:
            status = send().status_code
            checked += 1
            if allowed and (status in (401, 403) or status >= 500):
                wrong.append(f"{method} {path}: {status}, but {role} may open it")
            if not allowed and status != 403:
                wrong.append(f"{method} {path}: {status}, but {role} may not open it")
    assert checked >= 10
    assert not wrong, f"as {role}:\n" + "\n".join(wrong)


def test_every_state_changing_admin_route_refuses_a_post_without_csrf(app, login, hall):
    client = signed_in(login, "admin")
    wrong = []
    changing = [r for r in admin_rules(app) if r.methods & CHANGES]
    assert len(changing) >= 5
    for rule in changing:
        path = url_for_rule(rule)
        response = client.post(path, data={"username": "x", "password": "y"})
        if response.status_code != 400 or "页面已过期" not in response.get_data(as_text=True):
            wrong.append(f"POST {path}: {response.status_code}")
    assert not wrong, "accepted without a CSRF token:\n" + "\n".join(wrong)
    assert client.get("/admin/").status_code == 200  # not even signed out


# The holiday calendar: supervisors may look, only admins change it (every case's
# due dates follow a change).
CALENDAR_ROLES = {
    "admin.calendar": {"admin", "supervisor"},
    "admin.calendar_save": {"admin"},
    "admin.calendar_delete": {"admin"},
}


def test_the_calendar_is_shown_to_supervisors_and_changed_by_admins_only(app):
    assert {e: set(allowed_roles(e)) for e in CALENDAR_ROLES} == CALENDAR_ROLES


def test_the_state_is_untouched_by_a_refused_post(app, login, hall):
    client = signed_in(login, "admin")
    li = make_user("li", "caller")
    client.post(f"/admin/users/{li.id}", data={"role": "admin", "active": "y"})
    db.session.refresh(li)
    assert li.role == "caller"


def _text(response) -> str | None:
    kind = response.headers.get("Content-Type", "")
    if kind.startswith(("text/", "application/json")):
        return response.get_data(as_text=True)
    return None


def test_a_department_head_sees_only_their_own_department(app, login, hall):
    client = signed_in(login, "department")
    leaks, lists, seen_own = [], [], False
    for rule in admin_rules(app):
        if "GET" not in rule.methods or is_public(rule) \
                or "department" not in allowed_roles(rule.endpoint):
            continue
        # Detail pages are asked for the other department's objects.
        path = url_for_rule(rule, prefer_other=True)
        response = client.get(path)
        text = _text(response)
        if response.status_code != 200 or text is None:
            continue
        for mark in OTHER_MARKS:
            if mark in text:
                leaks.append(f"{path} shows {mark}")
        seen_own = seen_own or "A01" in text
        if path.endswith(".json"):
            for key, value in json.loads(text).items():
                if isinstance(value, list) and value and isinstance(value[0], dict):
                    lists.append(path)
                    others = [row for row in value
                              if row.get("department") not in (None, OWN)]
                    if others:
                        leaks.append(f"{path} {key}: rows of {others[0]['department']}")
    assert not leaks, "a department head sees another department:\n" + "\n".join(leaks)
    # The check can fail: the head's own department is there to be seen.
    assert seen_own and lists, (seen_own, lists)


def test_the_other_departments_data_is_there_for_a_supervisor(app, login, hall):
    # The counterpart of the test above: the marks are on the pages for a role that
    # may see every department, so their absence for the head means something.
    client = signed_in(login, "supervisor")
    shown = set()
    for rule in admin_rules(app):
        if "GET" not in rule.methods or is_public(rule) or rule.arguments \
                or "department" not in allowed_roles(rule.endpoint):
            continue
        text = _text(client.get(url_for_rule(rule)))
        shown.update(mark for mark in OTHER_MARKS if text and mark in text)
    assert {"Z99", "只属于他股室的建议"} <= shown, shown


def test_a_user_of_no_department_with_the_department_role_sees_nothing_of_anyone(
        app, login, hall):
    client = login("department")  # a head whose department was never set
    for rule in admin_rules(app):
        if "GET" not in rule.methods or is_public(rule) or rule.arguments \
                or "department" not in allowed_roles(rule.endpoint):
            continue
        text = _text(client.get(url_for_rule(rule))) or ""
        assert "Z99" not in text and "A01" not in text, rule.rule


def test_sample_users_exist_for_user_urls(app, hall):
    # url_for_rule fills user_id from a real account (so admin pages answer 200).
    make_user("sample", "caller")
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == "admin.user_edit")
    assert url_for_rule(rule) == f"/admin/users/{db.session.query(User).first().id}"


# The call list and the case forms (admin/followups.py): who may open each. Which
# case a role may change is kiosk/followups.may's business (tests/test_followups.py).
EVERYONE = {"admin", "supervisor", "caller", "department"}
FOLLOWUP_ROLES = {
    "admin.followups_list": EVERYONE, "admin.followups_json": EVERYONE,
    "admin.followups_csv": EVERYONE, "admin.followups_print": EVERYONE,
    "admin.followup": EVERYONE,
    "admin.followup_attempt": {"admin", "caller"}, "admin.followup_take": {"admin", "caller"},
    "admin.followup_citizen_view": {"admin", "caller"},
    "admin.followup_assign": {"admin", "supervisor"},
    "admin.followup_reopen": {"admin", "supervisor"},
    "admin.followup_rule": {"admin", "supervisor"},
    "admin.followup_reverse": {"admin", "supervisor"},
    "admin.followup_rectify": {"admin", "department"},
    "admin.followup_appeal": {"admin", "department"},
    "admin.followup_close": EVERYONE,
}


def test_the_call_list_and_case_forms_are_open_to_the_right_roles(app):
    assert {e: set(allowed_roles(e)) for e in FOLLOWUP_ROLES} == FOLLOWUP_ROLES
    followup_endpoints = {r.endpoint for r in admin_rules(app) if "/followups" in r.rule}
    assert followup_endpoints == set(FOLLOWUP_ROLES)  # a new one gets a row here


def test_the_hall_has_follow_up_cases_to_open(app, hall):
    # The case URLs above are tried on real cases, one per department.
    cases = db.session.scalars(db.select(FollowupCase).order_by(FollowupCase.id)).all()
    assert [c.window.code for c in cases] == ["A01", "Z99"]
