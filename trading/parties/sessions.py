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

Several processes (servers behind one proxy, the CLI): the use cases also ``NOTIFY``
``sunlit_sessions`` in their transaction, and every server listens (``listen``) and forgets
what another process changed, milliseconds after its commit. While a server is not
listening (at start, or its listening connection lost until it is back) its cache serves
nothing (``suspend``). A change made in SQL by hand is not announced: it reaches a server
within ``ttl_s`` at most — why ``ttl_s`` is seconds (``SUNLIT_SESSION_CACHE_S``, 2 by
default; 0 turns the cache off).

Time is the caller's ``now`` (the app clock: a fake clock in tests); an entry read at a
later ``now`` than the one given is not served (a clock set back does not make it live
longer). Keys are token hashes: the cache holds no token.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from trading.parties.model import User

log = logging.getLogger("sunlit.sessions")

SESSION_CACHE_S = 2.0
SESSION_CACHE_MAX = 10_000
"""Sessions held at most; the oldest goes first."""
SESSIONS_CHANNEL = "sunlit_sessions"
"""The NOTIFY channel of logouts and role changes: ``session:<token hash hex>``, ``user:<id>``."""
LISTEN_RETRY_S = 1.0


def user_notice(user_id: int) -> str:
    return f"user:{user_id}"


def session_notice(token_hash: bytes) -> str:
    return f"session:{token_hash.hex()}"


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
        self._suspended = False
        self.hits = 0
        self.misses = 0
        self.reads = 0

    def suspend(self) -> None:
        """Serve and keep nothing until ``resume`` (changes made elsewhere are not heard)."""
        self._suspended = True
        self._forget_all()

    def resume(self) -> None:
        """Listening again: cache from now on — not what was read before (a change made
        while nobody listened may postdate it)."""
        self._generation += 1
        self._suspended = False

    @property
    def suspended(self) -> bool:
        return self._suspended

    def get(self, token_hash: bytes, now: datetime) -> User | None:
        """The cached user of a session still fresh at ``now``, or None."""
        if self._suspended:
            return None
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
        if not self.ttl or generation != self._generation or self._suspended:
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

    def forget_notice(self, notice: str) -> None:
        """What another process announced (``user_notice``, ``session_notice``); anything
        else forgets every session."""
        kind, _, ref = notice.partition(":")
        try:
            if kind == "user":
                return self.forget_user(int(ref))
            if kind == "session":
                return self.forget_session(bytes.fromhex(ref))
        except ValueError:
            pass
        self._forget_all()

    def _forget_all(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._reads.clear()

    def __len__(self) -> int:
        return len(self._entries)


def _retrieve(task: asyncio.Task[User]) -> None:
    """A read whose waiters all went away: its error is theirs, not an unhandled one."""
    if not task.cancelled():
        task.exception()


async def listen(dsn: str, cache: SessionCache, listening: asyncio.Event | None = None,
                 retry_s: float = LISTEN_RETRY_S, also: Callable[[str], None] | None = None) -> None:
    """Until cancelled: LISTEN on ``SESSIONS_CHANNEL`` on a connection of its own and pass
    every notice to the cache (and then to ``also``: whoever else holds sessions open, such
    as the auction gateway's websockets), which is suspended whenever the connection is not
    up (and again after a retry). ``listening`` is set once first listening."""

    def heard(_conn: object, _pid: int, _channel: str, notice: str) -> None:
        cache.forget_notice(notice)
        if also is not None:
            also(notice)

    while True:
        lost = asyncio.Event()
        try:
            conn = await asyncpg.connect(dsn)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot listen for session changes; sessions are not cached", extra={"error": repr(exc)})
            await asyncio.sleep(retry_s)
            continue
        try:
            conn.add_termination_listener(lambda _conn, lost=lost: lost.set())
            await conn.add_listener(SESSIONS_CHANNEL, heard)
            cache.resume()
            if listening is not None:
                listening.set()
            await lost.wait()
            log.warning("the session listener's connection was lost; sessions are not cached until it is back")
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("cannot listen for session changes; sessions are not cached", extra={"error": repr(exc)})
        finally:
            cache.suspend()
            if not conn.is_closed():
                conn.terminate()
        await asyncio.sleep(retry_s)
