"""Creating land lots and plate sessions, reading them, and scheduling their start."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg

from auction import deposits, store
from auction.model import (
    CapPolicy,
    CountdownPolicy,
    LotConfig,
    config_from_dict,
    config_to_dict,
)
from auction.service.common import (
    MAX_LOTS_PER_SESSION,
    START_EVENT,
    _not_found,
    deposit_ref,
    lot_json,
)
from trading.audit import AuditLog
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Actor
from trading.errors import Conflict, ValidationFailed

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
