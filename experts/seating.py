"""Who sits on a tender's panel (issue 12): read by the evaluation (who may score, whose
sheets are void) and by the reading of the bids (who may read them).

A tender's panel is its latest draw (``expert_draws.tender_id``; a short draw is followed by
a new one). A member *sat* once they confirmed the summons; a member recused after that is
``replaced`` (IR 48, RULES T19: their score sheets are void and the next expert of the same
line's order is called and scores afresh). Declined and timed-out experts never sat and are
not listed. ``fixed`` is the draw's own ``fixed`` state: the result is fixed, the list is no
longer secret (E4) and the seed is revealed (E7).

Seat numbers are 1-based ranks of the call among every call the draw made (the panel in
(line, drawn order), then each replacement when it was called). They never change once
given; members who declined or timed out hold a number too but are not listed, so the
listed seats may have gaps.

This module reads; the web layer (``web.panels``) joins it with the bidding package.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from experts import store

__all__ = ["SeatedMember", "SeatedPanel", "seated_for_tender"]


@dataclass(frozen=True)
class SeatedMember:
    """One member who sat. ``expert_id`` is the pool's expert id (text, e.g. ``E000123``);
    ``user_id`` is their login (role expert), ``None`` while no login is linked;
    ``replaced``: recused or taken off after seating (T19: sheets void)."""

    seat: int
    expert_id: str
    user_id: int | None
    name: str
    specialty_code: str
    replaced: bool


@dataclass(frozen=True)
class SeatedPanel:
    draw_id: int
    tender_id: int
    fixed: bool
    members: tuple[SeatedMember, ...]  # every member ever seated, in seat order

    def sitting(self) -> tuple[SeatedMember, ...]:
        """The members who sit now (not replaced)."""
        return tuple(m for m in self.members if not m.replaced)

    def member_of_user(self, user_id: int | None) -> SeatedMember | None:
        """The sitting (not replaced) member logged in as ``user_id``, if any."""
        if user_id is None:
            return None
        return next((m for m in self.sitting() if m.user_id == user_id), None)


async def seated_for_tender(conn: asyncpg.Connection, tender_id: int) -> SeatedPanel | None:
    """The panel of ``tender_id`` as it stands, or ``None`` when no panel was drawn for it.

    Reads in the caller's transaction (if any); takes no lock."""
    d = await store.latest_draw_for_tender(conn, tender_id)
    if d is None:
        return None
    code_of = {int(ln["line"]): str(ln["code"]) for ln in d["lines"]}
    rows = await store.seated_rows(conn, d["id"])
    members = tuple(
        SeatedMember(
            seat=int(r["seat"]),
            expert_id=r["expert_id"],
            user_id=r["user_id"],
            name=r["name"],
            specialty_code=code_of.get(r["line"], ""),
            replaced=r["status"] == "replaced",
        )
        for r in rows
    )
    return SeatedPanel(
        draw_id=d["id"], tender_id=tender_id, fixed=d["status"] == "fixed", members=members
    )
