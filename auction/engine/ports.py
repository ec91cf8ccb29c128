"""What the engine talks to: its log store, watchers, the other processes (peers), its hooks and
settings; the log and refusal rows it writes."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import orjson

from auction.errors import AuctionReason, AuctionRejected
from auction.model import BidAccepted, Command, Event, LotConfig, LotState

log = logging.getLogger("sunlit.auction.engine")

LogRow = tuple[int, int, datetime, str, bool, str | None, str | None, str]
"""(lot_id, seq, at, type, public, paddle, bid_id, data as JSON text): one row of a lot's log."""

RefusalRow = tuple[int, str, str, int, datetime, str, str]
"""(lot_id, paddle, bid_id, amount_fen, at, code, answer as JSON text): one refused bid id
(``auction_refusals``); the answer is ``refusal_to_dict``."""

BidKey = tuple[str, str]
"""(paddle, bid_id)."""


def scope_of(config: LotConfig, lot_id: int) -> str:
    """Where a lot's admissions live: its plate session, or the lot itself."""
    return f"session:{config.session_id}" if config.session_id else f"lot:{lot_id}"


@dataclass(frozen=True)
class LoadedLot:
    """What the store hands the engine to rebuild one lot."""

    lot_id: int
    title: str
    config: LotConfig
    events: list[Event]
    refusals: list[RefusalRow] = field(default_factory=list)
    """The lot's refused bid ids, oldest first (at most ``refusals_max`` of the newest)."""


def refusal_to_dict(exc: AuctionRejected) -> dict[str, Any]:
    """What a refused bid id is answered with, as stored (JSON)."""
    return {
        "code": exc.reason.code,
        "message_en": exc.message_en,
        "message_zh": exc.message_zh,
        "details": exc.details,
    }


def refusal_from_row(row: RefusalRow) -> tuple[BidKey, int, AuctionRejected]:
    """((paddle, bid_id), amount_fen, the refusal) of a stored refusal row."""
    _lot_id, paddle, bid_id, amount_fen, _at, code, text = row
    data = orjson.loads(text)
    reason = next((r for r in AuctionReason if r.code == code), AuctionReason.BAD_COMMAND)
    exc = AuctionRejected(reason, details=dict(data.get("details") or {}))
    exc.message_en = data.get("message_en", exc.message_en)
    exc.message_zh = data.get("message_zh", exc.message_zh)
    return (paddle, bid_id), amount_fen, exc


class LogStore(Protocol):
    """What the engine needs from the database (``auction.store.PgLogStore``; tests fake it)."""

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


class Watcher(Protocol):
    """A subscriber's outlet (the gateway's client). ``push`` must not block, must not raise
    and must not call back into the engine: a client whose queue is full marks itself and
    closes later. ``room`` is how many frames it can take now: a resume that would not fit
    is coalesced into a fresh snapshot."""

    def push(self, frame: bytes) -> None: ...

    def room(self) -> int: ...


class NotOwner(Exception):
    """A forwarded command reached a process that does not own the lot (any more)."""


class Peers(Protocol):
    """The other processes (``auction.ownership.Cluster``): forward a command to a lot's
    owner, by node id. Each raises the owner's domain error, ``NotOwner``, or ``TimeoutError``."""

    node_id: str

    async def bid(
        self, node_id: str, lot_id: int, paddle: str, bid_id: str, amount_fen: int, timeout_s: float
    ) -> BidAccepted: ...

    async def execute(self, node_id: str, lot_id: int, command: Command, timeout_s: float) -> int:
        """The lot's seq once the command's events are durable."""


@dataclass
class EngineHooks:
    """After-commit work the engine starts in its own tasks."""

    reveal_reserve: Callable[[int, str], Awaitable[tuple[int, bytes]]] | None = None
    """(lot id, commitment) → (reserve_fen, salt): open the sealed reserve at the close."""
    lot_closed: Callable[[int, LotState], Awaitable[None]] | None = None
    """Record the result of a closed lot (idempotent: it may run again after a restart)."""


@dataclass(frozen=True)
class EngineSettings:
    flush_rows_max: int = 5000
    """Rows in one INSERT; more waiting rows go in the next flush."""
    recent_events_max: int = 2048
    """Public event frames kept per lot to resume a reconnecting client from memory."""
    resume_from_log_max: int = 20_000
    """A resume further back than this many events gets a fresh snapshot instead."""
    refusals_max: int = 50_000
    """Refused bid ids held in memory per lot (oldest let go first). Every refusal stays in
    ``auction_refusals``: a repeat of one let go of is looked up there before it is judged."""
    heartbeat_s: float = 2.0
    retry_after_s: float = 0.5
    """Wait after a failed flush or reload before trying again."""
    claim_interval_s: float = 1.0
    """How often each process looks for live lots without an owner (a takeover takes about
    this long after the owner's connection ends, plus the rebuild)."""
    forward_attempt_s: float = 3.0
    """How long a forwarded command waits for the owner's answer before asking again who
    owns the lot."""
    owner_check_s: float = 0.5
    """While a forwarded command waits, how often to check that its owner still holds the lot."""
    forward_total_s: float = 12.0
    """How long a forwarded command is retried (the owner changing over) before it is
    answered ``engine_unavailable``."""
