"""Who owns a lot, asked of PostgreSQL as little as a surge allows (``auction.following``):
one lookup per lot however many forwarded commands need it, the owner remembered until a
forward to it fails or its lock is seen free or taken, and one "is it still the owner" read
per interval for every command waiting, not one per command.

Sources: issue 15 items 3–4 (several processes, one database: a bid arriving at another
process is forwarded to the owner; kill -9 of the owner → takeover, no acknowledged bid lost);
docs/benchmarks-auction.md section 6 (the lookups multiplied with the commands in flight).
"""

from __future__ import annotations

import asyncio
import dataclasses
from types import SimpleNamespace
from typing import Any

import pytest

from auction.errors import EngineUnavailable
from auction.following import HERE, Following, NotOwner, OwnerBook


class Lookups:
    """A fake pg_locks: who holds each key; counts the queries; a gate holds them open."""

    def __init__(self, holders: dict[int, str]) -> None:
        self.holders = dict(holders)
        self.one = 0
        self.every = 0
        self.gate = asyncio.Event()
        """Holds the one-key lookups open while cleared."""
        self.gate.set()
        self.read_gate = asyncio.Event()
        """Holds the reads of every holder open while cleared."""
        self.read_gate.set()
        self.reads = asyncio.Event()

    async def lookup(self, key: int) -> str | None:
        self.one += 1
        await self.gate.wait()
        return self.holders.get(key)

    async def all(self) -> dict[int, str]:
        self.every += 1
        self.reads.set()
        await self.read_gate.wait()
        return dict(self.holders)


async def test_one_lookup_answers_every_command_asking_for_the_same_lot_at_once() -> None:
    """Issue 15 item 3: a thousand forwarded bids for one lot ask PostgreSQL once."""
    db = Lookups({7: "node-a"})
    db.gate.clear()
    book = OwnerBook(db.lookup, db.all, max_age_s=0.5)
    askers = [asyncio.ensure_future(book.owner(7)) for _ in range(1000)]
    await asyncio.sleep(0)
    db.gate.set()
    assert set(await asyncio.gather(*askers)) == {"node-a"}
    assert db.one == 1
    assert await book.owner(7) == "node-a"  # remembered: no second query
    assert db.one == 1


async def test_a_known_owner_is_forgotten_when_a_forward_to_it_fails() -> None:
    """Issue 15 item 4: the owner died — the next command asks again (and finds the new one)."""
    db = Lookups({7: "node-a"})
    book = OwnerBook(db.lookup, db.all, max_age_s=0.5)
    assert await book.owner(7) == "node-a"
    db.holders[7] = "node-b"
    book.forget(7, "node-c")  # another command already learnt a newer owner: kept
    assert await book.owner(7) == "node-a"
    book.forget(7, "node-a")
    assert await book.owner(7) == "node-b"
    assert db.one == 2


async def test_one_read_checks_every_waiting_command_of_every_lot() -> None:
    """Issue 15 item 3: while answers are slow, the "still the owner" check is one pg_locks
    read per interval for the process, whatever the number of commands in flight."""
    db = Lookups({k: "node-a" for k in range(1, 301)})
    db.read_gate.clear()
    book = OwnerBook(db.lookup, db.all, max_age_s=3600)
    waiting = [asyncio.ensure_future(book.holder(k % 300 + 1)) for k in range(5000)]
    await db.reads.wait()
    db.read_gate.set()
    assert set(await asyncio.gather(*waiting)) == {"node-a"}
    assert await book.holder(5) == "node-a"  # within max_age_s: the same read
    assert (db.every, db.one) == (1, 0)
    stale = OwnerBook(db.lookup, db.all, max_age_s=0)
    await stale.holder(5)
    await stale.holder(5)
    assert db.every == 3  # older than max_age_s: read again


async def test_a_lock_seen_free_or_taken_replaces_the_known_owner() -> None:
    """Issue 15 item 4: the check that finds the lot free (its owner died) or held by another
    process corrects the remembered owner for the commands that come next."""
    db = Lookups({7: "node-a", 8: "node-a"})
    book = OwnerBook(db.lookup, db.all, max_age_s=0)
    assert await book.owner(7) == "node-a" and await book.owner(8) == "node-a"
    del db.holders[7]
    db.holders[8] = "node-b"
    assert await book.holder(7) is None
    assert book.known == {8: "node-b"}
    assert await book.owner(8) == "node-b"
    assert db.one == 2  # the two first lookups only


async def test_without_a_read_of_every_holder_the_check_is_one_lookup_per_lot() -> None:
    """A store that can only look one lot up: still one query per lot per interval."""
    db = Lookups({7: "node-a"})
    db.gate.clear()
    book = OwnerBook(db.lookup, None, max_age_s=3600)
    waiting = [asyncio.ensure_future(book.holder(7)) for _ in range(100)]
    await asyncio.sleep(0)
    db.gate.set()
    assert set(await asyncio.gather(*waiting)) == {"node-a"}
    assert db.one == 1


async def test_a_command_cancelled_while_the_owner_is_looked_up_does_not_fail_the_others() -> None:
    """A client gone mid-forward must not cancel the lookup the other commands wait for."""
    db = Lookups({7: "node-a"})
    db.gate.clear()
    book = OwnerBook(db.lookup, db.all, max_age_s=0.5)
    first = asyncio.ensure_future(book.owner(7))
    second = asyncio.ensure_future(book.owner(7))
    await asyncio.sleep(0)
    first.cancel()
    db.gate.set()
    assert await second == "node-a"
    with pytest.raises(asyncio.CancelledError):
        await first
    assert db.one == 1


# -- Following: forwarded commands against a fake store -------------------------------------------


@dataclasses.dataclass(eq=False)
class Lot:
    id: int
    owned: bool = False
    committed: Any = dataclasses.field(
        default_factory=lambda: SimpleNamespace(seq=0, phase=SimpleNamespace(value="live"))
    )
    catch_lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)


class Store:
    """Ownership as the engine's store offers it; counts the lookups."""

    def __init__(self, holders: dict[int, str]) -> None:
        self.db = Lookups(holders)
        self.claimed: list[int] = []

    async def owner_of(self, lot_id: int) -> str | None:
        return await self.db.lookup(lot_id)

    async def owners(self) -> dict[int, str]:
        return await self.db.all()

    async def claim(self, lot_ids: list[int]) -> list[int]:
        free = [i for i in lot_ids if i not in self.db.holders]
        self.claimed += free
        return free

    async def load_lot(self, lot_id: int, *, refusals_max: int) -> Any:
        return object()


def following(store: Store, lots: dict[int, Lot], *, owner_check_s: float) -> Following[Any]:
    def adopt(lot: Lot, _loaded: Any) -> None:
        lot.owned = True

    async def load(_lot_id: int) -> None:
        return None

    return Following(
        store,
        None,
        lots,
        load=load,
        adopt=adopt,
        fold=lambda _lot, _events: None,
        demote=lambda lot: None,
        spawn=lambda coro, name: None,
        refusals_max=10,
        retry_after_s=0,
        claim_interval_s=1,
        forward_attempt_s=3,
        owner_check_s=owner_check_s,
        forward_total_s=12,
    )


async def test_commands_waiting_on_a_slow_owner_share_one_lookup_and_one_check() -> None:
    """Issue 15 item 3 (benchmark b): 500 forwarded bids for 5 lots of one slow owner cost 5
    owner lookups and one holder read per check interval — not 500 of each."""
    store = Store({k: "node-a" for k in range(1, 6)})
    store.db.read_gate.clear()
    lots = {k: Lot(k) for k in range(1, 6)}
    follow = following(store, lots, owner_check_s=0)
    answer = asyncio.Event()
    all_sent = asyncio.Event()
    sent: list[str] = []

    async def send(node: str) -> str:
        sent.append(node)
        if len(sent) == 500:
            all_sent.set()
        await answer.wait()
        return "ack"

    commands = [asyncio.ensure_future(follow.at_owner(lots[k % 5 + 1], send)) for k in range(500)]
    await store.db.reads.wait()  # the owner is slow: the commands check it is still the owner
    await all_sent.wait()
    for _ in range(5):  # every command's check reaches the read in flight
        await asyncio.sleep(0)
    assert store.db.every == 1
    answer.set()
    store.db.read_gate.set()
    assert set(await asyncio.gather(*commands)) == {"ack"}
    assert sent == ["node-a"] * 500
    assert store.db.one == 5
    assert store.db.every <= 3


async def test_a_forward_to_an_owner_that_died_takes_the_lot_over() -> None:
    """Issue 15 item 4: kill -9 of the owner — its lock ends, the waiting command sees the lot
    free at the next check, forgets the dead owner, claims the lot and judges it here."""
    store = Store({7: "node-a"})
    lot = Lot(7)
    follow = following(store, {7: lot}, owner_check_s=0)
    never = asyncio.Event()

    async def send(_node: str) -> str:
        await never.wait()
        return "never"

    store.db.read_gate.clear()
    command = asyncio.ensure_future(follow.at_owner(lot, send))
    await store.db.reads.wait()
    del store.db.holders[7]
    store.db.read_gate.set()  # the owner's connection, and so its lock, ended
    assert await command is HERE
    assert lot.owned and store.claimed == [7]
    assert follow.owners.known == {}


async def test_an_owner_that_let_go_is_asked_again_not_reused() -> None:
    """Issue 15 item 4: the remembered owner answered NotOwner (it let go of the lot): the
    next attempt looks the owner up again instead of sending to it once more."""
    store = Store({7: "node-a"})
    lot = Lot(7)
    follow = following(store, {7: lot}, owner_check_s=3600)
    sent: list[str] = []

    async def send(node: str) -> str:
        sent.append(node)
        if node == "node-a":
            store.db.holders[7] = "node-b"
            raise NotOwner(7)
        return "ack"

    assert await follow.at_owner(lot, send) == "ack"
    assert sent == ["node-a", "node-b"]
    assert store.db.one == 2


async def test_a_forward_never_answered_ends_engine_unavailable() -> None:
    """Issue 15 "Bad input and faults": retried while the owner changes over, then refused
    ``engine_unavailable`` (send again, same bid id) — never a silent loss."""
    store = Store({7: "node-a"})
    lot = Lot(7)
    follow = following(store, {7: lot}, owner_check_s=3600)
    follow.forward_total_s = 0

    async def send(_node: str) -> str:
        raise TimeoutError

    with pytest.raises(EngineUnavailable):
        await follow.at_owner(lot, send)


async def test_notifications_during_a_catch_up_raise_its_target_instead_of_queuing_readers() -> None:
    """Issue 15 item 3 (fan-out, in order and without gaps): the owner's flushes announced
    while a follower reads a lot's log make that reader read further — one reader per lot,
    not one query per notification — and the lot still reaches the newest seq announced."""
    log = list(range(1, 201))
    reads: list[int] = []
    gate = asyncio.Event()

    class LogStore:
        async def events_after(self, lot_id: int, after: int) -> list[int]:
            reads.append(after)
            await gate.wait()
            return [s for s in log if s > after][:50]

    lot = Lot(7)
    tasks: list[asyncio.Task[Any]] = []

    def fold(lot: Lot, events: list[int]) -> None:
        lot.committed = SimpleNamespace(seq=events[-1], phase=SimpleNamespace(value="live"))

    follow = Following(
        LogStore(), None, {7: lot}, load=lambda _i: asyncio.sleep(0), adopt=lambda *_: None,
        fold=fold, demote=lambda _l: None,
        spawn=lambda coro, _name: tasks.append(asyncio.ensure_future(coro)),
        refusals_max=10, retry_after_s=0, claim_interval_s=1, forward_attempt_s=3,
        owner_check_s=0.5, forward_total_s=12,
    )
    for seq in range(1, 201):  # 200 flushes announced while the first read waits
        follow.on_log({7: seq})
    assert len(tasks) == 1
    gate.set()
    await asyncio.gather(*tasks)
    assert lot.committed.seq == 200
    assert reads == [0, 50, 100, 150]
    follow.on_log({7: 200})  # nothing new: no reader
    assert len(tasks) == 1
