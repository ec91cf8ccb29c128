"""Appending to, checkpointing, querying and verifying the audit log in PostgreSQL."""

from __future__ import annotations

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
    entry_hash,
    walk,
)
from trading.clock import iso_ms, utc_ms
from trading.context import Actor

_LOCK_KEY = 0x41554454  # "AUDT": appends are serialised so seq is dense and the chain linear

_COLUMNS = (
    "seq, at, actor_user_id, actor_name, actor_role, actor_org_id, action, object_type, "
    "object_id, outcome, client_addr, request_id, payload_digest, detail, prev_hash, hash"
)


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

    def sign(self, message: bytes) -> bytes:
        """Sign with the server's key: receipts, opening records, Merkle roots, draw records."""
        return self._key.sign(message)

    async def register_key(self, conn: asyncpg.Connection, now: datetime) -> None:
        await conn.execute(
            "INSERT INTO server_keys (key_id, public_key, created_at) VALUES ($1, $2, $3) "
            "ON CONFLICT (key_id) DO NOTHING",
            self.key_id, self.public_key, now,
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
        assert conn.is_in_transaction(), "audit entries are written inside the use case's transaction"
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        head = await conn.fetchrow("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
        seq = 1 if head is None else head["seq"] + 1
        prev = GENESIS_HASH if head is None else head["hash"]
        entry = Entry(
            seq=seq,
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
            prev_hash=prev,
        )
        entry = Entry(**{**entry.__dict__, "hash": entry_hash(entry)})
        self.appends += 1
        await conn.execute(
            f"INSERT INTO audit_log ({_COLUMNS}) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16)",
            entry.seq, entry.at, entry.actor_user_id, entry.actor_name, entry.actor_role,
            entry.actor_org_id, entry.action, entry.object_type, entry.object_id, entry.outcome,
            entry.client_addr, entry.request_id, entry.payload_digest, entry.detail,
            entry.prev_hash, entry.hash,
        )
        if seq % self.checkpoint_every == 0:
            await self._checkpoint_at(conn, seq, entry.hash, at)
        return entry

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
) -> list[Entry]:
    """Entries in seq order matching every filter given; page with ``after_seq``."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM audit_log
            WHERE seq > $1
              AND ($2::text IS NULL OR object_type = $2)
              AND ($3::text IS NULL OR object_id = $3)
              AND ($4::bigint IS NULL OR actor_user_id = $4)
              AND ($5::text IS NULL OR action = $5)
              AND ($6::timestamptz IS NULL OR at >= $6)
              AND ($7::timestamptz IS NULL OR at < $7)
            ORDER BY seq LIMIT $8""",
        after_seq, object_type, object_id, actor_user_id, action, since, until, limit,
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
