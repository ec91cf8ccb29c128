"""Bid ids: a bidder's ``(paddle, bid_id)`` names one attempt, and gets one answer.

Each lot (``auction.engine``) and quota session (``auction.quota_engine``) keeps a
``BidIds``: the accepted answer of each id, the refusal of each refused id, and the ids
whose answer is still on its way to the database. A repeat of an id gets the first answer;
the same id with another amount is ``bid_id_reused``; a repeat while the first is in flight
waits for the same answer. Refusals are held up to ``refused_max`` (oldest let go first);
``let_go`` then tells the engine that a new id must be looked up in the store before it is
judged (a lot's refusals are durable; ``auction.lot_log``).

The engine decides when an answer is final (once durable) and calls ``accept`` / ``refuse``;
this module only remembers.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from auction.errors import AuctionRejected
from auction.lot_log import BidKey, refusal_copy, reused

__all__ = ["BidIds", "done"]


class Answer(Protocol):
    @property
    def amount_fen(self) -> int: ...


A = TypeVar("A", bound=Answer)
"""An accepted bid's answer (``BidAccepted`` for a lot, ``BidAnswer`` for a quota session)."""

R = TypeVar("R")


def done(
    loop: asyncio.AbstractEventLoop, result: Any = None, error: BaseException | None = None
) -> asyncio.Future[Any]:
    """A future that already holds its answer."""
    fut: asyncio.Future[Any] = loop.create_future()
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
    return fut


class BidIds(Generic[A]):
    """The answers of one lot's (or session's) bid ids."""

    __slots__ = ("accepted", "inflight", "let_go", "refused", "refused_max")

    def __init__(self, refused_max: int) -> None:
        self.accepted: dict[BidKey, A] = {}
        self.refused: OrderedDict[BidKey, tuple[int, AuctionRejected]] = OrderedDict()
        self.inflight: dict[BidKey, tuple[int, asyncio.Future[Any]]] = {}
        self.refused_max = refused_max
        self.let_go = False
        """Some refusals are no longer in ``refused`` (the bound)."""

    def repeat(
        self, loop: asyncio.AbstractEventLoop, key: BidKey, amount_fen: int
    ) -> asyncio.Future[Any] | None:
        """The answer to a repeat of ``key`` (done, or the first's while it is in flight);
        None for an id not seen (or let go of)."""
        first = self.accepted.get(key)
        if first is not None:
            if first.amount_fen != amount_fen:
                return done(loop, error=reused(first.amount_fen))
            return done(loop, first)
        refused = self.refused.get(key)
        if refused is not None:
            amount, exc = refused
            if amount != amount_fen:
                return done(loop, error=reused(amount))
            return done(loop, error=refusal_copy(exc))
        inflight = self.inflight.get(key)
        if inflight is not None:
            amount, fut = inflight
            if amount != amount_fen:
                return done(loop, error=reused(amount))
            return fut
        return None

    def wait(self, key: BidKey, amount_fen: int, fut: asyncio.Future[Any]) -> None:
        """``key`` was judged; its answer resolves ``fut`` once durable."""
        self.inflight[key] = (amount_fen, fut)

    def accept(self, key: BidKey, answer: A) -> None:
        """``key`` was accepted, durably: remember it, answer whoever waits for it."""
        self.accepted[key] = answer
        pending = self.inflight.pop(key, None)
        if pending is not None and not pending[1].done():
            pending[1].set_result(answer)

    def refuse(self, key: BidKey, amount_fen: int, exc: AuctionRejected) -> None:
        """``key`` was refused: remember it (letting go of the oldest beyond the bound)."""
        self.refused[key] = (amount_fen, exc)
        if len(self.refused) > self.refused_max:
            self.refused.popitem(last=False)
            self.let_go = True

    def load_refusals(
        self, rows: Sequence[R], decode: Callable[[R], tuple[BidKey, int, AuctionRejected]]
    ) -> None:
        """Stored refusals, oldest first (the newest ``refused_max`` are kept)."""
        keep = self.refused_max
        if len(rows) > keep:
            self.let_go = True
        for row in rows[-keep:] if keep else []:
            key, amount, exc = decode(row)
            self.refused[key] = (amount, exc)

    def fail_waiting(self, make_error: Callable[[], BaseException]) -> None:
        """The answers in flight are lost (a failed flush): each waiting future fails."""
        for _amount, fut in self.inflight.values():
            if not fut.done():
                fut.set_exception(make_error())
                fut.exception()
        self.inflight.clear()
