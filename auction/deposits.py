"""Bidding deposits (竞买保证金) live in the deposit ledger (``trading.ledger``). These calls run
inside the auction's own use-case transactions.

A land lot (project ``lot:<id>``):

- creating it registers its deposit terms (A7: ≥ 20 % of the starting price; money must
  arrive before the listing ends), so bidders can open their virtual sub-accounts;
- settling its close converts the winner's deposit into part of the price and makes every
  other confirmed deposit refundable within 5 working days (A7), once — the ledger's command
  ids make a repeat harmless.

A plate session (project ``auction_session:<id>``): one deposit per bidder covers every plate
of the session.

- Creating it registers one set of terms: the largest deposit any of its plates asks (so one
  deposit covers whichever plates the bidder goes for), due strictly before the session
  starts, in cash only (a guarantee could not become part of a price).
- Its deposits are settled when the session has ended — when its last lot is settled, in
  the same transaction (``settle_session_deposits``; the session's row lock makes the lots'
  settlements take turns, so exactly one of them sees the session ended). Each bidder who won
  a plate has its deposit converted **once**, into the price of the first plate it won (in
  the order the plates closed; the same instant: the lower lot id) — the other plates it won
  are paid in full as usual. Every other confirmed deposit becomes refundable within 5
  working days of the session's end (A7). Deposits left as they were: a winner's that is
  not confirmed (e.g. a forfeiture pending), and those never paid.
- A repeat changes nothing: a converted or refunded deposit is no longer confirmed, and the
  ledger's command ids (``auction-session<id>-convert/<org>``,
  ``auction-session<id>-refund-losers/<bidder no>``) answer a replay with the first answer.

A deposit confirmed outside Sunlit (an admission flag) is not in the ledger: staff settle it
by hand; the session's results say so (``outside_ledger``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from auction import store
from trading import notices
from trading.audit import AuditLog
from trading.context import Actor
from trading.ledger import service as ledger
from trading.ledger import store as ledger_store
from trading.ledger.model import Deposit, DepositForm, DepositState, ProjectKind, RefundCause
from trading.ledger.reconcile import format_fen


def session_ref(session_id: int) -> str:
    """The ledger's project reference of a plate session's deposits."""
    return f"auction_session:{session_id}"


# -- land ---------------------------------------------------------------------------------------


async def register_land_terms(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    deposit_fen: int,
    starting_price_fen: int,
    listing_ends_at: datetime,
) -> None:
    await ledger.register_project(
        conn,
        audit,
        actor,
        now,
        project_ref=f"lot:{lot_id}",
        kind=ProjectKind.AUCTION,
        required_fen=deposit_fen,
        deadline_at=listing_ends_at,
        starting_price_fen=starting_price_fen,
        land=True,
    )


async def settle_land_deposits(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    winner_org_id: int | None,
    closed_at: datetime,
) -> None:
    ref = f"lot:{lot_id}"
    if await ledger_store.get_project(conn, ref) is None:
        return
    if winner_org_id is not None:
        won = await ledger_store.get_deposit(conn, ref, ledger.bidder_id(winner_org_id))
        if won is not None and won.state is DepositState.CONFIRMED:
            await ledger.convert(
                conn,
                audit,
                actor,
                now,
                project_ref=ref,
                org_id=winner_org_id,
                command_id=f"auction-lot{lot_id}-convert",
            )
    await ledger.refund_all(
        conn,
        audit,
        actor,
        now,
        project_ref=ref,
        cause=RefundCause.LOST,
        cause_at=closed_at,
        command_id=f"auction-lot{lot_id}-refund-losers",
        exclude_org_ids=[winner_org_id] if winner_org_id is not None else [],
    )


# -- plate sessions: the pure part --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClosedPlate:
    """A closed plate lot of a session, as its result records it."""

    lot_id: int
    title: str
    outcome: str
    winner_org_id: int | None
    winner_paddle: str | None
    price_fen: int | None
    closed_at: datetime

    @property
    def sold(self) -> bool:
        return self.outcome == "sold" and self.winner_org_id is not None


def session_deposit_fen(lot_deposits_fen: Iterable[int]) -> int:
    """The one deposit of a plate session: the largest any of its plates asks."""
    return max(lot_deposits_fen, default=0)


def conversion_targets(plates: Iterable[ClosedPlate]) -> dict[int, ClosedPlate]:
    """For each winner (organisation id), the plate its deposit converts into: the first it
    won, in the order the plates closed (the same instant: the lower lot id)."""
    targets: dict[int, ClosedPlate] = {}
    for plate in sorted(plates, key=lambda p: (p.closed_at, p.lot_id)):
        if plate.sold and plate.winner_org_id not in targets:
            assert plate.winner_org_id is not None
            targets[plate.winner_org_id] = plate
    return targets


SETTLEMENTS = {
    DepositState.AWAITING: "unpaid",
    DepositState.CONFIRMED: "held",
    DepositState.REFUND_PENDING: "refund_due",
    DepositState.REFUNDED: "refunded",
    DepositState.FORFEIT_PENDING: "forfeit_pending",
    DepositState.FORFEITED: "forfeited",
    DepositState.CONVERTED: "converted",
}
"""What became of a session deposit, as the session's results say it (``outside_ledger``: an
admission confirmed by a staff flag, not in the ledger)."""


# -- plate sessions: the adapters ---------------------------------------------------------------


async def register_session_terms(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    session_id: int,
    deposit_fen: int,
    starts_at: datetime,
) -> None:
    """The session's deposit terms in the ledger (none when no plate asks a deposit)."""
    if deposit_fen == 0:
        return
    await ledger.register_project(
        conn,
        audit,
        actor,
        now,
        project_ref=session_ref(session_id),
        kind=ProjectKind.AUCTION,
        required_fen=deposit_fen,
        deadline_at=starts_at,
        accept_guarantees=False,
    )


def closed_plates(rows: Sequence[asyncpg.Record]) -> list[ClosedPlate] | None:
    """A session's lots (``auction.store`` rows) once every one is closed and settled; None
    while any runs (or when there are none)."""
    if not rows or any(r["status"] != "closed" for r in rows):
        return None
    return [
        ClosedPlate(
            lot_id=r["id"],
            title=r["title"],
            outcome=r["outcome"],
            winner_org_id=r["winner_org_id"],
            winner_paddle=r["winner_paddle"],
            price_fen=r["price_fen"],
            closed_at=r["closed_at"],
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True)
class SessionSettlement:
    """What one settlement changed (empty lists: a repeat, nothing changed)."""

    converted: list[tuple[int, ClosedPlate, Deposit]]
    refunded: list[Deposit]


async def settle_session_deposits(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    session_id: int,
    plates: Sequence[ClosedPlate],
) -> SessionSettlement | None:
    """Settle the deposits of an ended session, whose closed lots are ``plates`` (see the
    module docstring); None when the session has no deposit terms in the ledger."""
    assert plates, "a session has lots"
    ref = session_ref(session_id)
    async with conn.transaction():
        if await ledger_store.get_project(conn, ref) is None:
            return None
        ended_at = max(p.closed_at for p in plates)
        targets = conversion_targets(plates)
        # every deposit of the project first, in creation order (the ledger's lock order)
        before = {d.bidder_id: d for d in await ledger_store.lock_project_deposits(conn, ref)}
        converted: list[tuple[int, ClosedPlate, Deposit]] = []
        for org_id, plate in sorted(targets.items(), key=lambda t: t[1].lot_id):
            held = before.get(ledger.bidder_id(org_id))
            if held is None or held.state is not DepositState.CONFIRMED:
                continue
            if held.form is not DepositForm.CASH:
                continue  # not by these terms (cash only); left for staff
            d = await ledger.convert(
                conn,
                audit,
                actor,
                now,
                project_ref=ref,
                org_id=org_id,
                command_id=f"auction-session{session_id}-convert/{org_id}",
            )
            converted.append((org_id, plate, d))
            await _conversion_notice(conn, now, org_id, plate, d, session_id)
        answer = await ledger.refund_all(
            conn,
            audit,
            actor,
            now,
            project_ref=ref,
            cause=RefundCause.LOST,
            cause_at=ended_at,
            command_id=f"auction-session{session_id}-refund-losers",
            exclude_org_ids=list(targets),
        )
        refunded = [  # those refunded now, not the first answer to a repeat
            d
            for d in answer["refunded"]
            if d.bidder_id in before and before[d.bidder_id].state is DepositState.CONFIRMED
        ]
        if converted or refunded:
            await audit.append(
                conn,
                actor=actor,
                action="auction.session.deposits_settle",
                object_type="auction_session",
                object_id=session_id,
                at=now,
                payload={
                    "project_ref": ref,
                    "converted": [[o, p.lot_id, d.amount_fen] for o, p, d in converted],
                    "refunded": [
                        [int(d.bidder_id), d.refund_due_on.isoformat() if d.refund_due_on else None]
                        for d in refunded
                    ],
                },
                detail={"converted": len(converted), "refunded": len(refunded)},
            )
    return SessionSettlement(converted=converted, refunded=refunded)


async def _conversion_notice(
    conn: asyncpg.Connection,
    now: datetime,
    org_id: int,
    plate: ClosedPlate,
    d: Deposit,
    session_id: int,
) -> None:
    amount = format_fen(d.amount_fen)
    await notices.add_notice(
        conn,
        now,
        subject=f"Deposit converted: {plate.title} / 保证金转作价款：{plate.title}",
        body=(
            f"Session {session_id} has ended. Your deposit of {amount} yuan is now part of the price of "
            f"lot {plate.lot_id} ({plate.title}), the first plate you won; any other plate you won is "
            f"paid in full.\n场次 {session_id} 已结束，您的保证金 {amount} 元已转作标的 {plate.lot_id}"
            f"（{plate.title}，您竞得的第一个号牌）的价款；竞得的其他号牌须全额支付。"
        ),
        org_id=org_id,
        object_type="auction_lot",
        object_id=str(plate.lot_id),
    )


async def applied_to_plate(
    conn: asyncpg.Connection,
    *,
    session_id: int,
    plate: ClosedPlate,
    plates: Sequence[ClosedPlate],
    deposit_fen: int,
) -> int:
    """How much of its winner's session deposit went into ``plate``'s price: the converted
    amount when this is the first plate the winner won and the ledger converted it; the
    session's deposit when it was confirmed outside the ledger (staff apply it by hand);
    otherwise nothing. Never more than the price."""
    assert plate.sold and plate.winner_org_id is not None and plate.price_fen is not None
    target = conversion_targets(plates).get(plate.winner_org_id)
    if target is None or target.lot_id != plate.lot_id:
        return 0
    ref = session_ref(session_id)
    d = (
        await ledger_store.get_deposit(conn, ref, ledger.bidder_id(plate.winner_org_id))
        if await ledger_store.get_project(conn, ref) is not None
        else None
    )
    if d is None:
        return min(deposit_fen, plate.price_fen)
    return min(d.amount_fen, plate.price_fen) if d.state is DepositState.CONVERTED else 0


async def session_deposits(
    conn: asyncpg.Connection, session_id: int, plates: Sequence[ClosedPlate]
) -> dict[str, Any]:
    """What became of each deposit of an ended session: every paddle holder and every bidder
    with a deposit in the ledger, the plates it won, the plate its deposit converts into (the
    first it won; ``settlement`` says whether the ledger has done it) and the deposit."""
    ref = session_ref(session_id)
    terms = await ledger_store.get_project(conn, ref)
    in_ledger = (
        {d.bidder_id: d for d in await ledger_store.list_deposits(conn, project_id=ref)}
        if terms is not None
        else {}
    )
    holders = {h["org_id"]: h for h in await store.paddle_holders(conn, f"session:{session_id}")}
    org_ids = sorted(set(holders) | {int(b) for b in in_ledger})
    orgs = await store.organisations(conn, org_ids)
    targets = conversion_targets(plates)
    won: dict[int, list[int]] = {}
    for p in plates:
        if p.sold:
            assert p.winner_org_id is not None
            won.setdefault(p.winner_org_id, []).append(p.lot_id)
    rows = []
    totals = {"converted_fen": 0, "refund_due_fen": 0, "refunded_fen": 0}
    for org_id in org_ids:
        d = in_ledger.get(ledger.bidder_id(org_id))
        settlement = SETTLEMENTS[d.state] if d is not None else "outside_ledger"
        target = targets.get(org_id)
        if d is not None and settlement in ("converted", "refund_due", "refunded"):
            totals[f"{settlement}_fen"] += d.amount_fen + d.interest_fen
        org = orgs.get(org_id)
        holder = holders.get(org_id)
        rows.append(
            {
                "org_id": org_id,
                "name": org["name"] if org else None,
                "credit_code": org["credit_code"] if org else None,
                "paddle": holder["paddle"] if holder else None,
                "won_lot_ids": won.get(org_id, []),
                "settlement": settlement,
                "converts_into_lot_id": target.lot_id if target is not None else None,
                "deposit": None if d is None else _deposit_json(d),
            }
        )
    return {
        "deposit_ref": ref,
        "deposit_required_fen": terms.required_fen if terms else None,
        "deposit_deadline_at": terms.deadline_at if terms else None,
        "settled": all(d.state is not DepositState.CONFIRMED for d in in_ledger.values()),
        "totals": totals,
        "deposits": rows,
    }


def _deposit_json(d: Deposit) -> dict[str, Any]:
    due: date | None = d.refund_due_on
    return {
        "state": d.state.value,
        "form": d.form.value if d.form else None,
        "amount_fen": d.amount_fen,
        "sub_account": d.sub_account,
        "refund_cause": d.refund_cause.value if d.refund_cause else None,
        "refund_due_on": due.isoformat() if due else None,
        "interest_fen": d.interest_fen,
        "payout_id": d.payout_id,
    }
