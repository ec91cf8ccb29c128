"""The session cache, pure: freshness by the caller's clock, the session's own expiry, and no
stale answer cached by a lookup that raced a logout or a role change (issue 17 item 4)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from trading.context import Role
from trading.parties.model import User
from trading.parties.sessions import SessionCache

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
EXPIRES = T0 + timedelta(hours=8)


def user(uid: int = 1, role: Role = Role.STAFF) -> User:
    return User(uid, f"user{uid}", f"User {uid}", role, None, True, T0)


def test_a_session_is_fresh_for_the_cache_lifetime_only() -> None:
    cache = SessionCache(ttl_s=2)
    cache.put(b"k", user(), EXPIRES, T0, cache.generation())
    assert cache.get(b"k", T0 + timedelta(seconds=1.999)) == user()
    assert cache.get(b"k", T0 + timedelta(seconds=2)) is None
    assert len(cache) == 0


def test_a_session_past_its_own_expiry_is_not_served() -> None:
    cache = SessionCache(ttl_s=60)
    cache.put(b"k", user(), T0 + timedelta(seconds=10), T0, cache.generation())
    assert cache.get(b"k", T0 + timedelta(seconds=10)) is None


def test_a_clock_set_back_does_not_keep_a_session_longer() -> None:
    cache = SessionCache(ttl_s=2)
    cache.put(b"k", user(), EXPIRES, T0, cache.generation())
    assert cache.get(b"k", T0 - timedelta(hours=1)) is None


def test_a_lookup_that_raced_a_role_change_is_not_cached() -> None:
    """The lookup read the old role before the change committed, and finishes after the
    change's forget: its answer is dropped, the next request reads the database."""
    cache = SessionCache(ttl_s=2)
    generation = cache.generation()  # lookup starts (reads the old role)
    cache.forget_user(1)  # the role change commits and forgets the user
    cache.put(b"k", user(role=Role.STAFF), EXPIRES, T0, generation)  # the lookup finishes
    assert cache.get(b"k", T0) is None


def test_a_lookup_that_raced_a_logout_is_not_cached() -> None:
    cache = SessionCache(ttl_s=2)
    generation = cache.generation()
    cache.forget_session(b"k")
    cache.put(b"k", user(), EXPIRES, T0, generation)
    assert cache.get(b"k", T0) is None


def test_forgetting_a_user_drops_every_session_of_theirs_and_no_other() -> None:
    cache = SessionCache(ttl_s=2)
    for key, uid in ((b"a", 1), (b"b", 1), (b"c", 2)):
        cache.put(key, user(uid), EXPIRES, T0, cache.generation())
    cache.forget_user(1)
    assert cache.get(b"a", T0) is None and cache.get(b"b", T0) is None and cache.get(b"c", T0) == user(2)


def test_the_cache_holds_at_most_its_limit_the_oldest_going_first() -> None:
    cache = SessionCache(ttl_s=2, max_entries=3)
    for i in range(5):
        cache.put(bytes([i]), user(i), EXPIRES, T0, cache.generation())
    assert len(cache) == 3 and cache.get(bytes([0]), T0) is None and cache.get(bytes([4]), T0) == user(4)


def test_a_lifetime_of_zero_caches_nothing() -> None:
    cache = SessionCache(ttl_s=0)
    cache.put(b"k", user(), EXPIRES, T0, cache.generation())
    assert len(cache) == 0


class Reads:
    """A database read the test releases by hand: each call waits for ``release``."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls = 0

    def of(self, answer: User | Exception):
        async def read() -> tuple[User, datetime]:
            self.calls += 1
            await self.release.wait()
            if isinstance(answer, Exception):
                raise answer
            return answer, EXPIRES
        return read


async def test_misses_of_one_session_under_way_make_one_read() -> None:
    """When an entry runs out under load, the requests waiting make one query, not one each."""
    cache, reads = SessionCache(ttl_s=2), Reads()
    waiters = [asyncio.create_task(cache.lookup(b"k", T0, reads.of(user()))) for _ in range(10)]
    await asyncio.sleep(0)  # every waiter has asked
    reads.release.set()
    assert await asyncio.gather(*waiters) == [user()] * 10
    assert reads.calls == 1 and cache.get(b"k", T0) == user()


async def test_a_miss_after_a_role_change_does_not_share_a_read_begun_before_it() -> None:
    cache = SessionCache(ttl_s=2)
    before, after = Reads(), Reads()
    old = asyncio.create_task(cache.lookup(b"k", T0, before.of(user(role=Role.STAFF))))
    await asyncio.sleep(0)
    cache.forget_user(1)  # the role change commits
    new = asyncio.create_task(cache.lookup(b"k", T0, after.of(user(role=Role.EXPERT))))
    await asyncio.sleep(0)
    after.release.set()
    assert (await new).role == Role.EXPERT
    before.release.set()
    assert (await old).role == Role.STAFF  # the request that raced the change
    assert cache.get(b"k", T0) == user(role=Role.EXPERT)  # the raced answer is not kept


async def test_a_failed_read_fails_every_waiter_and_is_not_kept() -> None:
    cache, reads = SessionCache(ttl_s=2), Reads()
    waiters = [asyncio.create_task(cache.lookup(b"k", T0, reads.of(LookupError("no session")))) for _ in range(3)]
    await asyncio.sleep(0)
    reads.release.set()
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert all(isinstance(r, LookupError) for r in results) and len(cache) == 0


def test_a_suspended_cache_serves_and_keeps_nothing_nor_what_was_read_before_it_resumed() -> None:
    """Not listening for other processes' changes: nothing from memory; an answer read while
    suspended is not kept after the resume (a change may have been missed meanwhile)."""
    cache = SessionCache(ttl_s=2)
    cache.put(b"k", user(), EXPIRES, T0, cache.generation())
    cache.suspend()
    assert cache.get(b"k", T0) is None
    read_while_suspended = cache.generation()
    cache.resume()
    cache.put(b"k", user(), EXPIRES, T0, read_while_suspended)
    assert cache.get(b"k", T0) is None
    cache.put(b"k", user(), EXPIRES, T0, cache.generation())
    assert cache.get(b"k", T0) == user()


def test_a_notice_from_another_process_forgets_what_it_names() -> None:
    cache = SessionCache(ttl_s=2)
    for key, uid in ((b"\x01", 1), (b"\x02", 2), (b"\x03", 3)):
        cache.put(key, user(uid), EXPIRES, T0, cache.generation())
    cache.forget_notice("user:1")
    cache.forget_notice("session:02")
    assert [cache.get(k, T0) for k in (b"\x01", b"\x02", b"\x03")] == [None, None, user(3)]
    cache.forget_notice("garbled")  # anything else: forget every session
    assert len(cache) == 0
