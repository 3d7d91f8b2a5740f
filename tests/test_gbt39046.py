"""The national export (GB/T 39046-2020 rating records) against a hand-written file."""
from __future__ import annotations

import json
from pathlib import Path

from .helpers import make_window

EXPECTED = Path(__file__).parent / "data" / "gbt39046_expected.jsonl"

# Hall time (Asia/Shanghai). Covers every level and several channels, a ticket rated
# twice at one window on one day (评价次数 2), the same ticket at another window and on
# the next day (1 again), a misuse press (left out, and not counted as a 2nd rating),
# a case number, a landline, a blank comment, and the last second of a hall day.
RATINGS = """\
window,score,channel,ticket,phone,comment,created_at,counted,flags
A01,5,kiosk,A001,13812348000,,2026-03-02T09:00:05+08:00,true,
A02,4,kiosk,A001,,,2026-03-02T09:10:00+08:00,true,
A01,2,kiosk,A001,,等候时间太长,2026-03-02T09:20:30+08:00,true,
A01,5,kiosk,A001,,,2026-03-02T09:20:32+08:00,false,misuse
A01,1,qr,,02087654321,态度不好,2026-03-02T10:00:00+08:00,true,
A02,3,web,440304202603020001,,,2026-03-02T23:59:59+08:00,true,
A01,4,phone,A001,,,2026-03-03T00:00:00+08:00,true,
A01,5,sms,,,  ,2026-03-03T08:30:00+08:00,true,
"""


def seed(runner) -> None:
    make_window("A01", staff_no="S001")
    make_window("A02", staff_no="S002")
    result = runner.invoke(args=["import-ratings", "-"], input=RATINGS)
    assert result.exit_code == 0, result.output


def export(runner, *args):
    return runner.invoke(args=["export-ratings", "--format", "gbt39046", *args])


def test_export_matches_the_hand_written_file(app, runner):
    seed(runner)
    app.config["REGION_CODE"] = "440304"
    result = export(runner)
    assert result.exit_code == 0, result.output
    assert result.output == EXPECTED.read_text(encoding="utf-8")
    for line in result.output.splitlines():  # no whole number ever leaves the hall
        assert "13812348000" not in line and "02087654321" not in line


def test_export_range_is_hall_days(app, runner):
    seed(runner)
    app.config["REGION_CODE"] = "440304"
    result = export(runner, "--from", "2026-03-03", "--to", "2026-03-03")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == EXPECTED.read_text(encoding="utf-8").splitlines()[-2:]
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["评价时间"] for r in rows] == ["20260303T000000", "20260303T083000"]


def test_region_code_is_required_and_checked(app, runner):
    seed(runner)
    app.config["REGION_CODE"] = ""
    result = export(runner)
    assert result.exit_code == 1
    assert "REGION_CODE is not set" in result.output and "{" not in result.output
    app.config["REGION_CODE"] = "44030"
    result = export(runner)
    assert result.exit_code == 1 and "not a 行政区划代码" in result.output
    app.config["REGION_CODE"] = 440304  # KIOSK_REGION_CODE=440304: Flask parses it as JSON
    result = export(runner, "--from", "2026-03-03")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output.splitlines()[0])["行政区划"] == "440304"
    app.config["REGION_CODE"] = "440304001000"  # the 12-digit code is accepted
    result = export(runner)
    assert result.exit_code == 0
    assert {json.loads(line)["行政区划"] for line in result.output.splitlines()} == \
        {"440304001000"}


def test_whole_phones_are_refused(app, runner):
    seed(runner)
    app.config["REGION_CODE"] = "440304"
    result = export(runner, "--with-phone")
    assert result.exit_code == 1 and "always masks" in result.output


def test_other_formats_unchanged(app, runner):
    seed(runner)
    result = runner.invoke(args=["export-ratings", "--format", "jsonl"])
    assert result.exit_code == 0
    assert len(result.output.splitlines()) == 8  # every stored rating, misuse included
