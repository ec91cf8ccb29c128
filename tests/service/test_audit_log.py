"""The audit log in PostgreSQL: append-only, hash-chained, checkpointed; verify finds every
direct SQL tampering (RULES T12; EM 48–49; A4(g))."""

from __future__ import annotations

import asyncpg
import pytest

from crypto.signing import generate_signing_key
from trading.audit import AuditLog
from trading.audit import log as audit_log
from trading.clock import FakeClock
from trading.context import Actor, Role

ACTOR = Actor(7, "staff7", Role.STAFF, 1, "10.0.0.1", "req-1")


async def fill(pool: asyncpg.Pool, audit: AuditLog, clock: FakeClock, n: int) -> None:
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
        for i in range(n):
            clock.advance(milliseconds=5)
            async with conn.transaction():
                await audit.append(conn, actor=ACTOR, action="tender.publish", object_type="tender",
                                   object_id=i, at=clock.now(), payload={"i": i})


async def tamper(pool: asyncpg.Pool, sql: str, *args: object) -> None:
    """A database administrator going around the application: triggers off for the session."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql, *args)


async def verify(pool: asyncpg.Pool) -> audit_log.VerifyReport:
    async with pool.acquire() as conn:
        return await audit_log.verify_chain(conn)


async def test_an_untouched_log_verifies_with_its_checkpoints(pool, audit, clock) -> None:
    await fill(pool, audit, clock, 25)
    report = await verify(pool)
    assert report.ok and report.entries == 25 and report.checkpoints == 2


async def test_the_application_cannot_update_or_delete_audit_rows(pool, audit, clock) -> None:
    """Append-only for the application: a trigger refuses UPDATE, DELETE and TRUNCATE."""
    await fill(pool, audit, clock, 3)
    async with pool.acquire() as conn:
        for sql in ("UPDATE audit_log SET action = 'x' WHERE seq = 1", "DELETE FROM audit_log WHERE seq = 2",
                    "TRUNCATE audit_log"):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute(sql)
    assert (await verify(pool)).ok


async def test_an_edited_entry_fails_verify_naming_it(pool, audit, clock) -> None:
    await fill(pool, audit, clock, 12)
    await tamper(pool, "UPDATE audit_log SET object_id = 'other' WHERE seq = 4")
    report = await verify(pool)
    assert not report.ok and report.first_bad is not None
    assert (report.first_bad.seq, report.first_bad.problem) == (4, "altered")


async def test_a_deleted_entry_fails_verify(pool, audit, clock) -> None:
    await fill(pool, audit, clock, 12)
    await tamper(pool, "DELETE FROM audit_log WHERE seq = 6")
    report = await verify(pool)
    assert report.first_bad is not None and (report.first_bad.seq, report.first_bad.problem) == (6, "missing")


async def test_reordered_entries_fail_verify(pool, audit, clock) -> None:
    await fill(pool, audit, clock, 12)
    # move whole rows: entry 5 now sits where 3 was and 3 where 5 was
    await tamper(pool, "UPDATE audit_log SET seq = 1003 WHERE seq = 3")
    await tamper(pool, "UPDATE audit_log SET seq = 3 WHERE seq = 5")
    await tamper(pool, "UPDATE audit_log SET seq = 5 WHERE seq = 1003")
    report = await verify(pool)
    assert not report.ok and report.first_bad is not None and report.first_bad.seq == 3


async def test_an_inserted_entry_fails_verify(pool, audit, clock) -> None:
    await fill(pool, audit, clock, 8)
    await tamper(pool, "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 5")
    await tamper(pool, "UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1005")
    await tamper(pool, """INSERT INTO audit_log (seq, at, actor_name, actor_role, action, object_type, object_id,
                           outcome, payload_digest, prev_hash, hash)
                         SELECT 5, at, 'mallory', 'admin', 'forged', 'tender', '1', 'ok', payload_digest, hash, 'f' || hash
                         FROM audit_log WHERE seq = 4""")
    report = await verify(pool)
    assert not report.ok and report.first_bad is not None and report.first_bad.seq == 5


async def test_a_chain_rehashed_after_an_edit_is_caught_by_the_signed_checkpoint(pool, audit, clock) -> None:
    """Recomputing every hash after an edit defeats the chain alone, not the signed checkpoints."""
    from dataclasses import replace

    from trading.audit.chain import GENESIS_HASH, entry_hash

    await fill(pool, audit, clock, 10)  # checkpoint at seq 10
    async with pool.acquire() as conn:
        entries = await audit_log.query(conn, limit=100)
    prev = GENESIS_HASH
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for e in entries:
            e2 = replace(e, prev_hash=prev, action="forged" if e.seq == 2 else e.action)
            e2 = replace(e2, hash=entry_hash(e2))
            await conn.execute("UPDATE audit_log SET action = $2, prev_hash = $3, hash = $4 WHERE seq = $1",
                               e.seq, e2.action, e2.prev_hash, e2.hash)
            prev = e2.hash
    report = await verify(pool)
    assert not report.ok
    assert [(f.seq, f.problem) for f in report.findings] == [(10, "checkpoint_mismatch")]


async def test_a_checkpoint_signed_by_another_key_is_refused(pool, clock) -> None:
    mallory = AuditLog(generate_signing_key(), "srv-mallory", checkpoint_every=5)
    honest = AuditLog(generate_signing_key(), "srv-honest", checkpoint_every=5)
    await fill(pool, mallory, clock, 5)
    async with pool.acquire() as conn:
        report = await audit_log.verify_chain(conn, trusted_keys={"srv-mallory": honest.public_key})
    assert [f.problem for f in report.findings] == ["bad_checkpoint"]


async def test_concurrent_appends_keep_one_dense_chain(pool, audit, clock) -> None:
    """Appends from many connections at once serialise: seq stays dense, the chain linear."""
    import asyncio

    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())

    async def one(i: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await audit.append(conn, actor=ACTOR, action="x", object_type="t", object_id=i, at=clock.now())

    await asyncio.gather(*(one(i) for i in range(40)))
    report = await verify(pool)
    assert report.ok and report.entries == 40


async def test_query_filters_by_object_actor_and_time(pool, audit, clock) -> None:
    await fill(pool, audit, clock, 6)
    async with pool.acquire() as conn, conn.transaction():
        other = Actor(9, "bidder9", Role.BIDDER, 2)
        await audit.append(conn, actor=other, action="bid.submit", object_type="bid", object_id="b1", at=clock.now())
    async with pool.acquire() as conn:
        assert [e.object_id for e in await audit_log.query(conn, object_type="bid")] == ["b1"]
        assert len(await audit_log.query(conn, actor_user_id=7)) == 6
        assert len(await audit_log.query(conn, since=clock.now())) == 2
        page = await audit_log.query(conn, after_seq=5, limit=10)
        assert [e.seq for e in page] == [6, 7]


# Issue 16 item 4: signed heads close the window after the last checkpoint.


async def rehash_from(pool: asyncpg.Pool, edit_seq: int) -> None:
    """A database administrator edits entry ``edit_seq`` and recomputes every later hash."""
    from dataclasses import replace

    from trading.audit.chain import GENESIS_HASH, entry_hash

    async with pool.acquire() as conn:
        entries = await audit_log.query(conn, limit=1000)
    prev = GENESIS_HASH
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        for e in entries:
            e2 = replace(e, prev_hash=prev, action="forged" if e.seq == edit_seq else e.action)
            e2 = replace(e2, hash=entry_hash(e2))
            await conn.execute("UPDATE audit_log SET action = $2, prev_hash = $3, hash = $4 WHERE seq = $1",
                               e.seq, e2.action, e2.prev_hash, e2.hash)
            prev = e2.hash


async def test_item4_an_edit_rehashed_after_the_last_checkpoint_is_detected(pool, audit, clock, tmp_path) -> None:
    """Issue 16 item 4 (RULES T12): checkpoints every 10 leave entries 11–15 unsigned by them;
    the head the keeper signed (in audit_heads and the head file) catches their rewrite."""
    from trading.audit.head import HeadKeeper, read_head_file

    await fill(pool, audit, clock, 15)
    keeper = HeadKeeper(audit, pool, clock, tmp_path)
    head = await keeper.sign_now()
    assert head is not None and head.seq == 15 and read_head_file(keeper.path) == head
    assert (await verify(pool)).ok
    await rehash_from(pool, 13)
    report = await verify(pool)
    assert [(f.seq, f.problem) for f in report.findings] == [(15, "head_mismatch")]


async def test_item4_a_truncated_tail_is_detected_with_a_published_head(pool, audit, clock, tmp_path) -> None:
    """Issue 16 item 4: the tail cut and the audit_heads rows removed too, the chain walks clean;
    the head published before (a copy of the head file) proves the cut."""
    from trading.audit.head import HeadKeeper, read_head_file

    await fill(pool, audit, clock, 15)
    keeper = HeadKeeper(audit, pool, clock, tmp_path)
    await keeper.sign_now()
    published = read_head_file(keeper.path)
    await tamper(pool, "DELETE FROM audit_log WHERE seq > 12")
    await tamper(pool, "DELETE FROM audit_heads")
    assert (await verify(pool)).ok  # what the database alone can no longer show
    async with pool.acquire() as conn:
        report = await audit_log.verify_chain(conn, heads=[(published, "the published head")])
    assert [(f.seq, f.problem) for f in report.findings] == [(15, "truncated")]


async def test_item4_the_head_keeper_signs_only_after_appends_and_never_goes_back(pool, audit, clock, tmp_path) -> None:
    """Issue 16 item 4: a tick signs the head only when this process appended since the last
    one; the head file never goes back to an older head (another process may sign too)."""
    from trading.audit.head import HeadKeeper, read_head_file, write_head_file

    keeper = HeadKeeper(audit, pool, clock, tmp_path)
    assert await keeper.tick() is None  # nothing appended, nothing signed
    await fill(pool, audit, clock, 3)
    first = await keeper.tick()
    assert first is not None and first.seq == 3
    assert await keeper.tick() is None
    await fill(pool, audit, clock, 2)
    second = await keeper.tick()
    assert second is not None and second.seq == 5
    assert write_head_file(keeper.path, first, audit.public_key) is False
    assert read_head_file(keeper.path).seq == 5
    async with pool.acquire() as conn:
        assert [r["seq"] for r in await conn.fetch("SELECT seq FROM audit_heads ORDER BY seq")] == [3, 5]
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await conn.execute("DELETE FROM audit_heads")


async def test_item4_a_restart_after_a_cut_keeps_the_head_file_as_evidence(pool, audit, clock, tmp_path) -> None:
    """Issue 16 item 4: the tail cut and audit_heads emptied while the server was down, the next
    start (a new keeper) signs what it finds into the table but keeps the head file that names
    the lost entry, so ``verify`` on the machine still proves the cut."""
    from trading.audit.head import HeadKeeper, read_head_file

    await fill(pool, audit, clock, 15)
    await HeadKeeper(audit, pool, clock, tmp_path).sign_now()
    await tamper(pool, "DELETE FROM audit_log WHERE seq > 12")
    await tamper(pool, "DELETE FROM audit_heads")
    restarted = HeadKeeper(audit, pool, clock, tmp_path)
    await restarted.sign_now()
    await fill(pool, audit, clock, 5)  # appends go on; the file stays
    await restarted.sign_now()
    kept = read_head_file(restarted.path)
    assert kept.seq == 15
    async with pool.acquire() as conn:
        report = await audit_log.verify_chain(conn, heads=[(kept, "the head file")])
    assert (15, "head_mismatch") in [(f.seq, f.problem) for f in report.findings]
