"""One tender from its public notice to its contract, through the HTTP API (and the CLI for
the custodians' shares and for verifying the evaluation and the draw), on real PostgreSQL
with a fake clock: notice → download → question and clarification → deposits → sealed bids → opening → the
panel drawn for the tender → the panel reads the bids → sheets → report → candidates'
publicity with an objection → award → contract → every deposit refunded with interest and
the trial balance zero. Issue 12, "Tests and figures".

Sources (RULES.md): W1 (BL 23), T2–T11 (the sealed tender), E3/E4/E7 (the draw), T15,
T17 (IR 53), T18 (IR 54), W8–W10 (IR 55, BL 45–46), D5 (IR 57).

One step is not through the API because Sunlit has none for it: the bank's side (its key is
trusted by an admin through the API, but the bank signs its own notifications). The deposits'
interest rate is a term of the tender (``deposit_interest_rate_bp``), set when it is created.
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient

from bidding.client import seal_bid_bytes, signing_key_from
from bidding.evaluation import records
from crypto.keys import b64url_decode, b64url_encode
from crypto.signing import canonical_json, generate_signing_key, public_key_bytes
from experts.csvio import write_csv
from tests.e2e.test_bidding_api import Centre, cli_in_thread
from tests.helpers import Party, login, make_org, user_headers
from tests.service.test_experts_pool import expert_input
from trading.context import Role
from trading.ledger import bank
from trading.ledger.model import BankNotification, NotificationKind
from trading.parties.model import OrgKind
from web import cli, keys

PRICES = (812_000_000, 798_000_000, 825_000_000, 805_000_000)
BUDGET_FEN = 900_000_000
CONTROL_FEN = 850_000_000
DEPOSIT_FEN = 8_000_000
RATE_BP = 35


async def ok(r: Any, status: int = 200) -> Any:
    assert r.status == status, f"{r.method} {r.url}: {r.status} {await r.text()}"
    return await r.json()


async def test_a_tender_from_its_notice_to_its_contract_and_refunds(
    make_client: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    client: TestClient = await make_client(
        extra={"bidding.store_chunk_bytes": "4096", "SUNLIT_EXPERTS_CHANNEL": "memory"}
    )
    app = client.server.app
    clock = app[keys.CLOCK]
    centre = Centre(client, tmp_path)
    await centre.start(bidders=4)

    async def h(party: Party) -> dict[str, str]:
        """A fresh session (the clock jumps weeks: sessions expire)."""
        return await login(client, party.username)

    staff = centre.staff
    bidders = [p for p, _, _ in centre.bidders]
    _, admin_h = await user_headers(client, Role.ADMIN)
    supervisor, _ = await user_headers(client, Role.SUPERVISOR)
    async with app[keys.POOL].acquire() as conn:
        tenderee = await make_org(conn, app[keys.AUDIT], clock, OrgKind.TENDEREE, region="330500")

    # -- the tender: method fixed in it, documents, publication → public notice ------------
    now = clock.now()
    tender = await ok(await client.post("/api/v1/tenders", headers=await h(staff), json={
        "code": "HZ-CHAIN-2026-01", "project_name": "湖州市环城北路改造工程施工 Ring road works",
        "category": "works", "lots": ["第一标段"], "estimated_price_fen": 860_000_000,
        "deposit_fen": DEPOSIT_FEN, "bid_deadline_at": (now + timedelta(days=21)).isoformat(),
        "opening_at": (now + timedelta(days=21, minutes=30)).isoformat(), "place": "开标室 1",
        "custodians": [p.user_id for p, _, _ in centre.custodians], "threshold_k": 2,
        "deposit_interest_rate_bp": RATE_BP,  # D5: the deposits' rate, a term of the tender
        "max_bid_bytes": 64 * 1024, "evaluation_method": "lowest_price",
        "control_price_fen": CONTROL_FEN, "budget_fen": BUDGET_FEN,
    }), 201)  # fmt: skip
    tid = tender["id"]
    await ok(await client.post(f"/api/v1/tenders/{tid}/documents?name=招标文件.pdf",
                               data=b"%PDF tender documents " * 40, headers=await h(staff)), 201)  # fmt: skip
    tender = await ok(await client.post(f"/api/v1/tenders/{tid}/publish", headers=await h(staff)))
    notices = await ok(await client.get(f"/api/v1/public/notices?tender_id={tid}"))
    assert "tender" in json.dumps(notices), notices

    # -- registration, deposits paid at the bank, download, question, clarification ---------
    bank_key = generate_signing_key()
    await ok(await client.post("/api/v1/ledger/bank-keys", headers=admin_h,
                               json={"public_key": public_key_bytes(bank_key).hex(), "label": "test bank"}),
             201)  # fmt: skip
    for i, b in enumerate(bidders):
        reg = await ok(
            await client.post(f"/api/v1/tenders/{tid}/registrations", headers=await h(b)), 201
        )
        n = BankNotification(i + 1, f"CHAIN{i:04d}", NotificationKind.CREDIT, reg["deposit"]["sub_account"], DEPOSIT_FEN,
                             clock.now(), f"6222 0000 0000 {i:04d}", f"bidder {i}")  # fmt: skip
        await ok(
            await client.post(
                "/api/v1/bank/notifications", json=bank.sign_notification(n, bank_key)
            )
        )
    docs = await ok(
        await client.get(f"/api/v1/tenders/{tid}/documents", headers=await h(bidders[0]))
    )
    r = await client.get(
        f"/api/v1/tenders/{tid}/documents/{docs[0]['id']}", headers=await h(bidders[0])
    )
    assert r.status == 200 and (await r.read()).startswith(b"%PDF")
    downloads = await ok(
        await client.get(f"/api/v1/tenders/{tid}/downloads", headers=await h(staff))
    )
    assert str(bidders[0].org_id) in json.dumps(downloads)
    clock.advance(days=1)
    question = await ok(await client.post(f"/api/v1/tenders/{tid}/questions", headers=await h(bidders[1]),
                                          json={"text": "工期是否可以调整？ Can the period change?"}), 201)  # fmt: skip
    await ok(await client.post(f"/api/v1/tenders/{tid}/clarifications", headers=await h(staff), json={
        "kind": "clarification", "text": "工期不变。 The period stays.", "answers": [question["id"]]}), 201)  # fmt: skip
    notices = await ok(await client.get(f"/api/v1/public/notices?tender_id={tid}"))
    assert "clarification" in json.dumps(notices)
    seen_by_other = await ok(
        await client.get(f"/api/v1/tenders/{tid}/questions", headers=await h(bidders[2]))
    )
    shown = json.dumps([notices, seen_by_other], ensure_ascii=False)
    assert (
        "Can the period change" in shown and bidders[1].username not in shown
    )  # the asker never shown

    # -- the expert pool with logins; the panel the tender asks for -------------------------
    inputs = [expert_input(n, "A030101" if n % 2 else "A0302") for n in range(1, 13)]
    inputs += [expert_input(n, "C04") for n in range(13, 17)]
    await ok(await client.post("/api/v1/experts/import", data=write_csv(inputs).encode(),
                               headers={**await h(staff), "Content-Type": "text/csv"}), 201)  # fmt: skip
    experts: dict[str, tuple[Party, Any]] = {}
    for e in inputs:
        party, headers = await user_headers(client, Role.EXPERT)
        key = generate_signing_key()
        await ok(await client.post("/api/v1/me/keys", headers=headers,
                                   json={"public_key": public_key_bytes(key).hex()}), 201)  # fmt: skip
        await ok(await client.put(f"/api/v1/experts/{e.expert_id}/user", json={"user_id": party.user_id},
                                  headers=await h(staff)))  # fmt: skip
        experts[str(e.expert_id)] = (party, key)
    await ok(await client.put(f"/api/v1/tenders/{tid}/panel-requirements", headers=await h(staff), json={
        "tenderee_org_id": tenderee, "lines": [{"code": "A03", "count": 4}, {"code": "C04", "count": 1}]}))  # fmt: skip
    clock.advance(days=18)  # three days before the deadline the panel is requested
    draw = await ok(await client.post(f"/api/v1/tenders/{tid}/panel", headers=await h(staff), json={
        "evaluation_date": (clock.now() + timedelta(days=3)).date().isoformat(),
        "evaluation_time": "09:30", "evaluation_place": "评标室 3"}), 201)  # fmt: skip
    assert draw["tender_id"] == tid and sorted(draw["bidder_org_ids"]) == sorted(
        b.org_id for b in bidders
    )
    await ok(await client.post(f"/api/v1/draws/{draw['id']}/run", json={}, headers=await h(staff)))
    panel = await ok(await client.get(f"/api/v1/tenders/{tid}/panel", headers=await h(staff)))
    seated = [m["expert_id"] for m in panel["members"] if m["status"] == "summoned"]
    assert len(seated) == 5
    for eid in seated:
        eh = await h(experts[eid][0])
        mine = await ok(await client.get("/api/v1/me/summons", headers=eh))
        await ok(
            await client.post(f"/api/v1/me/summons/{mine[0]['summons_id']}/confirm", headers=eh)
        )
    r = await client.get(f"/api/v1/tenders/{tid}/panel", headers=await h(bidders[0]))
    assert r.status == 403  # E4

    # -- sealed bids, the deadline, the opening (custodians with the CLI) -------------------
    for i, (party, _, key_file) in enumerate(centre.bidders):
        envelope = seal_bid_bytes(
            tender_public=b64url_decode(tender["opening_public_key"]), tender_id=tid,
            bidder_org_id=party.org_id, signing_key=signing_key_from(key_file.read_text()),
            price_schedule=json.dumps({"amount_fen": PRICES[i], "duration_days": 540}).encode(),
            documents={"技术标.pdf": f"technical proposal {i} ".encode() * 40}, chunk_size=1024,
        )  # fmt: skip
        r = await client.put(f"/api/v1/tenders/{tid}/bid", data=envelope,
                             headers={**await h(party), "Content-Type": "application/octet-stream"})  # fmt: skip
        await ok(r, 201)
    clock.set(clock.now() + timedelta(days=3))
    await app[keys.SCHEDULER].run_due()
    clock.set(clock.now() + timedelta(minutes=30))
    await app[keys.SCHEDULER].run_due()
    for party, _, key_file in centre.custodians[:2]:
        token = (await h(party))["Authorization"].split()[1]
        assert await cli_in_thread("bid", "share", "--url", centre.url, f"--token={token}",
                                   "--tender-id", str(tid), "--key", str(key_file)) == 0  # fmt: skip
    assert (await ok(await client.get(f"/api/v1/tenders/{tid}", headers=await h(staff))))[
        "state"
    ] == "opened"

    # -- the evaluation: the panel reads the bids, hands in signed sheets, signs the report --
    await ok(await client.post(f"/api/v1/tenders/{tid}/evaluation", headers=await h(staff)), 201)
    first = await h(experts[seated[0]][0])
    listed = (await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation/bids", headers=first)))[
        "bids"
    ]
    bid_ids = sorted(b["bid_id"] for b in listed)
    r = await client.get(
        f"/api/v1/tenders/{tid}/evaluation/bids/{bid_ids[0]}/documents/技术标.pdf", headers=first
    )
    assert r.status == 200 and b"technical proposal" in await r.read()
    for eid in seated:
        party, key = experts[eid]
        doc = records.sheet_document(
            tender_id=tid, expert_id=eid, revision=1, points={},
            reviews=[{"bid_id": b, "passed": True, "cause": None, "reason": ""} for b in bid_ids],
        )  # fmt: skip
        await ok(await client.post(f"/api/v1/tenders/{tid}/evaluation/sheets", headers=await h(party), json={
            "document": doc, "signature": b64url_encode(key.sign(canonical_json(doc)))}), 201)  # fmt: skip
    report = await ok(
        await client.post(f"/api/v1/tenders/{tid}/evaluation/report", headers=await h(staff)), 201
    )
    report_sha = (await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=await h(staff))))[
        "report"]["sha256"]  # fmt: skip
    assert report["document"]
    for eid in seated:
        party, key = experts[eid]
        doc = records.signature_document(
            tender_id=tid, report_sha256=report_sha, expert_id=eid, dissent=None
        )
        await ok(await client.post(f"/api/v1/tenders/{tid}/evaluation/report/signatures", headers=await h(party),
                                   json={"document": doc, "signature": b64url_encode(key.sign(canonical_json(doc)))}),
                 201)  # fmt: skip
    state = await ok(await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=await h(staff)))
    assert state["state"] == "concluded", state
    r = await client.get(
        f"/api/v1/tenders/{tid}/evaluation/bids", headers=await h(experts[seated[0]][0])
    )
    assert r.status == 403  # the evaluation is over: nobody reads the bids any more
    full = await ok(
        await client.get(f"/api/v1/tenders/{tid}/evaluation/record", headers=await h(staff))
    )
    server_key = (await ok(await client.get("/api/v1/bidding/server-key")))["public_key_hex"]
    record_file = tmp_path / "evaluation-record.json"
    record_file.write_text(json.dumps(full, ensure_ascii=False), "utf-8")
    assert (
        cli.main(["verify-evaluation", "--record", str(record_file), "--public-key", server_key])
        == 0
    )
    async with app[keys.POOL].acquire() as conn:  # and the evaluation key is gone
        assert await conn.fetchval(
            "SELECT wrapped_key IS NULL FROM tender_evaluation_keys WHERE tender_id = $1", tid
        )

    # the panel's result is fixed: the list is published and the draw verifies (E7, CLI)
    await ok(await client.post(f"/api/v1/tenders/{tid}/panel/fix", headers=await h(staff)))
    assert (
        await client.get(f"/api/v1/tenders/{tid}/panel", headers=await h(bidders[0]))
    ).status == 200
    config = app[keys.CONFIG]
    monkeypatch.setenv("DATABASE_URL", config.database_url or "")
    monkeypatch.setenv("SUNLIT_DATA", str(config.data_dir))
    assert await asyncio.to_thread(cli.main, ["experts", "verify-draw", str(draw["id"])]) == 0

    # -- publicity with an objection, the award, the contract, the refunds ------------------
    winner_price = min(PRICES)
    winner = bidders[PRICES.index(winner_price)]
    runner_up = bidders[PRICES.index(sorted(PRICES)[1])]
    await ok(await client.post(f"/api/v1/tenders/{tid}/award/publicity", headers=await h(staff)))
    objection = await ok(await client.post(f"/api/v1/tenders/{tid}/award/objections", headers=await h(runner_up),
                                           json={"text": "第一候选人业绩不实 objection"}), 201)  # fmt: skip
    r = await client.post(f"/api/v1/tenders/{tid}/award", json={}, headers=await h(staff))
    assert r.status == 409  # the publicity runs and an objection is open (T18)
    await ok(await client.post(f"/api/v1/tenders/{tid}/award/objections/{objection['id']}/answer",
                               json={"answer": "经核实业绩属实。 Verified."}, headers=await h(staff)))  # fmt: skip
    clock.advance(days=3)
    await app[keys.SCHEDULER].run_due()
    award = await ok(
        await client.post(f"/api/v1/tenders/{tid}/award", json={"rank": 1}, headers=await h(staff)),
        201,
    )
    assert award["awarded_rank"] == 1
    notice = await ok(
        await client.get(f"/api/v1/tenders/{tid}/award/notice", headers=await h(winner))
    )
    assert notice["document"]["winner_org_id"] == winner.org_id
    clock.advance(days=2)
    done = await ok(await client.post(f"/api/v1/tenders/{tid}/contract", headers=await h(staff),
                                      json={"amount_fen": winner_price, "performance_bond_fen": winner_price // 10}),
                    201)  # fmt: skip
    assert done["state"] == "contracted"
    refunded = done["refunds"]["refunded"]
    assert len(refunded) == 4 and all(d["interest_fen"] > 0 for d in refunded), refunded
    tb = await ok(await client.get("/api/v1/ledger/trial-balance", headers=await h(supervisor)))
    assert tb["balanced"] and tb["net_fen"] == 0, tb
    kinds = json.dumps(
        await ok(await client.get(f"/api/v1/public/notices?tender_id={tid}&limit=100"))
    )
    for kind in ("opening_record", "candidates", "award_result"):
        assert kind in kinds, (kind, kinds)
