"""Supervision online through the HTTP API: the alerts a supervisor works with, the supervisor
who writes only supervision acts, and refused requests under a limit, audited in aggregate.

Sources (RULES.md): S4 (seeds 000–002, 电子监察: an overdue step raises an alert that a
supervisor acknowledges), T12 (A4(g): every denied attempt is in the audit log), DESIGN
"supervisor: read everything … write anything — no" (issue 14 items 2, 8, 9).
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import user_headers
from trading.config import Config
from trading.context import Role
from trading.supervision import raise_alert
from web import keys
from web.abuse import ABUSE, AGGREGATE_ACTION
from web.app import make_app

SUPERVISION_ACTS: frozenset[tuple[str, str]] = frozenset({
    # the supervisor's acts on an alert (web.supervision)
    ("POST", "/supervision/alerts/{alert_id}/acknowledge"),
    ("POST", "/supervision/alerts/{alert_id}/notes"),
    ("POST", "/supervision/alerts/{alert_id}/escalate"),
    ("POST", "/supervision/alerts/{alert_id}/close"),
    # a complaint (W12): accept (and suspend the award), refuse, decide
    ("POST", "/tenders/{tender_id}/award/complaints/{complaint_id}/accept"),
    ("POST", "/tenders/{tender_id}/award/complaints/{complaint_id}/refuse"),
    ("POST", "/tenders/{tender_id}/award/complaints/{complaint_id}/decide"),
    # the bad-behaviour register's second pair of eyes (S1, S2)
    ("POST", "/register/findings/{finding_id}/approval"),
    ("POST", "/register/findings/{finding_id}/revocation/approval"),
    # the supervisor's own session
    ("DELETE", "/sessions/current"),
})
"""Every writing endpoint a supervisor may call. A new one fails the test until it is listed
here — on purpose: a supervisor writes nothing but supervision acts."""

PUBLIC_WRITES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/sessions"),  # log in: the password is the credential
    ("POST", "/bank/notifications"),  # the bank's Ed25519 signature is the credential
    ("POST", "/bank/payout-results"),
    ("POST", "/summons/{token}/confirm"),  # the summons' one-time token is the credential
    ("POST", "/summons/{token}/decline"),
})
"""Writing endpoints without a role (anyone, a supervisor too, with their own credential)."""


def _writes(app: Any) -> list[Any]:
    return [ep for ep in app[keys.API].endpoints if ep.method not in ("GET", "HEAD") and not ep.websocket]


def _admits_supervisor(ep: Any) -> bool:
    return ep.roles is None or Role.SUPERVISOR in ep.roles or not ep.write


def test_every_write_a_supervisor_may_call_is_a_supervision_act() -> None:
    """Issue 14 item 9: enumerate the route table; every writing endpoint that admits the
    supervisor is a listed supervision act (or a public write with its own credential)."""
    app = make_app(Config())
    admitted = {(ep.method, ep.path) for ep in _writes(app) if _admits_supervisor(ep) and ep.roles is not None}
    public = {(ep.method, ep.path) for ep in _writes(app) if ep.roles is None}
    assert admitted - SUPERVISION_ACTS == set(), "a supervisor may write here: list it or refuse it"
    assert public - PUBLIC_WRITES == set(), "a public write: list it with its credential"
    assert ("POST", "/audit/checkpoints") not in admitted


def _fill(path: str) -> str:
    return re.sub(r"{[^}]+}", "1", path)


async def test_a_supervisor_is_refused_every_other_write_and_each_refusal_is_audited(make_client) -> None:
    """Issue 14 item 9, T12: a supervisor's POST /audit/checkpoints (and every other write
    that is not a supervision act) is 403 role_forbidden, nothing written, each refusal in the
    audit log — the first ones one by one, the rest in the minute's summary."""
    client: TestClient = await make_client(extra={"abuse.credential_burst": "10000", "abuse.address_burst": "10000"})
    app = client.server.app
    _, headers = await user_headers(client, Role.SUPERVISOR)
    async with app[keys.POOL].acquire() as conn:
        checkpoints = await conn.fetchval("SELECT count(*) FROM audit_checkpoints")
    r = await client.post("/api/v1/audit/checkpoints", headers=headers)
    assert r.status == 403 and (await r.json())["code"] == "role_forbidden"
    async with app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_checkpoints") == checkpoints
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND action = 'denied POST /api/v1/audit/checkpoints'"
        ) == 1
    refused = 1
    for ep in _writes(app):
        if _admits_supervisor(ep):
            continue
        r = await client.request(ep.method, "/api/v1" + _fill(ep.path), headers=headers, json={})
        assert r.status == 403, (ep.method, ep.path, r.status, await r.text())
        refused += 1
    app[keys.CLOCK].advance(seconds=60)  # type: ignore[attr-defined]
    await app[ABUSE].flush(app)
    async with app[keys.POOL].acquire() as conn:
        one_by_one = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND action LIKE 'denied %' AND action <> $1",
            AGGREGATE_ACTION,
        )
        summary = await conn.fetchval("SELECT coalesce(sum((detail->>'count')::int), 0) FROM audit_log "
                                      "WHERE action = $1", AGGREGATE_ACTION)  # fmt: skip
    assert one_by_one + summary == refused


async def _alert(client: TestClient, **kw: Any) -> int:
    app = client.server.app
    async with app[keys.POOL].acquire() as conn:
        aid = await raise_alert(conn, app[keys.CLOCK].now(), **({
            "kind": "test.kind", "severity": "warning", "object_type": "tender", "object_id": "7",
            "message_en": "x", "message_zh": "x"} | kw))  # fmt: skip
    assert aid is not None
    return aid


async def test_acknowledging_an_alert_twice_is_409_and_writes_nothing(client) -> None:
    """S4, issue 14 "bad input": acknowledge with a note, once; the second time is 409
    ``alert_already_acknowledged``; staff cannot acknowledge (403); a note is required (422)."""
    aid = await _alert(client)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    _, staff = await user_headers(client, Role.STAFF)
    url = f"/api/v1/supervision/alerts/{aid}/acknowledge"
    r = await client.post(url, headers=staff, json={"note": "x"})
    assert r.status == 403
    r = await client.post(url, headers=sup, json={"note": ""})
    assert r.status == 422
    r = await client.post(url, headers=sup, json={"note": "已核实 checked"})
    assert r.status == 200, await r.text()
    body = await r.json()
    assert body["state"] == "acknowledged" and [a["act"] for a in body["acts"]] == ["acknowledge"]
    r = await client.post(url, headers=sup, json={"note": "again"})
    assert r.status == 409 and r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "alert_already_acknowledged"
    r = await client.get(f"/api/v1/supervision/alerts/{aid}", headers=sup)
    assert [a["act"] for a in (await r.json())["acts"]] == ["acknowledge"]
    r = await client.post(f"/api/v1/supervision/alerts/{aid}/close", headers=sup, json={"note": "done"})
    assert r.status == 200 and (await r.json())["state"] == "closed"
    r = await client.post(f"/api/v1/supervision/alerts/{aid}/close", headers=sup, json={"note": "done"})
    assert r.status == 409 and (await r.json())["code"] == "alert_closed"
    r = await client.post("/api/v1/supervision/alerts/999999/acknowledge", headers=sup, json={"note": "x"})
    assert r.status == 404 and (await r.json())["code"] == "alert_not_found"


async def test_alerts_are_listed_newest_first_with_filters_and_pages(client) -> None:
    """S4: the list, newest first, filtered by kind, severity, object, state and period,
    keyset-paged by ``before_id``; the first alert endpoint still answers oldest first."""
    ids = [await _alert(client, kind=f"test.k{i % 2}", object_id=str(i)) for i in range(5)]
    _, sup = await user_headers(client, Role.SUPERVISOR)
    r = await client.get("/api/v1/supervision/alerts", headers=sup, params={"limit": "2"})
    page = await r.json()
    assert [a["id"] for a in page["alerts"]] == [ids[4], ids[3]] and page["next_before_id"] == ids[3]
    r = await client.get("/api/v1/supervision/alerts", headers=sup,
                         params={"limit": "2", "before_id": str(page["next_before_id"])})  # fmt: skip
    assert [a["id"] for a in (await r.json())["alerts"]] == [ids[2], ids[1]]
    r = await client.get("/api/v1/supervision/alerts", headers=sup,
                         params={"kind": "test.k0", "state": "open", "severity": "warning"})  # fmt: skip
    assert [a["id"] for a in (await r.json())["alerts"]] == [ids[4], ids[2], ids[0]]
    r = await client.get("/api/v1/supervision/alerts", headers=sup, params={"object_type": "tender", "object_id": "3"})
    assert [a["id"] for a in (await r.json())["alerts"]] == [ids[3]]
    r = await client.get("/api/v1/supervision/alerts", headers=sup,
                         params={"since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"})  # fmt: skip
    assert r.status == 422 and (await r.json())["code"] == "invalid_period"
    r = await client.get("/api/v1/supervision/alerts", headers=sup, params={"state": "sleeping"})
    assert r.status == 422
    r = await client.get("/api/v1/alerts", headers=sup)
    assert [a["id"] for a in await r.json()] == ids
    r = await client.get("/api/v1/supervision/watch", headers=sup)
    kinds = {s["kind"]: s for s in (await r.json())["steps"]}
    assert kinds["award.contract_overdue"]["rule"] == "W10" and "bidding.opening_overdue" in kinds


async def test_a_flood_of_refused_requests_is_audited_in_aggregate(make_client) -> None:
    """Issue 14 item 8, T12: 1,000 refused requests from one client add the first few entries
    one by one and one summary for the minute with the count — not 1,000 entries."""
    client: TestClient = await make_client(extra={"abuse.address_burst": "100000", "abuse.credential_burst": "100000"})
    app = client.server.app
    async with app[keys.POOL].acquire() as conn:
        before = await conn.fetchval("SELECT count(*) FROM audit_log")
    for _ in range(1000):
        r = await client.get("/api/v1/me")
        assert r.status == 401
    individual = app[ABUSE].settings.individual_max
    async with app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM audit_log") - before == individual
    app[keys.CLOCK].advance(seconds=60)  # type: ignore[attr-defined]
    assert await app[ABUSE].flush(app) == 1
    async with app[keys.POOL].acquire() as conn:
        rows = await conn.fetch("SELECT * FROM audit_log WHERE action = $1", AGGREGATE_ACTION)
        assert await conn.fetchval("SELECT count(*) FROM audit_log") - before == individual + 1
    [row] = rows
    detail = row["detail"]
    assert detail["count"] == 1000 - individual and detail["seen"] == 1000
    assert detail["codes"] == {"unauthenticated": 1000 - individual} and detail["paths"] == {"/api/v1/me": 1000 - individual}


async def test_a_client_refused_too_often_is_answered_429_before_any_work(make_client) -> None:
    """Issue 14 item 8: past its burst of refusals a client address is answered 429 with
    Retry-After — even with a valid token — and the 429s are counted in the summary."""
    client: TestClient = await make_client(extra={"abuse.address_burst": "5", "abuse.address_per_s": "0.01"})
    app = client.server.app
    _, headers = await user_headers(client, Role.BIDDER)
    for _ in range(5):
        assert (await client.get("/api/v1/audit", headers=headers)).status == 403
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status == 429 and r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "too_many_refusals" and int(r.headers["Retry-After"]) >= 1
    app[keys.CLOCK].advance(seconds=60)  # type: ignore[attr-defined]
    await app[ABUSE].flush(app)
    async with app[keys.POOL].acquire() as conn:
        [row] = await conn.fetch("SELECT detail FROM audit_log WHERE action = $1", AGGREGATE_ACTION)
    assert row["detail"]["statuses"] == {"429": 1}
