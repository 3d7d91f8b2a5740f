"""The OpenAPI 3.1 document of the read API (GET /api/v1/openapi.json).

The field lists come from the modules that build the answers (readapi.FEED_COLUMNS,
league.FIELDS, calllist.FIELDS), so a field added there and not typed here fails
loudly (KeyError) instead of going undocumented; tests/test_readapi.py validates real
answers against this document with jsonschema.
"""
from __future__ import annotations

from functools import cache

from . import calllist, followups, league as leagues
from .readapi import FEED_COLUMNS
from .models import TOKEN_SCOPES
from .casestats import LEAGUE_FIELDS
from .scale import CHANNELS, SCORES

STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
NUM_OR_NULL = {"type": ["number", "null"]}
INT_OR_NULL = {"type": ["integer", "null"]}
STR_OR_NULL = {"type": ["string", "null"]}
DATE = {"type": "string", "format": "date"}
TIME = {"type": "string", "format": "date-time"}
TIME_OR_NULL = {"type": ["string", "null"], "format": "date-time"}
SCORE = {"type": "integer", "minimum": min(SCORES), "maximum": max(SCORES),
         "description": "5 非常满意 … 1 非常不满意"}

RATING_TYPES = {
    "id": INT, "client_id": STR, "window": STR, "score": SCORE,
    "channel": {"enum": list(CHANNELS)},
    "reasons": {**STR, "description": "reason codes joined by ';'"},
    "comment": STR_OR_NULL,
    "phone": {**STR_OR_NULL, "description": "masked, e.g. 138****8000"},
    "created_at": {**TIME, "description": "when the citizen tapped, hall time with offset"},
    "staff_no": STR_OR_NULL, "ticket": STR_OR_NULL, "counted": BOOL,
    "flags": {**STR, "description": "flag codes joined by ';' (appeal, misuse, ...)"},
    "evaluation_id": {**INT_OR_NULL, "description": "the service event (一次一评) the "
                      "rating answers; null for a rating nobody invited"},
}
LEAGUE_TYPES = {
    "rank": INT_OR_NULL, "rank_change": INT_OR_NULL, "mark": STR_OR_NULL,
    "window": STR, "name": STR, "department": STR, "hall": STR, "clerks": STR,
    "staff_no": STR, "staff": STR, "windows": STR, "ratings": INT, "bad": INT,
    **{f"level_{lv}": INT for lv in leagues.LEVELS},
    "satisfaction": NUM_OR_NULL, "good_rate": NUM_OR_NULL, "bad_rate": NUM_OR_NULL,
    "score": NUM_OR_NULL,
    "callback_rate": NUM_OR_NULL, "on_time_rate": NUM_OR_NULL, "overdue": INT,
}
CASE_FIGURES = {"cases": INT, "callback_cases": INT, "called_back": INT,
                "callback_rate": NUM_OR_NULL, "on_time_rate": NUM_OR_NULL, "overdue": INT}
CASE_TYPES = {
    "id": INT, "rating_id": INT, "window": STR, "window_name": STR, "department": STR,
    "score": SCORE, "kind": {"enum": list(followups.KIND_LABELS)},
    "phone": {**STR_OR_NULL, "description": "masked"},
    "status": {"enum": list(followups.STATUS_LABELS)}, "contact_due": DATE,
    "resolve_due": DATE, "overdue": BOOL, "rated_at": TIME, "clerk": STR_OR_NULL,
    "reasons": {"type": "array", "items": STR}, "comment": STR_OR_NULL,
    "assigned_to": STR_OR_NULL, "contacted_at": TIME_OR_NULL, "reached_at": TIME_OR_NULL,
    "outcome": STR_OR_NULL, "closed_at": TIME_OR_NULL,
}


def record(fields, types: dict) -> dict:
    """A closed object schema: exactly ``fields``, each typed from ``types``."""
    return {"type": "object", "additionalProperties": False, "required": list(fields),
            "properties": {f: types[f] for f in fields}}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def query(name: str, description: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or STR}


def answer(description: str, schema: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": ref(schema)}}}


ERRORS = {
    "400": answer("a parameter is not valid", "Error"),
    "401": answer("no token, or an unknown or revoked one", "Error"),
    "403": answer("the token's scope is not read", "Error"),
}


@cache
def document() -> dict:
    league_fields = leagues.FIELDS
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "政务服务好差评 read API",
            "version": "1",
            "description": (
                "Read-only calls for other systems (a provincial platform, a data "
                "office). Tokens: `kiosk create-token NAME --scope read`; send "
                "`Authorization: Bearer <token>`. Phone numbers are always masked."),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/ratings": {"get": {
                "operationId": "ratingsAfter",
                "summary": "Ratings stored after a cursor, oldest first",
                "description": (
                    "Start without `after`; then pass each answer's `next`. Every "
                    "stored rating is handed out exactly once, in the same order to "
                    "every reader, whichever server stored it and whenever it "
                    "committed. An empty page means nothing new yet: ask again later "
                    "with the same cursor. `counted` and `flags` are as at the time of "
                    "reading; later decisions (appeals) do not send a rating again."),
                "parameters": [
                    query("after", "the `next` of the previous page (empty: from the "
                          "first rating)", {"type": "string", "pattern": r"^\d+\.\d+$"}),
                    query("limit", "ratings per page (default 100)",
                          {"type": "integer", "minimum": 1, "maximum": 1000}),
                ],
                "responses": {"200": answer("a page of ratings", "RatingPage"), **ERRORS},
            }},
            "/league": {"get": {
                "operationId": "league",
                "summary": "The week's league table, as the back office shows it",
                "parameters": [
                    query("week", "ISO week, e.g. 2026-W48 (default: this week)"),
                    query("by", "window (default) or staff", {"enum": list(leagues.BY)}),
                    query("hall", "a hall id", INT),
                    query("department", "a department id", INT),
                ],
                "responses": {"200": answer("the league", "League"), **ERRORS},
            }},
            "/followups": {"get": {
                "operationId": "followups",
                "summary": "Follow-up cases (差评回访) in call order",
                "parameters": [
                    query("status", "active (default: not closed), open, in_progress, "
                          "closed or all", {"enum": list(calllist.STATUSES)}),
                    query("kind", "callback, verify or sample",
                          {"enum": list(followups.KIND_LABELS)}),
                    query("window", "a window code"),
                    query("overdue", "1: only overdue cases", {"enum": ["0", "1"]}),
                ],
                "responses": {"200": answer("the cases", "FollowupList"), **ERRORS},
            }},
            "/openapi.json": {"get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {"200": {"description": "the OpenAPI document",
                                      "content": {"application/json": {}}}},
            }},
        },
        "components": {
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": f"a token of scope read (scopes: {', '.join(TOKEN_SCOPES)})"}},
            "schemas": {
                "Error": record(("error",), {"error": STR}),
                "Rating": record(FEED_COLUMNS, RATING_TYPES),
                "RatingPage": record(("ratings", "next"), {
                    "ratings": {"type": "array", "items": ref("Rating")},
                    "next": {"type": "string", "pattern": r"^\d+\.\d+$",
                             "description": "the cursor to ask with next"}}),
                "LeagueWindowRow": record(
                    (*league_fields["window"], *LEAGUE_FIELDS), LEAGUE_TYPES),
                "LeagueStaffRow": record(
                    (*league_fields["staff"], *LEAGUE_FIELDS), LEAGUE_TYPES),
                "CaseFigures": record(tuple(CASE_FIGURES), CASE_FIGURES),
                "League": record(
                    ("week", "from", "to", "by", "mean_satisfaction", "prior", "rows",
                     "followups"),
                    {"week": {"type": "string", "pattern": r"^\d{4}-W\d{2}$"},
                     "from": DATE, "to": DATE, "by": {"enum": list(leagues.BY)},
                     "mean_satisfaction": NUM_OR_NULL, "prior": {"type": "number"},
                     "rows": {"type": "array", "items": {"oneOf": [
                         ref("LeagueWindowRow"), ref("LeagueStaffRow")]}},
                     "followups": ref("CaseFigures")}),
                "FollowupCase": record(calllist.FIELDS, CASE_TYPES),
                "FollowupList": record(("rows", "more"), {
                    "rows": {"type": "array", "items": ref("FollowupCase")},
                    "more": {**BOOL, "description": "true: more cases matched than the "
                                                    "1000 shown; narrow the filter"}}),
            },
        },
    }
