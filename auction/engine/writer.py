"""The group-commit writer: one queue, one ``INSERT`` of many rows per flush, answers once durable."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from auction import protocol
from auction.engine.lots import _Lot, _Pending, _refusal_copy, _row
from auction.engine.ports import BidKey, LogRow, RefusalRow, log
from auction.errors import EngineUnavailable
from auction.model import BidAccepted, Decision, Event, event_to_dict


class _Writer:
    """The engine's group-commit writer (part of ``Engine``)."""

    # -- the writer ----------------------------------------------------------------------------

    def _enqueue(
        self,
        lot: _Lot,
        decision: Decision,
        future: asyncio.Future[Any] | None,
        result: Any,
        *,
        bid_key: BidKey | None = None,
    ) -> None:
        lot.state = decision.state
        datas = [event_to_dict(e) for e in decision.events]
        rows = [_row(lot.id, e, d) for e, d in zip(decision.events, datas, strict=True)]
        self._queue.append(_Pending(lot, decision, datas, rows, future, result, bid_key))
        self._idle.clear()
        self._wake.set()
        self._arm(lot)

    async def _write_loop(self) -> None:
        while self._running or self._queue:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                if not self._running:
                    return
                await self._wake.wait()
                continue
            batch: list[_Pending] = []
            rows: list[LogRow] = []
            refusals: list[RefusalRow] = []
            while self._queue and (
                not batch
                or len(rows) + len(refusals) + self._queue[0].size
                <= self.settings.flush_rows_max
            ):
                item = self._queue.popleft()
                batch.append(item)
                rows.extend(item.rows)
                if item.refusal is not None:
                    refusals.append(item.refusal[2])
            self._flushing = True
            started = time.perf_counter()
            try:
                if refusals:
                    await self._store.append(rows, refusals)
                else:
                    await self._store.append(rows)
            except Exception as exc:  # any failure (asyncpg, OS, timeout): the outcome is uncertain
                self._flushing = False
                log.exception("auction log flush failed")
                self._failed(batch, exc)
                await asyncio.sleep(self.settings.retry_after_s)
                continue
            self._flushing = False
            self.flush_ms.append((time.perf_counter() - started) * 1000)
            self.flushes += 1
            self.rows_written += len(rows)
            self.refusals_written += len(refusals)
            self._committed(batch)
            if not self._queue:
                self._idle.set()

    def _committed(self, batch: list[_Pending]) -> None:
        """A flush has committed: answer every bid of it, then broadcast its events. The
        answers first, all of them: their callbacks then run before the gateway's writer,
        so each client gets one write per flush, its ack and the broadcasts together."""
        live = [item for item in batch if not item.lot.reloading]  # else the reload decides
        for item in live:
            if item.bid_key is not None:
                item.lot.inflight.pop(item.bid_key, None)
            if item.refusal is not None:
                assert item.bid_key is not None
                amount_fen, exc, _row_ = item.refusal
                self._note_refusal(item.lot, item.bid_key, amount_fen, exc)
                if item.future is not None and not item.future.done():
                    item.future.set_exception(_refusal_copy(exc))
                continue
            assert item.decision is not None
            item.lot.committed = item.decision.state
            if item.future is not None and not item.future.done():
                item.future.set_result(item.result)
        for item in live:
            if item.decision is None:
                continue
            for event, data in zip(item.decision.events, item.datas, strict=True):
                self._publish(item.lot, event, data)
            self._after_commit(item.lot)

    def _publish(self, lot: _Lot, event: Event, data: dict[str, Any] | None = None) -> None:
        if isinstance(event, BidAccepted):
            key = (event.paddle, event.bid_id)
            lot.accepted[key] = event
            pending = lot.inflight.pop(key, None)
            if pending is not None and not pending[1].done():
                pending[1].set_result(event)
        if not event.public:
            return
        if data is None:
            frame = self._wire(protocol.event_frame(lot.id, event))
        else:
            frame = self._wire(protocol.event_frame_from_dict(lot.id, event.seq, data))
        self._remember(lot, event.seq, frame)
        for watcher, held in lot.watchers.items():
            if held is None:
                watcher.push(frame)
            else:
                held.append((event.seq, frame))

    @staticmethod
    def _remember(lot: _Lot, seq: int, frame: bytes) -> None:
        if lot.recent.maxlen is not None and len(lot.recent) == lot.recent.maxlen:
            lot.dropped_upto = lot.recent[0][0]
        lot.recent.append((seq, frame))

    def _failed(self, batch: list[_Pending], exc: BaseException) -> None:
        """A flush failed: give up on every undurable decision, reload the lots concerned."""
        log.error(
            "auction log flush failed; reloading the lots concerned", extra={"error": str(exc)}
        )
        lots: dict[int, _Lot] = {}
        for item in [*batch, *self._queue]:
            lots[item.lot.id] = item.lot
            if item.future is not None and not item.future.done():
                item.future.set_exception(EngineUnavailable(type(exc).__name__))
                item.future.exception()
        self._queue.clear()
        for lot in lots.values():
            for _amount, fut in lot.inflight.values():
                if not fut.done():
                    fut.set_exception(EngineUnavailable(type(exc).__name__))
                    fut.exception()
            lot.inflight.clear()
            lot.reloading = True
            lot.state = lot.committed
            if lot.timer is not None:
                lot.timer.cancel()
                lot.timer, lot.timer_at = None, None
            self._spawn(self._reload(lot), f"reload-{lot.id}")
