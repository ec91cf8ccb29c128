"""The bad-behaviour register through the HTTP API: record, four-eyes approval, the public
list without login, revocation, and a ban refused at each door and lifted the day after.

Sources: RULES.md S1 (IR 79, seed 001), S2 (BL 53–54, IR 67–68).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from experts import store as experts_store
from tests.e2e.test_auction_http import START, call, land_body
from tests.e2e.test_experts_api import draw_body, orgs, pool_csv
from tests.helpers import login, user_headers
from trading.context import Role
from web import keys

DECISION = hashlib.sha256(b"decision document").hexdigest()


def finding(org_id: int | None = None, expert_id: str | None = None, **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "subject_kind": "organisation" if org_id is not None else "expert",
        "conduct": "串通投标 colluded in tender HZ-2025-7",
        "legal_basis": "招标投标法第五十三条 BL 53",
        "decision_sha256": DECISION,
        "decision_ref": "湖公管罚〔2026〕1号",
        "starts_on": "2026-01-05",
        "ends_on": "2026-01-06",
        **kw,
    }
    if org_id is not None:
        body["org_id"] = org_id
    if expert_id is not None:
        body["expert_id"] = expert_id
    return body


async def approved(client: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    _, recorder = await user_headers(client, Role.STAFF)
    _, approver = await user_headers(client, Role.STAFF)
    status, f = await call(client, "POST", "/register/findings", recorder, body)
    assert status == 201, f
    status, f = await call(client, "POST", f"/register/findings/{f['id']}/approval", approver)
    assert status == 200 and f["state"] == "approved", f
    return f


def banned(status: int, problem: dict[str, Any], finding_id: int) -> bool:
    return status == 403 and problem["code"] == "party_banned" and problem["finding_id"] == finding_id


async def test_a_finding_needs_a_second_person_and_is_public_without_login(client: TestClient) -> None:
    """S1 (IR 79): recorded with its legal basis and period, approved by another, published;
    the public searches it by name and credit code without logging in."""
    _, staff = await user_headers(client, Role.STAFF)
    _, other = await user_headers(client, Role.STAFF)
    bidder, _ = await user_headers(client, Role.BIDDER)
    status, f = await call(client, "POST", "/register/findings", staff, finding(bidder.org_id))
    assert status == 201 and f["state"] == "proposed", f
    status, page = await call(client, "GET", "/public/bad-behaviour")
    assert status == 200 and page["findings"] == []  # not public before the approval

    status, p = await call(client, "POST", f"/register/findings/{f['id']}/approval", staff)
    assert status == 403 and p["code"] == "four_eyes", p
    status, f = await call(client, "POST", f"/register/findings/{f['id']}/approval", other)
    assert status == 200 and f["state"] == "approved"

    status, page = await call(client, "GET", "/public/bad-behaviour")
    assert status == 200 and [x["id"] for x in page["findings"]] == [f["id"]]
    row = page["findings"][0]
    assert row["legal_basis"] and row["starts_on"] == "2026-01-05" and row["in_force"] is True
    assert "recorded_by" not in row
    name = row["subject_name"]
    status, page = await call(client, "GET", f"/public/bad-behaviour?q={name[-4:]}")
    assert [x["id"] for x in page["findings"]] == [f["id"]]
    status, page = await call(client, "GET", f"/public/bad-behaviour?credit_code={f['credit_code']}")
    assert [x["id"] for x in page["findings"]] == [f["id"]]
    status, page = await call(client, "GET", "/public/bad-behaviour?q=nobody-by-this-name")
    assert page["findings"] == []
    status, one = await call(client, "GET", f"/public/bad-behaviour/{f['id']}")
    assert status == 200 and one["decision_sha256"] == DECISION


async def test_bad_findings_are_refused_and_nothing_is_written(client: TestClient) -> None:
    """Bad input (issue 14): no basis, no period, a period ending before it starts, the
    recorder approving their own finding, a revocation approved by who asked for it."""
    _, staff = await user_headers(client, Role.STAFF)
    _, other = await user_headers(client, Role.STAFF)
    bidder, _ = await user_headers(client, Role.BIDDER)
    no_basis = finding(bidder.org_id)
    del no_basis["legal_basis"]
    status, p = await call(client, "POST", "/register/findings", staff, no_basis)
    assert status == 422 and any(e["field"] == "legal_basis" for e in p["errors"]), p
    status, p = await call(client, "POST", "/register/findings", staff, finding(bidder.org_id, legal_basis=" "))
    assert status == 422, p
    no_period = finding(bidder.org_id)
    del no_period["starts_on"], no_period["ends_on"]
    status, p = await call(client, "POST", "/register/findings", staff, no_period)
    assert status == 422 and {"starts_on", "ends_on"} <= {e["field"] for e in p["errors"]}, p
    status, p = await call(client, "POST", "/register/findings", staff,
                           finding(bidder.org_id, starts_on="2026-02-01", ends_on="2026-01-31"))  # fmt: skip
    assert status == 422 and p["errors"][0]["field"] == "body.ends_on", p
    status, p = await call(client, "POST", "/register/findings", staff, finding(None, expert_id="E404"))
    assert status == 404 and p["code"] == "subject_not_found", p
    async with client.server.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM conduct_findings") == 0

    status, f = await call(client, "POST", "/register/findings", staff, finding(bidder.org_id))
    status, p = await call(client, "POST", f"/register/findings/{f['id']}/approval", staff)
    assert status == 403 and p["code"] == "four_eyes"
    await call(client, "POST", f"/register/findings/{f['id']}/approval", other)
    status, p = await call(client, "POST", f"/register/findings/{f['id']}/revocation", other, {"reason": ""})
    assert status == 422, p
    status, f2 = await call(client, "POST", f"/register/findings/{f['id']}/revocation", other,
                            {"reason": "overturned on review 复议撤销"})  # fmt: skip
    assert status == 200 and f2["state"] == "revoke_proposed"
    status, p = await call(client, "POST", f"/register/findings/{f['id']}/revocation/approval", other)
    assert status == 403 and p["code"] == "four_eyes"
    status, f3 = await call(client, "POST", f"/register/findings/{f['id']}/revocation/approval", staff)
    assert status == 200 and f3["state"] == "revoked"
    status, p = await call(client, "POST", f"/register/findings/{f['id']}/approval", other)
    assert status == 409 and p["code"] == "finding_wrong_state"
    status, one = await call(client, "GET", f"/public/bad-behaviour/{f['id']}")
    assert one["state"] == "revoked" and one["in_force"] is False and one["revoke_reason"]
    async with client.server.app[keys.POOL].acquire() as conn:  # never deleted
        assert await conn.fetchval("SELECT count(*) FROM conduct_findings") == 1


async def test_a_banned_bidder_is_refused_at_each_door_and_allowed_the_day_after(
    make_client: Any, clock: Any
) -> None:
    """S2 (BL 53–54, IR 67–68): while the ban runs the party cannot register for a tender,
    submit a bid, apply for or bid in an auction, nor (an expert) be drawn — each refused
    with the record's id; the day after the period (China date) each door opens again."""
    client = await make_client(extra={"SUNLIT_EXPERTS_CHANNEL": "memory", "SUNLIT_PUBLIC_URL": "https://sunlit.test"})
    staff_p, staff = await user_headers(client, Role.STAFF)
    bidder, bidder_h = await user_headers(client, Role.BIDDER)
    admitted, admitted_h = await user_headers(client, Role.BIDDER)
    status, lot = await call(client, "POST", "/auctions/lots", staff, land_body(clock))
    assert status == 201, lot
    for org_id in (bidder.org_id, admitted.org_id):
        await call(client, "POST", "/admission-flags", staff,
                   {"org_id": org_id, "project_ref": f"lot:{lot['id']}", "note": "paid"})  # fmt: skip
    status, _ = await call(client, "POST", f"/auctions/lots/{lot['id']}/admissions", staff, {"org_id": admitted.org_id})
    assert status == 201
    o = await orgs(client)
    async with client.server.app[keys.POOL].acquire() as conn:
        code = await conn.fetchval("SELECT credit_code FROM organisations WHERE id = $1", o["b1"])
    r = await client.post("/api/v1/experts/import", data=pool_csv(code).encode(),
                          headers={**staff, "Content-Type": "text/csv"})  # fmt: skip
    assert r.status == 201, await r.text()
    async with client.server.app[keys.POOL].acquire() as conn:
        expert_id = await conn.fetchval("SELECT expert_id FROM experts WHERE 'A030101' = ANY(specialties) "
                                        "AND employer_code IS DISTINCT FROM $1 ORDER BY expert_id LIMIT 1", code)  # fmt: skip
    assert expert_id is not None

    ban = await approved(client, finding(bidder.org_id))
    ban2 = await approved(client, finding(admitted.org_id))
    ban3 = await approved(client, finding(None, expert_id=expert_id))

    async def doors() -> list[tuple[int, dict[str, Any]]]:
        nonlocal staff, bidder_h, admitted_h  # sessions end after 8 hours: log in again
        staff, bidder_h, admitted_h = [await login(client, p.username) for p in (staff_p, bidder, admitted)]
        out = [await call(client, "POST", "/tenders/999999/registrations", bidder_h)]
        r = await client.put("/api/v1/tenders/999999/bid", data=b"\x00" * 64,
                             headers={**bidder_h, "Content-Type": "application/octet-stream"})  # fmt: skip
        out.append((r.status, await r.json()))
        out.append(await call(client, "POST", f"/auctions/lots/{lot['id']}/admissions", staff, {"org_id": bidder.org_id}))
        out.append(await call(client, "POST", f"/auctions/lots/{lot['id']}/bids", admitted_h,
                              {"bid_id": f"b{clock.now().timestamp()}", "amount_fen": START}))  # fmt: skip
        return out

    clock.advance(minutes=1)
    await call(client, "POST", f"/auctions/lots/{lot['id']}/start", staff)
    reg, sub, apply, bid = await doors()
    assert banned(*reg, ban["id"]) and banned(*sub, ban["id"]) and banned(*apply, ban["id"]), (reg, sub, apply)
    assert banned(*bid, ban2["id"]), bid
    assert reg[1]["record"] == f"/api/v1/public/bad-behaviour/{ban['id']}"

    async def drawn_out() -> dict[str, str]:
        status, d = await call(client, "POST", "/draws", staff, draw_body(o))
        assert status == 201, d
        async with client.server.app[keys.POOL].acquire() as conn:
            secrets = await experts_store.draw_secrets(conn, d["id"])
            record = json.loads(secrets["record_json"])
        return {x[0]: x[2] for x in record["exclusions"] if x[1] == "tender_specific"}

    assert f"finding {ban3['id']}" in (await drawn_out())[expert_id]

    clock.set(datetime(2026, 1, 6, 15, 59, tzinfo=UTC))  # 23:59 on the 6th in China: still banned
    reg, *_ = await doors()
    assert banned(*reg, ban["id"])

    clock.set(datetime(2026, 1, 6, 16, 0, tzinfo=UTC))  # 00:00 on the 7th in China: allowed
    reg, sub, apply, bid = await doors()
    assert reg[1]["code"] == "tender_not_found", reg  # through the door, to the tender
    assert sub[1].get("code") != "party_banned", sub
    assert apply[0] == 201, apply
    assert bid[0] == 201, bid
    assert expert_id not in await drawn_out()
    async with client.server.app[keys.POOL].acquire() as conn:
        refused = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND detail->>'code' = 'party_banned'"
        )
    assert refused == 8  # four doors refused twice (the first day, and 23:59 on the last)
