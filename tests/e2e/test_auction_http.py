"""Live auctions through the HTTP API: who may do what, every user mistake answered with its
code, staff controls (pause, resume, terminate, suspend), the price cap, admission.

Sources: RULES.md A1–A8 (O39; land practice); DESIGN.md "Auctions" and "Security model".
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from tests.helpers import user_headers
from trading.clock import iso_ms
from trading.context import Role
from web.auction_ws import ENGINE

START = 100_000_000
INC = 1_000_000


async def call(
    client: TestClient,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: Any = None,
) -> tuple[int, Any]:
    r = await client.request(method, "/api/v1" + path, headers=headers or {}, json=body)
    return r.status, await r.json()


def land_body(clock: Any, **overrides: Any) -> dict[str, Any]:
    now = clock.now()
    return {
        "title": "plot",
        "starting_price_fen": START,
        "increment_fen": INC,
        "deposit_fen": START // 5,
        "listing_starts_at": iso_ms(now + timedelta(minutes=1)),
        "listing_ends_at": iso_ms(now + timedelta(days=10, minutes=1)),
        **overrides,
    }


async def lot_with_bidders(client: TestClient, clock: Any, n: int = 2, **overrides: Any):  # type: ignore[no-untyped-def]
    _, staff = await user_headers(client, Role.STAFF)
    status, lot = await call(client, "POST", "/auctions/lots", staff, land_body(clock, **overrides))
    assert status == 201, lot
    people = []
    for _ in range(n):
        party, headers = await user_headers(client, Role.BIDDER)
        await call(
            client,
            "POST",
            "/admission-flags",
            staff,
            {"org_id": party.org_id, "project_ref": f"lot:{lot['id']}", "note": "paid"},
        )
        status, admitted = await call(
            client,
            "POST",
            f"/auctions/lots/{lot['id']}/admissions",
            staff,
            {"org_id": party.org_id},
        )
        assert status == 201, admitted
        people.append((party, headers, admitted["paddle"]))
    return staff, lot, people


async def test_only_staff_create_and_run_lots(client, clock) -> None:
    """DESIGN (who uses it): bidders and the public may not create or run lots; a
    supervisor reads but writes nothing."""
    _, bidder = await user_headers(client, Role.BIDDER)
    _, supervisor = await user_headers(client, Role.SUPERVISOR)
    for headers in ({}, bidder, supervisor):
        status, problem = await call(client, "POST", "/auctions/lots", headers, land_body(clock))
        assert status in (401, 403), problem
    staff, lot, _ = await lot_with_bidders(client, clock, 0)
    status, problem = await call(client, "POST", f"/auctions/lots/{lot['id']}/start", supervisor)
    assert status == 403 and problem["code"] == "role_forbidden"
    status, got = await call(client, "GET", f"/auctions/lots/{lot['id']}", supervisor)
    assert status == 200 and got["live"]["phase"] == "scheduled"


async def test_a_bad_lot_is_refused_with_every_problem_listed(client, clock) -> None:
    """A5, A7 (cfg): a listing of at least 10 days; a land deposit of at least 20 % of the
    starting price; every problem said at once."""
    _, staff = await user_headers(client, Role.STAFF)
    now = clock.now()
    body = land_body(
        clock, deposit_fen=START // 10, listing_ends_at=iso_ms(now + timedelta(days=5))
    )
    status, problem = await call(client, "POST", "/auctions/lots", staff, body)
    assert status == 422 and problem["code"] == "validation_failed"
    assert len(problem["errors"]) == 2 and any("20%" in e["problem"] for e in problem["errors"])
    for field, value in (
        ("starting_price_fen", "100"),
        ("starting_price_fen", 1.5),
        ("increment_fen", -1),
        ("starting_price_fen", 10**16),
        ("listing_starts_at", "2026-01-05T01:00:00"),
    ):
        status, problem = await call(
            client, "POST", "/auctions/lots", staff, land_body(clock, **{field: value})
        )
        assert status == 422 and problem["code"] == "validation_failed", (field, value, problem)
    status, problem = await call(
        client,
        "POST",
        "/auctions/sessions",
        staff,
        {
            "title": "s",
            "starts_at": iso_ms(now),
            "lots": [
                {
                    "title": "A",
                    "starting_price_fen": 100,
                    "increment_fen": 10,
                    "deposit_fen": 1,
                    "price_cap_fen": 50,
                },
                {"title": "A", "starting_price_fen": 100, "increment_fen": 10, "deposit_fen": 1},
            ],
        },
    )
    assert status == 422 and len(problem["errors"]) == 2


async def test_admission_needs_a_confirmed_deposit_and_is_all_or_nothing(client, clock) -> None:
    """A6: a deposit confirmed before a bidder is admitted; a paddle per bidder; admitting
    again keeps the paddle."""
    _, staff = await user_headers(client, Role.STAFF)
    _, lot = await call(client, "POST", "/auctions/lots", staff, land_body(clock))
    paid, paid_h = await user_headers(client, Role.BIDDER)
    unpaid, _ = await user_headers(client, Role.BIDDER)
    await call(
        client,
        "POST",
        "/admission-flags",
        staff,
        {"org_id": paid.org_id, "project_ref": f"lot:{lot['id']}", "note": "paid"},
    )
    status, problem = await call(
        client, "POST", f"/auctions/lots/{lot['id']}/admissions", staff, {"org_id": unpaid.org_id}
    )
    assert status == 403 and problem["code"] == "not_admitted"
    assert [(e["org_id"], e["code"], e["type"]) for e in problem["errors"]] == [
        (unpaid.org_id, "deposit_not_confirmed", "deposit_not_confirmed")
    ]
    _, first = await call(
        client, "POST", f"/auctions/lots/{lot['id']}/admissions", staff, {"org_id": paid.org_id}
    )
    _, again = await call(
        client, "POST", f"/auctions/lots/{lot['id']}/admissions", staff, {"org_id": paid.org_id}
    )
    assert first["paddle"] == again["paddle"] and len(first["paddle"]) == 6 and not again["new"]
    status, mine = await call(client, "GET", "/auctions/me/paddles", paid_h)
    assert (
        status == 200 and mine[0]["paddle"] == first["paddle"] and mine[0]["lot_ids"] == [lot["id"]]
    )
    session_body = {
        "title": "s",
        "starts_at": iso_ms(clock.now()),
        "lots": [
            {"title": "浙E·1", "starting_price_fen": 100, "increment_fen": 10, "deposit_fen": 1}
        ],
    }
    _, session = await call(client, "POST", "/auctions/sessions", staff, session_body)
    await call(
        client,
        "POST",
        "/admission-flags",
        staff,
        {"org_id": paid.org_id, "project_ref": f"auction_session:{session['id']}", "note": "paid"},
    )
    status, problem = await call(
        client,
        "POST",
        f"/auctions/sessions/{session['id']}/admissions",
        staff,
        {"org_ids": [paid.org_id, unpaid.org_id]},
    )
    assert status == 403 and [e["org_id"] for e in problem["errors"]] == [unpaid.org_id]
    status, problem = await call(
        client,
        "POST",
        f"/auctions/lots/{session['lots'][0]['id']}/admissions",
        staff,
        {"org_id": paid.org_id},
    )
    assert status == 409 and problem["code"] == "admit_to_the_session"
    status, _ = await call(
        client,
        "POST",
        f"/auctions/sessions/{session['id']}/admissions",
        staff,
        {"org_ids": [paid.org_id]},
    )
    assert status == 201


async def test_staff_pause_resume_and_terminate_with_reasons(client, clock) -> None:
    """Issue 4: staff pause (with a reason), resume, close; a close never cuts a running
    countdown (A5): terminate only before the start or while paused."""
    staff, lot, people = await lot_with_bidders(client, clock, 2, countdown_s=60)
    lot_id = lot["id"]
    status, problem = await call(client, "POST", f"/auctions/lots/{lot_id}/start", staff)
    assert status == 409 and problem["code"] == "too_early"
    clock.advance(minutes=1)
    status, running = await call(client, "POST", f"/auctions/lots/{lot_id}/start", staff)
    assert status == 200 and running["live"]["phase"] == "listing"
    status, problem = await call(
        client, "POST", f"/auctions/lots/{lot_id}/pause", staff, {"reason": ""}
    )
    assert status == 422
    status, paused = await call(
        client, "POST", f"/auctions/lots/{lot_id}/pause", staff, {"reason": "power cut"}
    )
    assert paused["live"]["phase"] == "paused"
    status, problem = await call(
        client,
        "POST",
        f"/auctions/lots/{lot_id}/bids",
        people[0][1],
        {"bid_id": "1", "amount_fen": START},
    )
    assert status == 409 and problem["code"] == "paused"
    clock.advance(hours=1)
    status, resumed = await call(client, "POST", f"/auctions/lots/{lot_id}/resume", staff)
    assert resumed["live"]["listing_ends_at"] == iso_ms(clock.now() + timedelta(days=10))  # moved by the pause
    status, problem = await call(
        client, "POST", f"/auctions/lots/{lot_id}/close", staff, {"reason": "no"}
    )
    assert status == 409 and problem["code"] == "wrong_phase"
    await call(client, "POST", f"/auctions/lots/{lot_id}/pause", staff, {"reason": "court order"})
    status, closed = await call(
        client, "POST", f"/auctions/lots/{lot_id}/close", staff, {"reason": "court order"}
    )
    assert closed["live"]["outcome"] == "cancelled"
    await client.server.app[ENGINE].wait_idle()
    status, result = await call(client, "GET", f"/auctions/lots/{lot_id}/result")
    assert status == 200 and result["basis"] == "staff_cancelled"


async def test_a_suspended_paddle_cannot_bid_until_reinstated(client, clock) -> None:
    staff, lot, people = await lot_with_bidders(client, clock, 2)
    clock.advance(minutes=1)
    await call(client, "POST", f"/auctions/lots/{lot['id']}/start", staff)
    (_, headers, paddle), _ = people
    await call(
        client,
        "POST",
        f"/auctions/lots/{lot['id']}/suspensions",
        staff,
        {"paddle": paddle, "reason": "collusion"},
    )
    status, problem = await call(
        client,
        "POST",
        f"/auctions/lots/{lot['id']}/bids",
        headers,
        {"bid_id": "1", "amount_fen": START},
    )
    assert status == 403 and problem["code"] == "suspended"
    await call(
        client, "POST", f"/auctions/lots/{lot['id']}/reinstatements", staff, {"paddle": paddle}
    )
    status, ack = await call(
        client,
        "POST",
        f"/auctions/lots/{lot['id']}/bids",
        headers,
        {"bid_id": "2", "amount_fen": START},
    )
    assert status == 201 and ack["paddle"] == paddle


async def test_a_bid_at_the_price_cap_ends_the_race_and_a_lottery_decides(client, clock) -> None:
    """A8 (land practice, cfg): a price cap ends the price race; a lottery among those who
    accept the capped price decides, re-runnable from the logged seed."""
    cap = START + 5 * INC
    staff, lot, people = await lot_with_bidders(
        client, clock, 3, price_cap_fen=cap, cap_policy="lottery"
    )
    lot_id = lot["id"]
    clock.advance(minutes=1)
    await call(client, "POST", f"/auctions/lots/{lot_id}/start", staff)
    status, problem = await call(
        client,
        "POST",
        f"/auctions/lots/{lot_id}/bids",
        people[0][1],
        {"bid_id": "over", "amount_fen": cap + INC},
    )
    assert problem["code"] == "over_cap"
    status, _ = await call(
        client,
        "POST",
        f"/auctions/lots/{lot_id}/bids",
        people[0][1],
        {"bid_id": "cap", "amount_fen": cap},
    )
    assert status == 201
    status, accepted = await call(
        client, "POST", f"/auctions/lots/{lot_id}/cap/accept", people[1][1]
    )
    assert status == 200 and accepted["cap_candidates"] == [people[0][2], people[1][2]]
    status, done = await call(client, "POST", f"/auctions/lots/{lot_id}/cap/lottery", staff)
    assert (
        done["live"]["phase"] == "closed" and done["live"]["winner"] in accepted["cap_candidates"]
    )
    from auction.rules import lottery_pick

    r = await client.get(f"/api/v1/auctions/lots/{lot_id}/events?limit=100")
    (resolved,) = [e for e in (await r.json())["events"] if e["type"] == "cap_resolved"]
    assert (
        lottery_pick(bytes.fromhex(resolved["seed_hex"]), resolved["candidates"])
        == resolved["winner"]
    )


async def test_results_and_identities_wait_for_the_close(client, clock) -> None:
    """A6: identities stay behind paddles until the end — for staff too."""
    staff, lot, people = await lot_with_bidders(client, clock, 1)
    status, problem = await call(client, "GET", f"/auctions/lots/{lot['id']}/bidders", staff)
    assert status == 409 and problem["code"] == "identities_sealed"
    status, problem = await call(client, "GET", f"/auctions/lots/{lot['id']}/result")
    assert status == 409 and problem["code"] == "no_result_yet"
    status, problem = await call(client, "GET", "/auctions/lots/999999")
    assert status == 404 and problem["code"] == "lot_not_found"
    status, lots = await call(client, "GET", "/auctions/lots?kind=land")
    assert status == 200 and [x["id"] for x in lots] == [lot["id"]]
    status, problem = await call(client, "GET", "/auctions/lots?kind=boat")
    assert status == 422


async def test_an_http_bid_is_idempotent_by_its_id(client, clock) -> None:
    staff, lot, people = await lot_with_bidders(client, clock, 1)
    clock.advance(minutes=1)
    await call(client, "POST", f"/auctions/lots/{lot['id']}/start", staff)
    headers = people[0][1]
    first = await call(
        client,
        "POST",
        f"/auctions/lots/{lot['id']}/bids",
        headers,
        {"bid_id": "x", "amount_fen": START},
    )
    again = await call(
        client,
        "POST",
        f"/auctions/lots/{lot['id']}/bids",
        headers,
        {"bid_id": "x", "amount_fen": START},
    )
    assert first == again and first[0] == 201
    status, problem = await call(
        client,
        "POST",
        f"/auctions/lots/{lot['id']}/bids",
        headers,
        {"bid_id": "x", "amount_fen": START + INC},
    )
    assert status == 409 and problem["code"] == "bid_id_reused"
