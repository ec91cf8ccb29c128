"""Use cases of live auctions: create and schedule lots and plate sessions, admit bidders
(paddles), seal the reserve, settle a closed lot, and read results and confirmations.

Each takes ``(conn, audit, actor, now, ...)`` and runs in one transaction. Commands to a live
lot (start, pause, bids…) go through the engine (``auction.engine``), which logs them; the
web layer then records the staff action here with ``record_action``. Bids are not in the
audit log: the lot's own append-only log is their record (an audit entry per bid would put
the audit chain's lock on the auction's hot path).

Admission (A6): a paddle (竞买号, six random digits) per organisation per scope — a land lot
(``lot:<id>``, deposit ref ``lot:<id>``) or a whole plate session (``session:<id>``, deposit
ref ``auction_session:<id>``: one deposit covers the session's plates) — only once
``trading.admission.is_deposit_confirmed`` says so. Who holds which paddle is shown to staff
once the lot is closed and, for the winner, to the public in the result.

Deposits (A7) live in the deposit ledger (``auction.deposits``): a land lot's terms are
registered when it is created and settled when it closes; a plate session's are registered
when it is created and settled when its last lot is settled (``settle`` takes the session's
row lock first, so the lots of one session settle one at a time and exactly one sees the
session ended).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg

from auction import deposits, store
from auction.errors import AuctionReason, AuctionRejected
from auction.model import (
    MAX_AMOUNT_FEN,
    CapPolicy,
    CountdownPolicy,
    LotConfig,
    LotKind,
    LotState,
    Outcome,
    config_from_dict,
    config_to_dict,
)
from auction.reserve import ReserveKey, SealedReserve
from auction.rules import reserve_commitment, seed_commitment
from auction.verify import SIGNED_NOTE, log_document
from crypto.sealedbox import open_from, seal_to
from crypto.signing import canonical_json, sha256_hex
from trading import admission, notices, supervision
from trading.audit import AuditLog
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Actor
from trading.errors import Conflict, NotFound, ValidationFailed

__all__ = [
    "START_EVENT",
    "admit",
    "bidders",
    "confirmation",
    "create_land_lot",
    "create_plate_session",
    "deposit_ref",
    "enter_reserve",
    "export_log",
    "get_lot",
    "get_session",
    "list_lots",
    "lot_json",
    "open_lottery_seed",
    "open_reserve",
    "lottery_seed_commitments",
    "record_action",
    "result",
    "schedule_lot",
    "schedule_session",
    "scope_lot_ids",
    "session_results",
    "settle",
    "settle_session_deposits",
    "yuan",
]

START_EVENT = "auction.start"
"""The timed event that opens a lot (``ref`` = ``lot:<id>``) or a plate session (``session:<id>``)."""
MAX_LOTS_PER_SESSION = 1000
MAX_ADMISSIONS_PER_CALL = 1000
PADDLE_DIGITS = 6


def yuan(fen: int | None) -> str | None:
    """The one rendering of money for people: 12345678 fen → '123456.78'."""
    if fen is None:
        return None
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def deposit_ref(scope: str) -> str:
    """The deposit ledger's project reference for an admission scope."""
    kind, _, number = scope.partition(":")
    return f"lot:{number}" if kind == "lot" else deposits.session_ref(int(number))


def _not_found(what: str, ident: int) -> NotFound:
    names = {"lot": "标的", "session": "场次"}
    return NotFound(
        f"no auction {what} {ident}", f"{names[what]} {ident} 不存在", code=f"{what}_not_found"
    )


def lot_json(row: asyncpg.Record) -> dict[str, Any]:
    """The stored part of a lot (configuration and, once settled, its result)."""
    config = row["config"]
    closed = row["status"] == "closed"
    return {
        "id": row["id"],
        "session_id": row["session_id"],
        "kind": row["kind"],
        "title": row["title"],
        "description": row["description"],
        "status": row["status"],
        "starting_price_fen": config["starting_price_fen"],
        "increment_fen": config["increment_fen"],
        "deposit_fen": config["deposit_fen"],
        "price_cap_fen": config["price_cap_fen"],
        "opens_at": config["opens_at"],
        "listing_ends_at": config["listing_ends_at"],
        "countdown_s": config["countdown_s"],
        "listing_quiet_s": config["listing_quiet_s"] if row["kind"] == "land" else None,
        "allow_self_raise": config["allow_self_raise"],
        "cap_policy": config["cap_policy"] if config["price_cap_fen"] is not None else None,
        "created_at": row["created_at"],
        "scheduled_at": row["scheduled_at"],
        "result": {
            "outcome": row["outcome"],
            "basis": row["basis"],
            "winner_paddle": row["winner_paddle"],
            "price_fen": row["price_fen"],
            "reserve_fen": row["reserve_fen"],
            "closed_at": row["closed_at"],
        }
        if closed
        else None,
    }


# -- creating --------------------------------------------------------------------------------------


async def create_land_lot(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    title: str,
    description: str,
    starting_price_fen: int,
    increment_fen: int,
    deposit_fen: int,
    listing_starts_at: datetime,
    listing_ends_at: datetime,
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A land lot (土地使用权): listing then, if anyone bid, a timed phase. ``options`` are the
    other ``LotConfig`` fields (countdown_s, listing_quiet_s, min_listing_days, price_cap_fen,
    cap_policy, allow_self_raise, outage_policy, resume_policy)."""
    opts = _options(options or {})
    config = LotConfig.land(
        lot_id="0",
        starting_price_fen=starting_price_fen,
        increment_fen=increment_fen,
        deposit_fen=deposit_fen,
        listing_starts_at=listing_starts_at,
        listing_ends_at=listing_ends_at,
        **opts,
    )
    async with conn.transaction():
        (lot_id,) = await store.next_lot_ids(conn, 1)
        config = replace(config, lot_id=str(lot_id))
        await store.insert_lots(
            conn,
            [
                {
                    "id": lot_id,
                    "session_id": None,
                    "kind": "land",
                    "title": title,
                    "description": description,
                    "config": config_to_dict(config),
                    "created_by": actor.user_id,
                }
            ],
            now=now,
        )
        await deposits.register_land_terms(
            conn,
            audit,
            actor,
            now,
            lot_id=lot_id,
            deposit_fen=deposit_fen,
            starting_price_fen=starting_price_fen,
            listing_ends_at=listing_ends_at,
        )
        await audit.append(
            conn,
            actor=actor,
            action="auction.lot.create",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            payload=config_to_dict(config),
        )
        row = await store.get_lot(conn, lot_id)
    assert row is not None
    return lot_json(row)


def _options(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    for name, enum in (
        ("cap_policy", CapPolicy),
        ("outage_policy", CountdownPolicy),
        ("resume_policy", CountdownPolicy),
    ):
        if isinstance(out.get(name), str):
            try:
                out[name] = enum(out[name])
            except ValueError:
                raise ValidationFailed(
                    f"{name}: unknown value {out[name]!r}",
                    f"{name}：未知的取值 {out[name]!r}",
                    details={"errors": [f"{name} must be one of {[e.value for e in enum]}"]},
                ) from None
    return {k: v for k, v in out.items() if v is not None}


async def create_plate_session(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    title: str,
    starts_at: datetime,
    countdown_s: int,
    lots: Sequence[dict[str, Any]],
    options: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A session of plate lots (号牌) with a common start; each lot is ``{title,
    starting_price_fen, increment_fen, deposit_fen[, price_cap_fen, allow_self_raise]}``.
    Every problem of every lot is listed at once. The session's one deposit per bidder — the
    largest any plate asks, due before the start — is registered with the ledger
    (``auction_session:<id>``), so bidders open their sub-accounts there."""
    if not 0 < len(lots) <= MAX_LOTS_PER_SESSION:
        raise ValidationFailed(
            f"a session has 1 to {MAX_LOTS_PER_SESSION} lots",
            f"每个场次须有 1 至 {MAX_LOTS_PER_SESSION} 个标的",
            details={"errors": [f"lots: 1 to {MAX_LOTS_PER_SESSION}"]},
        )
    opts = _options(options or {})
    configs: list[LotConfig] = []
    problems: list[str] = []
    for i, spec in enumerate(lots):
        per_lot = {
            **opts,
            **{
                k: spec[k] for k in ("price_cap_fen", "allow_self_raise") if spec.get(k) is not None
            },
        }
        try:
            configs.append(
                LotConfig.plate(
                    lot_id="0",
                    session_id="0",
                    starting_price_fen=spec["starting_price_fen"],
                    increment_fen=spec["increment_fen"],
                    deposit_fen=spec["deposit_fen"],
                    starts_at=starts_at,
                    countdown_s=countdown_s,
                    **per_lot,
                )
            )
        except ValidationFailed as exc:
            problems.extend(f"lots[{i}]: {p}" for p in exc.details.get("errors", [str(exc)]))
    titles = [spec["title"] for spec in lots]
    if len(set(titles)) != len(titles):
        problems.append("each plate of a session needs its own title")
    if problems:
        raise ValidationFailed(
            "Invalid plate session: " + "; ".join(problems[:20]),
            "号牌场次配置无效：" + "；".join(problems[:20]),
            details={"errors": problems},
        )
    async with conn.transaction():
        session_id = await store.insert_session(
            conn,
            title=title,
            starts_at=configs[0].opens_at,
            countdown_s=countdown_s,
            created_by=actor.user_id,
            now=now,
        )
        ids = await store.next_lot_ids(conn, len(configs))
        rows = []
        for lot_id, config, spec in zip(ids, configs, lots, strict=True):
            config = replace(config, lot_id=str(lot_id), session_id=str(session_id))
            rows.append(
                {
                    "id": lot_id,
                    "session_id": session_id,
                    "kind": "plate",
                    "title": spec["title"],
                    "description": spec.get("description", ""),
                    "config": config_to_dict(config),
                    "created_by": actor.user_id,
                }
            )
        await store.insert_lots(conn, rows, now=now)
        await deposits.register_session_terms(
            conn,
            audit,
            actor,
            now,
            session_id=session_id,
            deposit_fen=deposits.session_deposit_fen(c.deposit_fen for c in configs),
            starts_at=configs[0].opens_at,
        )
        await audit.append(
            conn,
            actor=actor,
            action="auction.session.create",
            object_type="auction_session",
            object_id=session_id,
            at=now,
            payload={"title": title, "lots": [r["config"] for r in rows]},
        )
    return await get_session(conn, session_id)


async def get_session(conn: asyncpg.Connection, session_id: int) -> dict[str, Any]:
    row = await store.get_session(conn, session_id)
    if row is None:
        raise _not_found("session", session_id)
    lots = await store.list_lots(
        conn, kind=None, session_id=session_id, closed=None, after_id=0, limit=MAX_LOTS_PER_SESSION
    )
    return {
        "id": row["id"],
        "title": row["title"],
        "starts_at": row["starts_at"],
        "countdown_s": row["countdown_s"],
        "status": row["status"],
        "created_at": row["created_at"],
        "scheduled_at": row["scheduled_at"],
        "deposit_ref": deposit_ref(f"session:{session_id}"),
        "deposit_fen": deposits.session_deposit_fen(r["config"]["deposit_fen"] for r in lots),
        "lots": [lot_json(r) for r in lots],
    }


async def get_lot(conn: asyncpg.Connection, lot_id: int) -> dict[str, Any]:
    row = await store.get_lot(conn, lot_id)
    if row is None:
        raise _not_found("lot", lot_id)
    return lot_json(row)


async def list_lots(
    conn: asyncpg.Connection,
    *,
    kind: str | None = None,
    session_id: int | None = None,
    closed: bool | None = None,
    after_id: int = 0,
    limit: int = 100,
) -> list[dict[str, Any]]:
    rows = await store.list_lots(
        conn, kind=kind, session_id=session_id, closed=closed, after_id=after_id, limit=limit
    )
    return [lot_json(r) for r in rows]


async def scope_lot_ids(conn: asyncpg.Connection, scope: str) -> list[int]:
    """The lots an admission scope (or a start event's ref) covers."""
    kind, _, number = scope.partition(":")
    if kind == "lot":
        return [int(number)]
    return await store.session_lot_ids(conn, int(number))


# -- scheduling -----------------------------------------------------------------------------------


async def schedule_lot(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *, lot_id: int
) -> dict[str, Any]:
    """Publish a land lot: its listing opens by itself at ``opens_at`` (the scheduler)."""
    async with conn.transaction():
        row = await store.lock_lot(conn, lot_id)
        if row is None:
            raise _not_found("lot", lot_id)
        if row["session_id"] is not None:
            raise Conflict(
                "a plate lot is scheduled with its session",
                "号牌标的须随场次一同安排",
                code="schedule_the_session",
            )
        if row["status"] != "draft":
            raise Conflict(
                f"the lot is already {row['status']}",
                f"标的状态为 {row['status']}",
                code="not_draft",
            )
        config = config_from_dict(row["config"])
        await store.mark_scheduled_lots(conn, [lot_id], now)
        await calendar.schedule(
            conn, kind=START_EVENT, ref=f"lot:{lot_id}", due_at=config.opens_at, now=now
        )
        await audit.append(
            conn,
            actor=actor,
            action="auction.lot.schedule",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            payload={"opens_at": iso_ms(config.opens_at)},
        )
        row = await store.get_lot(conn, lot_id)
    assert row is not None
    return lot_json(row)


async def schedule_session(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *, session_id: int
) -> dict[str, Any]:
    """Publish a plate session: every lot starts together at ``starts_at``."""
    async with conn.transaction():
        row = await store.lock_session(conn, session_id)
        if row is None:
            raise _not_found("session", session_id)
        if row["status"] != "draft":
            raise Conflict("the session is already scheduled", "场次已安排", code="not_draft")
        lot_ids = await store.session_lot_ids(conn, session_id)
        await store.mark_scheduled_session(conn, session_id, now)
        await store.mark_scheduled_lots(conn, lot_ids, now)
        await calendar.schedule(
            conn, kind=START_EVENT, ref=f"session:{session_id}", due_at=row["starts_at"], now=now
        )
        await audit.append(
            conn,
            actor=actor,
            action="auction.session.schedule",
            object_type="auction_session",
            object_id=session_id,
            at=now,
            payload={"starts_at": iso_ms(row["starts_at"]), "lots": lot_ids},
        )
    return await get_session(conn, session_id)


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
) -> SealedReserve:
    """Seal a reserve price (A3) and record the entry (audit, supervision alert). The
    caller then has the engine log ``SealReserve(commitment)``; an entry the engine refuses
    stays unused."""
    if not isinstance(reserve_fen, int) or not 0 < reserve_fen <= MAX_AMOUNT_FEN:
        raise AuctionRejected(AuctionReason.BAD_AMOUNT, "reserve_fen")
    async with conn.transaction():
        row = await store.get_lot(conn, lot_id)
        if row is None:
            raise _not_found("lot", lot_id)
        if row["status"] == "closed":
            raise AuctionRejected(AuctionReason.CLOSED)
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
        await audit.append(
            conn,
            actor=actor,
            action="auction.reserve.enter",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            payload={"commitment": sealed.commitment},
            detail={"commitment": sealed.commitment, "key_id": sealed.key_id},
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
            detail={"commitment": sealed.commitment, "entered_by": actor.user_id},
        )
    return sealed


async def open_reserve(
    conn: asyncpg.Connection, key: ReserveKey, *, lot_id: int, commitment: str
) -> tuple[int, bytes]:
    """Open the sealed reserve the lot's log names (at the close only: the engine calls
    this when bidding has ended)."""
    row = await store.get_reserve(conn, lot_id, commitment)
    if row is None:
        raise NotFound(
            f"no sealed reserve for lot {lot_id} matches its log",
            f"标的 {lot_id} 无与日志相符的封存底价",
            code="reserve_not_found",
        )
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
        seen = await store.get_lot(conn, lot_id)
        if seen is None or seen["settled_at"] is not None:
            return False
        if seen["session_id"] is not None:  # the session's lots settle one at a time
            await store.lock_session(conn, seen["session_id"])
        row = await store.lock_lot(conn, lot_id)
        if row is None or row["settled_at"] is not None:
            return False
        scope = f"session:{row['session_id']}" if row["session_id"] else f"lot:{lot_id}"
        holders = await store.scope_paddles(conn, scope)
        by_paddle = {p: o for o, p in holders.items()}
        winner_org = by_paddle.get(state.winner) if state.winner else None
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
        elif not await store.list_lots(  # no lot of the session is open: it has ended
            conn, kind=None, session_id=row["session_id"], closed=False, after_id=0, limit=1
        ):
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
    log_digest = sha256_hex(canonical_json([e["data"] for e in events]))
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
        "log_sha256": log_digest,
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
        },
        events=[e["data"] for e in events],
        exported_at=now,
    )
    return {
        "log": document,
        "signature": audit.sign(canonical_json(document)).hex(),
        "key_id": audit.key_id,
        "public_key": audit.public_key.hex(),
        "signed": SIGNED_NOTE,
    }


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


def lot_kind(row: asyncpg.Record) -> LotKind:
    return LotKind(row["kind"])
