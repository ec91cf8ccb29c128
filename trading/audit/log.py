"""Appending to, checkpointing, querying and verifying the audit log in PostgreSQL.

How an append stays one round trip (issue 17 item 4) without giving up one linear chain:

- Every append takes the transaction-scoped advisory lock ``_LOCK_KEY`` (held to the commit:
  appends are serialised, ``seq`` is dense and follows the commit order; other packages order
  their locks after it, e.g. the public notice counter).
- The process remembers the head it last wrote (``seq``, ``hash``) and hashes the next entry
  onto it. One statement then takes the lock, checks that the entry it links to is there
  (``seq - 1`` with that hash, visible to this transaction) and inserts with
  ``ON CONFLICT DO NOTHING``.
- If another transaction or process appended in between, that statement inserts nothing: its
  ``seq`` is taken (the conflict) or the remembered head is not there (rolled back, another
  database). The append then takes the slow path — lock, read the head under the lock, hash,
  insert: three round trips, as before.

Why that is safe: every row is inserted only after its predecessor is visible (the check) and
while the inserting transaction holds the lock, and ``seq`` is the primary key. Two appenders
can never both own a ``seq``; the loser of a race inserts nothing and retries under the lock.
The statement's snapshot may predate the lock it waits for, which is why a stale head shows
up as a conflict and never as a second entry ``seq``.

A batch (``append_many``: one use case writing several entries) is hashed in one pass
(``chain.link``) and written in one statement too: its first entry as above, in a
data-modifying CTE, and the rest only if that first entry was inserted. An ``ON CONFLICT DO
NOTHING`` over the whole batch could insert a tail whose head was another's; this cannot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from crypto.signing import SigningKey, canonical_json, public_key_bytes, sha256_hex, verify
from trading.audit.chain import (
    GENESIS_HASH,
    Entry,
    Finding,
    SignedHead,
    check_head,
    checkpoint_message,
    link,
    walk,
)
from trading.clock import iso_ms, utc_ms
from trading.context import Actor

_LOCK_KEY = 0x41554454  # "AUDT": appends are serialised so seq is dense and the chain linear

_COLUMNS = (
    "seq, at, actor_user_id, actor_name, actor_role, actor_org_id, action, object_type, "
    "object_id, outcome, client_addr, request_id, payload_digest, detail, prev_hash, hash"
)
_VALUES = "$1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16"

_LOCK = "SELECT pg_advisory_xact_lock($1)"
_HEAD = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_INSERT = f"INSERT INTO audit_log ({_COLUMNS}) VALUES ({_VALUES})"
_FIRST = f"""
    INSERT INTO audit_log ({_COLUMNS})
    SELECT $1::bigint, $2::timestamptz, $3::bigint, $4::text, $5::text, $6::bigint, $7::text, $8::text, $9::text,
           $10::text, $11::text, $12::text, $13::text, $14::jsonb, $15::text, $16::text
    FROM lock
    WHERE $1::bigint = 1 OR EXISTS (SELECT 1 FROM audit_log WHERE seq = $1::bigint - 1 AND hash = $15::text)
    ON CONFLICT DO NOTHING"""
_INSERT_AFTER = f"""
    WITH lock AS (SELECT pg_advisory_xact_lock($17::bigint))
    {_FIRST}"""
"""The one-round-trip append: lock, check the entry linked to, insert — or nothing."""


def _unnest(first: int) -> str:
    n = [f"${first + i}" for i in range(16)]
    return (f"unnest({n[0]}::bigint[], {n[1]}::timestamptz[], {n[2]}::bigint[], {n[3]}::text[], {n[4]}::text[], "
            f"{n[5]}::bigint[], {n[6]}::text[], {n[7]}::text[], {n[8]}::text[], {n[9]}::text[], {n[10]}::text[], "
            f"{n[11]}::text[], {n[12]}::text[], {n[13]}::text[]::jsonb[], {n[14]}::text[], {n[15]}::text[])")


_INSERT_MANY = f"INSERT INTO audit_log ({_COLUMNS}) SELECT * FROM {_unnest(1)}"
_INSERT_MANY_AFTER = f"""
    WITH lock AS (SELECT pg_advisory_xact_lock($17::bigint)),
    first AS ({_FIRST} RETURNING seq)
    INSERT INTO audit_log ({_COLUMNS}) SELECT * FROM {_unnest(18)} WHERE EXISTS (SELECT 1 FROM first)"""
"""A batch in one round trip: the first entry as in ``_INSERT_AFTER``, the rest only if it was
inserted — under the lock, with ``seq`` free in the latest state (the conflict check is not
bound to the snapshot), so the rest is free too: appends are dense."""


def _columns(entries: Sequence[Entry]) -> list[list[Any]]:
    """The entries as 16 column arrays (``detail`` as JSON text) for ``unnest``."""
    columns = [list(c) for c in zip(*(_row(e) for e in entries), strict=True)]
    columns[13] = [json.dumps(d) for d in columns[13]]
    return columns


def _row(e: Entry) -> tuple[Any, ...]:
    return (e.seq, e.at, e.actor_user_id, e.actor_name, e.actor_role, e.actor_org_id, e.action, e.object_type,
            e.object_id, e.outcome, e.client_addr, e.request_id, e.payload_digest, e.detail, e.prev_hash, e.hash)


def payload_digest(payload: Any) -> str:
    """SHA-256 of the request payload; the log keeps the digest, never the payload."""
    if payload is None:
        return sha256_hex(b"")
    if isinstance(payload, bytes):
        return sha256_hex(payload)
    return sha256_hex(canonical_json(payload))


def _row_to_entry(r: asyncpg.Record) -> Entry:
    return Entry(**dict(r))


@dataclass(frozen=True)
class VerifyReport:
    ok: bool
    entries: int
    checkpoints: int
    findings: list[Finding] = field(default_factory=list)
    heads: int = 0
    """Signed heads checked: the audit_heads table's, and any given from files."""

    @property
    def first_bad(self) -> Finding | None:
        return self.findings[0] if self.findings else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "checkpoints": self.checkpoints,
            "heads": self.heads,
            "findings": [f.__dict__ for f in self.findings],
        }


class AuditLog:
    """The server's handle on the log: it holds the checkpoint signing key."""

    def __init__(self, signing_key: SigningKey, key_id: str, checkpoint_every: int = 100) -> None:
        assert checkpoint_every > 0
        self._key = signing_key
        self.key_id = key_id
        self.public_key = public_key_bytes(signing_key)
        self.checkpoint_every = checkpoint_every
        self.appends = 0
        """Appends attempted by this process (committed or not): the head keeper signs the
        head when this moved since its last look."""
        self.raced = 0
        """Appends that found the head moved by another transaction and read it under the lock."""
        self._head: tuple[int, str] | None = None
        """The last entry this process wrote (seq, hash), committed or not: a guess that the
        one-statement append checks, never trusted (module docstring)."""

    def sign(self, message: bytes) -> bytes:
        """Sign with the server's key: receipts, opening records, Merkle roots, draw records."""
        return self._key.sign(message)

    async def register_key(self, conn: asyncpg.Connection, now: datetime) -> None:
        await conn.execute(
            "INSERT INTO server_keys (key_id, public_key, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key_id) DO NOTHING",
            self.key_id, self.public_key, now,
        )

    def draft(
        self,
        *,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: str | int,
        at: datetime,
        payload: Any = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> Entry:
        """An entry not yet numbered, linked or hashed (for ``append_many``)."""
        return Entry(
            seq=0,
            at=utc_ms(at),
            actor_user_id=actor.user_id,
            actor_name=actor.username,
            actor_role=str(actor.role),
            actor_org_id=actor.org_id,
            action=action,
            object_type=object_type,
            object_id=str(object_id),
            outcome=outcome,
            client_addr=actor.client_addr,
            request_id=actor.request_id,
            payload_digest=payload_digest(payload),
            detail=detail or {},
        )

    async def append(
        self,
        conn: asyncpg.Connection,
        *,
        actor: Actor,
        action: str,
        object_type: str,
        object_id: str | int,
        at: datetime,
        payload: Any = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
    ) -> Entry:
        """Append one entry inside the caller's transaction (it commits or rolls back with it)."""
        entry = self.draft(actor=actor, action=action, object_type=object_type, object_id=object_id, at=at,
                           payload=payload, outcome=outcome, detail=detail)
        return (await self.append_many(conn, [entry]))[0]

    async def append_many(self, conn: asyncpg.Connection, drafts: Sequence[Entry]) -> list[Entry]:
        """Append a use case's entries in order, inside its transaction: hashed in one pass,
        written in one statement when this process wrote the head, else after reading the
        head under the lock (see the module docstring)."""
        assert conn.is_in_transaction(), "audit entries are written inside the use case's transaction"
        if not drafts:
            return []
        self.appends += 1
        head = self._head
        entries: list[Entry] | None = None
        if head is not None:
            entries = link(drafts, *head)
            if len(entries) == 1:
                inserted = await conn.execute(_INSERT_AFTER, *_row(entries[0]), _LOCK_KEY) == "INSERT 0 1"
            else:
                status = await conn.execute(_INSERT_MANY_AFTER, *_row(entries[0]), _LOCK_KEY, *_columns(entries[1:]))
                inserted = status == f"INSERT 0 {len(entries) - 1}"
            if not inserted:
                entries = None
                self.raced += 1
        if entries is None:
            await conn.execute(_LOCK, _LOCK_KEY)
            r = await conn.fetchrow(_HEAD)
            entries = link(drafts, 0, GENESIS_HASH) if r is None else link(drafts, r["seq"], r["hash"])
            if len(entries) == 1:
                await conn.execute(_INSERT, *_row(entries[0]))
            else:
                await conn.execute(_INSERT_MANY, *_columns(entries))
        last = entries[-1]
        self._head = (last.seq, last.hash)
        for e in entries:
            if e.seq % self.checkpoint_every == 0:
                await self._checkpoint_at(conn, e.seq, e.hash, e.at)
        return entries

    async def _checkpoint_at(self, conn: asyncpg.Connection, seq: int, head_hash: str, now: datetime) -> None:
        signature = self._key.sign(checkpoint_message(seq, head_hash))
        await conn.execute(
            "INSERT INTO audit_checkpoints (seq, head_hash, signed_at, key_id, signature) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (seq) DO NOTHING",
            seq, head_hash, now, self.key_id, signature,
        )

    async def checkpoint(self, conn: asyncpg.Connection, now: datetime) -> dict[str, Any] | None:
        """Sign the current head on demand. Returns the checkpoint, or None for an empty log."""
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            head = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            if head is None:
                return None
            await self._checkpoint_at(conn, head["seq"], head["hash"], now)
            return {"seq": head["seq"], "head_hash": head["hash"], "key_id": self.key_id}


    async def sign_head(self, conn: asyncpg.Connection, now: datetime) -> SignedHead | None:
        """Sign the committed head as it stands and keep it in ``audit_heads``; None for an
        empty log. Takes no lock: appends go on, the head signed is the one this read saw."""
        head = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        if head is None:
            return None
        signed_at = iso_ms(now)
        unsigned = SignedHead(head["seq"], head["hash"], signed_at, self.key_id, b"")
        signed = SignedHead(head["seq"], head["hash"], signed_at, self.key_id, self._key.sign(unsigned.message()))
        await conn.execute(
            "INSERT INTO audit_heads (seq, head_hash, signed_at, key_id, signature) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (seq) DO NOTHING",
            signed.seq, signed.head_hash, utc_ms(now), signed.key_id, signed.signature,
        )
        return signed


def head_from_row(r: asyncpg.Record) -> SignedHead:
    return SignedHead(r["seq"], r["head_hash"], iso_ms(r["signed_at"]), r["key_id"], bytes(r["signature"]))


async def latest_head(conn: asyncpg.Connection) -> SignedHead | None:
    """The latest signed head kept in the database (None when none is, or no table yet)."""
    if await conn.fetchval("SELECT to_regclass('audit_heads')") is None:
        return None
    r = await conn.fetchrow("SELECT seq, head_hash, signed_at, key_id, signature FROM audit_heads ORDER BY seq DESC LIMIT 1")
    return None if r is None else head_from_row(r)


async def query(
    conn: asyncpg.Connection,
    *,
    object_type: str | None = None,
    object_id: str | None = None,
    actor_user_id: int | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int = 0,
    limit: int = 100,
    newest_first: bool = False,
    before_seq: int | None = None,
) -> list[Entry]:
    """Entries matching every filter given, in seq order (page with ``after_seq``) or, with
    ``newest_first``, from the newest down (page with ``before_seq``: entries below it)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM audit_log
            WHERE seq > $1 AND ($9::bigint IS NULL OR seq < $9)
              AND ($2::text IS NULL OR object_type = $2)
              AND ($3::text IS NULL OR object_id = $3)
              AND ($4::bigint IS NULL OR actor_user_id = $4)
              AND ($5::text IS NULL OR action = $5)
              AND ($6::timestamptz IS NULL OR at >= $6)
              AND ($7::timestamptz IS NULL OR at < $7)
            ORDER BY {"seq DESC" if newest_first else "seq"} LIMIT $8""",
        after_seq, object_type, object_id, actor_user_id, action, since, until, limit, before_seq,
    )
    return [_row_to_entry(r) for r in rows]


async def verify_chain(
    conn: asyncpg.Connection,
    *,
    trusted_keys: dict[str, bytes] | None = None,
    heads: Sequence[tuple[SignedHead, str]] = (),
    batch: int = 5000,
) -> VerifyReport:
    """Walk the whole chain, every checkpoint and every signed head: those in ``audit_heads``
    and ``heads`` (each with where it came from, e.g. a published head file). ``trusted_keys``
    (key id → public key) are the server keys published outside the database; by default the
    ``server_keys`` table. Only reads (one read-only transaction)."""
    keys = trusted_keys
    if keys is None:
        keys = {r["key_id"]: bytes(r["public_key"]) for r in await conn.fetch("SELECT key_id, public_key FROM server_keys")}
    findings: list[Finding] = []
    hashes: dict[int, str] = {}
    prev_hash, next_seq, count, last = GENESIS_HASH, 1, 0, 0
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        while True:
            rows: Sequence[asyncpg.Record] = await conn.fetch(
                f"SELECT {_COLUMNS} FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2", last, batch
            )
            if not rows:
                break
            entries = [_row_to_entry(r) for r in rows]
            findings.extend(walk(entries, prev_hash, next_seq))
            for e in entries:
                hashes[e.seq] = e.hash
            count += len(entries)
            last = entries[-1].seq
            prev_hash, next_seq = entries[-1].hash, last + 1
        checkpoints = await conn.fetch("SELECT seq, head_hash, key_id, signature FROM audit_checkpoints ORDER BY seq")
        stored_heads = []
        if await conn.fetchval("SELECT to_regclass('audit_heads')") is not None:
            stored_heads = await conn.fetch("SELECT seq, head_hash, signed_at, key_id, signature FROM audit_heads ORDER BY seq")
    for c in checkpoints:
        public = keys.get(c["key_id"])
        if public is None or not verify(public, bytes(c["signature"]), checkpoint_message(c["seq"], c["head_hash"])):
            findings.append(Finding(c["seq"], "bad_checkpoint", f"checkpoint at {c['seq']} is not validly signed"))
        elif hashes.get(c["seq"]) != c["head_hash"]:
            findings.append(
                Finding(c["seq"], "checkpoint_mismatch", f"entry {c['seq']} differs from the signed checkpoint")
            )
    all_heads = [(head_from_row(r), "the audit_heads table") for r in stored_heads] + list(heads)
    for head, source in all_heads:
        findings.extend(check_head(head, keys.get(head.key_id), hashes.get(head.seq), last, source))
    findings.sort(key=lambda f: f.seq)
    return VerifyReport(not findings, count, len(checkpoints), findings, heads=len(all_heads))
