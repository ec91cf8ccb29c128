"""Resolved sessions kept for a few seconds (issue 17 item 4): an authenticated request then
costs no database round trip.

Contract: a cached session is never served

- after its own expiry (``expires_at``), nor longer than ``ttl_s`` after it was read;
- after ``forget_session`` (logout) or ``forget_user`` (role change) returned in this
  process — the use cases call them after their commit (``trading.parties.service``).

A lookup that read the database before such a change and finishes after it does not put
its (stale) answer in the cache: every forget bumps a generation, and an answer is cached
only if the generation did not move while it was read.

One read per session at a time (``lookup``): the requests that miss while a read of their
session is under way wait for its answer instead of each reading — when an entry runs out
under load, the next 32 requests make one query, not 32. A forget drops the reads under way
from this sharing, so a request that arrives after a logout or a role change never gets an
answer read before it.

Other processes (a second server on the same database, a SQL session) are not told: their
changes reach this process within ``ttl_s`` at most. That is why ``ttl_s`` is seconds
(``SUNLIT_SESSION_CACHE_S``, 2 by default; 0 turns the cache off).

Time is the caller's ``now`` (the app clock: a fake clock in tests); an entry read at a
later ``now`` than the one given is not served (a clock set back does not make it live
longer). Keys are token hashes: the cache holds no token.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from trading.parties.model import User

SESSION_CACHE_S = 2.0
SESSION_CACHE_MAX = 10_000
"""Sessions held at most; the oldest goes first."""


@dataclass(frozen=True, slots=True)
class _Cached:
    user: User
    expires_at: datetime
    read_at: datetime


class SessionCache:
    def __init__(self, ttl_s: float = SESSION_CACHE_S, max_entries: int = SESSION_CACHE_MAX) -> None:
        assert ttl_s >= 0 and max_entries > 0
        self.ttl = timedelta(seconds=ttl_s)
        self.max_entries = max_entries
        self._entries: dict[bytes, _Cached] = {}
        self._generation = 0
        self._reads: dict[bytes, asyncio.Task[User]] = {}
        self.hits = 0
        self.misses = 0
        self.reads = 0

    def get(self, token_hash: bytes, now: datetime) -> User | None:
        """The cached user of a session still fresh at ``now``, or None."""
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        if hit.read_at <= now < hit.read_at + self.ttl and now < hit.expires_at:
            self.hits += 1
            return hit.user
        del self._entries[token_hash]
        return None

    def generation(self) -> int:
        """Taken before a lookup in the database, handed back to ``put``."""
        return self._generation

    def put(self, token_hash: bytes, user: User, expires_at: datetime, now: datetime, generation: int) -> None:
        """Keep a session read at ``now`` — unless a forget happened since ``generation``."""
        self.misses += 1
        if not self.ttl or generation != self._generation:
            return
        if len(self._entries) >= self.max_entries:
            del self._entries[next(iter(self._entries))]
        self._entries[token_hash] = _Cached(user, expires_at, now)

    async def lookup(
        self, token_hash: bytes, now: datetime, read: Callable[[], Awaitable[tuple[User, datetime]]]
    ) -> User:
        """The user of a session not fresh in the cache: ``read`` from the database (user,
        session expiry; its error raised to every waiter), or the answer of the read of this
        session already under way since the last forget."""
        task = self._reads.get(token_hash)
        if task is None:
            task = asyncio.ensure_future(self._read(token_hash, now, read, self._generation))
            task.add_done_callback(_retrieve)
            self._reads[token_hash] = task
        return await asyncio.shield(task)  # a waiter cancelled does not cancel the others' read

    async def _read(
        self, token_hash: bytes, now: datetime, read: Callable[[], Awaitable[tuple[User, datetime]]], generation: int
    ) -> User:
        self.reads += 1
        try:
            user, expires_at = await read()
        finally:
            if self._reads.get(token_hash) is asyncio.current_task():
                del self._reads[token_hash]
        self.put(token_hash, user, expires_at, now, generation)
        return user

    def forget_session(self, token_hash: bytes) -> None:
        """Logout: the session is read from the database again (and found revoked)."""
        self._generation += 1
        self._entries.pop(token_hash, None)
        self._reads.pop(token_hash, None)

    def forget_user(self, user_id: int) -> None:
        """Role change (or anything else about the user): every session of the user."""
        self._generation += 1
        for key in [k for k, v in self._entries.items() if v.user.id == user_id]:
            del self._entries[key]
        self._reads.clear()  # whose sessions they read is known only once read

    def __len__(self) -> int:
        return len(self._entries)


def _retrieve(task: asyncio.Task[User]) -> None:
    """A read whose waiters all went away: its error is theirs, not an unhandled one."""
    if not task.cancelled():
        task.exception()
