"""Keeping the audit chain's signed head outside the log table.

Checkpoints every N entries leave a window: an edit re-hashed after the last checkpoint, or a
truncated tail, still walks clean. The ``HeadKeeper`` closes it down to about a second: while
a process appends, it signs the committed head at most once per ``interval_s`` (and at start
and stop), keeps the signature in ``audit_heads`` (which a truncation of ``audit_log`` does
not touch) and in ``<data dir>/audit/head.json`` (outside the database, replaced atomically,
never by an older head). Operators copy that file off the machine (``sunlit audit head``);
``sunlit audit verify --head FILE`` then proves a truncation or a rewritten tail.

Why a timer and not a signature in every appending transaction: the append is a hot path
(target ≥ 0.8 × a plain INSERT); a second INSERT and a file write per append would halve it,
while one signature per second costs nothing measurable. The price is the window documented
in docs/operations.md: entries committed since the last tick (≤ ``interval_s``) and not yet
signed.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
from pathlib import Path

import asyncpg

from trading.audit.chain import SignedHead
from trading.audit.log import AuditLog
from trading.clock import Clock

log = logging.getLogger("sunlit.audit")

HEAD_FILE = Path("audit") / "head.json"
"""Where the latest signed head lives, relative to the data directory."""

HEAD_INTERVAL_S = 1.0


def head_path(data_dir: Path) -> Path:
    return data_dir / HEAD_FILE


def read_head_file(path: Path) -> SignedHead:
    """A signed head from a file (``ValueError`` naming the problem)."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the head file {path}: {exc}") from None
    try:
        return SignedHead.from_json(data)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from None


def write_json_atomically(path: Path, data: dict[str, object]) -> None:
    """Write a JSON file so that a reader sees the old or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, ensure_ascii=False, indent=1, sort_keys=True)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_head_file(path: Path, head: SignedHead, public_key: bytes) -> bool:
    """Replace the head file with ``head`` unless it already holds a later one (another
    process of the same data directory may sign too). Returns whether it wrote."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lock_fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if path.exists():
            try:
                if read_head_file(path).seq > head.seq:
                    return False
            except ValueError:
                pass  # a damaged file is replaced by a good one
        write_json_atomically(path, head.as_json(public_key))
        return True
    finally:
        os.close(lock_fd)


class HeadKeeper:
    """Signs the audit chain's head while its process appends (``run``), and on demand
    (``sign_now``: at start, at stop, from the CLI)."""

    def __init__(self, audit: AuditLog, pool: asyncpg.Pool, clock: Clock, data_dir: Path,
                 interval_s: float = HEAD_INTERVAL_S) -> None:
        assert interval_s > 0
        self._audit = audit
        self._pool = pool
        self._clock = clock
        self.path = head_path(data_dir)
        self.interval_s = interval_s
        self._seen_appends = audit.appends
        self._signed_seq = 0
        self._file_is_evidence = False
        """The head file names an entry the log no longer holds: it is never replaced."""
        self._task: asyncio.Task[None] | None = None

    async def sign_now(self) -> SignedHead | None:
        """Sign the head as committed now (unless already signed) and keep it; None for an
        empty log."""
        async with self._pool.acquire() as conn:
            seq = await conn.fetchval("SELECT max(seq) FROM audit_log")
            if seq is None or seq == self._signed_seq:
                return None
            if self._signed_seq == 0 and not await self._file_still_matches(conn):
                self._file_is_evidence = True
            head = await self._audit.sign_head(conn, self._clock.now())
        if head is None:
            return None
        if not self._file_is_evidence:
            await asyncio.to_thread(write_head_file, self.path, head, self._audit.public_key)
        self._signed_seq = head.seq
        return head

    async def _file_still_matches(self, conn: asyncpg.Connection) -> bool:
        """Before this process first replaces the head file (left by an earlier process):
        does the log still hold the entry it signed? If not, the file is evidence of a cut
        or rewritten tail and stays as it is (``sunlit audit verify`` names the entry)."""
        try:
            old = await asyncio.to_thread(read_head_file, self.path)
        except ValueError:
            return True  # no file, or a damaged one: nothing to keep
        stored = await conn.fetchval("SELECT hash FROM audit_log WHERE seq = $1", old.seq)
        if stored == old.head_hash:
            return True
        log.error("the audit log no longer holds the entry of the signed head in the head file; the file is kept: "
                  "run sunlit audit verify", extra={"head_file": str(self.path), "seq": old.seq})
        return False

    async def tick(self) -> SignedHead | None:
        """One look: sign the head if this process appended since the last look."""
        appends = self._audit.appends
        if appends == self._seen_appends:
            return None
        self._seen_appends = appends
        return await self.sign_now()

    async def run(self) -> None:
        """``tick`` every ``interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                # A background task's edge: say so and try again at the next tick.
                log.warning("could not sign the audit head; retrying", extra={"error": repr(exc)})
                self._seen_appends = -1

    async def start(self) -> None:
        await self.sign_now()
        self._task = asyncio.create_task(self.run(), name="audit-head-keeper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        try:
            await self.sign_now()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            # The database went first: the last tick's head stands (the window documented).
            log.warning("could not sign the audit head at stop", extra={"error": repr(exc)})
