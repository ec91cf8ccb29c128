"""Admissions in memory: which paddles may bid on a lot (``auction_paddles``).

An admission is made outside the lot's log (``auction.service``: the deposit confirmed, a
paddle drawn) and committed to ``auction_paddles``. The engine holds admissions per
*scope* — a land lot, or a whole plate session whose lots share one set of paddles — and
passes the scope's paddles to ``rules.decide(admitted=...)``. A scope is read from the store
once, when its first lot is loaded; an admission committed in this process is noted at once
(``note``); one made by another process is found on a miss (``paddle_for``, ``refresh``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from auction.model import LotConfig

__all__ = ["Admissions", "Scope", "scope_of"]


def scope_of(config: LotConfig, lot_id: int) -> str:
    """Where a lot's admissions live: its plate session, or the lot itself."""
    return f"session:{config.session_id}" if config.session_id else f"lot:{lot_id}"


@dataclass
class Scope:
    key: str
    by_org: dict[int, str]
    paddles: set[str]
    unknown: set[str] = field(default_factory=set)
    """Paddles looked up in the database and not found there (not read again)."""


class AdmissionStore(Protocol):
    """The part of ``auction.lot_log.LogStore`` that reads admissions."""

    async def load_scope(self, scope: str) -> dict[int, str]: ...

    async def paddle_of(self, scope: str, org_id: int) -> str | None: ...


class Admissions:
    """The scopes of the lots an engine holds."""

    def __init__(self, store: AdmissionStore) -> None:
        self._store = store
        self._scopes: dict[str, Scope] = {}

    async def scope(self, key: str) -> Scope:
        """The scope, read from the store the first time."""
        scope = self._scopes.get(key)
        if scope is None:
            by_org = await self._store.load_scope(key)
            scope = self._scopes.setdefault(key, Scope(key, by_org, set(by_org.values())))
        return scope

    def note(self, key: str, org_id: int, paddle: str) -> None:
        """An admission was committed: bids from it count now (in a scope held here)."""
        held = self._scopes.get(key)
        if held is not None:
            held.by_org[org_id] = paddle
            held.paddles.add(paddle)
            held.unknown.discard(paddle)

    async def paddle_for(self, scope: Scope, org_id: int) -> str | None:
        """The organisation's paddle in the scope, asking the store on a miss."""
        paddle = scope.by_org.get(org_id)
        if paddle is None:
            paddle = await self._store.paddle_of(scope.key, org_id)
            if paddle is not None:
                self.note(scope.key, org_id, paddle)
        return paddle

    async def refresh(self, scope: Scope, paddle: str) -> None:
        """A bid from a paddle not held here: read the scope again, once (a paddle still
        not found is ``unknown`` and not read again)."""
        by_org = await self._store.load_scope(scope.key)
        for org_id, held in by_org.items():
            self.note(scope.key, org_id, held)
        if paddle not in scope.paddles:
            scope.unknown.add(paddle)
