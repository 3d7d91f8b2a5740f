"""QR codes and posters from the window's admin page."""
from __future__ import annotations

from kiosk import qr

from ..helpers import make_window


def test_a_windows_qr_code_points_at_the_public_address(app, login):
    app.config["PUBLIC_BASE_URL"] = "https://pj.example.gov.cn/"
    make_window("A01")
    client = login("supervisor")
    png = client.get("/admin/windows/A01/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data == qr.qr_png("https://pj.example.gov.cn/q/A01")
    svg = client.get("/admin/windows/A01/qr.svg")
    assert svg.data == qr.qr_svg("https://pj.example.gov.cn/q/A01")
    assert "X-Kiosk-Warning" not in png.headers


def test_without_public_base_url_the_page_warns_and_codes_point_at_this_server(app, login):
    app.config["PUBLIC_BASE_URL"] = None
    window = make_window("A01")
    client = login("admin")
    page = client.get(f"/admin/manage/windows/{window.id}").get_data(as_text=True)
    assert "/admin/windows/A01/qr.png" in page
    assert "未设置 PUBLIC_BASE_URL" in page
    png = client.get("/admin/windows/A01/qr.png")
    assert png.data == qr.qr_png("http://localhost/q/A01")
    assert png.headers["X-Kiosk-Warning"]


def test_posters_come_as_one_pdf_page_per_window(app, login):
    make_window("A01")
    make_window("A02", name="企业开办窗口", staff_no="S002")
    client = login("supervisor")
    pdf = client.get("/admin/qr/posters.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.count(b"/Type /Page") - pdf.data.count(b"/Type /Pages") == 2
    one = client.get("/admin/windows/A02/poster.pdf")
    assert one.data.count(b"/Type /Page") - one.data.count(b"/Type /Pages") == 1


def test_callers_and_unknown_windows_get_no_codes(app, login):
    make_window("A01")
    assert login("caller").get("/admin/windows/A01/qr.png").status_code == 403
    assert login("admin").get("/admin/windows/NOPE/qr.png").status_code == 404


def test_the_window_list_warns_beside_the_posters_when_public_base_url_is_unset(app, login):
    make_window("A01")
    client = login("supervisor")
    app.config["PUBLIC_BASE_URL"] = None
    page = client.get("/admin/manage/windows").get_data(as_text=True)
    posters = page.index("下载全部窗口评价海报")
    warning = page.index('<p class="error qr-warning no-print" role="alert">未设置 PUBLIC_BASE_URL')
    assert 0 < warning - posters < 400  # right under the button, in Chinese only
    assert "PUBLIC_BASE_URL is not set" not in page
    app.config["PUBLIC_BASE_URL"] = "https://pj.example.gov.cn/"
    assert "未设置 PUBLIC_BASE_URL" not in client.get("/admin/manage/windows").get_data(as_text=True)
