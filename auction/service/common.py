"""What the auction use cases share: limits, money for people, deposit refs, a lot as JSON."""

from __future__ import annotations

from typing import Any

import asyncpg

from auction import deposits
from auction.model import (
    LotKind,
)
from trading.errors import NotFound

START_EVENT = "auction.start"
"""The timed event that opens a lot (``ref`` = ``lot:<id>``) or a plate session (``session:<id>``)."""
MAX_LOTS_PER_SESSION = 1000
MAX_ADMISSIONS_PER_CALL = 1000
PADDLE_DIGITS = 6


def yuan(fen: int | None) -> str | None:
    """The one rendering of money for people: 12345678 fen → '123456.78'."""
    if fen is None:
        return None
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def deposit_ref(scope: str) -> str:
    """The deposit ledger's project reference for an admission scope."""
    kind, _, number = scope.partition(":")
    return f"lot:{number}" if kind == "lot" else deposits.session_ref(int(number))


def _not_found(what: str, ident: int) -> NotFound:
    names = {"lot": "标的", "session": "场次"}
    return NotFound(
        f"no auction {what} {ident}", f"{names[what]} {ident} 不存在", code=f"{what}_not_found"
    )


def lot_json(row: asyncpg.Record) -> dict[str, Any]:
    """The stored part of a lot (configuration and, once settled, its result)."""
    config = row["config"]
    closed = row["status"] == "closed"
    return {
        "id": row["id"],
        "session_id": row["session_id"],
        "kind": row["kind"],
        "title": row["title"],
        "description": row["description"],
        "status": row["status"],
        "starting_price_fen": config["starting_price_fen"],
        "increment_fen": config["increment_fen"],
        "deposit_fen": config["deposit_fen"],
        "price_cap_fen": config["price_cap_fen"],
        "opens_at": config["opens_at"],
        "listing_ends_at": config["listing_ends_at"],
        "countdown_s": config["countdown_s"],
        "listing_quiet_s": config["listing_quiet_s"] if row["kind"] == "land" else None,
        "allow_self_raise": config["allow_self_raise"],
        "cap_policy": config["cap_policy"] if config["price_cap_fen"] is not None else None,
        "created_at": row["created_at"],
        "scheduled_at": row["scheduled_at"],
        "result": {
            "outcome": row["outcome"],
            "basis": row["basis"],
            "winner_paddle": row["winner_paddle"],
            "price_fen": row["price_fen"],
            "reserve_fen": row["reserve_fen"],
            "closed_at": row["closed_at"],
        }
        if closed
        else None,
    }


def lot_kind(row: asyncpg.Record) -> LotKind:
    return LotKind(row["kind"])
