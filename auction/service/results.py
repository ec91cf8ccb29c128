"""Results, bidders, confirmations and the signed log export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg

from auction import deposits, store
from auction.model import (
    Outcome,
)
from auction.service.common import _not_found, lot_json, yuan
from auction.service.custody import custody_export
from auction.service.settlement import _session_lots, _session_not_ended
from auction.verify import log_digest, log_document, signed_export
from crypto.signing import canonical_json
from trading.audit import AuditLog
from trading.clock import iso_ms
from trading.errors import Conflict

# -- results ----------------------------------------------------------------------------------------------


async def result(conn: asyncpg.Connection, lot_id: int) -> dict[str, Any]:
    """The public result of a closed lot: outcome, the winner (paddle and, now, identity),
    the price, the premium over the starting price, the reserve with its commitment and
    salt (anyone can check), and every accepted bid by paddle."""
    row = await store.get_lot(conn, lot_id)
    if row is None:
        raise _not_found("lot", lot_id)
    if row["status"] != "closed":
        raise Conflict("the lot has no result yet", "标的尚未产生结果", code="no_result_yet")
    bids = await store.accepted_bids(conn, lot_id)
    reserve = await store.revealed_reserve(conn, lot_id)
    winner = None
    if row["winner_org_id"] is not None:
        org = (await store.organisations(conn, [row["winner_org_id"]]))[row["winner_org_id"]]
        winner = {
            "paddle": row["winner_paddle"],
            "org_id": org["id"],
            "name": org["name"],
            "credit_code": org["credit_code"],
        }
    start = row["config"]["starting_price_fen"]
    price = row["price_fen"]
    premium = None
    if price is not None:  # 增值率 in hundredths of a percent, integer arithmetic
        bp = (price - start) * 10_000 // start
        premium = f"{'-' if bp < 0 else ''}{abs(bp) // 100}.{abs(bp) % 100:02d}"
    return {
        "lot": lot_json(row),
        "outcome": row["outcome"],
        "basis": row["basis"],
        "winner": winner,
        "price_fen": price,
        "price_yuan": yuan(price),
        "premium_pct": premium,
        "reserve": None
        if reserve is None
        else {
            "reserve_fen": reserve["revealed_fen"],
            "commitment": reserve["commitment"],
            "salt_hex": bytes(reserve["revealed_salt"]).hex(),
            "entered_at": reserve["entered_at"],
        },
        "closed_at": row["closed_at"],
        "bids": [
            {"seq": b["seq"], "at": b["at"], "paddle": b["paddle"], "amount_fen": b["amount_fen"]}
            for b in bids
        ],
    }


async def session_results(conn: asyncpg.Connection, session_id: int) -> dict[str, Any]:
    """An ended plate session for staff: each plate's result and what became of each deposit
    — converted into the price of the first plate its bidder won, refund due (by when),
    refunded, or confirmed outside the ledger. Identities stay behind paddles until the
    session has ended (409 ``session_not_ended``)."""
    session = await store.get_session(conn, session_id)
    if session is None:
        raise _not_found("session", session_id)
    plates = deposits.closed_plates(await _session_lots(conn, session_id))
    if plates is None:
        raise _session_not_ended(session_id)
    return {
        "session_id": session_id,
        "title": session["title"],
        "ended_at": max(p.closed_at for p in plates),
        "lots": [
            {
                "lot_id": p.lot_id,
                "title": p.title,
                "outcome": p.outcome,
                "winner_paddle": p.winner_paddle,
                "winner_org_id": p.winner_org_id,
                "price_fen": p.price_fen,
                "closed_at": p.closed_at,
            }
            for p in plates
        ],
        **await deposits.session_deposits(conn, session_id, plates),
    }


async def bidders(conn: asyncpg.Connection, lot_id: int) -> dict[str, Any]:
    """Who held which paddle (staff, once the lot is closed)."""
    row = await store.get_lot(conn, lot_id)
    if row is None:
        raise _not_found("lot", lot_id)
    if row["status"] != "closed":
        raise Conflict(
            "identities stay behind paddles until the lot is closed",
            "标的结束前，竞买人身份以竞买号保密",
            code="identities_sealed",
        )
    scope = f"session:{row['session_id']}" if row["session_id"] else f"lot:{lot_id}"
    holders = await store.paddle_holders(conn, scope)
    return {
        "lot_id": lot_id,
        "scope": scope,
        "bidders": [
            {
                "paddle": h["paddle"],
                "org_id": h["org_id"],
                "name": h["name"],
                "credit_code": h["credit_code"],
                "admitted_at": h["admitted_at"],
            }
            for h in holders
        ],
    }


async def confirmation(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, *, lot_id: int
) -> dict[str, Any]:
    """The confirmation (成交确认书) of a sold lot, signed with the server's key over the
    canonical JSON of ``document``; ``log_sha256`` binds it to the lot's whole log. A plate's
    is issued once its session has ended (409 ``session_not_ended`` before): only then is it
    known which plate the session's deposit went into (A7)."""
    data = await result(conn, lot_id)
    if data["outcome"] != Outcome.SOLD.value or data["winner"] is None:
        raise Conflict("the lot was not sold", "标的未成交", code="not_sold")
    row = await store.get_lot(conn, lot_id)
    assert row is not None
    events = await store.events_page(conn, lot_id, after_seq=0, limit=10_000_000, public_only=False)
    price = data["price_fen"]
    if row["session_id"] is None:
        deposit = row["config"]["deposit_fen"]
        applied = min(deposit, price)
    else:
        deposit, applied = await _plate_deposit_applied(conn, row)
    document = {
        "document": "auction_confirmation",
        "title_zh": "成交确认书",
        "title_en": "Auction confirmation",
        "lot": {
            "id": lot_id,
            "kind": row["kind"],
            "title": row["title"],
            "session_id": row["session_id"],
        },
        "winner": data["winner"],
        "price_fen": price,
        "price_yuan": yuan(price),
        "deposit_fen": deposit,
        "deposit_applied_fen": applied,
        "balance_due_fen": price - applied,
        "basis": data["basis"],
        "closed_at": iso_ms(data["closed_at"]),
        "log_seq": events[-1]["seq"] if events else 0,
        "log_sha256": log_digest([e["data"] for e in events]),
        "issued_at": iso_ms(now),
    }
    signature = audit.sign(canonical_json(document))
    return {
        "confirmation": document,
        "signature": signature.hex(),
        "key_id": audit.key_id,
        "public_key": audit.public_key.hex(),
        "signed": "Ed25519 over the canonical JSON (sorted keys, no spaces, UTF-8) of 'confirmation'",
    }


async def export_log(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, *, lot_id: int
) -> dict[str, Any]:
    """A lot's whole log, signed, once the lot has ended (409 ``lot_not_ended`` before): its
    configuration, its scope's admissions (paddle and time, no identity), the revealed
    reserve and salt, every event — what ``sunlit verify-auction`` replays through the rules
    (``auction.verify``). ``log_sha256`` is the confirmation's."""
    row = await store.get_lot(conn, lot_id)
    if row is None:
        raise _not_found("lot", lot_id)
    if row["status"] != "closed":
        raise Conflict(
            "the log is exported once the lot has ended", "标的结束后方可导出竞价日志", code="lot_not_ended"
        )
    events = await store.events_page(conn, lot_id, after_seq=0, limit=10_000_000, public_only=False)
    scope = f"session:{row['session_id']}" if row["session_id"] else f"lot:{lot_id}"
    holders = await store.paddle_holders(conn, scope)
    reserve = await store.revealed_reserve(conn, lot_id)
    custody = (
        None if reserve is None else await custody_export(conn, lot_id, reserve["commitment"])
    )
    document = log_document(
        lot_id=lot_id,
        kind=row["kind"],
        title=row["title"],
        session_id=row["session_id"],
        config=row["config"],
        admitted=[(h["paddle"], h["admitted_at"]) for h in holders],
        reserve=None
        if reserve is None
        else {
            "reserve_fen": reserve["revealed_fen"],
            "salt_hex": bytes(reserve["revealed_salt"]).hex(),
            "commitment": reserve["commitment"],
            **({} if custody is None else {"custody": custody}),
        },
        events=[e["data"] for e in events],
        exported_at=now,
    )
    return signed_export(document, audit)


async def _plate_deposit_applied(conn: asyncpg.Connection, row: asyncpg.Record) -> tuple[int, int]:
    """A sold plate's session deposit and how much of it went into this plate's price."""
    session_id = row["session_id"]
    lots = await _session_lots(conn, session_id)
    plates = deposits.closed_plates(lots)
    if plates is None:
        raise _session_not_ended(session_id)
    deposit = deposits.session_deposit_fen(r["config"]["deposit_fen"] for r in lots)
    (plate,) = [p for p in plates if p.lot_id == row["id"]]
    applied = await deposits.applied_to_plate(
        conn, session_id=session_id, plate=plate, plates=plates, deposit_fen=deposit
    )
    return deposit, applied
