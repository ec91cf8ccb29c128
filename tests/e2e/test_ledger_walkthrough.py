"""The deposit ledger end to end through HTTP (and the CLI's bank simulator): terms, a
bidder's sub-account, a signed bank notification, admission, the result (refunds to losers,
the winner's deposit converted), the refund batch file, the bank's signed confirmations, its
statement and the reconciliation; supervisors read accounts, transfers and a trial balance
that sums to zero. Bad input on the way gets clear errors. RULES D1–D9, A7, T14."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from crypto.signing import public_key_bytes
from tests.helpers import login, user_headers
from trading.context import Role
from trading.ledger import bank, store
from trading.ledger.model import PayoutResult
from web import keys
from web.cli import main as cli_main


async def ok(resp: Any, status: int = 200) -> Any:
    assert resp.status == status, await resp.text()
    return await resp.json()


async def problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert body["code"] == code, body
    return body


def signed_by_cli(capsys: pytest.CaptureFixture[str], key: Path, *args: str) -> dict[str, Any]:
    """``sunlit ledger notify --print``: the bank simulator signs a notification."""
    assert cli_main(["ledger", "notify", "--print", "--key", str(key), *args]) == 0
    return json.loads(capsys.readouterr().out)


async def test_deposit_walkthrough_over_http(client: TestClient, tmp_path: Path, capsys) -> None:
    """D1–D9, A7: register, pay, admitted, result, refunds, batch, bank answers, statement,
    reconciliation; the ledger sums to zero at the end."""
    app = client.server.app
    clock = app[keys.CLOCK]
    _, admin = await user_headers(client, Role.ADMIN)
    staff_user, staff = await user_headers(client, Role.STAFF)
    supervisor_user, supervisor = await user_headers(client, Role.SUPERVISOR)
    bidders = [await user_headers(client, Role.BIDDER) for _ in range(3)]
    orgs = [p.org_id for p, _ in bidders]

    # the bank's key pair: the private half stays with the bank (simulator), the ledger trusts the public half
    key_file = tmp_path / "bank.key"
    bank_key = bank.load_or_create_key(key_file)
    await ok(
        await client.post(
            "/api/v1/ledger/bank-keys",
            headers=admin,
            json={"public_key": public_key_bytes(bank_key).hex()},
        ),
        201,
    )

    # staff register the lot's deposit terms (A7: ≥ 20 % of the starting price)
    deadline = clock.now() + timedelta(days=10)
    terms = {
        "project_ref": "lot:5",
        "kind": "auction",
        "required_fen": 20_000_000,
        "land": True,
        "starting_price_fen": 100_000_000,
        "deadline_at": deadline.isoformat(),
    }
    await problem(
        await client.post(
            "/api/v1/ledger/projects", headers=staff, json=terms | {"required_fen": 19_000_000}
        ),
        422,
        "deposit_below_floor",
    )
    await problem(
        await client.post(
            "/api/v1/ledger/projects", headers=staff, json=terms | {"required_fen": 2.5e7}
        ),
        422,
        "validation_failed",
    )
    await problem(
        await client.post("/api/v1/ledger/projects", headers=bidders[0][1], json=terms),
        403,
        "role_forbidden",
    )
    await ok(await client.post("/api/v1/ledger/projects", headers=staff, json=terms), 201)

    # each bidder opens its deposit and gets its virtual sub-account
    subs = []
    for (_, h), org in zip(bidders, orgs, strict=True):
        d = await ok(
            await client.post("/api/v1/ledger/projects/lot:5/deposits", headers=h, json={}), 201
        )
        assert d["org_id"] == org and d["required_fen"] == 20_000_000 and d["state"] == "awaiting"
        subs.append(d["sub_account"])
    await problem(
        await client.post(
            "/api/v1/ledger/projects/lot:5/deposits",
            headers=bidders[0][1],
            json={"org_id": orgs[1]},
        ),
        403,
        "out_of_scope",
    )

    # the bank notifies each payment (signed); the same message twice changes nothing
    bodies = [
        signed_by_cli(
            capsys,
            key_file,
            "--sub-account",
            sub,
            "--amount",
            "200000.00",
            "--seq",
            str(i),
            "--bank-ref",
            f"WALK{i}",
            "--payer-account",
            f"6222 0000 {i}",
            "--value-time",
            clock.now().isoformat(),
        )
        for i, sub in enumerate(subs, start=1)
    ]
    for body in bodies:
        outcome = await ok(await client.post("/api/v1/bank/notifications", json=body))
        assert outcome["verdict"] == "confirm" and not outcome["replayed"]
    again = await ok(await client.post("/api/v1/bank/notifications", json=bodies[0]))
    assert again["replayed"] and again["verdict"] == "confirm"
    for (_, h), org in zip(bidders, orgs, strict=True):
        d = await ok(await client.get(f"/api/v1/ledger/projects/lot:5/deposits/{org}", headers=h))
        assert d["admitted"] and d["payer_account"].startswith("6222")

    # bad bank messages: forged, replayed, out of order, malformed
    forged = dict(bodies[0], signature=bodies[1]["signature"])
    await problem(
        await client.post("/api/v1/bank/notifications", json=forged),
        403,
        "notification_bad_signature",
    )
    replayed = signed_by_cli(
        capsys,
        key_file,
        "--sub-account",
        subs[0],
        "--amount",
        "1.00",
        "--seq",
        "2",
        "--bank-ref",
        "WALK-R",
    )
    await problem(
        await client.post("/api/v1/bank/notifications", json=replayed), 409, "notification_replayed"
    )
    gap = signed_by_cli(
        capsys,
        key_file,
        "--sub-account",
        subs[0],
        "--amount",
        "1.00",
        "--seq",
        "9",
        "--bank-ref",
        "WALK-G",
    )
    await problem(
        await client.post("/api/v1/bank/notifications", json=gap), 409, "notification_out_of_order"
    )
    zero = signed_by_cli(
        capsys,
        key_file,
        "--sub-account",
        subs[0],
        "--amount",
        "0.00",
        "--seq",
        "4",
        "--bank-ref",
        "WALK-Z",
    )
    await problem(
        await client.post("/api/v1/bank/notifications", json=zero), 422, "notification_malformed"
    )
    floaty = json.loads(json.dumps(zero))
    floaty["notification"]["amount_fen"] = 100.0
    await problem(
        await client.post("/api/v1/bank/notifications", json=floaty), 422, "validation_failed"
    )
    assert (await ok(await client.get("/api/v1/bank/sequence")))["last_seq"] == 3

    # the result: bidder 0 won; the others are refunded within 5 working days (A7)
    result_at = clock.now() + timedelta(days=11)
    clock.set(result_at)
    staff, supervisor = (
        await login(client, staff_user.username),
        await login(client, supervisor_user.username),
    )
    done = await ok(
        await client.post(
            "/api/v1/ledger/projects/lot:5/refunds",
            headers=staff,
            json={"cause": "lost", "cause_at": result_at.isoformat(), "exclude_org_ids": [orgs[0]]},
        )
    )
    assert sorted(d["org_id"] for d in done["refunded"]) == sorted(orgs[1:])
    await problem(
        await client.post(
            f"/api/v1/ledger/projects/lot:5/deposits/{orgs[1]}/refund",
            headers=staff,
            json={"cause": "lost", "cause_at": result_at.isoformat()},
        ),
        409,
        "deposit_already_resolved",
    )
    won = await ok(
        await client.post(
            f"/api/v1/ledger/projects/lot:5/deposits/{orgs[0]}/convert", headers=staff, json={}
        )
    )
    assert won["state"] == "converted"

    # the refund instructions go to the bank as a batch file
    batch = await ok(await client.post("/api/v1/ledger/refund-batches", headers=staff), 201)
    assert batch["lines"] == 2 and batch["total_fen"] == 40_000_000
    r = await client.get(f"/api/v1/ledger/refund-batches/{batch['id']}.csv", headers=staff)
    assert r.status == 200 and r.content_type == "text/csv"
    lines = (await r.text()).splitlines()
    assert lines[0].startswith("batch_id,payout_id,payee_account") and len(lines) == 3
    await problem(
        await client.post("/api/v1/ledger/refund-batches", headers=staff),
        409,
        "no_refunds_to_batch",
    )

    # the bank answers, signed: both paid
    answers = bank.sign_payout_results(
        [
            PayoutResult(pid, True, f"PAY{i}", clock.now())
            for i, pid in enumerate(batch["payout_ids"])
        ],
        bank_key,
    )
    tampered = dict(
        answers, results=[dict(answers["results"][0], status="rejected"), answers["results"][1]]
    )
    await problem(
        await client.post("/api/v1/bank/payout-results", json=tampered),
        403,
        "notification_bad_signature",
    )
    settled = await ok(await client.post("/api/v1/bank/payout-results", json=answers))
    assert [p["state"] for p in settled["payouts"]] == ["posted", "posted"]
    for org in orgs[1:]:
        d = await ok(
            await client.get(f"/api/v1/ledger/projects/lot:5/deposits/{org}", headers=staff)
        )
        assert d["state"] == "refunded" and not d["admitted"]

    # the bank's daily statement: everything, plus a stray credit nobody notified
    async with app[keys.POOL].acquire() as conn:
        movements = await store.movements(conn)
    day = movements[0].value_on.isoformat()
    statement = bank.statement_csv(movements, extra=[("STRAY9", 8_800, day, "6222 7777")])
    report = await ok(
        await client.post(
            "/api/v1/ledger/reconciliations",
            headers=staff,
            data=statement.encode(),
            params={"from_on": day},
        ),
        201,
    )
    assert (
        report["matched"] == len(movements)
        and report["missing_in_bank"] == 0
        and report["differences"] == 0
    )
    assert (
        report["missing_in_ledger"] == 1
        and report["to_suspense_fen"] == 8_800
        and not report["clean"]
    )
    await problem(
        await client.post("/api/v1/ledger/reconciliations", headers=staff, data=b"nonsense\n1,2\n"),
        422,
        "statement_invalid",
    )

    # supervisors read everything; the trial balance sums to zero; they write nothing
    tb = await ok(await client.get("/api/v1/ledger/trial-balance", headers=supervisor))
    assert tb["balanced"] and tb["net_fen"] == 0
    by_kind = tb["by_kind"]
    assert by_kind["price_receivable"] == -20_000_000 and by_kind["suspense"] == -8_800
    assert by_kind["bank"] == 20_000_000 + 8_800
    accounts = await ok(await client.get("/api/v1/ledger/accounts?limit=1000", headers=supervisor))
    assert len(accounts["accounts"]) == 6 + 3
    transfers = await ok(
        await client.get("/api/v1/ledger/transfers?limit=1000", headers=supervisor)
    )
    assert (
        len(transfers["transfers"]) == 3 + 2 * 3 + 1 + 1
    )  # credits; refund+payout+post ×2; conversion; stray
    await problem(
        await client.post("/api/v1/ledger/refund-batches", headers=supervisor),
        403,
        "role_forbidden",
    )
    alerts = await ok(
        await client.get("/api/v1/alerts?kind=ledger.reconciliation", headers=supervisor)
    )
    assert len(alerts) == 1

    # the stray money goes back to its payer: a refund instruction for the next batch
    back = await ok(
        await client.post("/api/v1/ledger/suspense/STRAY9/return", headers=staff, json={})
    )
    assert (
        back["purpose"] == "suspense_return"
        and back["amount_fen"] == 8_800
        and back["state"] == "pending"
    )
    await problem(
        await client.post("/api/v1/ledger/suspense/STRAY9/return", headers=staff, json={}),
        404,
        "suspense_item_not_found",
    )

    # the refunds were paid in time: their due events raise nothing...
    clock.set(result_at + timedelta(days=10))
    await app[keys.SCHEDULER].run_due()
    supervisor = await login(client, supervisor_user.username)
    overdue = await ok(
        await client.get("/api/v1/alerts?kind=ledger.refund_overdue", headers=supervisor)
    )
    # ...only the stray money, held in suspense and not returned within 5 days, is late
    assert [(a["object_type"], a["object_id"]) for a in overdue] == [("suspense", "STRAY9")]


async def test_a_tender_payer_is_sealed_to_staff_and_supervisors_until_the_opening(
    client: TestClient, tmp_path: Path, capsys
) -> None:
    """D1: staff and supervisors see "sealed" before the opening, the payer after; a
    forfeiture needs a second staff member (D6)."""
    app = client.server.app
    clock = app[keys.CLOCK]
    _, admin = await user_headers(client, Role.ADMIN)
    staff_user, staff = await user_headers(client, Role.STAFF)
    staff2_user, staff2 = await user_headers(client, Role.STAFF)
    supervisor_user, supervisor = await user_headers(client, Role.SUPERVISOR)
    party, bidder = await user_headers(client, Role.BIDDER)
    key_file = tmp_path / "bank.key"
    await ok(
        await client.post(
            "/api/v1/ledger/bank-keys",
            headers=admin,
            json={"public_key": public_key_bytes(bank.load_or_create_key(key_file)).hex()},
        ),
        201,
    )
    deadline = clock.now() + timedelta(days=20)
    await ok(
        await client.post(
            "/api/v1/ledger/projects",
            headers=staff,
            json={
                "project_ref": "tender:8",
                "kind": "tender",
                "required_fen": 1_000_000,
                "estimate_fen": 100_000_000,
                "deadline_at": deadline.isoformat(),
                "opening_at": (deadline + timedelta(hours=1)).isoformat(),
                "interest_rate_bp": 150,
            },
        ),
        201,
    )
    await problem(
        await client.post(
            "/api/v1/ledger/projects",
            headers=staff,
            json={
                "project_ref": "tender:9",
                "kind": "tender",
                "required_fen": 2_010_000,
                "estimate_fen": 100_000_000,
                "deadline_at": deadline.isoformat(),
            },
        ),
        422,
        "deposit_above_cap",
    )
    d = await ok(
        await client.post("/api/v1/ledger/projects/tender:8/deposits", headers=bidder, json={}), 201
    )
    body = signed_by_cli(
        capsys,
        key_file,
        "--sub-account",
        d["sub_account"],
        "--amount",
        "10000",
        "--seq",
        "1",
        "--payer-account",
        "6222 5555",
        "--payer-name",
        "Payer Co",
        "--value-time",
        clock.now().isoformat(),
    )
    assert (await ok(await client.post("/api/v1/bank/notifications", json=body)))[
        "verdict"
    ] == "confirm"
    url = f"/api/v1/ledger/projects/tender:8/deposits/{party.org_id}"
    for h in (staff, supervisor):
        seen = await ok(await client.get(url, headers=h))
        assert (
            seen["payer_account"] == "sealed"
            and seen["payer_name"] == "sealed"
            and seen["admitted"]
        )
    assert (await ok(await client.get(url, headers=bidder)))["payer_account"] == "6222 5555"
    clock.set(deadline + timedelta(hours=1))
    staff, staff2, supervisor, bidder = [
        await login(client, u.username) for u in (staff_user, staff2_user, supervisor_user, party)
    ]
    assert (await ok(await client.get(url, headers=supervisor)))["payer_account"] == "6222 5555"

    forfeit = f"/api/v1/ledger/projects/tender:8/deposits/{party.org_id}/forfeit"
    await ok(
        await client.post(
            forfeit, headers=staff, json={"cause": "refused_to_sign", "note": "did not sign"}
        )
    )
    await problem(
        await client.post(forfeit + "/approve", headers=staff, json={}),
        403,
        "second_approver_required",
    )
    assert not (await ok(await client.get(url, headers=bidder)))["admitted"]
    done = await ok(await client.post(forfeit + "/approve", headers=staff2, json={}))
    assert done["state"] == "forfeited"
