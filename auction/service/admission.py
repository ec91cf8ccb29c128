"""Admission (paddles), the sealed reserve, the lottery seed (A8) and staff actions."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from auction import reserve_store, store
from auction.errors import AuctionReason, AuctionRejected
from auction.model import (
    MAX_AMOUNT_FEN,
)
from auction.reserve import ReserveKey, SealedReserve, seal_with_custodians
from auction.rules import reserve_commitment, seed_commitment
from auction.service import custody
from auction.service.common import MAX_ADMISSIONS_PER_CALL, PADDLE_DIGITS, _not_found, deposit_ref
from crypto.sealedbox import open_from, seal_to
from trading import admission, supervision
from trading.audit import AuditLog
from trading.context import Actor
from trading.errors import Conflict, NotFound, ValidationFailed

# -- admission --------------------------------------------------------------------------------------


def _draw_paddle(taken: set[str]) -> str:
    for _ in range(1000):
        paddle = f"{100000 + secrets.randbelow(900000):0{PADDLE_DIGITS}d}"
        if paddle not in taken:
            taken.add(paddle)
            return paddle
    raise Conflict(
        "no paddle number left in this scope", "该场次竞买号已用尽", code="paddles_exhausted"
    )


async def _check_scope(conn: asyncpg.Connection, scope: str) -> None:
    kind, _, number = scope.partition(":")
    if kind == "lot":
        row = await store.get_lot(conn, int(number))
        if row is None:
            raise _not_found("lot", int(number))
        if row["session_id"] is not None:
            raise Conflict(
                "plate bidders are admitted to the whole session",
                "号牌竞买人须按场次获得竞买资格",
                code="admit_to_the_session",
            )
        closed = row["status"] == "closed"
    else:
        session = await store.get_session(conn, int(number))
        if session is None:
            raise _not_found("session", int(number))
        lots = await store.list_lots(
            conn, kind=None, session_id=int(number), closed=False, after_id=0, limit=1
        )
        closed = not lots
    if closed:
        raise AuctionRejected(AuctionReason.CLOSED, scope)


async def admit(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    scope: str,
    org_ids: Sequence[int],
) -> list[dict[str, Any]]:
    """Give each organisation its paddle in ``scope`` (idempotent: an admitted organisation
    keeps its paddle). All or nothing: every organisation without a confirmed deposit, or
    that may not bid, is listed and nobody is admitted."""
    if not 0 < len(org_ids) <= MAX_ADMISSIONS_PER_CALL:
        raise ValidationFailed(
            f"admit 1 to {MAX_ADMISSIONS_PER_CALL} organisations per call",
            f"每次可为 1 至 {MAX_ADMISSIONS_PER_CALL} 个机构办理",
            details={"errors": ["org_ids: size"]},
        )
    wanted = list(dict.fromkeys(org_ids))
    ref = deposit_ref(scope)
    async with conn.transaction():
        await _check_scope(conn, scope)
        await store.lock_scope(conn, scope)
        orgs = await store.organisations(conn, wanted)
        held = await store.scope_paddles(conn, scope)
        problems: list[dict[str, Any]] = []
        for org_id in wanted:
            org = orgs.get(org_id)
            if org is None:
                problems.append({"org_id": org_id, "code": "org_not_found"})
            elif org["kind"] != "bidder" or org["platform_affiliate"]:
                problems.append({"org_id": org_id, "code": "not_a_bidder"})
            elif org_id not in held and not await admission.is_deposit_confirmed(
                conn, org_id=org_id, project_ref=ref
            ):
                problems.append({"org_id": org_id, "code": "deposit_not_confirmed"})
        if problems:
            ids = ", ".join(f"{p['org_id']} ({p['code']})" for p in problems[:20])
            raise AuctionRejected(
                AuctionReason.NOT_ADMITTED,
                f"nobody admitted; fix these first: {ids}",
                f"未办理任何竞买资格，请先处理：{ids}",
                details={"errors": problems, "deposit_ref": ref},
            )
        taken = set(held.values())
        fresh = [(org_id, _draw_paddle(taken)) for org_id in wanted if org_id not in held]
        if fresh:
            await store.insert_paddles(conn, scope, fresh, admitted_by=actor.user_id, now=now)
            await audit.append(
                conn,
                actor=actor,
                action="auction.admit",
                object_type="auction_scope",
                object_id=scope,
                at=now,
                payload={"admitted": [[o, p] for o, p in fresh]},
                detail={"count": len(fresh)},
            )
    new = dict(fresh)
    return [
        {
            "org_id": org_id,
            "paddle": held.get(org_id) or new[org_id],
            "new": org_id in new,
            "scope": scope,
        }
        for org_id in wanted
    ]


# -- the reserve --------------------------------------------------------------------------------------


async def enter_reserve(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    reserve_fen: int,
    key: ReserveKey,
    custodian_user_ids: Sequence[int] = (),
    threshold_k: int | None = None,
) -> SealedReserve:
    """Seal a reserve price (A3) and record the entry (audit, supervision alert). The
    caller then has the engine log ``SealReserve(commitment)``; an entry the engine refuses
    stays unused. With ``custodian_user_ids`` (and ``threshold_k``) the reserve is sealed
    to a key of its own split among them (``auction.reserve``, ``service.custody``);
    without, to the server's reserve key ``key``."""
    if not isinstance(reserve_fen, int) or not 0 < reserve_fen <= MAX_AMOUNT_FEN:
        raise AuctionRejected(AuctionReason.BAD_AMOUNT, "reserve_fen")
    if not custodian_user_ids and threshold_k is not None:
        raise custody.bad_threshold("threshold_k without custodians")
    async with conn.transaction():
        row = await store.get_lot(conn, lot_id)
        if row is None:
            raise _not_found("lot", lot_id)
        if row["status"] == "closed":
            raise AuctionRejected(AuctionReason.CLOSED)
        split = None
        held: dict[str, Any] = {}
        if custodian_user_ids:
            k, keys = await custody.check_custodians(conn, custodian_user_ids, threshold_k)
            split = seal_with_custodians(lot_id, reserve_fen, keys, k)
            sealed = split.sealed
            held = {"custodians": list(custodian_user_ids), "threshold_k": k,
                    "custody_digest": split.digest}  # fmt: skip
        else:
            sealed = key.seal(lot_id, reserve_fen)
        await store.insert_reserve(
            conn,
            lot_id=lot_id,
            commitment=sealed.commitment,
            sealed_box=sealed.box,
            key_id=sealed.key_id,
            entered_by=actor.user_id,
            now=now,
        )
        if split is not None:
            await custody.store_custody(
                conn, lot_id=lot_id, user_ids=custodian_user_ids, split=split
            )
        await audit.append(
            conn,
            actor=actor,
            action="auction.reserve.enter",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            payload={"commitment": sealed.commitment, **held},
            detail={"commitment": sealed.commitment, "key_id": sealed.key_id, **held},
        )
        await supervision.raise_alert(
            conn,
            now,
            kind="auction.reserve_entered",
            severity="info",
            object_type="auction_lot",
            object_id=str(lot_id),
            message_en=f"Reserve price for lot {lot_id} entered by {actor.username}, sealed",
            message_zh=f"标的 {lot_id} 的底价已由 {actor.username} 录入并封存",
            detail={"commitment": sealed.commitment, "entered_by": actor.user_id, **held},
        )
    return sealed


async def open_reserve(
    conn: asyncpg.Connection, key: ReserveKey, *, lot_id: int, commitment: str
) -> tuple[int, bytes]:
    """Open the sealed reserve the lot's log names (at the close only: the engine calls
    this when bidding has ended). A reserve revealed already (its custodians' shares came
    in) answers what was revealed; one held by custodians and not yet revealed raises
    ``HeldByCustodians`` (409 ``reserve_held_by_custodians``)."""
    row = await store.get_reserve(conn, lot_id, commitment)
    if row is None:
        raise NotFound(
            f"no sealed reserve for lot {lot_id} matches its log",
            f"标的 {lot_id} 无与日志相符的封存底价",
            code="reserve_not_found",
        )
    if row["revealed_at"] is not None:
        reserve_fen, salt = int(row["revealed_fen"]), bytes(row["revealed_salt"])
    elif await reserve_store.get_custody(conn, lot_id, commitment) is not None:
        raise custody.HeldByCustodians(lot_id)
    else:
        reserve_fen, salt = key.open(lot_id, row["sealed_box"])
    if reserve_commitment(reserve_fen, salt) != commitment:
        raise AuctionRejected(AuctionReason.RESERVE_MISMATCH)
    return reserve_fen, salt


# -- the lottery seed (A8) ---------------------------------------------------------------------------

LOTTERY_SEED_BYTES = 32
_SEED_CONTEXT = b"sunlit/auction/lottery-seed/v1/lot:"


def draws_by_lottery(config: dict[str, Any]) -> bool:
    """A lot whose price cap is decided by lottery (A8): its seed is committed at the start."""
    return config.get("price_cap_fen") is not None and config.get("cap_policy") == "lottery"


async def lottery_seed_commitments(
    conn: asyncpg.Connection, key: ReserveKey, lot_ids: Sequence[int], now: datetime
) -> dict[int, str]:
    """lot id → the commitment of its lottery seed, for the lots among ``lot_ids`` decided by
    lottery at the cap. A lot without a seed gets one now: 32 random bytes drawn here (never
    in the rules), sealed to the auction key, stored before the caller logs the commitment
    (``Start(seed_commitment)``). Idempotent: a lot keeps its first seed. Commit this before
    the start is logged (the caller passes an autocommit connection)."""
    out: dict[int, str] = {}
    for lot_id in lot_ids:
        row = await store.get_lot(conn, lot_id)
        if row is None or not draws_by_lottery(row["config"]):
            continue
        seed = secrets.token_bytes(LOTTERY_SEED_BYTES)
        out[lot_id] = await store.insert_lottery_seed(
            conn,
            lot_id,
            commitment=seed_commitment(seed),
            sealed_box=seal_to(key.public, seed, _SEED_CONTEXT + str(lot_id).encode()),
            key_id=key.key_id,
            now=now,
        )
    return out


async def open_lottery_seed(
    conn: asyncpg.Connection, key: ReserveKey, *, lot_id: int, commitment: str
) -> bytes:
    """The seed the lot's log committed to, opened for the draw (and then published)."""
    row = await store.get_lottery_seed(conn, lot_id)
    if row is None or row["commitment"] != commitment:
        raise NotFound(
            f"no sealed lottery seed for lot {lot_id} matches its log",
            f"标的 {lot_id} 无与日志相符的封存摇号种子",
            code="lottery_seed_not_found",
        )
    seed = open_from(key.private, bytes(row["sealed_box"]), _SEED_CONTEXT + str(lot_id).encode())
    if seed_commitment(seed) != commitment:
        raise AuctionRejected(AuctionReason.SEED_MISMATCH)
    return seed


# -- staff actions -----------------------------------------------------------------------------------


async def record_action(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    action: str,
    payload: dict[str, Any],
    seq: int | None,
) -> None:
    """The audit entry of a staff command the engine has logged (``seq``: its last event)."""
    async with conn.transaction():
        await audit.append(
            conn,
            actor=actor,
            action=action,
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            payload=payload,
            detail={"seq": seq, **{k: v for k, v in payload.items() if k in ("reason", "paddle")}},
        )
