"""A lot's log as the engine writes and reads it: the row formats, the stored refusals, and
the store the engine needs (``LogStore``; ``auction.store.PgLogStore``, tests fake it with
``auction.testing.FakeLogStore``).

A lot's log (``auction_log``) holds every event of the lot, in seq order; a refused bid id
(``auction_refusals``) is kept beside it, so that a repeat of it answers the same refusal
after a restart too. ``auction.engine`` has the theory of operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from auction.errors import AuctionReason, AuctionRejected
from auction.model import Event, LotConfig, event_to_dict

__all__ = [
    "BidKey",
    "LoadedLot",
    "LogRow",
    "LogStore",
    "RefusalRow",
    "log_row",
    "refusal_copy",
    "refusal_from_row",
    "refusal_row",
    "refusal_to_dict",
    "reused",
    "rows_of",
]

LogRow = tuple[int, int, datetime, str, bool, str | None, str | None, str]
"""(lot_id, seq, at, type, public, paddle, bid_id, data as JSON text): one row of a lot's log."""

RefusalRow = tuple[int, str, str, int, datetime, str, str]
"""(lot_id, paddle, bid_id, amount_fen, at, code, answer as JSON text): one refused bid id
(``auction_refusals``); the answer is ``refusal_to_dict``."""

BidKey = tuple[str, str]
"""(paddle, bid_id)."""


@dataclass(frozen=True)
class LoadedLot:
    """What the store hands the engine to rebuild one lot."""

    lot_id: int
    title: str
    config: LotConfig
    events: list[Event]
    refusals: list[RefusalRow] = field(default_factory=list)
    """The lot's refused bid ids, oldest first (at most ``refusals_max`` of the newest)."""


class LogStore(Protocol):
    """What the engine needs from the database (``auction.store.PgLogStore``; tests fake it).

    A store may also offer ownership over several processes (``claim``, ``owns``,
    ``owner_of``, ``release``, ``lost``, ``live_lot_ids``, ``peers_alive``, ``events_after``):
    ``auction.following.Following`` uses them when they are there."""

    async def open(self) -> None:
        """Take the engine lock and the writer's connection."""

    async def close(self) -> None: ...

    async def append(self, rows: Sequence[LogRow], refusals: Sequence[RefusalRow] = ()) -> None:
        """Write the rows (and the refusals) in one statement; return once durable, raise if not."""

    async def unsettled_lot_ids(self) -> list[int]: ...

    async def load_lot(self, lot_id: int, *, refusals_max: int = 50_000) -> LoadedLot | None:
        """The lot, its log, and the newest ``refusals_max`` + 1 of its refusals (so that the
        engine knows whether it has them all)."""

    async def refusal_of(self, lot_id: int, paddle: str, bid_id: str) -> RefusalRow | None:
        """The stored refusal of one bid id, if any."""

    async def load_scope(self, scope: str) -> dict[int, str]:
        """org id → paddle of every admission in the scope."""

    async def paddle_of(self, scope: str, org_id: int) -> str | None: ...

    async def public_events(
        self, lot_id: int, after_seq: int, upto_seq: int
    ) -> list[tuple[int, dict[str, Any]]]:
        """(seq, event dict) of the public events in (after_seq, upto_seq], in order."""

    async def heartbeat(self, at: datetime) -> None: ...

    async def last_heartbeat(self) -> datetime | None: ...


def log_row(lot_id: int, event: Event, data: dict[str, Any] | None = None) -> LogRow:
    """The log row of one event (``data``: the event as ``event_to_dict`` encoded it)."""
    data = event_to_dict(event) if data is None else data
    return (
        lot_id,
        event.seq,
        event.at,
        event.type_name,
        event.public,
        getattr(event, "paddle", None),
        getattr(event, "bid_id", None),
        orjson.dumps(data).decode(),
    )


def rows_of(lot_id: int, events: Iterable[Event]) -> list[LogRow]:
    """The log rows of events (for stores and tests)."""
    return [log_row(lot_id, e) for e in events]


def refusal_to_dict(exc: AuctionRejected) -> dict[str, Any]:
    """What a refused bid id is answered with, as stored (JSON)."""
    return {
        "code": exc.reason.code,
        "message_en": exc.message_en,
        "message_zh": exc.message_zh,
        "details": exc.details,
    }


def refusal_row(
    lot_id: int, paddle: str, bid_id: str, amount_fen: int, at: datetime, exc: AuctionRejected
) -> RefusalRow:
    """The stored row of a refused bid id."""
    return (
        lot_id, paddle, bid_id, amount_fen, at, exc.reason.code,
        orjson.dumps(refusal_to_dict(exc)).decode(),
    )  # fmt: skip


def refusal_from_row(row: RefusalRow) -> tuple[BidKey, int, AuctionRejected]:
    """((paddle, bid_id), amount_fen, the refusal) of a stored refusal row."""
    _lot_id, paddle, bid_id, amount_fen, _at, code, text = row
    data = orjson.loads(text)
    reason = next((r for r in AuctionReason if r.code == code), AuctionReason.BAD_COMMAND)
    exc = AuctionRejected(reason, details=dict(data.get("details") or {}))
    exc.message_en = data.get("message_en", exc.message_en)
    exc.message_zh = data.get("message_zh", exc.message_zh)
    return (paddle, bid_id), amount_fen, exc


def refusal_copy(exc: AuctionRejected) -> AuctionRejected:
    """A fresh exception carrying the same answer (an exception is raised once)."""
    copy = AuctionRejected(exc.reason, details=dict(exc.details))
    copy.message_en, copy.message_zh = exc.message_en, exc.message_zh
    return copy


def reused(amount_fen: int) -> AuctionRejected:
    """``bid_id_reused``: the bid id was first used for another amount."""
    return AuctionRejected(
        AuctionReason.BID_ID_REUSED,
        f"first used for {amount_fen} fen",
        details={"first_amount_fen": amount_fen},
    )
