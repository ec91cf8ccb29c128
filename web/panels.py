"""The panel drawn for a tender, and the panel reading the opened bids (issue 12, items 3–4;
docs/experts.md "The panel for a tender", docs/bidding.md "Reading the bids during
evaluation").

The crossing between the bidding and the expert packages (they never import each other):

- ``PUT /tenders/{id}/panel-requirements`` (staff): what the tender asks of its committee —
  the tenderee organisation, the supervising departments, the specialty lines and the
  tenderee's representatives — checked against the classification and T15 (odd, ≥ 5,
  experts ≥ 2/3) and fixed once a panel is requested.
- ``POST /tenders/{id}/panel`` (staff): the draw request is made from the tender: its lines
  from the requirements, its exclusions computed — the staff and affiliates (declared
  relations) of every registered bidder's organisation, of the tenderee and of the
  supervising departments. Nothing to exclude can be typed in on this path (the body takes
  the sitting's time and place only; any other field is refused). The draw record names
  the tender (``tender_id``, and ``tender:<id>`` in the hashed record); it is then run,
  summoned and replaced exactly as any draw (``/draws/{draw_id}/…``).
- ``GET /tenders/{id}/panel``: the list, secret (E4) until the result is fixed — only the
  requesting staff member and supervisors before; everyone else 403 ``panel_secret``.
- ``POST /tenders/{id}/panel/fix``: the result is fixed (the list stops being secret, the
  seed is revealed, the draw can be verified, E7) — only once the tender's evaluation is
  over; fixing closes the reading of the bids and wipes the evaluation key.
- ``GET /tenders/{id}/evaluation/bids`` and ``…/bids/{bid_id}/documents/{name}``: only a
  sitting member of the panel (logged in as the expert's linked user, not replaced), only
  while :func:`evaluation_open`; every read audited, every refusal too (403s are audited by
  the app).

:func:`evaluation_open` is the one predicate of "the evaluation is open": the tender is
opened, its panel is drawn and not fixed, and — when the evaluation package
(``bidding.evaluation.service``) is installed — its result is not concluded.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import urllib.parse
from collections.abc import AsyncIterator
from datetime import date, datetime, time
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import Field, StringConstraints

from bidding.model import TenderState
from bidding.service import reading
from bidding.service.common import load_tender
from bidding.service.reading import ReadingReason
from bidding.vault import EvaluationKeys
from experts import draws
from experts import store as experts_store
from experts.errors import ExpertReason, reject_all
from experts.model.record import BeaconRef
from experts.model.request import RegionRule, RegionScope, SpecialtyDemand
from experts.model.specialties import SpecialtyCode
from experts.rules import check_composition
from experts.seating import SeatedMember, seated_for_tender
from trading.audit import AuditLog
from trading.calendar import EventRegistry
from trading.context import Actor, Role
from trading.errors import Rejected
from web import keys
from web.api import Api, Body, Call
from web.experts import (
    EXPERT_KEYS,
    OUTBOX,
    POOL_CACHE,
    SETTINGS,
    BeaconBody,
    DemandBody,
)
from web.register import without_banned_experts

__all__ = ["api_panels", "evaluation_open", "setup"]

STAFF = {Role.STAFF, Role.ADMIN}
OrgId = Annotated[int, Field(ge=1, le=2**63 - 1)]  # a bigint
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}
EVALUATION_SERVICE = "bidding.evaluation.service"


async def _keys_ctx(app: web.Application) -> AsyncIterator[None]:
    app[keys.EVALUATION_KEYS] = EvaluationKeys.load_or_create(app[keys.CONFIG].data_dir)
    yield


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_panels.endpoints)
    app.cleanup_ctx.append(_keys_ctx)


api_panels = Api()
route = api_panels.route


# --- the evaluation window ------------------------------------------------------------------


def _evaluation_service() -> Any:
    """G1's evaluation package when installed (``concluded_result``), else None."""
    if importlib.util.find_spec("bidding.evaluation") is None:
        return None
    try:
        return importlib.import_module(EVALUATION_SERVICE)
    except ModuleNotFoundError:
        return None


async def evaluation_concluded(conn: asyncpg.Connection, tender_id: int) -> bool:
    """The evaluation's result is concluded (the report signed, T17) — per the evaluation
    package; without it, never (the panel's fix then closes the evaluation)."""
    service = _evaluation_service()
    concluded = getattr(service, "concluded_result", None)
    if concluded is None:
        return False
    return await concluded(conn, tender_id) is not None


async def evaluation_open(conn: asyncpg.Connection, tender_id: int) -> bool:
    """The evaluation of ``tender_id`` is open: the tender is opened, a panel was drawn for
    it and is not fixed, and its result is not concluded."""
    tender = await load_tender(conn, tender_id)
    if tender.state is not TenderState.OPENED:
        return False
    draw = await experts_store.latest_draw_for_tender(conn, tender_id)
    if draw is None or draw["status"] not in ("drawn", "full"):
        return False
    return not await evaluation_concluded(conn, tender_id)


async def _sitting_reader(
    conn: asyncpg.Connection, audit: AuditLog, actor: Actor, now: datetime, tender_id: int
) -> SeatedMember:
    """The member ``actor`` is, if they may read the bids now; else 403. A member who comes
    after the evaluation concluded also wipes the evaluation key, if the panel's fix has
    not done it yet (the key is of no more use)."""
    await load_tender(conn, tender_id)
    panel = await seated_for_tender(conn, tender_id)
    member = None
    if panel is not None and actor.role is Role.EXPERT:
        member = panel.member_of_user(actor.user_id)
    if member is None:
        raise Rejected(ReadingReason.NOT_SEATED, details={"tender_id": tender_id})
    if not await evaluation_open(conn, tender_id):
        if await evaluation_concluded(conn, tender_id):
            await reading.close_evaluation_access(
                conn, audit, Actor.system("panels"), now, tender_id
            )
        raise Rejected(ReadingReason.EVALUATION_NOT_OPEN, details={"tender_id": tender_id})
    return member


# --- requirements ---------------------------------------------------------------------------


class PanelRequirementsBody(Body):
    """What the tender asks of its evaluation committee."""

    tenderee_org_id: OrgId
    supervising_org_ids: Annotated[list[OrgId], Field(max_length=50)] = []
    lines: Annotated[list[DemandBody], Field(min_length=1, max_length=50)]
    tenderee_representatives: Annotated[int, Field(ge=0, le=50)] = 0
    min_members: Annotated[int, Field(ge=5, le=99)] = 5


def _demand(line: dict[str, Any]) -> SpecialtyDemand:
    rule = line.get("region_rule") or {"scope": "any", "regions": []}
    return SpecialtyDemand(
        SpecialtyCode.parse(line["code"]),
        int(line["count"]),
        RegionRule(RegionScope(rule["scope"]), frozenset(rule["regions"])),
        line.get("reserve"),
    )


@route("PUT", "/tenders/{tender_id}/panel-requirements", summary="Set the panel the tender asks for: "
       "tenderee, supervising departments, specialty lines, representatives (T15)", tag="panels",
       roles=STAFF, body=PanelRequirementsBody)  # fmt: skip
async def put_requirements(call: Call) -> dict[str, Any]:
    b: PanelRequirementsBody = call.body
    tender_id = call.path_int("tender_id")
    lines: list[dict[str, Any]] = []
    problems = []
    for d in b.lines:
        code = SpecialtyCode.parse(d.code).code  # invalid_specialty_code (422)
        lines.append({"code": code, "count": d.count,
                      "region_rule": {"scope": d.region_rule.scope, "regions": sorted(d.region_rule.regions)},
                      "reserve": d.reserve})  # fmt: skip
    problems.extend(
        check_composition(
            sum(ln["count"] for ln in lines), b.tenderee_representatives, b.min_members
        )
    )
    if problems:
        reject_all(problems)
    async with call.pool.acquire() as conn:
        known = await experts_store.known_codes(conn)
        unknown = sorted({ln["code"] for ln in lines} - known)
        if unknown:
            raise Rejected(ExpertReason.UNKNOWN_SPECIALTY, ", ".join(unknown),
                           details={"codes": unknown})  # fmt: skip
        if await experts_store.latest_draw_for_tender(conn, tender_id) is not None:
            raise Rejected(ReadingReason.REQUIREMENTS_FIXED, details={"tender_id": tender_id})
        return await reading.set_panel_requirements(
            conn, call.audit, call.actor, call.now, tender_id, tenderee_org_id=b.tenderee_org_id,
            supervising_org_ids=list(b.supervising_org_ids), lines=lines,
            tenderee_representatives=b.tenderee_representatives, min_members=b.min_members,
        )  # fmt: skip


@route("GET", "/tenders/{tender_id}/panel-requirements", summary="The panel the tender asks for",
       tag="panels", roles=STAFF | {Role.SUPERVISOR})  # fmt: skip
async def get_requirements(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await reading.get_panel_requirements(conn, call.path_int("tender_id"))


# --- the draw -------------------------------------------------------------------------------


class TenderPanelBody(Body):
    """The sitting, and the draw's own options. No exclusions: they are computed from the
    tender (its registered bidders, tenderee and supervising departments)."""

    evaluation_date: date
    evaluation_time: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    evaluation_place: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    evaluation_days: Annotated[int, Field(ge=1, le=31)] = 1
    cooldown_days: Annotated[int, Field(ge=0, le=3650)] = 0
    yearly_cap: Annotated[int, Field(ge=1, le=1000)] | None = None
    relation_lookback_years: Annotated[int, Field(ge=3, le=10)] = 3
    beacon: BeaconBody | None = None
    answer_within_minutes: Annotated[int, Field(ge=1, le=10080)] | None = None


def tender_ref(tender_id: int) -> str:
    """How a tender's draw names it in the hashed record (``request.tender_id``)."""
    return f"tender:{tender_id}"


@route("POST", "/tenders/{tender_id}/panel", summary="Request the panel for the tender: lines from the tender, "
       "exclusions computed (registered bidders, tenderee, supervising departments), never typed in",
       tag="panels", roles=STAFF, body=TenderPanelBody, status=201)  # fmt: skip
async def request_panel(call: Call) -> dict[str, Any]:
    b: TenderPanelBody = call.body
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn, conn.transaction():
        await load_tender(conn, tender_id, lock="update")  # one request at a time per tender
        ctx = await reading.panel_context(conn, tender_id)
        last = await experts_store.latest_draw_for_tender(conn, tender_id)
        if last is not None and last["status"] != "short":
            raise Rejected(ReadingReason.PANEL_EXISTS, f"draw {last['id']} is {last['status']}",
                           details={"draw_id": last["id"], "status": last["status"]})  # fmt: skip
        req = ctx.requirements
        data = draws.DrawInput(
            tender_ref=tender_ref(tender_id),
            tender_id=tender_id,
            tenderee_org_id=req["tenderee_org_id"],
            demands=tuple(_demand(ln) for ln in req["lines"]),
            evaluation_date=b.evaluation_date,
            evaluation_time=time.fromisoformat(b.evaluation_time),
            evaluation_place=b.evaluation_place,
            evaluation_days=b.evaluation_days,
            bidder_org_ids=tuple(ctx.bidder_org_ids),
            supervising_org_ids=tuple(req["supervising_org_ids"]),
            tenderee_representatives=req["tenderee_representatives"],
            min_members=req["min_members"],
            cooldown_days=b.cooldown_days,
            yearly_cap=b.yearly_cap,
            relation_lookback_years=b.relation_lookback_years,
            beacon=None if b.beacon is None else BeaconRef(b.beacon.source, b.beacon.round),
            answer_within_s=None
            if b.answer_within_minutes is None
            else b.answer_within_minutes * 60,
        )
        data = await without_banned_experts(conn, call.now, data)  # S2
        view = await draws.request_draw(conn, call.audit, call.actor, call.now, keys=call.app[EXPERT_KEYS],
                                        cache=call.app[POOL_CACHE], settings=call.app[SETTINGS], data=data)  # fmt: skip
        secrets = await experts_store.draw_secrets(conn, view["id"])
        assert secrets is not None
        record = json.loads(secrets["record_json"])
    return {
        **view,
        "exclusions": [
            {"expert_id": x[0], "reason": x[1], "detail": x[2]} for x in record["exclusions"]
        ],
    }


async def _tender_draw(conn: asyncpg.Connection, tender_id: int) -> asyncpg.Record:
    await load_tender(conn, tender_id)
    d = await experts_store.latest_draw_for_tender(conn, tender_id)
    if d is None:
        raise Rejected(ReadingReason.NO_PANEL, details={"tender_id": tender_id})
    return d


@route("GET", "/tenders/{tender_id}/panel", summary="The tender's panel list: secret until the result is fixed "
       "(the requesting staff member and supervisors only, E4)", tag="panels", roles=ANYONE)  # fmt: skip
async def get_panel(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        d = await _tender_draw(conn, tender_id)
        return {
            "tender_id": tender_id,
            **await draws.panel(conn, call.audit, call.actor, call.now, d["id"]),
        }


@route("POST", "/tenders/{tender_id}/panel/fix", summary="Fix the panel's result once the evaluation is over: the "
       "list stops being secret, the seed is revealed, the bids can no longer be read", tag="panels",
       roles=STAFF)  # fmt: skip
async def fix_panel(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        d = await _tender_draw(conn, tender_id)
        tender = await load_tender(conn, tender_id)
        ended = tender.state in (
            TenderState.FAILED,
            TenderState.CANCELLED,
        )  # no evaluation to wait for
        service = _evaluation_service()
        if (
            not ended
            and getattr(service, "concluded_result", None) is not None
            and not await evaluation_concluded(conn, tender_id)
        ):
            raise Rejected(ReadingReason.EVALUATION_NOT_CONCLUDED, details={"tender_id": tender_id})
        async with conn.transaction():
            view = await draws.fix_result(conn, call.audit, call.actor, call.now, keys=call.app[EXPERT_KEYS],
                                          draw_id=d["id"], for_tender=True)  # fmt: skip
            await reading.close_evaluation_access(conn, call.audit, call.actor, call.now, tender_id)
    call.app[OUTBOX].kick()
    return view


# --- reading the bids -----------------------------------------------------------------------


@route("GET", "/tenders/{tender_id}/evaluation/bids", summary="The opened bids with their price schedules and "
       "documents list (sitting panel members, while the evaluation is open; audited)", tag="panels",
       roles=ANYONE)  # fmt: skip
async def evaluation_bids(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        member = await _sitting_reader(conn, call.audit, call.actor, call.now, tender_id)
        bids = await reading.list_opened_bids(conn, call.audit, call.actor, call.now, tender_id)
    return {"tender_id": tender_id, "seat": member.seat, "bids": bids}


@route("GET", "/tenders/{tender_id}/evaluation/bids/{bid_id}/documents/{name}", summary="One document of an "
       "opened bid, opened again in memory (sitting panel members, while the evaluation is open; audited)",
       tag="panels", roles=ANYONE)  # fmt: skip
async def evaluation_document(call: Call) -> web.Response:
    tender_id = call.path_int("tender_id")
    bid_id = call.path_int("bid_id")
    name = call.request.match_info["name"]
    evaluation_keys = call.app.get(keys.EVALUATION_KEYS)
    async with call.pool.acquire() as conn:
        await _sitting_reader(conn, call.audit, call.actor, call.now, tender_id)
        if evaluation_keys is None:
            raise Rejected(ReadingReason.EVALUATION_KEY_GONE, details={"tender_id": tender_id})
        data = await reading.read_document(
            conn, call.audit, call.actor, call.now, tender_id=tender_id, bid_id=bid_id, name=name,
            keys=evaluation_keys,
        )  # fmt: skip
    quoted = urllib.parse.quote(name)
    return web.Response(
        body=data,
        content_type="application/octet-stream",
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quoted}",
            "Cache-Control": "no-store",
        },
    )
