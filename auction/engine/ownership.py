"""Ownership glue: forwarding to the owner, serving forwarded commands, takeovers, following
the owner's log, the sweep (``auction.ownership`` has the whole story)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from auction.engine.lots import _HERE, _Lot
from auction.engine.ports import NotOwner, log
from auction.errors import AuctionReason, AuctionRejected, EngineUnavailable
from auction.model import BidAccepted, Command, Decision, PlaceBid, Tick
from auction.rules import apply, decide, next_deadline, rebuild


class _Ownership:
    """The engine's ownership glue (part of ``Engine``)."""

    # -- ownership -----------------------------------------------------------------------------

    def owns(self, lot_id: int) -> bool:
        """This process owns the lot and holds it in memory."""
        lot = self._lots.get(lot_id)
        return lot is not None and lot.owned

    async def serve_bid(
        self, lot_id: int, paddle: str, bid_id: str, amount_fen: int
    ) -> BidAccepted:
        """A bid forwarded by another process: judged here if this process owns the lot
        (taking it if nobody does), else ``NotOwner``."""
        lot = await self._lot(lot_id)
        if not lot.owned:
            raise NotOwner(lot_id)
        result: BidAccepted = await self._bid(
            asyncio.get_running_loop(), lot, paddle, bid_id, amount_fen, None
        )
        return result

    async def serve_execute(self, lot_id: int, command: Command) -> int:
        """A command forwarded by another process; the lot's seq once it is durable."""
        lot = await self._lot(lot_id)
        if not lot.owned:
            raise NotOwner(lot_id)
        decision = await self.execute(lot_id, command)
        return max(decision.state.seq, lot.committed.seq)

    async def _take_over(self, lot: _Lot) -> bool:
        """Own a lot held as a follower, if nobody else does: claim its lock, rebuild it from
        the log (watchers get what they had not seen yet), take what fell due meanwhile."""
        async with lot.catch_lock:
            if lot.owned:
                return True
            if not await self._claim([lot.id]):
                return False
            started = time.perf_counter()
            try:
                loaded = await self._store.load_lot(lot.id, refusals_max=self.settings.refusals_max)
                assert loaded is not None
                state = rebuild(loaded.config, loaded.events)
            except BaseException:
                await self._call_store("release", None, lot.id)
                raise
            for event in loaded.events[lot.committed.seq :]:
                self._publish(lot, event)
            self._load_refusals(lot, loaded)
            lot.state = lot.committed = state
            lot.owned = True
            lot.reloading = False
            self.takeovers += 1
            self._resume_owned(lot, down_since=None, restart=False)
            self.takeover_ms.append((time.perf_counter() - started) * 1000)
            log.warning(
                "took over a lot whose owner is gone",
                extra={"lot_id": lot.id, "seq": state.seq, "phase": state.phase.value},
            )
            return True

    def on_log(self, reached: dict[int, int]) -> None:
        """Another process committed events: ``{lot id: its newest seq}`` (NOTIFY). Each
        followed lot reads what it lacks from the log, in order."""
        for lot_id, seq in reached.items():
            lot = self._lots.get(lot_id)
            if lot is not None and not lot.owned and lot.committed.seq < seq:
                self._spawn(self._catch_up(lot, seq), f"catch-up-{lot_id}")

    def catch_up_all(self) -> None:
        """Notifications may have been missed (the listening connection was lost): read
        every followed lot's log again from where it stands."""
        for lot in list(self._lots.values()):
            if not lot.owned:
                self._spawn(self._catch_up(lot, 2**31 - 1), f"catch-up-{lot.id}")

    async def _catch_up(self, lot: _Lot, upto: int) -> None:
        async with lot.catch_lock:
            while not lot.owned and lot.committed.seq < upto:
                events = await self._store.events_after(lot.id, lot.committed.seq)  # type: ignore[attr-defined]
                if not events:
                    return
                for event in events:
                    lot.committed = lot.state = apply(lot.committed, event)
                    self._publish(lot, event)

    async def sweep(self) -> list[int]:
        """Take over every live lot left without an owner (its process died); let go of
        lots whose lock this process lost. Returns the lots taken over."""
        for lot_id in list(getattr(self._store, "lost", ())):
            lot = self._lots.get(lot_id)
            if lot is not None and lot.owned and not self._owns(lot_id):
                lot.owned = False
                lot.state = lot.committed
                self._arm(lot)
            self._store.lost.discard(lot_id)  # type: ignore[attr-defined]
        ids = await self._call_store("live_lot_ids", [])
        fresh = [i for i in ids if not self._owns(i)]
        taken = await self._claim(fresh) if fresh else []
        for lot_id in taken:
            lot = self._lots.get(lot_id)
            if lot is None:
                started = time.perf_counter()
                await self._lot(lot_id)
                self.takeovers += 1
                self.takeover_ms.append((time.perf_counter() - started) * 1000)
                log.warning("took over a lot whose owner is gone", extra={"lot_id": lot_id})
            else:
                await self._take_over(lot)
        return taken

    async def _sweep_loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.claim_interval_s)
            try:
                await self.sweep()
            except Exception as exc:  # the database, for a moment: log, sweep again
                log.warning("ownership sweep failed", extra={"error": str(exc)})

    async def _await_owner(
        self, lot: _Lot, owner: str, send: Callable[[str], Awaitable[Any]]
    ) -> Any:
        """The owner's answer; ``NotOwner`` as soon as the owner has let go of the lot (it
        died while the command was on its way: no need to wait out ``forward_attempt_s``)."""
        task = asyncio.ensure_future(send(owner))
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=self.settings.owner_check_s)
                if done:
                    return task.result()
                try:
                    still = await self._call_store("owner_of", owner, lot.id)
                except Exception as exc:  # the database, for a moment: keep waiting
                    log.warning("owner lookup failed", extra={"lot_id": lot.id, "error": str(exc)})
                    continue
                if still != owner:
                    raise NotOwner(lot.id)
        finally:
            if not task.done():
                task.cancel()

    @staticmethod
    def _reused(amount_fen: int) -> AuctionRejected:
        return AuctionRejected(
            AuctionReason.BID_ID_REUSED,
            f"first used for {amount_fen} fen",
            details={"first_amount_fen": amount_fen},
        )

    async def execute(
        self, lot_id: int, command: Command, *, now: datetime | None = None
    ) -> Decision:
        """Any command (staff's, the scheduler's): decided now, returned once durable.
        Raises ``AuctionRejected`` (nothing changed), ``EngineUnavailable``, ``NotFound``."""
        if isinstance(command, PlaceBid):
            raise TypeError("bids go through place_bid (bid ids are remembered there)")
        lot = await self._lot(lot_id)
        if not lot.owned:
            peers = self._peers

            async def send(node_id: str) -> int:
                assert peers is not None
                return await peers.execute(node_id, lot.id, command, self.settings.forward_attempt_s)

            answer = await self._at_owner(lot, send)
            if answer is not _HERE:
                await self._catch_up(lot, int(answer))
                return Decision(state=lot.committed, events=(), next_deadline=None)
        if lot.reloading:
            raise EngineUnavailable("the lot is being reloaded")
        decision = decide(lot.state, command, now or self.now(), admitted=lot.scope.paddles)
        if not decision.events:
            return decision
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._enqueue(lot, decision, fut, decision)
        result: Decision = await fut
        return result

    async def tick(self, now: datetime | None = None) -> None:
        """Take every deadline that fell due by ``now`` (default: the clock) on every lot in
        memory, and wait until it is durable. The timers do this by themselves; tests with
        a fake clock call it after moving the clock."""
        when = now or self.now()
        for lot in list(self._lots.values()):
            due = next_deadline(lot.state) if lot.owned else None
            if due is not None and due <= when:
                self._tick_lot(lot, when)
        await self.wait_idle()

    def _tick_lot(self, lot: _Lot, now: datetime) -> None:
        if lot.reloading or not lot.owned:
            return
        decision = decide(lot.state, Tick(), now, admitted=lot.scope.paddles)
        if decision.events:
            self._enqueue(lot, decision, None, decision)
        else:
            self._arm(lot)
