"""Use cases of supervision: raise an alert, raise the one alert of an overdue step, the
supervisor's acts on an alert, and the watch's sweep (scans, resolve done steps, escalate).

Each act is one transaction: lock the alert, decide by the transition table, save, record the
act, append to the audit log. The sweep runs inside its timed event's transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from trading.audit import AuditLog
from trading.context import Actor
from trading.supervision import rules, store
from trading.supervision.errors import SupervisionReason, SupervisionRejected, alert_not_found
from trading.supervision.model import Act, Alert, AlertState, SupervisionSettings
from trading.supervision.store import AlertFilter

__all__ = [
    "WATCH_EVENT",
    "Overdue",
    "Watch",
    "act",
    "alert_with_acts",
    "list_alerts",
    "list_newest",
    "overdue",
    "raise_alert",
    "step_done",
    "sweep",
]

WATCH_EVENT = "supervision.watch"
"""The watch's timed event: runs every ``sweep_interval_s`` (and at start, catching up)."""

WATCH_ACTOR = Actor.system("watch")
SWEEP_BATCH_MAX = 500
"""Most alerts one sweep resolves or escalates (the next sweep takes the rest)."""


async def raise_alert(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    kind: str,
    severity: str,
    object_type: str,
    object_id: str,
    message_en: str,
    message_zh: str,
    detail: dict[str, Any] | None = None,
    dedup_key: str | None = None,
) -> int | None:
    """Raise a supervision alert (电子监察). With a ``dedup_key`` the same alert is raised once.
    An overdue *step* goes through :func:`overdue` instead."""
    return await store.insert_alert(
        conn, now, kind=kind, severity=severity, object_type=object_type, object_id=object_id,
        message_en=message_en, message_zh=message_zh, detail=detail or {}, dedup_key=dedup_key,
    )


async def overdue(
    conn: asyncpg.Connection,
    now: datetime,
    *,
    kind: str,
    ref: str | int,
    object_id: str | int,
    message_en: str,
    message_zh: str,
    due_at: datetime | None = None,
    detail: dict[str, Any] | None = None,
    object_type: str | None = None,
) -> int | None:
    """The one way a watched step that is overdue raises its alert (RULES S4): exactly one
    alert per step ``(kind, ref)``, whatever the retries, catch-ups or processes. Returns the
    alert's id if this call raised it. ``object_type`` defaults to the step's."""
    step = rules.watched(kind)
    return await store.insert_alert(
        conn, now, kind=kind, severity=step.severity.value, object_type=object_type or step.object_type,
        object_id=str(object_id), message_en=message_en, message_zh=message_zh,
        detail={"rule": step.rule, **(detail or {})}, dedup_key=f"watch:{kind}:{ref}",
        watch_ref=str(ref), due_at=due_at,
    )


async def list_alerts(
    conn: asyncpg.Connection, *, kind: str | None = None, after_id: int = 0, limit: int = 100
) -> list[dict[str, Any]]:
    """Oldest first after ``after_id`` (``GET /api/v1/alerts``)."""
    return await store.list_alerts_after(conn, kind=kind, after_id=after_id, limit=limit)


async def list_newest(
    conn: asyncpg.Connection, f: AlertFilter, *, before_id: int | None, limit: int
) -> list[Alert]:
    return await store.list_alerts_newest(conn, f, before_id=before_id, limit=limit)


async def alert_with_acts(conn: asyncpg.Connection, alert_id: int) -> tuple[Alert, list[dict[str, Any]]]:
    alert = await store.get_alert(conn, alert_id)
    if alert is None:
        raise alert_not_found(alert_id)
    return alert, await store.list_acts(conn, alert_id)


async def _apply(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, alert: Alert, what: Act, note: str
) -> Alert:
    """Inside the caller's transaction, ``alert`` locked: decide, save, record, audit."""
    new_state = rules.decide(alert.state, what, escalated=alert.escalated_at is not None)
    changes: dict[str, Any] = {}
    if what is Act.ACKNOWLEDGE:
        changes = {"acknowledged_at": now, "acknowledged_by": actor.user_id}
    elif what is Act.ESCALATE:
        changes = {"escalated_at": now}
    elif what is Act.RESOLVE:
        changes = {"resolved_at": now}
    elif what is Act.CLOSE:
        changes = {"closed_at": now, "closed_by": actor.user_id}
    if changes or new_state is not alert.state:
        alert = await store.set_state(conn, alert, state=new_state, **changes)
    await store.insert_act(conn, alert.id, what, user_id=actor.user_id, actor=actor.username, note=note, at=now)
    await audit.append(
        conn, actor=actor, action=f"supervision.alert.{what.value}", object_type="alert", object_id=alert.id,
        at=now, payload={"note": note} if note else None,
        detail={"kind": alert.kind, "state": alert.state.value},
    )
    return alert


async def act(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    alert_id: int,
    what: Act,
    note: str = "",
    *,
    version: int | None = None,
) -> Alert:
    """A supervisor's act on an alert (acknowledge, note, escalate, close): one transaction,
    audited; refused (409, nothing written) when the alert's state does not allow it.
    ``version``: the alert's version as the caller read it (optional; a mismatch is 409)."""
    assert what is not Act.RESOLVE, "the watch resolves; a supervisor closes"
    async with conn.transaction():
        alert = await store.get_alert(conn, alert_id, lock=True)
        if alert is None:
            raise alert_not_found(alert_id)
        if version is not None and version != alert.version:
            raise SupervisionRejected(SupervisionReason.STALE, details={"version": alert.version})
        return await _apply(conn, audit, actor, now, alert, what, note)


async def step_done(
    conn: asyncpg.Connection, audit: AuditLog, now: datetime, *, kind: str, ref: str | int
) -> Alert | None:
    """The watched step ``(kind, ref)`` is done: its live alert (if any) is resolved, in the
    caller's transaction. Returns the resolved alert."""
    row = await conn.fetchrow(
        "SELECT id FROM alerts WHERE kind = $1 AND watch_ref = $2 AND state IN ('open', 'acknowledged') FOR UPDATE",
        kind, str(ref),
    )
    if row is None:
        return None
    alert = await store.get_alert(conn, row["id"])
    assert alert is not None
    return await _apply(conn, audit, WATCH_ACTOR, now, alert, Act.RESOLVE, "the watched step was done")


# ---------------------------------------------------------------------------- the watch


@dataclass(frozen=True)
class Overdue:
    """A step a scan found overdue (raised through :func:`overdue`)."""

    kind: str
    ref: str
    object_id: str
    message_en: str
    message_zh: str
    due_at: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


IsDone = Callable[[asyncpg.Connection, str], Awaitable[bool]]
"""Whether the watched step with this ``watch_ref`` is done."""
Scan = Callable[[asyncpg.Connection, datetime | None, datetime, SupervisionSettings], Awaitable[list[Overdue]]]
"""Steps whose deadline fell in ``(since, until]`` and that are not done."""


@dataclass
class Watch:
    """The watched steps' checks, wired at start by the web layer (which alone sees every
    package): how to tell each kind's step is done, and the scans for steps no domain event
    watches. The catalogue itself (kind, rule, severity) is ``rules.WATCHED``."""

    done: dict[str, IsDone] = field(default_factory=dict)
    scans: dict[str, Scan] = field(default_factory=dict)

    def check(self) -> None:
        for kind in self.done:
            rules.watched(kind)


@dataclass(frozen=True)
class SweepReport:
    raised: list[int]
    resolved: list[int]
    escalated: list[int]


async def sweep(
    conn: asyncpg.Connection,
    audit: AuditLog,
    now: datetime,
    settings: SupervisionSettings,
    watch: Watch,
) -> SweepReport:
    """One run of the watch, inside the caller's transaction: each scan from its watermark to
    ``now`` (catching up after downtime), then every live alert whose step is done is
    resolved, then every alert still open after ``escalate_after_s`` escalates (once)."""
    raised: list[int] = []
    for name, scan in sorted(watch.scans.items()):
        since = await store.watermark(conn, name)
        for o in await scan(conn, since, now, settings):
            aid = await overdue(conn, now, kind=o.kind, ref=o.ref, object_id=o.object_id, message_en=o.message_en,
                                message_zh=o.message_zh, due_at=o.due_at, detail=o.detail)  # fmt: skip
            if aid is not None:
                raised.append(aid)
        await store.set_watermark(conn, name, now)
    resolved: list[int] = []
    kinds = sorted(k for k in watch.done if rules.watched(k).auto_resolves)
    for alert in await store.live_watch_alerts(conn, kinds, limit=SWEEP_BATCH_MAX):
        assert alert.watch_ref is not None
        if await watch.done[alert.kind](conn, alert.watch_ref):
            locked = await store.get_alert(conn, alert.id, lock=True)
            assert locked is not None
            if locked.state in (AlertState.OPEN, AlertState.ACKNOWLEDGED):
                await _apply(conn, audit, WATCH_ACTOR, now, locked, Act.RESOLVE, "the watched step was done")
                resolved.append(alert.id)
    escalated: list[int] = []
    cutoff = now - timedelta(seconds=settings.escalate_after_s)
    for alert in await store.stale_open_alerts(conn, cutoff, limit=SWEEP_BATCH_MAX):
        locked = await store.get_alert(conn, alert.id, lock=True)
        assert locked is not None
        if locked.state is AlertState.OPEN and locked.escalated_at is None:
            await _apply(conn, audit, WATCH_ACTOR, now, locked, Act.ESCALATE,
                         f"open for more than {settings.escalate_after_s} s")  # fmt: skip
            escalated.append(alert.id)
    return SweepReport(raised, resolved, escalated)


def settings_from(values: Mapping[str, str]) -> SupervisionSettings:
    """``supervision.<name>`` entries (ints) over the defaults; an unknown or bad value is a
    startup error that names it."""
    from dataclasses import fields

    kw: dict[str, int] = {}
    for f in fields(SupervisionSettings):
        raw = values.get(f"supervision.{f.name}")
        if raw is None:
            continue
        try:
            kw[f.name] = int(raw)
        except ValueError:
            raise ValueError(f"supervision.{f.name} must be an integer, got {raw!r}") from None
        if kw[f.name] <= 0:
            raise ValueError(f"supervision.{f.name} must be positive, got {raw!r}")
    return SupervisionSettings(**kw)
