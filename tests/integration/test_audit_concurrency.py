"""Two processes appending to the audit log at once still make one valid chain (RULES T12;
issue 17 item 4): each process hashes onto the head it last wrote and inserts in one
statement; when another appender moved the head, that statement inserts nothing and the
append reads the head under the lock. Two ``AuditLog`` instances stand for two processes
(each has its own remembered head), each with its own connections."""

from __future__ import annotations

import asyncio
import random

import asyncpg

from crypto.signing import generate_signing_key
from trading.audit import AuditLog
from trading.audit import log as audit_log
from trading.clock import FakeClock
from trading.context import Actor, Role

ACTOR = Actor(7, "staff7", Role.STAFF, 1, "10.0.0.1", "req-1")


class Rollback(Exception):
    """Raised inside a transaction to roll it back."""


def process(key_id: str) -> AuditLog:
    return AuditLog(generate_signing_key(), key_id, checkpoint_every=10)


async def append(conn: asyncpg.Connection, audit: AuditLog, clock: FakeClock, n: int = 1, tag: str = "") -> None:
    drafts = [audit.draft(actor=ACTOR, action=f"test.{tag}", object_type="t", object_id=i, at=clock.now(),
                          payload={"i": i}, detail={"tag": tag, "i": i}) for i in range(n)]
    await audit.append_many(conn, drafts)


async def assert_one_valid_chain(pool: asyncpg.Pool, entries: int) -> None:
    async with pool.acquire() as conn:
        report = await audit_log.verify_chain(conn)
        seqs = [r["seq"] for r in await conn.fetch("SELECT seq FROM audit_log ORDER BY seq")]
    assert report.ok, report.findings
    assert report.entries == entries and seqs == list(range(1, entries + 1))


async def wait_for_lock_waiter(pool: asyncpg.Pool, pid: int) -> None:
    """Until backend ``pid`` waits for a lock (bounded, polling pg_stat_activity)."""
    async with pool.acquire() as conn:
        for _ in range(1000):
            if await conn.fetchval("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = $1", pid):
                return
            await asyncio.sleep(0.01)
    raise AssertionError(f"backend {pid} never waited for the audit lock")


async def test_a_head_moved_by_another_process_is_read_under_the_lock(pool, clock) -> None:
    """T12: when B appended after A's last entry, A's one-statement append inserts nothing and
    A appends after B's entry; a rolled-back append and a batch after a stale head too."""
    a, b = process("srv-a"), process("srv-b")
    async with pool.acquire() as ca, pool.acquire() as cb:
        await a.register_key(ca, clock.now())
        await b.register_key(cb, clock.now())
        async with ca.transaction():
            await append(ca, a, clock, tag="a1")          # 1 (A remembers 1)
        async with cb.transaction():
            await append(cb, b, clock, tag="b1")          # 2 (B read the head under the lock)
        async with ca.transaction():
            await append(ca, a, clock, tag="a2")          # A's guess seq 2 is taken: 3
        assert a.raced == 1
        try:
            async with ca.transaction():
                await append(ca, a, clock, n=2, tag="gone")   # 4, 5 rolled back; A remembers 5
                raise Rollback
        except Rollback:
            pass
        async with ca.transaction():
            await append(ca, a, clock, n=3, tag="a3")     # entry 5 is not there: 4, 5, 6
        assert a.raced == 2
        async with cb.transaction():
            await append(cb, b, clock, n=4, tag="b2")     # B remembers 2: 7..10 (a checkpoint at 10)
        async with ca.transaction():
            await append(ca, a, clock, tag="a4")          # A remembers 6: 11
        async with cb.transaction():
            await append(cb, b, clock, tag="b3")          # B remembers 10: 12
        async with ca.transaction():
            # A remembers 11 and guesses 12, 13, 14: only 12 is taken, and a batch whose first
            # entry is not inserted inserts none of the rest (13 would link to A's 12): 13..15
            await append(ca, a, clock, n=3, tag="a5")
        assert (a.raced, b.raced) == (4, 2)
    await assert_one_valid_chain(pool, 15)


async def test_an_append_that_waited_for_the_lock_does_not_fork_the_chain(pool, clock) -> None:
    """T12: A's statement takes its snapshot, then waits for the lock B holds with entry N not
    yet committed; when B commits, A's guess N is taken and A appends N + 1."""
    a, b = process("srv-a"), process("srv-b")
    async with pool.acquire() as ca, pool.acquire() as cb:
        await a.register_key(ca, clock.now())
        async with ca.transaction():
            await append(ca, a, clock, tag="a1")          # 1; A remembers 1
        tx = cb.transaction()
        await tx.start()
        await append(cb, b, clock, tag="b-held")          # 2, lock held until the commit
        waiter = asyncio.create_task(_append_in_transaction(ca, a, clock, "a-waits"))
        await wait_for_lock_waiter(pool, ca.get_server_pid())
        await tx.commit()
        await waiter
        assert a.raced == 1
    await assert_one_valid_chain(pool, 3)


async def _append_in_transaction(conn: asyncpg.Connection, audit: AuditLog, clock: FakeClock, tag: str,
                                 n: int = 1) -> None:
    async with conn.transaction():
        await append(conn, audit, clock, n=n, tag=tag)


async def test_two_processes_appending_concurrently_make_one_valid_chain(pool, clock) -> None:
    """T12: two processes, five connections between them, 40 transactions per connection of one to
    three entries, one in five rolled back: one dense chain of exactly the committed entries."""
    a, b = process("srv-a"), process("srv-b")
    async with pool.acquire() as conn:
        await a.register_key(conn, clock.now())
        await b.register_key(conn, clock.now())
    committed = 0

    async def worker(audit: AuditLog, seed: int) -> None:
        nonlocal committed
        rnd = random.Random(seed)
        async with pool.acquire() as conn:
            for i in range(40):
                n = rnd.randint(1, 3)
                try:
                    async with conn.transaction():
                        await append(conn, audit, clock, n=n, tag=f"{seed}-{i}")
                        if rnd.random() < 0.2:
                            raise Rollback
                except Rollback:
                    continue
                committed += n

    await asyncio.gather(*(worker(audit, seed) for seed, audit in enumerate([a, b, a, b, a], start=1)))
    assert a.raced > 0 and b.raced > 0  # the two did race
    await assert_one_valid_chain(pool, committed)
