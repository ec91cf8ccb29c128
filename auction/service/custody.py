"""A reserve held by custodians (issue 15 item 5; RULES A3): choosing them when the reserve is
entered, telling them when the close awaits them, taking their shares, and rebuilding the
reserve's key once k fit. The scheme is in ``auction.reserve``; the tender opening
(``bidding.service.opening``) is the model, and its codes are reused.

Where secrets live: a handed-in share is checked against the commitment kept when the
reserve was entered, so one that does not fit is refused (and recorded, with a supervision
alert) at once; at most k − 1 shares are ever written — the k-th is combined in memory in
the same transaction, and the stored ones are wiped as the key is rebuilt; the rebuilt key
is published only once the reserve it sealed is revealed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from auction import reserve_store, store
from auction.reserve import CustodySplit, ReserveKey, share_commitment, share_context
from auction.rules import reserve_commitment
from crypto.errors import KeyFormatError, SealedBoxError, ShamirError
from crypto.keys import b64url_encode
from crypto.shamir import MAX_SHARES, Share, rebuild_x25519
from trading import calendar, supervision
from trading.audit import AuditLog
from trading.calendar import EventContext
from trading.context import Actor
from trading.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from trading.notices import add_notice
from trading.parties import service as parties

__all__ = [
    "HeldByCustodians",
    "bad_threshold",
    "call_custodians",
    "check_custodians",
    "custody_export",
    "custody_status",
    "hand_in_share",
    "my_custody",
    "my_sealed_share",
    "store_custody",
]


class HeldByCustodians(Conflict):
    """The reserve's key is split among custodians: only their shares open it."""

    code = "reserve_held_by_custodians"

    def __init__(self, lot_id: int) -> None:
        super().__init__(
            f"lot {lot_id}'s reserve is held by custodians: it opens once k of them have handed "
            "in their shares (POST .../reserve/shares)",
            f"标的 {lot_id} 的底价密钥由保管人分持：须有 k 名保管人提交份额后方可开启",
        )


def bad_threshold(detail: str) -> ValidationFailed:
    return ValidationFailed(
        f"Custodians: need 2 <= k <= n distinct custodians, so that no one person can open ({detail})",
        f"保管人：须 2 ≤ k ≤ n 且保管人互不相同，任何一人不能单独开启（{detail}）",
        code="bad_custodian_threshold",
        details={"errors": [f"custodians/threshold_k: {detail}"]},
    )


async def check_custodians(
    conn: asyncpg.Connection, user_ids: Sequence[int], threshold_k: int | None
) -> tuple[int, list[bytes]]:
    """k and each custodian's registered X25519 key (the last registered), checked as a
    tender's are: distinct active users with the custodian role, 2 ≤ k ≤ n ≤ 255, each
    with a key. Every problem of a kind is listed at once."""
    n = len(user_ids)
    if threshold_k is None or len(set(user_ids)) != n or not 2 <= threshold_k <= n <= MAX_SHARES:
        raise bad_threshold(f"k={threshold_k} of {n} custodians ({len(set(user_ids))} distinct)")
    bad = await parties.not_custodians(conn, user_ids)
    if bad:
        raise ValidationFailed(
            f"Each custodian must be an active user with the custodian role: users {bad}",
            f"每名保管人须为具有保管人角色的在用用户：用户 {bad}",
            code="custodian_user_invalid",
            details={"errors": [f"custodians: user {uid}" for uid in bad], "user_ids": bad},
        )
    keys = await parties.x25519_keys(conn, user_ids)
    missing = [uid for uid in user_ids if uid not in keys]
    if missing:
        raise Conflict(
            f"A custodian has not registered an X25519 key (POST /api/v1/me/keys "
            f"algorithm=x25519): users {missing}",
            f"保管人尚未登记 X25519 公钥（POST /api/v1/me/keys algorithm=x25519）：用户 {missing}",
            code="custodian_without_key",
            details={"user_ids": missing},
        )
    return threshold_k, [keys[uid] for uid in user_ids]


async def store_custody(
    conn: asyncpg.Connection, *, lot_id: int, user_ids: Sequence[int], split: CustodySplit
) -> None:
    """Inside the entry's transaction, after the sealed reserve's row: who holds its key."""
    await reserve_store.insert_custody(
        conn,
        lot_id=lot_id,
        commitment=split.sealed.commitment,
        public_key=split.public_key,
        key_id=split.sealed.key_id,
        threshold_k=split.threshold_k,
        digest=split.digest,
        shares=list(zip(user_ids, split.shares, strict=True)),
    )


# -- at the close ---------------------------------------------------------------------------------


RESERVE_DUE_EVENT = "auction.reserve_due"
RESERVE_CUSTODY_WAIT = timedelta(hours=1)
"""How long after the close the custodians have before the supervisors are alerted
(``auction.reserve_overdue``, RULES S4); the lot waits for them all the same."""


def reserve_watch_ref(lot_id: int, commitment: str) -> str:
    return f"reserve:{lot_id}:{commitment}"


async def call_custodians(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, *, lot_id: int, commitment: str
) -> bool:
    """Bidding is over and the reserve awaits its custodians: tell each of them, once
    (a notice, an audit entry), and watch the time they take (``reserve_due``). True if they
    were told now."""
    async with conn.transaction():
        if not await reserve_store.mark_notified(conn, lot_id, commitment, now):
            return False
        await calendar.schedule(conn, kind=RESERVE_DUE_EVENT, ref=reserve_watch_ref(lot_id, commitment),
                                due_at=now + RESERVE_CUSTODY_WAIT, now=now)  # fmt: skip
        holders = await reserve_store.custodians(conn, lot_id, commitment)
        for c in holders:
            await add_notice(
                conn,
                now,
                subject=f"Reserve awaits your share / 底价待开启: lot {lot_id}",
                body=(
                    f"Bidding on lot {lot_id} has ended. Hand in your share of its reserve key: "
                    f"sunlit auction reserve-share --lot {lot_id} --key <your .x25519 file>\n"
                    f"标的 {lot_id} 竞价已结束，请提交您持有的底价密钥份额。"
                ),
                user_id=c["user_id"],
                object_type="auction_lot",
                object_id=str(lot_id),
            )
        await audit.append(
            conn,
            actor=Actor.system("auction"),
            action="auction.reserve.await_custodians",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            detail={"commitment": commitment, "custodians": [c["username"] for c in holders]},
        )
    return True


async def reserve_opened(conn: asyncpg.Connection, watch_ref: str) -> bool:
    """Whether the reserve a ``reserve_watch_ref`` names has been opened (or is gone)."""
    _, lot_id, commitment = watch_ref.split(":", 2)
    custody = await reserve_store.get_custody(conn, int(lot_id), commitment)
    return custody is None or custody["opened_at"] is not None


async def reserve_due(ctx: EventContext) -> None:
    """``auction.reserve_due``: the custodians have had their hour; if the reserve is still
    sealed, the supervisors are alerted (once; resolved when it opens)."""
    ref = ctx.event.ref
    if await reserve_opened(ctx.conn, ref):
        return
    _, lot_id, commitment = ref.split(":", 2)
    handed_in = sum(1 for c in await reserve_store.custodians(ctx.conn, int(lot_id), commitment)
                    if c["handed_in_at"] is not None)  # fmt: skip
    custody = await reserve_store.get_custody(ctx.conn, int(lot_id), commitment)
    assert custody is not None
    await supervision.overdue(
        ctx.conn,
        ctx.now,
        kind="auction.reserve_overdue",
        ref=ref,
        object_id=lot_id,
        due_at=ctx.event.due_at,
        message_en=f"Lot {lot_id}'s sealed reserve is still unopened: {handed_in} of the "
        f"{custody['threshold_k']} shares needed were handed in",
        message_zh=f"标的 {lot_id} 的密封底价仍未开启：所需 {custody['threshold_k']} 份密钥份额仅提交 {handed_in} 份",
        detail={"handed_in": handed_in, "threshold_k": custody["threshold_k"]},
    )


async def _custody(
    conn: asyncpg.Connection, lot_id: int, commitment: str | None, *, lock: bool = False
) -> asyncpg.Record:
    row = (
        await reserve_store.get_custody(conn, lot_id, commitment, lock=lock)
        if commitment is not None
        else None
    )
    if row is None:
        raise NotFound(
            f"lot {lot_id} has no reserve held by custodians",
            f"标的 {lot_id} 无由保管人分持的底价",
            code="reserve_custody_not_found",
        )
    return row


async def _custodian(
    conn: asyncpg.Connection, lot_id: int, commitment: str, actor: Actor
) -> asyncpg.Record:
    row = (
        await reserve_store.custodian_of(conn, lot_id, commitment, actor.user_id)
        if actor.user_id is not None
        else None
    )
    if row is None:
        raise Forbidden(
            "You are not a custodian of this lot's reserve",
            "您不是该标的底价的保管人",
            code="not_a_custodian",
        )
    return row


async def _my_share(
    conn: asyncpg.Connection,
    lot_id: int,
    commitment: str | None,
    actor: Actor,
    awaiting: bool,
    *,
    lock: bool = False,
) -> tuple[asyncpg.Record, asyncpg.Record]:
    """The custody and the actor's place in it, once bidding has ended: 404 without a
    custody, 403 for someone who holds no share of it, 409 before the close."""
    custody = await _custody(conn, lot_id, commitment, lock=lock)
    custodian = await _custodian(conn, lot_id, custody["commitment"], actor)
    if not awaiting:
        raise Conflict(
            f"lot {lot_id}'s reserve opens only once bidding has ended (phase awaiting_reserve)",
            f"标的 {lot_id} 的底价须待竞价结束（等待开启底价阶段）后方可开启",
            code="reserve_not_due",
        )
    return custody, custodian


async def my_sealed_share(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    commitment: str | None,
    awaiting: bool,
) -> dict[str, Any]:
    """A custodian fetches its sealed share — only once bidding has ended; every fetch is in
    the audit log."""
    custody, custodian = await _my_share(conn, lot_id, commitment, actor, awaiting)
    async with conn.transaction():
        await audit.append(
            conn,
            actor=actor,
            action="auction.reserve.share_fetch",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            detail={"position": custodian["position"]},
        )
    return {
        "lot_id": lot_id,
        "position": custodian["position"],
        "threshold_k": custody["threshold_k"],
        "custodian_count": custody["custodian_count"],
        "custodian_key_id": custodian["custodian_key_id"],
        "sealed_share": b64url_encode(bytes(custodian["sealed_share"])),
        "reserve_key_id": custody["key_id"],
        "reserve_public_key": b64url_encode(bytes(custody["public_key"])),
        "context": share_context(lot_id).decode(),
    }


async def my_custody(conn: asyncpg.Connection, actor: Actor, *, limit: int = 100) -> list[dict[str, Any]]:
    """The lots whose reserve key the actor holds a share of (the custodian's page); the
    caller keeps those whose commitment is the one the lot's log names."""
    if actor.user_id is None:
        return []
    return [
        {
            "lot_id": r["lot_id"],
            "title": r["title"],
            "status": r["status"],
            "commitment": r["commitment"],
            "position": r["position"],
            "handed_in": r["handed_in_at"] is not None,
            "threshold_k": r["threshold_k"],
            "custodian_count": r["custodian_count"],
            "shares_received": r["shares_received"],
            "key_rebuilt": r["key_rebuilt"],
        }
        for r in await reserve_store.custody_of_user(conn, actor.user_id, limit=limit)
    ]


def _parse_share(text: str) -> Share:
    try:
        return Share.parse(text)
    except (ShamirError, KeyFormatError):
        raise ValidationFailed(
            "The key share is malformed (expected S1-<k>-<x>-<hex> or base64url bytes)",
            "密钥份额格式不正确（应为 S1-<k>-<x>-<hex> 或 base64url 字节）",
            code="malformed_share",
            details={"errors": ["share: S1-<k>-<x>-<hex>"]},
        ) from None


def _does_not_fit(detail: str) -> ValidationFailed:
    return ValidationFailed(
        f"This key share does not belong to this lot's reserve key: {detail}",
        f"该密钥份额不属于本标的的底价密钥：{detail}",
        code="share_does_not_fit",
        details={"errors": [f"share: {detail}"]},
    )


@asynccontextmanager
async def _refusals_recorded(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, lot_id: int
) -> AsyncIterator[None]:
    """A refused hand-in goes in the audit log (its transaction rolled back); a share that
    does not fit also raises a supervision alert."""
    try:
        yield
    except DomainError as err:
        if err.status_hint in (401, 403):
            raise
        failed = err.code == "share_does_not_fit"
        async with conn.transaction():
            await audit.append(
                conn,
                actor=actor,
                action="auction.reserve.share_hand_in",
                object_type="auction_lot",
                object_id=lot_id,
                at=now,
                outcome="failed" if failed else "denied",
                detail={"code": err.code},
            )
            if failed:
                await supervision.raise_alert(
                    conn,
                    now,
                    kind="auction.share_does_not_fit",
                    severity="warning",
                    object_type="auction_lot",
                    object_id=str(lot_id),
                    message_en=f"{actor.username}: {err.message_en}",
                    message_zh=f"{actor.username}：{err.message_zh}",
                    detail={"user_id": actor.user_id, "code": err.code},
                )
        raise


async def hand_in_share(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    *,
    lot_id: int,
    commitment: str | None,
    awaiting: bool,
    share_text: str,
) -> dict[str, Any]:
    """A custodian hands in its opened share. The same custodian twice counts once; a share
    that does not fit is refused (``share_does_not_fit``) and recorded; with k valid
    shares the key is rebuilt in memory and checked against the public key, the box opened
    and checked against the commitment, the reveal and the key stored, and the answer
    carries ``reveal: (reserve_fen, salt)`` for the caller to send ``RevealReserve`` (also
    when the key was rebuilt before but the lot has not closed yet — a crash in between)."""
    commitment = str((await _custody(conn, lot_id, commitment))["commitment"])  # 404 unrecorded
    async with _refusals_recorded(conn, audit, actor, now, lot_id), conn.transaction():
        custody, custodian = await _my_share(conn, lot_id, commitment, actor, awaiting, lock=True)
        share = _parse_share(share_text.strip())
        k = custody["threshold_k"]
        public = bytes(custody["public_key"])
        if (
            share.x != custodian["position"]
            or share.k != k
            or share_commitment(lot_id, public, share.to_bytes()) != bytes(custodian["share_commitment"])
        ):
            raise _does_not_fit(
                f"share x={share.x}, k={share.k}; yours is x={custodian['position']}, k={k}"
            )
        if custody["opened_key"] is not None:  # rebuilt already; the close may still be due
            return {**await _status(conn, lot_id, commitment), "counted": False,
                    "reveal": await _stored_reveal(conn, lot_id, commitment)}  # fmt: skip
        if custodian["handed_in_at"] is not None:
            await audit.append(
                conn,
                actor=actor,
                action="auction.reserve.share_repeat",
                object_type="auction_lot",
                object_id=lot_id,
                at=now,
                detail={"position": custodian["position"]},
            )
            return {**await _status(conn, lot_id, commitment), "counted": False, "reveal": None}
        stored = await reserve_store.stored_shares(conn, lot_id, commitment)
        quorum = len(stored) + 1 >= k
        await reserve_store.record_hand_in(
            conn,
            lot_id,
            commitment,
            custodian["position"],
            share=None if quorum else share.encode(),  # the k-th share is never written
            now=now,
        )
        await audit.append(
            conn,
            actor=actor,
            action="auction.reserve.share_hand_in",
            object_type="auction_lot",
            object_id=lot_id,
            at=now,
            detail={"position": custodian["position"], "received": len(stored) + 1, "threshold_k": k},
        )
        reveal = None
        if quorum:
            reveal = await _rebuild_and_open(
                conn, audit, now, lot_id, commitment, public,
                [Share.decode(s) for s in stored] + [share],
            )  # fmt: skip
        return {**await _status(conn, lot_id, commitment), "counted": True, "reveal": reveal}


async def _stored_reveal(
    conn: asyncpg.Connection, lot_id: int, commitment: str
) -> tuple[int, bytes] | None:
    row = await store.get_reserve(conn, lot_id, commitment)
    if row is None or row["revealed_at"] is None:
        return None
    return int(row["revealed_fen"]), bytes(row["revealed_salt"])


async def _rebuild_and_open(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    lot_id: int,
    commitment: str,
    public: bytes,
    shares: list[Share],
) -> tuple[int, bytes]:
    row = await store.get_reserve(conn, lot_id, commitment)
    assert row is not None
    private = rebuild_x25519(shares, public)
    if private is None:
        raise _does_not_fit("the shares do not rebuild the reserve's key")
    try:
        reserve_fen, salt = ReserveKey.from_private(private).open(lot_id, bytes(row["sealed_box"]))
    except (SealedBoxError, ValueError, KeyError) as exc:
        raise Conflict(
            f"the rebuilt key does not open lot {lot_id}'s sealed reserve ({exc})",
            f"重建的密钥无法开启标的 {lot_id} 的封存底价",
            code="reserve_mismatch",
        ) from None
    if reserve_commitment(reserve_fen, salt) != commitment:
        raise Conflict(
            "the sealed reserve does not match its commitment",
            "封存底价与其承诺值不符",
            code="reserve_mismatch",
        )
    await store.mark_reserve_revealed(
        conn, lot_id, commitment, reserve_fen=reserve_fen, salt=salt, now=now
    )
    await reserve_store.publish_opened_key(conn, lot_id, commitment, private=private, now=now)
    del private
    await reserve_store.wipe_shares(conn, lot_id, commitment)
    await audit.append(
        conn,
        actor=Actor.system("auction"),
        action="auction.reserve.key_rebuilt",
        object_type="auction_lot",
        object_id=lot_id,
        at=now,
        detail={"commitment": commitment, "shares": len(shares)},
    )
    return reserve_fen, salt


async def _status(conn: asyncpg.Connection, lot_id: int, commitment: str) -> dict[str, Any]:
    custody = await reserve_store.get_custody(conn, lot_id, commitment)
    assert custody is not None
    holders = await reserve_store.custodians(conn, lot_id, commitment)
    received = [c for c in holders if c["handed_in_at"] is not None]
    opened = custody["opened_key"] is not None
    return {
        "lot_id": lot_id,
        "commitment": commitment,
        "reserve_key_id": custody["key_id"],
        "threshold_k": custody["threshold_k"],
        "custodian_count": custody["custodian_count"],
        "shares_received": len(received),
        "shares_needed": 0 if opened else max(0, custody["threshold_k"] - len(received)),
        "key_rebuilt": opened,
        "custodians": [
            {
                "user_id": c["user_id"],
                "username": c["username"],
                "position": c["position"],
                "handed_in": c["handed_in_at"] is not None,
                "handed_in_at": c["handed_in_at"],
            }
            for c in holders
        ],
        "missing": [c["username"] for c in holders if c["handed_in_at"] is None and not opened],
    }


async def custody_status(
    conn: asyncpg.Connection, *, lot_id: int, commitment: str | None
) -> dict[str, Any]:
    """Who holds the reserve's key, and whose share is still missing."""
    custody = await _custody(conn, lot_id, commitment)
    return await _status(conn, lot_id, str(custody["commitment"]))


async def custody_export(
    conn: asyncpg.Connection, lot_id: int, commitment: str
) -> dict[str, Any] | None:
    """What the exported log says of the custody (for ``auction.verify``): the public key,
    k, each custodian's position, key id and share commitment, the sealed box, and the
    rebuilt key once the reserve is revealed. None for a server-held reserve."""
    custody = await reserve_store.get_custody(conn, lot_id, commitment)
    if custody is None:
        return None
    row = await store.get_reserve(conn, lot_id, commitment)
    assert row is not None
    holders = await reserve_store.custodians(conn, lot_id, commitment)
    return {
        "public_key_hex": bytes(custody["public_key"]).hex(),
        "key_id": custody["key_id"],
        "threshold_k": custody["threshold_k"],
        "custodians": [
            {
                "position": c["position"],
                "key_id": c["custodian_key_id"],
                "share_commitment_hex": bytes(c["share_commitment"]).hex(),
            }
            for c in holders
        ],
        "sealed_box_hex": bytes(row["sealed_box"]).hex(),
        "opened_key_hex": None if custody["opened_key"] is None else bytes(custody["opened_key"]).hex(),
    }
