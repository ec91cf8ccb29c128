"""Supervision online over HTTP (RULES S4): the alerts a supervisor works with, the table of
watched steps, and the watch's timed event.

Crossings wired here (domain packages never import each other): the watch learns how to tell
each watched step is done from ``bidding.watch`` (tenders and awards), the ledger (refunds)
and the expert draws (summons); its scans come from ``bidding.watch``.

Timed event: ``supervision.watch`` — at start (catching up on what fell due while the server
was down), then every ``sweep_interval_s``: the scans, resolving alerts whose step is done,
escalating alerts open longer than ``escalate_after_s``. Settings: ``config.extra``
(``supervision.<name>``) or ``SUNLIT_SUPERVISION_<NAME>``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import fields
from datetime import timedelta
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import AwareDatetime, Field

from auction import service as auction_service
from trading.calendar import EventContext, EventRegistry
from trading.calendar import events as calendar
from trading.config import Config
from trading.context import Role
from trading.errors import ValidationFailed
from trading.supervision import rules
from trading.supervision import service as supervision
from trading.supervision.model import Act, AlertState, Severity, SupervisionSettings
from trading.supervision.service import WATCH_EVENT, Watch
from trading.supervision.store import AlertFilter
from web import keys
from web.api import Api, Body, Call, FreeText, Id, Query, Text

__all__ = ["SUPERVISION_SETTINGS", "SUPERVISION_WATCH", "ALERT_ACTS", "api_supervision", "settings_from", "setup"]

SUPERVISION_SETTINGS = web.AppKey("supervision_settings", SupervisionSettings)
SUPERVISION_WATCH = web.AppKey("supervision_watch", Watch)

SUPERVISOR = {Role.SUPERVISOR}
READERS = {Role.SUPERVISOR, Role.STAFF, Role.ADMIN}

api_supervision = Api()
route = api_supervision.route

ALERT_ACTS: tuple[str, ...] = (
    "POST /supervision/alerts/{alert_id}/acknowledge",
    "POST /supervision/alerts/{alert_id}/notes",
    "POST /supervision/alerts/{alert_id}/escalate",
    "POST /supervision/alerts/{alert_id}/close",
)
"""The supervisor's acts on an alert (each audited)."""


def settings_from(config: Config, environ: dict[str, str] | None = None) -> SupervisionSettings:
    """``config.extra['supervision.<field>']`` wins over ``SUNLIT_SUPERVISION_<FIELD>``."""
    env = os.environ if environ is None else environ
    values = {
        f"supervision.{f.name}": raw
        for f in fields(SupervisionSettings)
        if (raw := config.extra.get(f"supervision.{f.name}") or env.get(f"SUNLIT_SUPERVISION_{f.name.upper()}"))
    }
    # W1's days are the tenders' own (``bidding.clarification_min_days``) unless set here
    w1 = config.extra.get("bidding.clarification_min_days") or env.get("SUNLIT_BIDDING_CLARIFICATION_MIN_DAYS")
    if w1 and "supervision.change_min_days" not in values:
        values["supervision.change_min_days"] = w1
    return supervision.settings_from(values)


# ---------------------------------------------------------------------------- the alerts


class AlertListQuery(Query):
    kind: Text(80) | None = None
    severity: Severity | None = None
    object_type: Text(40) | None = None
    object_id: Text(140) | None = None
    state: AlertState | None = None
    escalated: bool | None = None
    since: AwareDatetime | None = None
    """Raised at or after (inclusive)."""
    until: AwareDatetime | None = None
    """Raised before (exclusive)."""
    before_id: Id | None = None
    """The ``next_before_id`` of the previous page (newest first)."""
    limit: Annotated[int, Field(ge=1, le=200)] = 50


class NoteBody(Body):
    note: FreeText(4000, min_length=1, strip=True)
    version: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    """The alert's version as read (optional): a concurrent act makes this a 409."""


class OptionalNoteBody(Body):
    note: FreeText(4000, strip=True) = ""
    version: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None


def _alert_json(alert: Any) -> dict[str, Any]:
    return alert.to_json()


@route("GET", "/supervision/alerts", summary="Supervision alerts (电子监察), newest first, filtered and keyset-paged",
       tag="supervision", roles=READERS, query=AlertListQuery)
async def list_alerts(call: Call) -> dict[str, Any]:
    q: AlertListQuery = call.query
    if q.since is not None and q.until is not None and q.until <= q.since:
        raise ValidationFailed(
            "the period is empty: until must be after since",
            "时间段为空：until 须晚于 since",
            code="invalid_period",
            details={"errors": [{"field": "query.until", "problem": "must be after since", "type": "period"}]},
        )
    f = AlertFilter(kind=q.kind, severity=q.severity.value if q.severity else None, object_type=q.object_type,
                    object_id=q.object_id, state=q.state, since=q.since, until=q.until, escalated=q.escalated)
    async with call.pool.acquire() as conn:
        alerts = await supervision.list_newest(conn, f, before_id=q.before_id, limit=q.limit)
    return {
        "alerts": [_alert_json(a) for a in alerts],
        "next_before_id": alerts[-1].id if len(alerts) == q.limit else None,
    }


@route("GET", "/supervision/alerts/{alert_id}", summary="One alert with every act on it", tag="supervision",
       roles=READERS)
async def get_alert(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        alert, acts = await supervision.alert_with_acts(conn, call.path_int("alert_id"))
    return {**_alert_json(alert), "acts": acts}


async def _act(call: Call, what: Act) -> dict[str, Any]:
    b = call.body
    async with call.pool.acquire() as conn:
        await supervision.act(conn, call.audit, call.actor, call.now, call.path_int("alert_id"), what, b.note,
                              version=b.version)  # fmt: skip
        alert, acts = await supervision.alert_with_acts(conn, call.path_int("alert_id"))
    return {**_alert_json(alert), "acts": acts}


@route("POST", "/supervision/alerts/{alert_id}/acknowledge", summary="Acknowledge an alert, with a note (once)",
       tag="supervision", roles=SUPERVISOR, body=NoteBody)
async def acknowledge(call: Call) -> dict[str, Any]:
    return await _act(call, Act.ACKNOWLEDGE)


@route("POST", "/supervision/alerts/{alert_id}/notes", summary="Add a note to an alert", tag="supervision",
       roles=SUPERVISOR, body=NoteBody, status=201)
async def note(call: Call) -> dict[str, Any]:
    return await _act(call, Act.NOTE)


@route("POST", "/supervision/alerts/{alert_id}/escalate", summary="Escalate an alert (once)", tag="supervision",
       roles=SUPERVISOR, body=OptionalNoteBody)
async def escalate(call: Call) -> dict[str, Any]:
    return await _act(call, Act.ESCALATE)


@route("POST", "/supervision/alerts/{alert_id}/close", summary="Close an alert whose cause is dealt with, with a note",
       tag="supervision", roles=SUPERVISOR, body=NoteBody)
async def close(call: Call) -> dict[str, Any]:
    return await _act(call, Act.CLOSE)


@route("GET", "/supervision/watch", summary="The watched steps: each alert kind with its rule, severity and "
       "when it resolves", tag="supervision", roles=READERS)
async def watched(call: Call) -> dict[str, Any]:
    s = call.app[SUPERVISION_SETTINGS]
    return {
        "steps": [
            {"kind": w.kind, "rule": w.rule, "severity": w.severity.value, "what_en": w.what_en, "what_zh": w.what_zh,
             "resolves_en": w.resolves_en, "resolves_zh": w.resolves_zh, "auto_resolves": w.auto_resolves}
            for w in rules.WATCHED
        ],
        "settings": {f.name: getattr(s, f.name) for f in fields(s)},
    }


# ---------------------------------------------------------------------------- crossings


async def _refund_paid(conn: asyncpg.Connection, ref: str) -> bool:
    from trading.ledger import store as ledger_store
    from trading.ledger.model import DepositState, SuspenseState
    from trading.ledger.service import bidder_id

    what, _, rest = ref.partition(":")
    if what == "suspense":
        item = await ledger_store.get_suspense(conn, rest)
        return item is None or item.state in (SuspenseState.RETURNED, SuspenseState.REVERSED)
    project_ref, _, org = rest.rpartition(":")
    d = await ledger_store.get_deposit(conn, project_ref, bidder_id(int(org)))
    return d is None or d.state is not DepositState.REFUND_PENDING


async def _panel_complete(conn: asyncpg.Connection, ref: str) -> bool:
    from experts import store as experts_store
    from experts.panel import DrawStatus

    m = await experts_store.get_member(conn, int(ref.removeprefix("member:")))
    if m is None:
        return True
    d = await experts_store.get_draw(conn, m["draw_id"])
    return d is None or d["status"] in (DrawStatus.FULL.value, DrawStatus.FIXED.value)


def build_watch() -> Watch:
    from bidding import watch as bidding_watch

    watch = Watch(
        done={**bidding_watch.DONE, "ledger.refund_overdue": _refund_paid,
              "experts.summons_unanswered": _panel_complete,
              "auction.reserve_overdue": auction_service.reserve_opened},
        scans=dict(bidding_watch.SCANS),
    )
    watch.check()
    return watch


# ---------------------------------------------------------------------------- timed event


async def _schedule_watch(app: web.Application) -> AsyncIterator[None]:
    """The watch runs at start (catching up on what fell due while down), then every
    ``sweep_interval_s``."""
    now = app[keys.CLOCK].now()
    async with app[keys.POOL].acquire() as conn:
        await calendar.schedule(conn, kind=WATCH_EVENT, ref="all", due_at=now, now=now)
    yield


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    app[SUPERVISION_SETTINGS] = settings_from(app[keys.CONFIG])
    app[SUPERVISION_WATCH] = build_watch()
    api.endpoints.extend(api_supervision.endpoints)
    app.cleanup_ctx.append(_schedule_watch)

    async def on_watch(ctx: EventContext) -> None:
        settings = app[SUPERVISION_SETTINGS]
        await calendar.schedule(
            ctx.conn, kind=WATCH_EVENT, ref="all",
            due_at=ctx.now + timedelta(seconds=settings.sweep_interval_s), now=ctx.now,
        )
        await supervision.sweep(ctx.conn, app[keys.AUDIT], ctx.now, settings, app[SUPERVISION_WATCH])

    registry.register(WATCH_EVENT, on_watch)
