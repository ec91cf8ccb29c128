"""Admission: may this organisation bid on this project? Only once its deposit is confirmed
(RULES A6, D2; IR 26). ``bidding`` and ``auction`` call ``is_deposit_confirmed``.

A project is named by a reference string: ``tender:<id>`` or ``lot:<id>``. A deposit counts as
confirmed when the deposit ledger confirms it (``trading.ledger``), or — for centres that
take deposits outside Sunlit, and guarantees (保函) handled by hand — when staff recorded a
confirmation flag with a note.
"""

from __future__ import annotations

import re
from datetime import datetime

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor
from trading.errors import ValidationFailed

_REF = re.compile(r"^[a-z_]+:[0-9]+$")


def project_ref(kind: str, object_id: int) -> str:
    return f"{kind}:{object_id}"


async def _ledger_confirms(conn: asyncpg.Connection, org_id: int, ref: str) -> bool:
    """Asks the deposit ledger, when it is installed."""
    try:
        from trading.ledger import admission as ledger_admission
    except ImportError:
        return False
    confirmed: bool = await ledger_admission.deposit_confirmed(conn, org_id=org_id, project_ref=ref)
    return confirmed


async def is_deposit_confirmed(conn: asyncpg.Connection, *, org_id: int, project_ref: str) -> bool:
    flagged = await conn.fetchval(
        "SELECT true FROM admission_flags WHERE org_id = $1 AND project_ref = $2", org_id, project_ref
    )
    if flagged:
        return True
    return await _ledger_confirms(conn, org_id, project_ref)


async def flag_confirmed(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, *, org_id: int, project_ref: str, note: str
) -> None:
    """Staff record a deposit confirmed outside the ledger (idempotent)."""
    if not _REF.match(project_ref):
        raise ValidationFailed(
            "project_ref must look like 'tender:12' or 'lot:7'", "project_ref 须形如 'tender:12' 或 'lot:7'",
            code="invalid_project_ref",
        )
    assert actor.user_id is not None
    async with conn.transaction():
        await conn.execute(
            "INSERT INTO admission_flags (org_id, project_ref, confirmed_by, confirmed_at, note) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (org_id, project_ref) DO NOTHING",
            org_id, project_ref, actor.user_id, now, note,
        )
        await audit.append(conn, actor=actor, action="deposit.flag_confirmed", object_type="project",
                           object_id=project_ref, at=now, payload={"org_id": org_id, "note": note})
