"""The close: settling a lot and a plate session's deposits."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from auction import deposits, store
from auction.model import (
    LotState,
    Outcome,
)
from auction.reserve import ReserveKey
from auction.service.admission import open_reserve
from auction.service.common import MAX_LOTS_PER_SESSION, _not_found, yuan
from trading import notices
from trading.audit import AuditLog
from trading.clock import iso_ms
from trading.context import Actor
from trading.errors import Conflict

# -- the close ------------------------------------------------------------------------------------------


async def settle(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    *,
    lot_id: int,
    state: LotState,
    key: ReserveKey | None,
) -> bool:
    """Record a closed lot's result once (idempotent): the result columns, the revealed
    reserve, an audit entry, notices to the winner and to the other admitted bidders
    (their deposits are refundable; the winner's converts into the price, A7). A plate
    session's deposits are settled with its last lot (``settle_session_deposits``)."""
    assert state.outcome is not None and state.closed_at is not None
    actor = Actor.system("auction")
    async with conn.transaction():
        row = await store.lock_lot(conn, lot_id)
        if row is None or row["settled_at"] is not None:
            return False
        scope = f"session:{row['session_id']}" if row["session_id"] else f"lot:{lot_id}"
        # a land lot's admitted bidders are each sent a notice; a plate session's (thousands)
        # are not, and only the winner's organisation is read
        holders = await store.scope_paddles(conn, scope) if row["session_id"] is None else {}
        winner_org = await store.paddle_org(conn, scope, state.winner) if state.winner else None
        if (
            state.reserve_fen is not None
            and state.reserve_commitment is not None
            and key is not None
        ):
            _fen, salt = await open_reserve(
                conn, key, lot_id=lot_id, commitment=state.reserve_commitment
            )
            await store.mark_reserve_revealed(
                conn,
                lot_id,
                state.reserve_commitment,
                reserve_fen=state.reserve_fen,
                salt=salt,
                now=now,
            )
        assert state.basis is not None
        await store.settle_lot(
            conn,
            lot_id,
            outcome=state.outcome.value,
            basis=state.basis.value,
            winner_paddle=state.winner,
            winner_org_id=winner_org,
            price_fen=state.price_fen,
            reserve_fen=state.reserve_fen,
            closed_at=state.closed_at,
            now=now,
        )
        await audit.append(
            conn,
            actor=actor,
            action="auction.lot.close",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            payload={
                "seq": state.seq,
                "outcome": state.outcome.value,
                "winner": state.winner,
                "price_fen": state.price_fen,
            },
            detail={
                "seq": state.seq,
                "outcome": state.outcome.value,
                "basis": state.basis.value,
                "closed_at": iso_ms(state.closed_at),
                "winner_paddle": state.winner,
                "winner_org_id": winner_org,
                "price_fen": state.price_fen,
            },
        )
        if row["session_id"] is None:
            await deposits.settle_land_deposits(
                conn,
                audit,
                actor,
                now,
                lot_id=lot_id,
                winner_org_id=winner_org if state.outcome is Outcome.SOLD else None,
                closed_at=state.closed_at,
            )
        elif await _last_of_session(conn, row["session_id"]):
            plates = deposits.closed_plates(await _session_lots(conn, row["session_id"]))
            if plates is not None:
                await deposits.settle_session_deposits(
                    conn, audit, actor, now, session_id=row["session_id"], plates=plates
                )
        title = row["title"]
        if state.outcome is Outcome.SOLD and winner_org is not None:
            if row["session_id"] is None:
                deposit_en = "Your deposit converts into the price."
                deposit_zh = "竞买保证金转作价款。"
            else:
                deposit_en = (
                    "When the session ends, the session's deposit converts into the price of the first "
                    "plate you won; the confirmation is issued then."
                )
                deposit_zh = "场次结束时，保证金转作您竞得的第一个号牌的价款，届时出具成交确认书。"
            await notices.add_notice(
                conn,
                now,
                subject=f"Lot won: {title} / 竞得：{title}",
                body=(
                    f"Paddle {state.winner} won lot {lot_id} at {yuan(state.price_fen)} yuan. Download the "
                    f"confirmation (成交确认书) at /api/v1/auctions/lots/{lot_id}/confirmation. {deposit_en}"
                    f"\n竞买号 {state.winner} 以 {yuan(state.price_fen)} 元竞得标的 "
                    f"{lot_id}，请下载成交确认书；{deposit_zh}"
                ),
                org_id=winner_org,
                object_type="auction_lot",
                object_id=str(lot_id),
            )
        if row["session_id"] is None:
            for org_id in holders:
                if org_id == winner_org:
                    continue
                await notices.add_notice(
                    conn,
                    now,
                    subject=f"Lot closed: {title} / 竞价结束：{title}",
                    body=(
                        f"Lot {lot_id} closed ({state.outcome.value}). Your deposit is refundable within 5 "
                        f"working days.\n标的 {lot_id} 已结束，保证金将于 5 个工作日内退还。"
                    ),
                    org_id=org_id,
                    object_type="auction_lot",
                    object_id=str(lot_id),
                )
    return True


async def _last_of_session(conn: asyncpg.Connection, session_id: int) -> bool:
    """No lot of the session is open any more: this settlement, which has just closed its
    lot, settles the session's deposits. The session's row is locked for this check alone, so
    that of two lots settling together exactly one — the later to get the lock, which sees the
    other's commit — finds the session ended. It is taken last (after the lot's row and the
    audit chain's lock, the order every settlement keeps), not first: 300 lots closing within
    seconds used to queue on it while each read the session's admissions (the ``Lock:tuple``
    waits of the cluster bench, docs/benchmarks-auction.md section 6)."""
    await store.lock_session(conn, session_id)
    return not await store.list_lots(
        conn, kind=None, session_id=session_id, closed=False, after_id=0, limit=1
    )


async def _session_lots(conn: asyncpg.Connection, session_id: int) -> list[asyncpg.Record]:
    return await store.list_lots(
        conn, kind=None, session_id=session_id, closed=None, after_id=0, limit=MAX_LOTS_PER_SESSION
    )


def _session_not_ended(session_id: int) -> Conflict:
    return Conflict(
        f"session {session_id} has not ended: a lot is still open",
        f"场次 {session_id} 尚未结束：仍有标的未结束",
        code="session_not_ended",
    )


async def settle_session_deposits(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *, session_id: int
) -> deposits.SessionSettlement | None:
    """Settle an ended plate session's deposits (A7; ``auction.deposits``). ``settle`` does it
    with the session's last lot; again, it changes nothing. None: the session has no
    deposit terms in the ledger. Refused (409 ``session_not_ended``) while a lot is open."""
    async with conn.transaction():
        if await store.lock_session(conn, session_id) is None:
            raise _not_found("session", session_id)
        plates = deposits.closed_plates(await _session_lots(conn, session_id))
        if plates is None:
            raise _session_not_ended(session_id)
        return await deposits.settle_session_deposits(
            conn, audit, actor, now, session_id=session_id, plates=plates
        )
