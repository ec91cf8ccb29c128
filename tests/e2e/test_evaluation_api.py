"""The evaluation end to end through the HTTP API and ``sunlit verify-evaluation``: an opened
tender and a panel drawn for it and seated (prepared through the service layers of bidding
and experts, on the app's own database and clock), then everything of the evaluation over
HTTP — start, signed sheets, a clarification, the report, signatures with a dissent, the
exported record re-derived offline; and every bad input answered with its own code.

Sources (RULES.md): T16 (O12 29–37), T17 (IR 53, O12 42–45), T19 (IR 48), W3 (IR 27,
51(5)), W6 (IR 52).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bidding.client import write_key_file
from bidding.evaluation import records
from crypto.keys import b64url_encode
from crypto.signing import (
    SigningKey,
    canonical_json,
    generate_signing_key,
    private_key_bytes,
    public_key_bytes,
)
from experts.seating import seated_for_tender
from tests.helpers import login, problem, user_headers
from tests.service.test_evaluation import SPEC, make_ev
from tests.service.test_experts_draws import build_world, request, run
from tests.service.test_tender_panel import confirm_all
from trading.context import Role
from web import cli, keys


def sheet(tender_id: int, expert_id: str, bid_ids: list[int], *, revision: int = 1,
          technical: str = "30") -> dict[str, Any]:  # fmt: skip
    return records.sheet_document(
        tender_id=tender_id, expert_id=expert_id, revision=revision,
        reviews=[{"bid_id": b, "passed": True, "cause": None, "reason": ""} for b in bid_ids],
        points={b: {"technical": technical, "business": "20"} for b in bid_ids},
    )  # fmt: skip


def body(key: SigningKey, document: dict[str, Any]) -> dict[str, Any]:
    return {"document": document, "signature": b64url_encode(key.sign(canonical_json(document)))}


async def test_evaluation_through_the_api_and_the_offline_verifier(
    make_client: Any, tmp_path: Path, capsys: Any
) -> None:
    client: TestClient = await make_client(session_ttl_s=90 * 86400)
    app = client.server.app
    pool, audit, clock = app[keys.POOL], app[keys.AUDIT], app[keys.CLOCK]
    ev = await make_ev(pool, audit, clock, n_experts=0)
    tid = ev.tender_id
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w, tender_ref=f"tender:{tid}", tender_id=tid,
                         evaluation_date=(clock.now() + timedelta(days=1)).date())  # fmt: skip
    await run(pool, audit, clock, w, view["id"])
    await confirm_all(pool, audit, clock, w, view["id"])
    async with pool.acquire() as conn:
        panel = await seated_for_tender(conn, tid)
    assert panel is not None and len(panel.sitting()) == 5
    staff = await login(client, ev.world.staff.username)
    experts: list[tuple[str, dict[str, str], SigningKey]] = []
    for m in panel.sitting():
        headers = await login(client, w.expert_users[m.expert_id].username)
        key = generate_signing_key()
        r = await client.post("/api/v1/me/keys", headers=headers,
                              json={"public_key": b64url_encode(public_key_bytes(key))})  # fmt: skip
        assert r.status == 201, await r.text()
        experts.append((m.expert_id, headers, key))
    base = f"/api/v1/tenders/{tid}/evaluation"

    # T16: the method is fixed once published
    r = await client.put(f"{base}/method", headers=staff,
                         json={"evaluation_method": "lowest_price"})  # fmt: skip
    await problem(r, 409, "method_fixed_at_publication")
    tender = await (await client.get(f"/api/v1/tenders/{tid}", headers=staff)).json()
    assert tender["evaluation_method"] == "comprehensive" and tender["control_price_fen"] == 1_080_000
    assert [c["max_points"] for c in tender["criteria"]] == [c.max_points for c in SPEC.criteria]

    r = await client.post(base, headers=staff)
    assert r.status == 201, await r.text()
    await problem(await client.post(base, headers=staff), 409, "evaluation_exists")
    # E4 (BL 37, IR 41): a staff member who did not request the draw follows the progress by
    # seat, never who sits on the panel
    seen = await (await client.get(base, headers=staff)).json()
    assert seen["panel_redacted"] is True and len(seen["members"]) == len(panel.members)
    text = json.dumps(seen, ensure_ascii=False)
    assert all(m.expert_id not in text and m.name not in text for m in panel.sitting())
    expert_id, headers, key = experts[0]
    state = await (await client.get(base, headers=headers)).json()
    assert state["state"] == "evaluating" and [b["bid_id"] for b in state["bids"]] == ev.bid_ids
    assert len(state["missing_sheets"]) == 5

    # a non-member, points above a maximum, a sheet signed by another key
    _, stranger = await user_headers(client, Role.EXPERT)
    await problem(await client.get(base, headers=stranger), 403, "not_a_member")
    doc = sheet(tid, expert_id, ev.bid_ids)
    await problem(await client.post(f"{base}/sheets", headers=stranger, json=body(key, doc)),
                  403, "not_a_member")  # fmt: skip
    await problem(
        await client.post(f"{base}/sheets", headers=headers,
                          json=body(key, sheet(tid, expert_id, ev.bid_ids, technical="36"))),
        422, "points_above_maximum",
    )  # fmt: skip
    await problem(await client.post(f"{base}/sheets", headers=headers, json=body(experts[1][2], doc)),
                  422, "evaluation_signature_invalid")  # fmt: skip

    # W6: a clarification is answered in writing, never with a price
    r = await client.post(f"{base}/clarifications", headers=headers,
                          json={"bid_id": ev.bid_ids[0], "question": "请确认工期 Confirm the duration"})  # fmt: skip
    assert r.status == 201, await r.text()
    question = await r.json()
    bidder = await login(client, ev.world.bidders[0].party.username)
    mine = await (await client.get(f"{base}/clarifications/mine", headers=bidder)).json()
    assert [c["id"] for c in mine] == [question["id"]] and "asked_by" not in mine[0]  # E4
    answer_url = f"{base}/clarifications/{question['id']}/answer"
    await problem(await client.post(answer_url, headers=bidder,
                                    json={"answer": "降价 5%", "changes_price_or_substance": True}),
                  422, "clarification_changes_price")  # fmt: skip
    await problem(await client.post(answer_url, headers=bidder,
                                    json={"answer": "x", "price_fen": 990_000}),
                  422, "validation_failed")  # fmt: skip
    r = await client.post(answer_url, headers=bidder, json={"answer": "365 日历天 365 days"})
    assert r.status == 200, await r.text()

    await problem(await client.post(f"{base}/report", headers=staff), 409, "sheets_missing")
    # the first member signs on their own machine: sunlit evaluation sign
    expert_id, headers, key = experts[0]
    write_key_file(tmp_path / "member.ed25519", private_key_bytes(key))
    (tmp_path / "sheet.json").write_text(json.dumps(sheet(tid, expert_id, ev.bid_ids)), "utf-8")
    assert cli.main(["evaluation", "sign", "--signing-key", str(tmp_path / "member.ed25519"),
                     "--document", str(tmp_path / "sheet.json")]) == 0  # fmt: skip
    signed_body = json.loads(capsys.readouterr().out)
    r = await client.post(f"{base}/sheets", headers=headers, json=signed_body)
    assert r.status == 201, await r.text()
    for expert_id, headers, key in experts[1:]:
        r = await client.post(f"{base}/sheets", headers=headers, json=body(key, sheet(tid, expert_id, ev.bid_ids)))
        assert r.status == 201, await r.text()
    r = await client.post(f"{base}/report", headers=staff)
    assert r.status == 201, await r.text()
    report = (await r.json())["document"]
    assert report["result"]["rejected"] == [{"bid_id": ev.bid_ids[3], "cause": "above_control_price"}]
    assert report["result"]["candidates"] == ev.bid_ids[:3]

    # T17: nothing is scored after the report; every member signs, one dissents
    expert_id, headers, key = experts[0]
    await problem(
        await client.post(f"{base}/sheets", headers=headers,
                          json=body(key, sheet(tid, expert_id, ev.bid_ids, revision=2))),
        409, "not_evaluating",
    )  # fmt: skip
    await problem(await client.get(f"{base}/record", headers=staff), 409, "evaluation_not_concluded")
    state = await (await client.get(base, headers=staff)).json()
    sha = state["report"]["sha256"]
    for i, (expert_id, headers, key) in enumerate(experts):
        doc = records.signature_document(tender_id=tid, report_sha256=sha, expert_id=expert_id,
                                         dissent="价格分权重过高 price weighs too much" if i == 0 else None)  # fmt: skip
        r = await client.post(f"{base}/report/signatures", headers=headers, json=body(key, doc))
        assert r.status == 201, await r.text()
    assert (await r.json())["state"] == "concluded"

    full = await (await client.get(f"{base}/record", headers=staff)).json()
    public = await (await client.get(f"{base}/record/public")).json()
    assert "sheets" not in public and public["report"]["document"]["result"]["candidates"] == ev.bid_ids[:3]
    server_key = (await (await client.get("/api/v1/bidding/server-key")).json())["public_key_hex"]
    path = tmp_path / "evaluation-record.json"
    path.write_text(json.dumps(full, ensure_ascii=False), "utf-8")
    assert cli.main(["verify-evaluation", "--record", str(path), "--public-key", server_key]) == 0
    full["sheets"][0]["document"]["points"][0]["scores"]["technical"] = "35"
    path.write_text(json.dumps(full, ensure_ascii=False), "utf-8")
    assert cli.main(["verify-evaluation", "--record", str(path), "--public-key", server_key]) == 1


async def test_weights_not_summing_to_100_are_refused_when_the_tender_is_created(
    client: TestClient,
) -> None:
    """T16: the criteria's maximum points sum to 100 (422, nothing written)."""
    _, staff = await user_headers(client, Role.STAFF)
    now = client.server.app[keys.CLOCK].now()
    r = await client.post("/api/v1/tenders", headers=staff, json={
        "code": "T-W-1", "project_name": "x", "lots": ["1"], "estimated_price_fen": 100_000_000,
        "deposit_fen": 0, "bid_deadline_at": (now + timedelta(days=30)).isoformat(),
        "opening_at": (now + timedelta(days=30, hours=1)).isoformat(), "custodians": [1, 2],
        "threshold_k": 2, "evaluation_method": "comprehensive",
        "criteria": [{"code": "price", "name": "价格", "max_points": 40},
                     {"code": "technical", "name": "技术", "max_points": 50}],
    })  # fmt: skip
    body = await problem(r, 422, "criteria_not_100")
    assert "90" in body["detail"]
