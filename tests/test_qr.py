"""QR codes per window, the A4 poster PDF and ``kiosk qr``."""
from __future__ import annotations

import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import pytest
from PIL import Image

from kiosk import qr
from kiosk.db import db

from .helpers import make_window

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts" / "qr"
WINDOWS = [
    qr.PosterWindow("A01", "综合受理窗口（一）", "县政务服务中心", "清河县政务服务中心"),
    qr.PosterWindow("D01", "不动产登记受理窗口", "县不动产登记中心", "清河县政务服务中心"),
    qr.PosterWindow("E09", "国家税务总局清河县税务局社会保险费和非税收入综合服务窗口",
                    "国家税务总局清河县税务局", "清河县政务服务中心"),
]


def test_base_url_prefers_the_configured_one_without_trailing_slash():
    base = qr.qr_base("https://pj.example.gov.cn/", "http://localhost:8000")
    assert (base.url, base.configured, base.warning) == ("https://pj.example.gov.cn",
                                                         True, None)
    assert qr.window_url(base.url, "A01") == "https://pj.example.gov.cn/q/A01"


def test_without_public_base_url_the_fallback_comes_with_a_warning():
    base = qr.qr_base(None, "http://127.0.0.1:8000/")
    assert base.url == "http://127.0.0.1:8000" and not base.configured
    assert "PUBLIC_BASE_URL" in base.warning and "http://127.0.0.1:8000" in base.warning
    assert "本机以外的手机" in base.warning and "cannot open" in base.warning


def test_a_window_code_is_escaped_in_its_url():
    assert qr.window_url("https://x.cn", "窗口 1/2") == \
        "https://x.cn/q/%E7%AA%97%E5%8F%A3%201%2F2"


def test_png_carries_the_window_url():
    url = "https://pj.example.gov.cn/q/A01"
    image = Image.open(io.BytesIO(qr.qr_png(url, box_size=10))).convert("L")
    matrix = qr.qr_matrix(url)
    assert image.size == (10 * len(matrix), 10 * len(matrix))
    drawn = [[image.getpixel((10 * x + 5, 10 * y + 5)) < 128 for x in range(len(row))]
             for y, row in enumerate(matrix)]
    assert drawn == matrix
    assert matrix != qr.qr_matrix("https://pj.example.gov.cn/q/A02")
    if shutil.which("zbarimg"):  # a real decoder, where the machine has one
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "A01.png").write_bytes(qr.qr_png(url))
        out = subprocess.run(["zbarimg", "-q", "--raw", str(ARTIFACTS / "A01.png")],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == url


def test_svg_is_xml_drawing_the_same_modules():
    url = "https://pj.example.gov.cn/q/A01"
    root = ET.fromstring(qr.qr_svg(url))
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    matrix = qr.qr_matrix(url)
    assert root.get("viewBox") == f"0 0 {len(matrix)} {len(matrix)}"
    path = root.find("{http://www.w3.org/2000/svg}path").get("d")
    drawn = {(int(x), int(y)) for x, y in re.findall(r"M(\d+),(\d+)", path)}
    assert drawn == {(x, y) for y, row in enumerate(matrix) for x, dark in enumerate(row)
                     if dark}


def _pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page(?![a-zA-Z])", pdf))


def _unicode_text(pdf: bytes) -> str:
    """Every character the PDF's fonts map back to Unicode (its ToUnicode CMaps)."""
    chars = []
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            text = zlib.decompress(stream)
        except zlib.error:
            continue
        if b"begincmap" in text:
            for body in re.findall(rb"beginbf(?:char|range)(.*?)endbf", text, re.S):
                chars += [chr(int(h, 16)) for h in re.findall(rb"\[?<([0-9a-f]{4})>",
                                                                body)]
    return "".join(chars)


def _pdftotext(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "posters.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True,
                         text=True, check=True).stdout
    return [re.sub(r"\s+", "", page) for page in out.split("\f")]


def test_posters_one_a4_page_a_window_with_real_chinese_text(tmp_path):
    pdf = qr.posters_pdf(WINDOWS, "https://pj.example.gov.cn")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "posters.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF") and _pages(pdf) == len(WINDOWS)
    assert re.search(rb"/MediaBox\s*\[\s*0 0 595\.4\d* 841\.6\d*\s*\]", pdf)
    assert b"/Type3" not in pdf and b"/CIDFontType2" in pdf  # TrueType, not pictures
    mapped = set(_unicode_text(pdf))
    for w in WINDOWS:
        assert set(w.name + w.department + w.hall + w.code) <= mapped
    assert set(qr.INSTRUCTION_ZH) <= mapped
    if shutil.which("pdftotext"):
        pages = _pdftotext(pdf, tmp_path)
        for window, page in zip(WINDOWS, pages):
            assert window.name in page and f"窗口编号{window.code}" in page
            assert window.department in page and window.hall in page
            assert "请用手机扫描二维码，对本窗口服务作出评价" in page
            assert f"https://pj.example.gov.cn/q/{window.code}" in page
            assert "样张" not in page


def test_a_draft_poster_says_it_cannot_be_scanned_elsewhere(tmp_path):
    pdf = qr.posters_pdf(WINDOWS[:1], "http://localhost:8000", draft=True)
    assert _pages(pdf) == 1
    assert set("样张未设置") <= set(_unicode_text(pdf))
    if shutil.which("pdftotext"):
        assert "样张：未设置PUBLIC_BASE_URL" in _pdftotext(pdf, tmp_path)[0]


def test_cli_writes_codes_and_posters_and_warns_without_public_base_url(app, runner,
                                                                        tmp_path):
    make_window("A01", "综合受理窗口（一）")
    make_window("B02", "食品经营许可窗口", dept="县市场监督管理局", staff_no="S002")
    closed = make_window("Z09", "已撤销窗口", staff_no=None)
    closed.active = False
    db.session.commit()

    result = runner.invoke(args=["qr", "--out", str(tmp_path / "codes")])
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "codes").iterdir())
    assert names == ["A01.png", "A01.svg", "B02.png", "B02.svg", "posters.pdf"]
    assert all(f"wrote {tmp_path / 'codes' / n}" in result.stdout for n in names)
    assert "PUBLIC_BASE_URL is not set" in result.stderr
    assert "http://localhost:8000" in result.stderr
    pdf = (tmp_path / "codes" / "posters.pdf").read_bytes()
    assert _pages(pdf) == 2
    svg = (tmp_path / "codes" / "A01.svg").read_bytes()
    assert svg == qr.qr_svg("http://localhost:8000/q/A01")


def test_cli_uses_public_base_url_and_stays_quiet(app, runner, tmp_path):
    make_window("A01")
    app.config["PUBLIC_BASE_URL"] = "https://pj.qinghe.gov.cn/"
    result = runner.invoke(args=["qr", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    png = (tmp_path / "A01.png").read_bytes()
    assert png == qr.qr_png("https://pj.qinghe.gov.cn/q/A01")


def test_cli_refuses_when_there_is_no_window(app, runner, tmp_path):
    result = runner.invoke(args=["qr", "--out", str(tmp_path / "codes")])
    assert result.exit_code != 0
    assert "no active windows" in result.output
    assert not (tmp_path / "codes").exists()


@pytest.mark.parametrize("code,stem", [("A01", "A01"), ("../x", "_x"), ("窗口/1", "窗口_1")])
def test_file_names_stay_inside_the_folder(code, stem):
    assert qr.file_stem(code) == stem
