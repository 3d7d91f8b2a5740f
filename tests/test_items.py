"""事项公示: service items' time limits and documents, ``kiosk import-items``, the
items on the kiosk's 挂牌 card and on the hall board."""
from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from kiosk import items
from kiosk.db import db
from kiosk.models import ServiceItem, Window, WindowServiceItem

from .helpers import make_window, pair_browser, pair_device
from .liveserver import LiveServer

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

GOOD = """\ufeffcode,name,department,time_limit_days,documents,windows
QH-B-001,企业设立登记,市场监管,3,营业执照申请书;法定代表人身份证;公司章程,B01
QH-B-002,个体工商户注册登记,市场监管,即办,经营者身份证；经营场所证明,B01
QH-D-001,不动产转移登记,不动产,5,不动产登记申请书;不动产权证书,D01 D02
QH-D-002,不动产查询,不动产,0,,
"""


@pytest.fixture
def hall(app):
    make_window("B01", name="企业开办窗口", dept="市场监管", staff_no="S001", staff_name="李娜")
    make_window("B02", name="食品经营许可窗口", dept="市场监管", staff_no="S002",
                staff_name="王强")
    make_window("D01", name="不动产登记受理窗口", dept="不动产", staff_no="S003",
                staff_name="黄磊")
    make_window("D02", name="缴费领证窗口", dept="不动产", staff_no=None)
    return app


def write(tmp_path: Path, text: str, name: str = "items.csv") -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def stored() -> dict[str, tuple]:
    """Every item as (name, time limit, documents, window codes)."""
    links = {}
    for code, window in db.session.execute(
            sa.select(ServiceItem.code, Window.code)
            .join(WindowServiceItem, WindowServiceItem.service_item_id == ServiceItem.id)
            .join(Window, Window.id == WindowServiceItem.window_id)):
        links.setdefault(code, []).append(window)
    return {item.code: (item.name, item.time_limit_days, items.split_documents(item.documents),
                        sorted(links.get(item.code, [])))
            for item in db.session.scalars(sa.select(ServiceItem))}


def test_import_items_loads_time_limits_documents_and_windows(hall, runner, tmp_path):
    result = runner.invoke(args=["import-items", write(tmp_path, GOOD)])
    assert result.exit_code == 0, result.output
    assert "4 items created, 0 updated" in result.output
    db.session.expire_all()
    assert stored() == {
        "QH-B-001": ("企业设立登记", 3, ["营业执照申请书", "法定代表人身份证", "公司章程"], ["B01"]),
        "QH-B-002": ("个体工商户注册登记", 0, ["经营者身份证", "经营场所证明"], ["B01"]),
        "QH-D-001": ("不动产转移登记", 5, ["不动产登记申请书", "不动产权证书"], ["D01", "D02"]),
        "QH-D-002": ("不动产查询", 0, [], []),
    }
    # Again, changed: upsert by code; a file without a windows column keeps the links.
    again = ("code,name,department,time_limit_days,documents\n"
             "QH-B-001,企业设立登记（含名称自主申报）,市场监管,2,申请书\n")
    result = runner.invoke(args=["import-items", write(tmp_path, again, "again.csv")])
    assert result.exit_code == 0, result.output
    assert "0 items created, 1 updated" in result.output
    db.session.expire_all()
    assert stored()["QH-B-001"] == ("企业设立登记（含名称自主申报）", 2, ["申请书"], ["B01"])
    assert len(stored()) == 4


def test_a_bad_file_stores_nothing_and_names_every_bad_line(hall, runner, tmp_path):
    assert runner.invoke(args=["import-items", write(tmp_path, GOOD)]).exit_code == 0
    before = stored()
    bad = ("code,name,department,time_limit_days,documents,windows\n"
           "QH-B-001,企业设立登记（改）,市场监管,4,申请书,B01\n"   # fine, but not stored
           "QH-X-001,新事项,市场监管,五天,,\n"                    # line 3: time limit
           "QH-X-001,重复的事项,市场监管,1,,\n"                   # line 4: duplicate code
           "QH-X-002,不存在部门的事项,民政,1,,\n"                 # line 5: department
           "QH-X-003,不存在窗口的事项,市场监管,1,,Z99\n"          # line 6: window
           ",没有编码,市场监管,1,,\n"                            # line 7: code
           "QH-X-004,列数不对,市场监管\n")                        # line 8: width
    result = runner.invoke(args=["import-items", write(tmp_path, bad, "bad.csv")])
    assert result.exit_code == 1
    out = result.output
    assert "nothing imported" in out
    assert "第 3 行" in out and "办理时限应为" in out and "'五天'" in out
    assert "第 4 行" in out and "与第 3 行重复" in out
    assert "第 5 行" in out and "没有名为“民政”的部门" in out
    assert "第 6 行" in out and "没有窗口 Z99" in out
    assert "第 7 行" in out and "事项编码" in out
    assert "第 8 行" in out and "列数与表头不一致" in out
    assert "第 2 行" not in out
    db.session.expire_all()
    assert stored() == before  # nothing half-stored: line 2's change was not kept


def test_a_file_without_the_required_columns_is_refused(hall, runner, tmp_path):
    result = runner.invoke(args=["import-items", write(tmp_path, "code,name\nX1,事项\n")])
    assert result.exit_code == 1
    assert "department" in result.output and "time_limit_days" in result.output
    assert runner.invoke(args=["import-items", str(tmp_path / "missing.csv")]).exit_code == 1
    assert db.session.scalar(sa.select(sa.func.count(ServiceItem.id))) == 0


def test_the_card_lists_the_items_its_window_handles(hall, runner, client, tmp_path):
    assert runner.invoke(args=["import-items", write(tmp_path, GOOD)]).exit_code == 0
    card = client.get("/api/windows/D01/card").get_json()
    assert [(i["name"], i["time_limit"]) for i in card["items"]] == [("不动产转移登记", "5个工作日")]
    assert card["items"][0]["documents"] == ["不动产登记申请书", "不动产权证书"]
    # B02 has no linked items: its department's items are the ones it handles.
    b02 = client.get("/api/windows/B02/card").get_json()
    assert [i["code"] for i in b02["items"]] == ["QH-B-001", "QH-B-002"]
    pair_device("B01", client=client)
    page = client.get("/k/B01").get_data(as_text=True)
    assert "本窗口办理事项" in page and "企业设立登记" in page and "个体工商户注册登记" in page
    assert "不动产转移登记" not in page
    # the card's version changes with its items, so an idle kiosk redraws it
    before = client.get("/api/windows/B01/card").get_json()["version"]
    item = db.session.scalar(sa.select(ServiceItem).where(ServiceItem.code == "QH-B-002"))
    item.active = False
    db.session.commit()
    after = client.get("/api/windows/B01/card").get_json()
    assert after["version"] != before and [i["code"] for i in after["items"]] == ["QH-B-001"]


def test_the_board_json_carries_the_halls_items_with_their_windows(hall, runner, client,
                                                                   tmp_path):
    assert runner.invoke(args=["import-items", write(tmp_path, GOOD)]).exit_code == 0
    data = client.get("/board.json").get_json()
    by_code = {i["code"]: i for i in data["items"]}
    assert by_code["QH-D-001"]["windows"] == ["D01", "D02"]
    assert by_code["QH-B-002"]["time_limit"] == "即办"
    # QH-D-002 is linked to no window: D01 and D02 have links, so nobody shows it
    assert "QH-D-002" not in by_code


def test_an_admin_edits_an_items_time_limit_documents_and_windows(hall, runner, login,
                                                                   tmp_path):
    from .helpers import csrf_token

    assert runner.invoke(args=["import-items", write(tmp_path, GOOD)]).exit_code == 0
    item = db.session.scalar(sa.select(ServiceItem).where(ServiceItem.code == "QH-D-001"))
    client = login("admin")
    url = f"/admin/manage/items/{item.id}"
    page = client.get(url).get_data(as_text=True)
    assert 'value="D01 D02"' in page and "不动产登记申请书" in page
    form = {"csrf_token": csrf_token(page), "code": "QH-D-001", "name": "不动产转移登记",
            "department_id": str(item.department_id), "active": "y",
            "time_limit_days": "7", "documents": "申请书\n身份证明\n", "windows": "Z99 D01"}
    refused = client.post(url, data=form)
    assert refused.status_code == 400 and "没有窗口 Z99" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert stored()["QH-D-001"][1:] == (5, ["不动产登记申请书", "不动产权证书"], ["D01", "D02"])
    saved = client.post(url, data={**form, "windows": "D01"})
    assert saved.status_code == 302
    db.session.expire_all()
    assert stored()["QH-D-001"][1:] == (7, ["申请书", "身份证明"], ["D01"])
    listing = client.get("/admin/manage/items").get_data(as_text=True)
    assert "7个工作日" in listing and "即办" in listing


# -- in real Chromium ------------------------------------------------------------------

def test_kiosk_card_and_board_in_chromium(hall, runner, database_uri, tmp_path, browser):
    assert runner.invoke(args=["import-items", write(tmp_path, GOOD)]).exit_code == 0
    srv = LiveServer(database_uri, tmp_path / "srv")
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="zh-CN")
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        pair_browser(context, srv.url, "B01")
        page = context.new_page()
        page.goto(srv.url + "/k/B01")
        rows = page.locator("aside.card .items li")
        assert rows.count() == 2
        assert rows.nth(0).inner_text() == "企业设立登记 3 个工作日"
        assert rows.nth(1).inner_text() == "个体工商户注册登记 即办"
        box = page.locator("aside.card .items").bounding_box()
        assert box["y"] + box["height"] <= 800  # on the screen, not below it
        page.screenshot(path=str(ARTIFACTS / "kiosk-card-items.png"))
        page.click("#lang")
        assert rows.nth(0).inner_text() == "企业设立登记 3 working days"

        board = context.new_page()
        board.set_viewport_size({"width": 1920, "height": 1080})
        board.clock.install()
        board.goto(srv.url + "/board")
        assert board.locator("section.leaders").is_visible()
        assert board.locator("#items").is_hidden()
        board.clock.run_for(21_000)  # the leaders' turn is over: the first page of items
        assert board.locator("#items").is_visible() and board.locator("section.leaders").is_hidden()
        cards = board.locator("#item-cards .item-card")
        assert cards.count() == 3
        assert "办理时限：5个工作日" in cards.nth(2).inner_text()
        assert "办理窗口：D01、D02" in cards.nth(2).inner_text()
        board.screenshot(path=str(ARTIFACTS / "board-items.png"))
        board.clock.run_for(10_000)  # one page only: back to the leaders
        assert board.locator("section.leaders").is_visible()
    finally:
        context.close()
        srv.stop()
