"""The engine's CPU per bid alone: bids judged, queued, "flushed" to an in-memory store,
committed, answered and broadcast — no sockets, no database (``auction.testing.FakeLogStore``
with an append that only yields). 150 plate lots, two rival bidders each, rising amounts,
one batch of 300 bids per flush; the system clock, as ``sunlit serve`` runs it.

    python -m bench.auction.engine_cpu [ROUNDS]

Prints the process CPU time per bid over ROUNDS batches (default 400) after one warm-up batch.
"""

from __future__ import annotations

import asyncio
import gc
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from auction import protocol
from auction.engine import Engine, LogRow, RefusalRow
from auction.model import LotConfig, Start
from auction.testing import FakeLogStore
from trading.clock import SystemClock

LOTS = 150


class _NullStore(FakeLogStore):
    async def append(self, rows: Sequence[LogRow], refusals: Sequence[RefusalRow] = ()) -> None:
        await asyncio.sleep(0)


async def run(rounds: int) -> float:
    starts = datetime.now(UTC) - timedelta(seconds=1)
    store = _NullStore()
    for i in range(1, LOTS + 1):
        config = LotConfig.plate(
            lot_id=str(i), session_id="9", starting_price_fen=10_000, increment_fen=500,
            deposit_fen=5_000, starts_at=starts, countdown_s=600,
        )  # fmt: skip
        store.add_lot(i, config)
    for org in range(1, 2 * LOTS + 1):
        store.admit("session:9", org, f"P{org:05d}")
    engine = Engine(store, SystemClock(), wire=protocol.ws_text)
    await engine.start()
    for i in range(1, LOTS + 1):
        await engine.execute(i, Start())
    amounts = dict.fromkeys(range(1, LOTS + 1), 10_000)

    async def batch(k: int) -> None:
        futures = []
        for i in range(1, LOTS + 1):
            for side in (0, 1):
                amounts[i] += 500
                futures.append(engine.place_bid(i, f"P{2 * i - 1 + side:05d}", f"b{k}-{side}", amounts[i]))
        for accepted in await asyncio.gather(*futures):
            protocol.ack_frame(1, accepted, req="r")

    await batch(0)
    gc.collect()
    started = time.process_time()
    for k in range(1, rounds + 1):
        await batch(k)
    cpu = time.process_time() - started
    await engine.stop()
    return cpu / (rounds * LOTS * 2) * 1e6


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 400
    print(f"engine CPU per bid (in-memory store, no sockets): {asyncio.run(run(rounds)):.2f} us")


if __name__ == "__main__":
    main()
