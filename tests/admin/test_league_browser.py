"""The weekly league in real Chromium: sign in, change week, download the CSV."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from kiosk import clock

from ..helpers import PASSWORD, make_user, make_window
from ..liveserver import LiveServer

TZ = clock.zone("Asia/Shanghai")
SHOTS = Path(__file__).resolve().parent.parent.parent / "test-artifacts" / "admin"
DESKTOP = {"width": 1440, "height": 900}
WINDOWS = [("A01", "综合受理窗口", "政务服务中心", "张丽"), ("A02", "企业开办窗口", "市场监管", "王强"),
           ("A03", "不动产登记窗口", "自然资源", "李娜"), ("A04", "社保经办窗口", "人社", "赵敏"),
           ("A05", "医保窗口", "医保", "陈晨"), ("A06", "公积金窗口", "公积金", "刘洋"),
           ("A07", "税务窗口", "税务", "周杰"), ("A08", "出入境窗口", "公安", "吴芳")]


def rate(app, code: str, score: int, local: datetime) -> None:
    tapped = clock.to_utc(local, TZ)
    app.extensions["kiosk.intake"].accept(
        {"window": code, "score": score, "channel": "qr", "client_id": uuid.uuid4().hex,
         "created_at": tapped.isoformat() + "Z"}, now=tapped + timedelta(minutes=1))


@pytest.fixture
def server(app, database_uri, tmp_path):
    for i, (code, name, dept, clerk) in enumerate(WINDOWS):
        make_window(code, name=name, dept=dept, staff_no=f"S00{i}", staff_name=clerk,
                    on_duty_since=datetime(2025, 1, 1))
    make_user("zhuren", "supervisor")
    for i, (code, *_) in enumerate(WINDOWS[:7]):  # A08 has no ratings: unranked
        for j in range(3 + 2 * i):
            rate(app, code, 5 - (i + j) % 5 if i < 5 else 2 + j % 4,
                 datetime(2026, 11, 2 + j % 5, 9 + j % 8, 10))          # 2026-W45
            rate(app, code, 5 - (j % (i + 1)) % 4, datetime(2026, 10, 27, 10, j))  # W44
    srv = LiveServer(database_uri, tmp_path / "srv")
    yield srv
    srv.stop()


def test_sign_in_read_the_league_change_week_and_download_the_csv(browser, server):
    shots = SHOTS
    shots.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport=DESKTOP, locale="zh-CN", accept_downloads=True)
    page = context.new_page()
    page.goto(server.url + "/admin/league?week=2026-W45")
    assert "/admin/login" in page.url
    page.fill("input[name=username]", "zhuren")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/league?week=2026-W45")
    assert "2026年第45周" in page.locator("h1").inner_text()
    rows = page.locator("table.league-table tbody tr")
    assert rows.count() == 8
    assert rows.nth(0).locator("td.rank").inner_text() == "1"
    assert rows.nth(7).locator("td.rank").inner_text() == "—"  # A08: no ratings
    assert page.locator(".badge.flag").count() == 1  # 7 ranked: one 红旗窗口
    assert page.locator(".badge.red").count() == 1   # and one 后进窗口
    for img in page.locator("img.chart").all():     # every chart loaded and drawn
        assert img.evaluate("i => i.complete && i.naturalWidth > 0"), img.get_attribute("src")
    page.screenshot(path=str(shots / "league.png"), full_page=True)

    page.click("a[rel=prev]")
    page.wait_for_url("**/admin/league?week=2026-W44")
    assert "2026年第44周" in page.locator("h1").inner_text()
    page.select_option("select[name=window]", "A03")  # the trend chart follows a window
    page.wait_for_url("**window=A03**")
    assert "window=A03" in page.locator("img.chart.trend").get_attribute("src")
    page.screenshot(path=str(shots / "league-previous-week.png"), full_page=True)
    page.emulate_media(media="print")  # the A4 print layout: no chrome, no controls
    assert not page.locator(".toolbar").first.is_visible()
    assert not page.locator(".topbar").is_visible()
    page.screenshot(path=str(shots / "league-print.png"), full_page=True)
    page.emulate_media(media="screen")

    with page.expect_download() as info:
        page.click("text=导出 CSV")
    download = info.value
    assert download.suggested_filename == "league-2026-W44.csv"
    data = Path(download.path()).read_bytes()
    assert data.startswith("\ufeff".encode())
    text = data.decode("utf-8-sig")
    assert text.splitlines()[0].startswith("rank,rank_change,mark,window,name,department")
    assert "综合受理窗口" in text and "张丽" in text

    page.select_option("select[name=department]", label="税务")  # filters submit themselves
    page.wait_for_url("**department=**")
    assert page.locator("table.league-table tbody tr").count() == 1
    assert "税务" in page.locator("h1").inner_text()

    page.goto(server.url + "/admin/assessment?quarter=2026-Q4&by=staff")
    assert "工作人员季度考核" in page.locator("h1").inner_text()
    assert page.locator("table.league-table tbody tr").count() == 8
    page.screenshot(path=str(shots / "assessment-quarter-staff.png"), full_page=True)
    context.close()
