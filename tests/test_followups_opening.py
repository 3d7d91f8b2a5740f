"""Cases open by themselves: through POST /api/ratings (the writer's transaction), and
through `kiosk import-ratings --open-cases` (and not without it); the sample is
reproducible and keeps its rate."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
import sqlalchemy as sa

from kiosk import caseopen, clock, workdays
from kiosk.db import db, utcnow
from kiosk.followups import is_overdue
from kiosk.imports import import_ratings
from kiosk.models import FollowupCase, Rating

from .helpers import make_window, rating_body

RATE = 0.05
PHONE = "13800138000"


@pytest.fixture
def window(app):
    return make_window()


def sampled_ids(n: int, want: bool, rate: float = RATE, prefix: str = "client") -> list[str]:
    """``n`` client ids that the sample takes in (``want``) or leaves out."""
    found, i = [], 0
    while len(found) < n:
        cid = f"{prefix}-{i:08d}"
        if (caseopen.case_kind(5, True, cid, 0, rate) == "sample") is want:
            found.append(cid)
        i += 1
    return found


def cases_by_client() -> dict[str, FollowupCase]:
    db.session.expire_all()
    return {client_id: case for client_id, case in db.session.execute(
        sa.select(Rating.client_id, FollowupCase).join(FollowupCase.rating))}


def test_each_kind_of_case_opens_with_its_rating(client, window, app):
    [in_sample], [out_of_sample] = sampled_ids(1, True), sampled_ids(1, False)
    bodies = {
        "bad_phone": rating_body(score=1, phone=PHONE, reasons=["attitude"]),
        "bad_quiet": rating_body(score=2),
        "good_sampled": rating_body(score=5, phone=PHONE, client_id=in_sample),
        "good_not_sampled": rating_body(score=4, phone=PHONE, client_id=out_of_sample),
        "middling": rating_body(score=3),
        "good_quiet": rating_body(score=5, client_id=sampled_ids(2, True)[1]),
    }
    for body in bodies.values():
        assert client.post("/api/ratings", json=body).status_code == 201
    # The same tap again (a kiosk retrying) opens nothing new.
    assert client.post("/api/ratings", json=bodies["bad_phone"]).status_code == 200
    cases = cases_by_client()
    kinds = {name: cases[b["client_id"]].kind for name, b in bodies.items()
             if b["client_id"] in cases}
    assert kinds == {"bad_phone": "callback", "bad_quiet": "verify",
                     "good_sampled": "sample"}
    deadlines = workdays.deadlines(app)
    for case in cases.values():
        assert (case.status, case.version, case.window_id) == ("open", 1, window.id)
        assert case.rated_at == case.rating.created_at
        assert (case.contact_due, case.resolve_due) == deadlines.due(case.rated_at)
        local = clock.to_local(case.rated_at, deadlines.tz).date()
        assert local < case.contact_due < case.resolve_due
        assert not is_overdue(case, local)


def import_csv(runner, tmp_path, rows: list[str], *flags: str) -> str:
    path = tmp_path / "history.csv"
    path.write_text("client_id,window,score,phone,created_at\n" + "\n".join(rows) + "\n",
                    encoding="utf-8")
    result = runner.invoke(args=["import-ratings", str(path), *flags])
    assert result.exit_code == 0, result.output
    return result.output


def history_rows() -> tuple[list[str], dict[str, str | None]]:
    when = (utcnow() - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    [yes], [no] = sampled_ids(1, True, prefix="imp"), sampled_ids(1, False, prefix="imp")
    rows = {"imp-bad-phone": (1, PHONE, "callback"), "imp-bad-quiet": (2, "", "verify"),
            yes: (5, PHONE, "sample"), no: (4, PHONE, None), "imp-middle": (3, "", None)}
    lines = [f"{cid},A01,{score},{phone},{when}" for cid, (score, phone, _) in rows.items()]
    return lines, {cid: kind for cid, (_, _, kind) in rows.items()}


def test_imported_history_opens_no_case_unless_asked(runner, window, tmp_path):
    lines, _ = history_rows()
    output = import_csv(runner, tmp_path, lines)
    assert "5 ratings imported" in output and "cases" not in output
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 5
    assert cases_by_client() == {}


def test_import_open_cases_opens_each_kind(runner, window, tmp_path, app):
    lines, kinds = history_rows()
    output = import_csv(runner, tmp_path, lines, "--open-cases")
    assert "3 follow-up cases opened" in output
    cases = cases_by_client()
    assert {cid: c.kind for cid, c in cases.items()} == {
        cid: kind for cid, kind in kinds.items() if kind}
    deadlines = workdays.deadlines(app)
    for case in cases.values():
        assert (case.contact_due, case.resolve_due) == deadlines.due(case.rated_at)
    # Importing the same file again opens no second case.
    again = import_csv(runner, tmp_path, lines, "--open-cases")
    assert "0 follow-up cases opened" in again
    assert len(cases_by_client()) == 3


def test_an_import_that_fails_opens_no_case(runner, window, tmp_path):
    lines, _ = history_rows()
    path = tmp_path / "bad.csv"
    path.write_text("client_id,window,score,phone,created_at\n" + "\n".join(lines)
                    + "\nimp-broken,Z99,1,,2026-01-01T00:00:00Z\n", encoding="utf-8")
    result = runner.invoke(args=["import-ratings", str(path), "--open-cases"])
    assert result.exit_code != 0 and "Z99" in result.output
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(FollowupCase)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Rating)) == 0


def test_the_sample_keeps_its_rate_and_decides_the_same_way_every_time(app, window):
    """10,000 good ratings with a number, imported with --open-cases: about 5 % become
    sample cases (binomial: within 4 standard deviations), exactly those case_kind
    picks, and the same ones again from a second database (the export's client ids)."""
    n = 10_000
    when = (utcnow() - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    ids = [f"tablet7-{i:06d}-{(i * 7919) % 10007:05d}" for i in range(n)]
    text = "client_id,window,score,phone,created_at\n" + "".join(
        f"{cid},A01,{4 + i % 2},{PHONE},{when}\n" for i, cid in enumerate(ids))
    result = import_ratings(io.StringIO(text), clock.zone(app.config["TIMEZONE"]),
                            open_cases=True)
    db.session.commit()
    assert (result.created, result.cases) == (n, db.session.scalar(
        sa.select(sa.func.count()).select_from(FollowupCase)))
    taken = set(db.session.scalars(sa.select(Rating.client_id).join(
        FollowupCase, FollowupCase.rating_id == Rating.id).where(FollowupCase.kind == "sample")))
    sd = (n * RATE * (1 - RATE)) ** 0.5
    assert abs(len(taken) - n * RATE) < 4 * sd, len(taken)
    assert taken == {cid for cid in ids if caseopen.case_kind(5, True, cid, 0, RATE)}
    # Reproducible: the decision depends on the client id alone, not on the score
    # (4 or 5), the row id, the process or the moment.
    assert all(caseopen.case_kind(4, True, cid, 99, RATE) == "sample" for cid in taken)
    # A rate of 0 samples nothing; a rate of 1 everything; no number, nothing.
    assert not any(caseopen.case_kind(5, True, cid, 0, 0.0) for cid in ids[:500])
    assert all(caseopen.case_kind(5, True, cid, 0, 1.0) for cid in ids[:500])
    assert not any(caseopen.case_kind(5, False, cid, 0, 1.0) for cid in ids[:500])
    # Without a client id the rating id decides, just as reproducibly.
    by_id = [caseopen.case_kind(5, True, None, i, RATE) for i in range(n)]
    assert by_id == [caseopen.case_kind(5, True, None, i, RATE) for i in range(n)]
    assert abs(by_id.count("sample") - n * RATE) < 4 * sd
