"""Hall management (窗口与人员): who may see and change what, forms that say what is
wrong in Chinese, the rules kept (codes, reason codes, one clerk at one window), the
audit log, search and paging, and every page looked at in Chromium."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk import staff_photos
from kiosk.db import db, utcnow
from kiosk.models import (AuditEntry, Department, Duty, Hall, Rating, ReasonCode, ServiceItem,
                          Staff, Window)

from ..helpers import csrf_token, make_window, pair_device, rating_body


def post_form(client, url: str, data: dict, page: str | None = None):
    """Submit a form as a browser would: with the CSRF token of the page it is on."""
    html = client.get(page or url).get_data(as_text=True)
    return client.post(url, data={**data, "csrf_token": csrf_token(html)})


def text(response) -> str:
    return response.get_data(as_text=True)


def audit_actions() -> list[str]:
    """What the audit log says was changed (signing in and out aside)."""
    return list(db.session.scalars(sa.select(AuditEntry.action)
                                   .where(~AuditEntry.action.startswith("auth."))
                                   .order_by(AuditEntry.id)))


@pytest.fixture
def hall(app):
    """Two departments' windows: A01 (政务服务中心, 张丽 on duty) and B01 (税务局, 王芳)."""
    since = utcnow().replace(microsecond=0) - timedelta(days=2)
    make_window("A01", staff_no="S001", staff_name="张丽", on_duty_since=since)
    make_window("B01", name="税务窗口", dept="税务局", staff_no="T001", staff_name="王芳",
                on_duty_since=since)
    return db.session.scalar(sa.select(Hall))


# ---- who may see and change what ----

LISTS = ["/admin/manage", "/admin/manage/halls", "/admin/manage/departments",
         "/admin/manage/windows", "/admin/manage/staff", "/admin/manage/items",
         "/admin/manage/reasons", "/admin/roster", "/admin/roster/A01"]
FORMS = ["/admin/manage/halls/new", "/admin/manage/departments/new",
         "/admin/manage/windows/new", "/admin/manage/items/new",
         "/admin/manage/reasons/new", "/admin/manage/reasons/attitude"]
# role -> pages it may open (everything else: 403)
MAY_OPEN = {
    "admin": set(LISTS + FORMS + ["/admin/manage/staff/new"]),
    "supervisor": set(LISTS),
    "department": {"/admin/manage", "/admin/manage/staff", "/admin/manage/staff/new",
                   "/admin/roster", "/admin/roster/A01"},
    "caller": set(),
}


@pytest.mark.parametrize("role", sorted(MAY_OPEN))
def test_each_role_opens_only_its_pages(login, hall, role):
    client = login(role, department="政务服务中心" if role == "department" else None)
    for url in LISTS + FORMS + ["/admin/manage/staff/new"]:
        expected = 200 if url in MAY_OPEN[role] else 403
        assert client.get(url).status_code == expected, (role, url)
    nav = text(client.get("/admin/manage" if MAY_OPEN[role] else "/admin/"))
    assert ("窗口与人员" in nav) == bool(MAY_OPEN[role])


def test_without_a_session_the_pages_send_to_the_login(client, hall):
    for url in LISTS + FORMS:
        resp = client.get(url)
        assert resp.status_code == 302 and "/admin/login" in resp.headers["Location"]


def test_a_supervisor_reads_but_changes_nothing(login, hall):
    supervisor = login("supervisor")
    roster = text(supervisor.get("/admin/roster/A01"))
    assert "张丽" in roster and "换岗" not in roster.split("在岗记录")[0].split("当前在岗")[1]
    assert "新增窗口" not in text(supervisor.get("/admin/manage/windows"))
    resp = post_form(supervisor, "/admin/roster/A01/change", {"change-staff_id": "2"},
                     page="/admin/roster/A01")
    assert resp.status_code == 403
    resp = post_form(supervisor, "/admin/manage/halls/new", {"name": "新大厅"},
                     page="/admin/manage/halls")
    assert resp.status_code == 403
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Hall)) == 1


def test_a_department_head_sees_and_manages_only_their_own(login, hall):
    head = login("department", department="税务局")
    staff = text(head.get("/admin/manage/staff"))
    assert "王芳" in staff and "张丽" not in staff
    overview = text(head.get("/admin/roster"))
    assert "B01" in overview and "A01" not in overview
    assert head.get("/admin/roster/A01").status_code == 403
    zhang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))
    assert head.get(f"/admin/manage/staff/{zhang.id}").status_code == 403

    # A new clerk lands in the head's department, whatever the form says.
    other = db.session.scalar(sa.select(Department).where(Department.name == "政务服务中心"))
    resp = post_form(head, "/admin/manage/staff/new",
                     {"staff_no": "T002", "name": "李强", "department_id": str(other.id),
                      "duties": "发票代开", "active": "y"})
    assert resp.status_code == 302
    li = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "T002"))
    assert li.department.name == "税务局"

    # 换岗 at their own window, to their own clerk.
    resp = post_form(head, "/admin/roster/B01/change", {"change-staff_id": str(li.id)},
                     page="/admin/roster/B01")
    assert resp.status_code == 302
    page = text(head.get("/admin/roster/B01"))
    assert "已换岗：现在由 李强 在 B01 窗口挂牌" in page
    # Not with another department's clerk, and not at another department's window.
    resp = post_form(head, "/admin/roster/B01/change", {"change-staff_id": str(zhang.id)},
                     page="/admin/roster/B01")
    assert resp.status_code == 400 and "请选择本部门的工作人员" in text(resp)
    resp = post_form(head, "/admin/roster/A01/change", {"change-staff_id": str(li.id)},
                     page="/admin/roster/B01")
    assert resp.status_code == 403


# ---- forms: what is wrong, in Chinese ----

def test_forms_say_what_is_wrong_in_chinese(login, hall):
    admin = login("admin")
    resp = post_form(admin, "/admin/manage/halls/new", {"name": " ", "address": "x" * 201})
    assert resp.status_code == 400
    assert "请填写名称" in text(resp) and "地址不能超过 200 个字" in text(resp)

    dept = db.session.scalar(sa.select(Department).where(Department.name == "税务局"))
    resp = post_form(admin, "/admin/manage/windows/new",
                     {"code": "a01", "name": "重复", "department_id": str(dept.id)})
    assert resp.status_code == 400 and "编号已存在" in text(resp)  # A01, ignoring case
    resp = post_form(admin, "/admin/manage/windows/new",
                     {"code": "A 02", "name": "", "department_id": ""})
    page = text(resp)
    assert "窗口编号只能由字母、数字" in page and "请填写窗口名称" in page and "请选择部门" in page

    resp = post_form(admin, "/admin/manage/staff/new", {"staff_no": "S001", "name": "重名"})
    assert resp.status_code == 400 and "工号已存在" in text(resp)

    db.session.add(ServiceItem(code="SW-001", name="发票代开"))
    db.session.commit()
    resp = post_form(admin, "/admin/manage/items/new", {"code": "SW-001", "name": "x"})
    assert resp.status_code == 400 and "编号已存在" in text(resp)

    resp = post_form(admin, "/admin/manage/reasons/new",
                     {"code": "attitude", "zh": "态度", "en": "Attitude", "sort_order": "5"})
    assert resp.status_code == 400 and "编号已存在" in text(resp)
    resp = post_form(admin, "/admin/manage/reasons/new",
                     {"code": "Bad Code", "zh": "", "en": "x", "sort_order": "abc"})
    page = text(resp)
    assert "原因编号只能由小写字母" in page and "请填写中文名称" in page


# ---- changes are made, and logged ----

def test_a_hall_is_created_changed_and_deleted_with_an_audit_trail(login, hall):
    admin = login("admin")
    resp = post_form(admin, "/admin/manage/halls/new", {"name": "城东分中心", "address": "东路1号"})
    assert resp.status_code == 302
    east = db.session.scalar(sa.select(Hall).where(Hall.name == "城东分中心"))
    assert "城东分中心" in text(admin.get("/admin/manage/halls"))
    post_form(admin, f"/admin/manage/halls/{east.id}", {"name": "城东分中心", "address": "东路2号"})
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "hall.update"))
    assert entry.user_id == admin.user.id
    assert (json.loads(entry.before), json.loads(entry.after)) == \
        ({"address": "东路1号"}, {"address": "东路2号"})
    resp = post_form(admin, f"/admin/manage/halls/{east.id}/delete", {},
                     page=f"/admin/manage/halls/{east.id}")
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Hall, east.id) is None
    assert audit_actions() == ["hall.create", "hall.update", "hall.delete"]

    # A hall with departments and windows stays.
    resp = post_form(admin, f"/admin/manage/halls/{hall.id}/delete", {},
                     page=f"/admin/manage/halls/{hall.id}")
    assert "该大厅下还有部门或窗口，不能删除" in text(admin.get("/admin/manage/halls"))
    assert db.session.get(Hall, hall.id) is not None


def test_a_window_code_is_fixed_once_it_has_ratings(app, login, hall):
    admin = login("admin")
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    form = {"code": "A01X", "name": a01.name, "department_id": str(a01.department_id),
            "active": "y"}
    resp = post_form(admin, f"/admin/manage/windows/{a01.id}", form)
    assert resp.status_code == 302  # no ratings yet: the code may still be corrected
    db.session.expire_all()
    assert a01.code == "A01X"
    app.extensions["kiosk.intake"].accept(rating_body(window="A01X"))
    page = text(admin.get(f"/admin/manage/windows/{a01.id}"))
    assert "readonly" in page.split('name="code"')[1].split(">")[0]
    assert "该窗口已有评价，编号不能再修改" in page
    resp = post_form(admin, f"/admin/manage/windows/{a01.id}", {**form, "code": "A09"})
    assert resp.status_code == 400 and "该窗口已有评价，编号不能再修改" in text(resp)
    # Its name and state still change; a window with history is not deleted.
    resp = post_form(admin, f"/admin/manage/windows/{a01.id}", {**form, "name": "综合窗口"})
    assert resp.status_code == 302
    post_form(admin, f"/admin/manage/windows/{a01.id}/delete", {},
              page=f"/admin/manage/windows/{a01.id}")
    db.session.expire_all()
    assert db.session.get(Window, a01.id).name == "综合窗口"
    assert "window.update" in audit_actions() and "window.delete" not in audit_actions()


def test_a_reason_code_in_use_is_deactivated_never_deleted(app, client, login, hall):
    admin = login("admin")
    pair_device("A01", client=client)  # the window's tablet, to see its page
    app.extensions["kiosk.intake"].accept(rating_body(score=1, reasons=["attitude"]))
    resp = post_form(admin, "/admin/manage/reasons/new",
                     {"code": "fees", "zh": "收费问题", "en": "Fees", "sort_order": "90",
                      "active": "y"})
    assert resp.status_code == 302
    assert "收费问题" in text(client.get("/k/A01"))
    listing = text(admin.get("/admin/manage/reasons"))
    assert "标准原因" in listing.split("<code>attitude</code>")[1].split("</tr>")[0]

    # The code itself never changes, even if a form sends another.
    post_form(admin, "/admin/manage/reasons/attitude",
              {"code": "manner", "zh": "服务态度", "en": "Attitude of staff",
               "sort_order": "0", "active": "y"})
    db.session.expire_all()
    assert db.session.get(ReasonCode, "manner") is None
    assert db.session.get(ReasonCode, "attitude").en == "Attitude of staff"

    edit = text(admin.get("/admin/manage/reasons/attitude"))
    assert "停用原因" in edit and "删除原因" not in edit  # a standard code stays
    post_form(admin, "/admin/manage/reasons/attitude/retire", {},
              page="/admin/manage/reasons/attitude")
    post_form(admin, "/admin/manage/reasons/fees/retire", {}, page="/admin/manage/reasons/fees")
    db.session.expire_all()
    assert db.session.get(ReasonCode, "attitude").active is False  # kept, off the pages
    assert db.session.get(ReasonCode, "fees") is None  # never used: gone
    kiosk = text(client.get("/k/A01"))
    assert "收费问题" not in kiosk and 'data-reason="attitude"' not in kiosk
    assert audit_actions()[-2:] == ["reason.deactivate", "reason.delete"]

    # An added code a rating gave: offered for deletion, but only deactivated.
    post_form(admin, "/admin/manage/reasons/new",
              {"code": "parking", "zh": "停车难", "en": "Parking", "sort_order": "91",
               "active": "y"})
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    db.session.add(Rating(client_id="gave-parking", window_id=a01.id, score=2,
                          channel="kiosk", reasons="waiting;parking", created_at=utcnow()))
    db.session.commit()
    assert "删除原因" in text(admin.get("/admin/manage/reasons/parking"))
    resp = post_form(admin, "/admin/manage/reasons/parking/retire", {},
                     page="/admin/manage/reasons/parking")
    assert "已被评价使用（或为标准原因），已停用而不删除" in text(admin.get(resp.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(ReasonCode, "parking").active is False
    assert audit_actions()[-1] == "reason.deactivate"


def test_a_clerk_on_duty_cannot_be_deactivated(login, hall):
    admin = login("admin")
    zhang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))
    resp = post_form(admin, f"/admin/manage/staff/{zhang.id}",
                     {"staff_no": "S001", "name": "张丽", "department_id": str(zhang.department_id)})
    assert resp.status_code == 400 and "正在 A01 窗口在岗" in text(resp)
    db.session.expire_all()
    assert zhang.active is True


# ---- the duty roster over HTTP ----

def test_huangang_in_one_step_and_its_refusals(login, hall):
    admin = login("admin")
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    wang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "T001"))
    page = text(admin.get("/admin/roster/A01"))
    assert "王芳（T001） · 正在 B01 在岗" in page  # the choice says where she is
    resp = post_form(admin, "/admin/roster/A01/change", {"change-staff_id": str(wang.id)},
                     page="/admin/roster/A01")
    assert resp.status_code == 400
    assert "王芳（T001） 正在 B01 窗口在岗" in text(resp)

    li = Staff(staff_no="S002", name="李强", department_id=a01.department_id)
    db.session.add(li)
    db.session.commit()
    resp = post_form(admin, "/admin/roster/A01/change",
                     {"change-staff_id": str(li.id), "change-at": ""}, page="/admin/roster/A01")
    assert resp.status_code == 302
    db.session.expire_all()
    duties = db.session.scalars(sa.select(Duty).where(Duty.window_id == a01.id)
                                .order_by(Duty.started_at)).all()
    assert [d.staff.name for d in duties] == ["张丽", "李强"]
    assert duties[0].ended_at == duties[1].started_at and duties[1].ended_at is None
    assert audit_actions()[-2:] == ["duty.end", "duty.change"]

    # Ending the duty: not before it began (hall time on the form), then for real.
    resp = post_form(admin, "/admin/roster/A01/end", {"end-ended_at": "2020-01-01T08:00"},
                     page="/admin/roster/A01")
    assert resp.status_code == 400 and "结束时间不能早于开始时间" in text(resp)
    resp = post_form(admin, "/admin/roster/A01/end", {"end-ended_at": ""},
                     page="/admin/roster/A01")
    assert resp.status_code == 302
    page = text(admin.get("/admin/roster/A01"))
    assert "李强 已结束在岗" in page and "开始在岗" in page


def test_the_roster_offers_huangang_and_ending_as_two_actions(login, hall):
    head = login("department", "政务服务中心")
    overview = text(head.get("/admin/roster"))
    a01 = re.search(r"<b>A01</b>.*?</tr>", overview, re.S).group(0)
    assert '<a class="button small" href="/admin/roster/A01#change-title">换岗</a>' in a01
    assert '<a class="button small" href="/admin/roster/A01#end-title">结束在岗</a>' in a01
    assert "换岗 / 结束" not in overview


def test_the_huangang_list_leaves_out_the_clerk_on_duty_and_greys_out_the_busy(login, hall):
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    db.session.add(Staff(staff_no="S002", name="李强", department_id=a01.department_id))
    db.session.commit()
    page = text(login("admin").get("/admin/roster/A01"))
    change = re.search(r'<select[^>]*name="change-staff_id".*?</select>', page, re.S).group(0)
    assert "张丽" not in change  # she is the one being relieved
    assert re.search(r'<option value="\d+">李强（S002）</option>', change)
    assert re.search(r'<option disabled value="\d+">王芳（T001） · 正在 B01 在岗</option>', change)


def test_a_new_window_asks_for_its_department(login, hall):
    admin = login("admin")
    page = text(admin.get("/admin/manage/windows/new"))
    select = re.search(r'<select[^>]*name="department_id".*?</select>', page, re.S).group(0)
    assert re.match(r'<select[^>]*>\s*(<optgroup label="">)?<option selected value="">请选择部门</option>',
                    select), select
    resp = post_form(admin, "/admin/manage/windows/new", {"code": "C01", "name": "新窗口"})
    assert resp.status_code == 400 and "请选择部门" in text(resp)
    assert db.session.scalar(sa.select(Window).where(Window.code == "C01")) is None
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    assert "请选择部门" not in text(admin.get(f"/admin/manage/windows/{a01.id}"))


def test_messages_show_under_the_areas_tabs(login, hall):
    admin = login("admin")
    resp = post_form(admin, "/admin/manage/halls/new", {"name": "第二大厅", "address": ""})
    page = text(admin.get(resp.headers["Location"]))
    assert "大厅已保存" in page
    assert page.index('<nav class="subnav"') < page.index('<p class="flash') < page.index("<h1>")


def test_a_duty_started_at_a_hall_time_is_stored_in_utc(login, hall):
    admin = login("admin")
    a02 = Window(code="A02", name="二号窗口", hall_id=hall.id,
                 department_id=db.session.scalar(sa.select(Department.id)))
    li = Staff(staff_no="S002", name="李强")
    db.session.add_all([a02, li])
    db.session.commit()
    yesterday = (utcnow() + timedelta(hours=8) - timedelta(days=1)).date()
    resp = post_form(admin, "/admin/roster/A02/start",
                     {"start-staff_id": str(li.id), "start-started_at": f"{yesterday}T09:30"},
                     page="/admin/roster/A02")
    assert resp.status_code == 302
    duty = db.session.scalar(sa.select(Duty).where(Duty.window_id == a02.id))
    assert duty.started_at.strftime("%Y-%m-%d %H:%M") == f"{yesterday} 01:30"  # UTC+8
    assert f"{yesterday} 09:30" in text(admin.get("/admin/roster/A02"))


# ---- lists: search and paging ----

def test_lists_search_and_page(login, hall):
    admin = login("admin")
    dept = db.session.scalar(sa.select(Department).where(Department.name == "税务局"))
    db.session.add_all(Staff(staff_no=f"P{i:03d}", name=f"测试{i:03d}", department=dept)
                       for i in range(60))
    db.session.commit()
    first = text(admin.get("/admin/manage/staff"))
    assert first.count("<tr>") == 51  # the header and 50 clerks
    assert "第 1 / 2 页，共 62 条" in first and "下一页" in first
    second = text(admin.get("/admin/manage/staff?page=2"))
    assert second.count("<tr>") == 13 and "上一页" in second
    found = text(admin.get("/admin/manage/staff?q=测试05"))
    assert found.count("<tr>") == 11  # 测试050 … 测试059
    assert "测试051" in found and "张丽" not in found
    assert "没有找到含“无此人”的工作人员" in text(admin.get("/admin/manage/staff?q=无此人"))
    windows = text(admin.get("/admin/manage/windows?q=税务"))
    assert "B01" in windows and "A01" not in windows


# ---- every page, looked at in Chromium ----

def portrait() -> bytes:
    """A stand-in ID photo: a head and shoulders on a blue ground."""
    import io

    from PIL import Image, ImageDraw

    img = Image.new("RGB", (480, 600), (70, 130, 200))
    draw = ImageDraw.Draw(img)
    draw.ellipse((150, 110, 330, 320), fill=(240, 210, 180))
    draw.ellipse((70, 330, 410, 760), fill=(30, 40, 70))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


def test_every_management_page_in_chromium(browser, app, database_uri, tmp_path, hall):
    """Screenshots at 1440×900 into test-artifacts/admin/ for a person to look at."""
    from pathlib import Path

    from ..helpers import PASSWORD, make_user
    from ..liveserver import LiveServer

    shots = Path(__file__).resolve().parents[2] / "test-artifacts" / "admin"
    shots.mkdir(parents=True, exist_ok=True)
    dept = db.session.scalar(sa.select(Department).where(Department.name == "政务服务中心"))
    db.session.add_all([
        Staff(staff_no="S002", name="李强", department=dept, duties="社保、医保业务咨询与办理"),
        ServiceItem(code="330100-001", name="不动产登记（首次登记）", department=dept),
        ServiceItem(code="330100-002", name="个体工商户设立登记", department=dept, active=False)])
    db.session.commit()
    make_window("A02", name="社保医保窗口", staff_no=None)  # nobody on duty
    make_user("boss", "admin")
    make_user("head", "department", department="政务服务中心")
    srv = LiveServer(database_uri, tmp_path / "srv")
    zhang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))
    zhang.photo = staff_photos.store(staff_photos.reencode(portrait()),
                                     staff_photos.folder(str(tmp_path / "srv")))
    db.session.commit()
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    pages = {"manage": "/admin/manage", "halls": "/admin/manage/halls",
             "hall-edit": f"/admin/manage/halls/{hall.id}",
             "departments": "/admin/manage/departments", "windows": "/admin/manage/windows",
             "window-edit": f"/admin/manage/windows/{a01.id}",
             "staff": "/admin/manage/staff", "staff-edit": f"/admin/manage/staff/{zhang.id}",
             "staff-new": "/admin/manage/staff/new", "items": "/admin/manage/items",
             "item-new": "/admin/manage/items/new", "reasons": "/admin/manage/reasons",
             "reason-edit": "/admin/manage/reasons/attitude",
             "roster": "/admin/roster", "roster-window": "/admin/roster/A01",
             "roster-vacant": "/admin/roster/A02"}
    try:
        for user in ("boss", "head"):
            context = browser.new_context(viewport={"width": 1440, "height": 900},
                                          locale="zh-CN")
            page = context.new_page()
            errors = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.goto(srv.url + "/admin/login")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            for name, url in pages.items():
                resp = page.goto(srv.url + url)
                if user == "head" and resp.status == 403:
                    continue
                assert resp.status == 200, (user, url)
                assert page.evaluate("document.documentElement.scrollWidth") <= 1440, url
                page.screenshot(path=str(shots / f"{user}-{name}.png"), full_page=True)
            if user == "boss":
                page.goto(srv.url + "/admin/manage/windows/new")
                page.click("button.primary")  # an empty form: what is wrong, in Chinese
                assert page.locator(".field-error").count() >= 2
                page.screenshot(path=str(shots / "boss-window-new-errors.png"), full_page=True)
            assert not [e for e in errors if "Content Security Policy" in e], errors
            context.close()
    finally:
        srv.stop()


def test_an_unused_window_and_clerk_are_deleted_a_used_one_stays(login, hall):
    admin = login("admin")
    dept = db.session.scalar(sa.select(Department).where(Department.name == "税务局"))
    post_form(admin, "/admin/manage/windows/new",
              {"code": "C09", "name": "临时窗口", "department_id": str(dept.id), "active": "y"})
    c09 = db.session.scalar(sa.select(Window).where(Window.code == "C09"))
    assert c09.hall_id == dept.hall_id  # the hall comes with the department
    assert "删除窗口" in text(admin.get(f"/admin/manage/windows/{c09.id}"))
    post_form(admin, f"/admin/manage/windows/{c09.id}/delete", {},
              page=f"/admin/manage/windows/{c09.id}")
    db.session.expire_all()
    assert db.session.get(Window, c09.id) is None
    # A clerk with history: the delete is refused when posted, with the reason.
    zhang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))
    page = text(admin.get(f"/admin/manage/staff/{zhang.id}"))
    assert "已有在岗记录或评价的工作人员不能删除" in page
    resp = post_form(admin, f"/admin/manage/staff/{zhang.id}/delete", {},
                     page=f"/admin/manage/staff/{zhang.id}")
    assert resp.status_code == 302
    assert "该工作人员已有在岗记录或评价，不能删除，请改为停用" in text(
        admin.get(resp.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(Staff, zhang.id) is not None
    # Likewise a window with ratings, and a service item a rating refers to.
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    resp = post_form(admin, f"/admin/manage/windows/{a01.id}/delete", {},
                     page=f"/admin/manage/windows/{a01.id}")
    assert "该窗口已有评价、在岗记录或建议，不能删除" in text(admin.get(resp.headers["Location"]))
    assert audit_actions() == ["window.create", "window.delete"]


def test_a_service_item_a_rating_refers_to_is_not_deleted(login, hall):
    admin = login("admin")
    item = ServiceItem(code="330100-001", name="不动产登记")
    db.session.add(item)
    db.session.commit()
    a01 = db.session.scalar(sa.select(Window).where(Window.code == "A01"))
    db.session.add(Rating(client_id="rated-item-1", window_id=a01.id, score=4,
                          channel="kiosk", service_item_id=item.id, created_at=utcnow()))
    db.session.commit()
    assert "删除事项" in text(admin.get(f"/admin/manage/items/{item.id}"))
    resp = post_form(admin, f"/admin/manage/items/{item.id}/delete", {},
                     page=f"/admin/manage/items/{item.id}")
    assert "该事项已被评价引用，不能删除" in text(admin.get(resp.headers["Location"]))
    db.session.expire_all()
    assert db.session.get(ServiceItem, item.id) is not None


# ---- what a page view costs ----

class Statements:
    """The SQL statements run while it is active (a cursor event on the app's engine)."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def _count(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(statement)

    def __enter__(self):
        sa.event.listen(db.engine, "before_cursor_execute", self._count)
        return self

    def __exit__(self, *exc):
        sa.event.remove(db.engine, "before_cursor_execute", self._count)

    def reading_ratings(self) -> list[str]:
        return [s for s in self.seen if re.search(r"\bFROM rating\b", s)]


def test_edit_pages_and_the_reason_list_do_not_scan_the_ratings(app, login, hall):
    """Whether a record is in use is asked when it is deleted, not on every view:
    rating.reasons, staff_id and service_item_id have no index to answer it."""
    admin = login("admin")
    item = ServiceItem(code="330100-001", name="不动产登记")
    db.session.add(item)
    db.session.commit()
    app.extensions["kiosk.intake"].accept(rating_body(score=1, reasons=["attitude"]))
    zhang = db.session.scalar(sa.select(Staff).where(Staff.staff_no == "S001"))
    with Statements() as run:
        for url in ("/admin/manage/reasons", "/admin/manage/reasons/attitude",
                    "/admin/manage/reasons/waiting", f"/admin/manage/staff/{zhang.id}",
                    f"/admin/manage/items/{item.id}"):
            assert admin.get(url).status_code == 200, url
    assert run.seen and run.reading_ratings() == []


def test_the_window_list_and_roster_take_a_few_queries_however_many_windows(login, hall):
    """No query per window or per clerk (N+1): 30 windows in 30 departments, each
    with a clerk on duty, cost what 2 windows cost."""
    admin = login("admin")

    def cost(url: str) -> int:
        admin.get(url)  # warm: the session user, templates
        with Statements() as run:
            assert admin.get(url).status_code == 200
        return len(run.seen)

    few = {url: cost(url) for url in ("/admin/manage/windows", "/admin/roster")}
    for i in range(28):
        make_window(f"N{i:02d}", name=f"窗口{i}", dept=f"部门{i:02d}", staff_no=f"N{i:03d}",
                    staff_name=f"职员{i}")
    for url, n in few.items():
        page = text(admin.get(url))
        assert "职员27" in page and "部门27" in page  # all 30 on the one page
        assert cost(url) == n <= 12, (url, n, cost(url))


def test_a_new_item_is_typed_into_an_editable_code_field(login, hall):
    admin = login("admin")
    page = text(admin.get("/admin/manage/items/new"))
    assert "readonly" not in page.split('name="code"')[1].split(">")[0]
    resp = post_form(admin, "/admin/manage/items/new",
                     {"code": "330100-001", "name": "不动产登记", "department_id": "",
                      "active": "y"})
    assert resp.status_code == 302
    item = db.session.scalar(sa.select(ServiceItem))
    assert (item.code, item.department_id, item.active) == ("330100-001", None, True)
