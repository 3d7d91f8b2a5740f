"""CSV for Excel: BOM, defused formulas, Chinese intact."""
from __future__ import annotations

import csv
import io

from kiosk.excel import excel_csv


def test_a_citizens_formula_is_defused_and_numbers_stay_numbers():
    text = excel_csv(["窗口", "意见", "分数"], [
        ["A01", "=HYPERLINK(\"http://x\")", -3],
        ["A02", "+1", 2.5],
        ["A03", "-2+3", None],
        ["A04", "@SUM(A1)", True],
        ["A05", "\tTAB", 0],
        ["A06", "\rCR", 1],
        ["A07", "服务很好=满意", 5],
    ])
    assert text.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(text[1:])))
    assert rows[0] == ["窗口", "意见", "分数"]
    assert [r[1] for r in rows[1:]] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)",
                                        "'\tTAB", "'\rCR", "服务很好=满意"]
    assert [r[2] for r in rows[1:]] == ["-3", "2.5", "", "true", "0", "1", "5"]


def test_chinese_round_trips_through_the_file_as_excel_reads_it():
    text = excel_csv(["名称"], [["不动产登记受理窗口"], ["马丽娟"]])
    data = text.encode("utf-8")
    assert data.startswith(b"\xef\xbb\xbf")
    back = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert back == [["名称"], ["不动产登记受理窗口"], ["马丽娟"]]
