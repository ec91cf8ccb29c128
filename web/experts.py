"""Expert pool and panel draws over HTTP (experts/, docs/experts.md).

Resources this module owns (``cleanup_ctx``, typed ``AppKey``s, no module globals):

- ``EXPERT_KEYS``: the ``PoolKeys`` (identity numbers and draw seeds at rest), loaded from
  ``<SUNLIT_DATA>/keys/experts-master.key``;
- ``POOL_CACHE``: the ``ExpertPool`` index built for the current pool version (a draw
  from 100,000 experts needs it to stay under 100 ms);
- ``OUTBOX``: the summons deliverer and its channel; the SMS/voice gateway channel
  (``HttpGatewayChannel``, an aiohttp client) lives here because domain packages do not
  import aiohttp.

No endpoint names an expert into a panel (E1): draws take specialties and counts; the only
expert ids a draw request accepts are ``extra_exclusions``, which can only leave experts
out; a seat is recused by its place in the drawn order.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import date, time
from typing import Annotated, Any, Literal

import aiohttp
from aiohttp import web
from pydantic import Field, StringConstraints, ValidationError

from experts import draws, service
from experts.csvio import read_csv
from experts.errors import ExpertReason
from experts.model.record import BeaconRef
from experts.model.request import ExtraExclusion, RegionRule, RegionScope, SpecialtyDemand
from experts.model.specialties import SpecialtyCode
from experts.notify import (
    Channel,
    DeliveryFailed,
    EmlFileChannel,
    LogChannel,
    MemoryChannel,
    Summons,
    render,
)
from experts.outbox import Outbox
from experts.panel import MemberCommand
from experts.pool import ExpertInput, FieldProblem, RelationInput, SanctionInput
from experts.service import RowProblem
from experts.settings import ExpertSettings
from experts.vault import PoolKeys
from trading.calendar import EventContext, EventRegistry, TimedEvent
from trading.context import Role
from trading.errors import Rejected, ValidationFailed
from web import keys
from web.api import (
    Api,
    Body,
    Call,
    Count32,
    FreeText,
    Id,
    Query,
    json_problems,
    refuse_control_bytes,
)
from web.api import Text as Line
from web.register import without_banned_experts

EXPERT_KEYS = web.AppKey("experts_keys", PoolKeys)
POOL_CACHE = web.AppKey("experts_pool_cache", draws.PoolCache)
SETTINGS = web.AppKey("experts_settings", ExpertSettings)
OUTBOX = web.AppKey("experts_outbox", Outbox)

STAFF = {Role.STAFF, Role.ADMIN}
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}

IdStr = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,63}$")]
Text = Line(200)
Region = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,20}$")]


# --- the SMS / voice gateway (the one channel that needs aiohttp) ---------------------------


class HttpGatewayChannel:
    """POSTs ``{"to", "kind", "text", "language"}`` as JSON to the gateway URL (bearer token);
    any 2xx is delivered, its JSON ``id`` (if any) is the reference."""

    name = "http"

    def __init__(self, session: aiohttp.ClientSession, settings: ExpertSettings) -> None:
        self._session = session
        self._settings = settings

    async def send(self, summons: Summons) -> str:
        if not summons.phone:
            raise DeliveryFailed("the expert has no phone number")
        _, text = render(summons, self._settings.tz)
        headers = (
            {"Authorization": f"Bearer {self._settings.gateway_token}"}
            if self._settings.gateway_token
            else {}
        )
        payload = {
            "to": summons.phone,
            "kind": self._settings.gateway_kind,
            "text": text,
            "language": summons.language,
        }
        try:
            async with self._session.post(
                self._settings.gateway_url,
                json=payload,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=10),
            ) as r:
                if not 200 <= r.status < 300:
                    raise DeliveryFailed(f"the gateway answered {r.status}")
                try:
                    body = await r.json(content_type=None)
                except (json.JSONDecodeError, aiohttp.ContentTypeError):
                    body = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise DeliveryFailed(f"the gateway is unreachable: {exc!r}") from exc
        ref = body.get("id") if isinstance(body, dict) else None
        return str(ref) if ref is not None else "gateway"


def _settings_of(app: web.Application) -> ExpertSettings:
    config = app[keys.CONFIG]
    env = {**os.environ, **config.extra}
    return ExpertSettings.from_mapping(
        env, data_dir=config.data_dir, host=config.host, port=config.port
    )


async def _experts_ctx(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    app[EXPERT_KEYS] = PoolKeys.load_or_create(app[keys.CONFIG].data_dir)
    session: aiohttp.ClientSession | None = None
    channel: Channel
    if settings.channel == "http":
        session = aiohttp.ClientSession()
        channel = HttpGatewayChannel(session, settings)
    elif settings.channel == "email":
        channel = EmlFileChannel(settings.eml_dir, settings.mail_from, settings.tz)
    elif settings.channel == "memory":
        channel = MemoryChannel(settings.tz)
    else:
        channel = LogChannel(settings.tz)
    outbox = Outbox(app[keys.POOL], channel, app[keys.CLOCK], settings)
    app[OUTBOX] = outbox
    task = asyncio.create_task(outbox.run(), name="experts-outbox")
    outbox.kick()  # deliver whatever was left pending before a restart
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        if session is not None:
            await session.close()


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_experts.endpoints)
    app[SETTINGS] = _settings_of(app)
    app[POOL_CACHE] = draws.PoolCache()

    async def on_timeout(ctx: EventContext) -> None:
        await draws.on_summons_timeout(ctx, app[keys.AUDIT], app[SETTINGS])

    async def after_timeout(_event: TimedEvent) -> None:
        app[OUTBOX].kick()

    registry.register(draws.TIMEOUT_EVENT, on_timeout, after_commit=after_timeout)
    app.cleanup_ctx.append(_experts_ctx)


api_experts = Api()
route = api_experts.route


# --- bodies ---------------------------------------------------------------------------------


class RelationBody(Body):
    kind: Literal["employment", "director", "control", "economic_interest", "relative"]
    org_code: IdStr
    org_name: Text = ""
    start: date | None = None
    end: date | None = None
    relative_name: Text = ""
    relationship: Text = ""


class SanctionBody(Body):
    kind: Literal["tendering_penalty", "judgment_defaulter", "disqualified"]
    start: date
    end: date | None = None
    note: FreeText(500) = ""


class ExpertFields(Body):
    name: Line(100, min_length=1) | None = None
    id_number: Line(30, min_length=1) | None = None
    employer_code: IdStr | None = None
    employer_name: Text = ""
    specialties: (
        Annotated[list[Annotated[str, StringConstraints(max_length=20)]], Field(max_length=10)]
        | None
    ) = None
    region: Region | None = None
    title: Line(60) = ""
    experience_years: Annotated[int, Field(ge=0, le=80)] = 0
    status: Literal["active", "suspended", "retired"] = "active"
    suspended_until: date | None = None
    unavailable_dates: Annotated[list[date], Field(max_length=366)] = []
    relations: Annotated[list[RelationBody], Field(max_length=50)] = []
    sanctions: Annotated[list[SanctionBody], Field(max_length=50)] = []
    phone: Line(21) = ""
    email: Line(200) = ""
    language: Literal["zh", "en"] = "zh"
    user_id: Id | None = None


class ExpertBody(ExpertFields):
    expert_id: IdStr | None = None
    name: Line(100, min_length=1)
    id_number: Line(30, min_length=1)
    specialties: Annotated[
        list[Annotated[str, StringConstraints(max_length=20)]], Field(min_length=1, max_length=10)
    ]
    region: Region


class ExpertPatch(ExpertFields):
    """Any of the fields; lists replace the old ones whole. ``version``: as read."""

    version: Annotated[Count32, Field(ge=1)]


class LinkUserBody(Body):
    user_id: Id | None


class CodeBody(Body):
    code: Annotated[str, StringConstraints(max_length=20)]
    name_zh: Line(100, min_length=1)
    name_en: Line(100) = ""


class CodesBody(Body):
    codes: Annotated[list[CodeBody], Field(min_length=1, max_length=10_000)]


class ExpertQuery(Query):
    specialty: Annotated[str, StringConstraints(max_length=20)] | None = None
    region: Region | None = None
    status: Literal["active", "suspended", "retired"] | None = None
    name: Line(100) | None = None
    after: IdStr | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


def _relation(r: RelationBody) -> RelationInput:
    return RelationInput(
        r.kind, r.org_code, r.org_name, r.start, r.end, r.relative_name, r.relationship
    )


def _sanction(s: SanctionBody) -> SanctionInput:
    return SanctionInput(s.kind, s.start, s.end, s.note)


def _expert_input(b: ExpertBody) -> ExpertInput:
    return ExpertInput(
        expert_id=b.expert_id,
        name=b.name,
        id_number=b.id_number,
        employer_code=b.employer_code,
        employer_name=b.employer_name,
        specialties=tuple(b.specialties),
        region=b.region,
        title=b.title,
        experience_years=b.experience_years,
        status=b.status,
        suspended_until=b.suspended_until,
        unavailable_dates=tuple(b.unavailable_dates),
        relations=tuple(_relation(r) for r in b.relations),
        sanctions=tuple(_sanction(s) for s in b.sanctions),
        phone=b.phone,
        email=b.email,
        language=b.language,
        user_id=b.user_id,
    )


def _changes(p: ExpertPatch) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in p.model_fields_set - {"version"}:
        value = getattr(p, name)
        if value is None and name in ("name", "id_number", "specialties", "region"):
            raise ValidationFailed(
                f"{name} cannot be emptied", f"{name} 不能为空", code="invalid_expert"
            )
        if name == "relations":
            value = tuple(_relation(r) for r in value)
        elif name == "sanctions":
            value = tuple(_sanction(s) for s in value)
        elif name in ("specialties", "unavailable_dates"):
            value = tuple(value)
        out[name] = value
    if not out:
        raise ValidationFailed("nothing to change", "没有要修改的内容", code="invalid_expert")
    return out


# --- the pool -------------------------------------------------------------------------------


@route("GET", "/specialty-codes", summary="The specialty classification (national four-level codes)",
       tag="experts", roles=ANYONE)  # fmt: skip
async def list_codes(call: Call) -> list[dict[str, Any]]:
    from experts import store

    async with call.pool.acquire() as conn:
        return await store.list_codes(conn)


@route("POST", "/specialty-codes", summary="Add or rename codes of the classification", tag="experts",
       roles=STAFF, body=CodesBody, status=201)  # fmt: skip
async def add_codes(call: Call) -> dict[str, Any]:
    b: CodesBody = call.body
    async with call.pool.acquire() as conn:
        n = await service.import_codes(conn, call.audit, call.actor, call.now,
                                       [(c.code, c.name_zh, c.name_en) for c in b.codes])  # fmt: skip
    return {"codes": n}


@route("GET", "/experts", summary="List experts of the pool (a specialty matches its descendants)",
       tag="experts", roles=STAFF, query=ExpertQuery)  # fmt: skip
async def list_experts(call: Call) -> dict[str, Any]:
    q: ExpertQuery = call.query
    prefix = None
    if q.specialty:
        prefix = SpecialtyCode.parse(q.specialty).code
    async with call.pool.acquire() as conn:
        entries = await service.list_entries(conn, code_prefix=prefix, region=q.region, status=q.status,
                                             name=q.name, after=q.after, limit=q.limit)  # fmt: skip
    items = [e.to_json() for e in entries]
    return {
        "experts": items,
        "next_after": items[-1]["expert_id"] if len(items) == q.limit else None,
    }


@route("POST", "/experts", summary="Add an expert to the pool", tag="experts", roles=STAFF, body=ExpertBody,
       status=201)  # fmt: skip
async def add_expert(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        entry = await service.add_expert(conn, call.audit, call.actor, call.now, call.app[EXPERT_KEYS],
                                         _expert_input(call.body))  # fmt: skip
    return entry.to_json()


@route(
    "GET",
    "/experts/{expert_id}",
    summary="One expert (identity number masked)",
    tag="experts",
    roles=STAFF,
    path_params={"expert_id": IdStr},
)
async def get_expert(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return (await service.get_entry(conn, call.request.match_info["expert_id"])).to_json()


@route("PATCH", "/experts/{expert_id}", summary="Change an expert (send the version you read)", tag="experts",
       roles=STAFF, body=ExpertPatch, path_params={"expert_id": IdStr})  # fmt: skip
async def update_expert(call: Call) -> dict[str, Any]:
    p: ExpertPatch = call.body
    async with call.pool.acquire() as conn:
        entry = await service.update_expert(conn, call.audit, call.actor, call.now, call.app[EXPERT_KEYS],
                                            call.request.match_info["expert_id"], p.version, _changes(p))  # fmt: skip
    return entry.to_json()


@route("PUT", "/experts/{expert_id}/user", summary="Link a user with the expert role to this expert (null unlinks)",
       tag="experts", roles=STAFF, body=LinkUserBody, path_params={"expert_id": IdStr})  # fmt: skip
async def link_user(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        entry = await service.link_user(conn, call.audit, call.actor, call.now,
                                        call.request.match_info["expert_id"], call.body.user_id)  # fmt: skip
    return entry.to_json()


async def _read_limited(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise Rejected(
                ExpertReason.IMPORT_TOO_LARGE, f"over {limit:,} bytes", f"超过{limit}字节"
            )
        chunks.append(chunk)
    data = b"".join(chunks)
    refuse_control_bytes(data, "import file")
    return data


def _json_import(data: bytes) -> tuple[list[tuple[int, ExpertInput]], list[RowProblem]]:
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationFailed(f"the body is not valid JSON ({exc})", f"请求体不是合法的 JSON（{exc}）",
                               code="malformed_json", status_hint=400) from None  # fmt: skip
    items = doc.get("experts") if isinstance(doc, dict) else None
    if not isinstance(items, list) or set(doc) != {"experts"}:
        raise ValidationFailed('send {"experts": [ ... ]}', '请发送 {"experts": [ ... ]}', code="malformed_json",
                               status_hint=400)  # fmt: skip
    bad_text = json_problems(doc)
    if bad_text:
        raise ValidationFailed("the import holds text it may not: " + "; ".join(f"{e['field']}: {e['problem']}" for e in bad_text),
                               "导入内容含有不允许的文本：" + "；".join(f"{e['field']}：{e['problem']}" for e in bad_text),
                               details={"errors": bad_text})  # fmt: skip
    rows: list[tuple[int, ExpertInput]] = []
    problems: list[RowProblem] = []
    for i, item in enumerate(items, start=1):
        try:
            body = ExpertBody.model_validate_json(json.dumps(item))
        except ValidationError as exc:
            for e in exc.errors(include_url=False, include_input=False):
                field = ".".join(str(p) for p in e["loc"]) or "item"
                problems.append(RowProblem(i, FieldProblem(field, e["type"], e["msg"], e["msg"])))
            continue
        rows.append((i, _expert_input(body)))
    return rows, problems


@route("POST", "/experts/import", summary="Import experts: a CSV file (text/csv) or {\"experts\": [...]} (JSON); "
       "all or nothing, every bad row reported", tag="experts", roles=STAFF, raw_body=True,
       body_content_type="text/csv", status=201)  # fmt: skip
async def import_experts(call: Call) -> dict[str, Any]:
    settings = call.app[SETTINGS]
    ctype = call.request.content_type
    data = await _read_limited(call.request, settings.import_max_bytes)
    if ctype in ("text/csv", "application/csv", "text/plain"):
        rows, problems = read_csv(data)
        source = "csv"
    elif ctype == "application/json":
        rows, problems = _json_import(data)
        source = "json"
    else:
        raise ValidationFailed(f"send text/csv or application/json (got {ctype or 'no Content-Type'})",
                               f"请以 text/csv 或 application/json 发送（收到 {ctype or '无 Content-Type'}）",
                               code="unsupported_media_type", status_hint=415)  # fmt: skip
    async with call.pool.acquire() as conn:
        report = await service.import_experts(conn, call.audit, call.actor, call.now, call.app[EXPERT_KEYS], rows,
                                              problems, source=source)  # fmt: skip
    return report.to_json()


@route(
    "GET", "/me/expert", summary="My record in the expert pool", tag="summons", roles={Role.EXPERT}
)
async def my_expert(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return (await service.my_entry(conn, call.actor)).to_json()


# --- draws ----------------------------------------------------------------------------------


class RegionRuleBody(Body):
    scope: Literal["any", "local", "other_regions", "remote"] = "any"
    regions: Annotated[list[Region], Field(max_length=50)] = []


class DemandBody(Body):
    code: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    count: Annotated[int, Field(ge=1, le=99)]
    region_rule: RegionRuleBody = RegionRuleBody()
    reserve: Annotated[int, Field(ge=0, le=999)] | None = None


class ExtraExclusionBody(Body):
    """An expert the tender excludes (it can only leave an expert out of the draw)."""

    expert_id: IdStr
    detail: FreeText(500, min_length=1)


class BeaconBody(Body):
    source: Line(100, min_length=1)
    round: Annotated[int, Field(ge=0, le=10**15)]


class DrawBody(Body):
    tender_ref: IdStr
    tenderee_org_id: Id
    bidder_org_ids: Annotated[list[Id], Field(max_length=1000)] = []
    supervising_org_ids: Annotated[list[Id], Field(max_length=50)] = []
    tender_region: Region | None = None
    demands: Annotated[list[DemandBody], Field(min_length=1, max_length=50)]
    evaluation_date: date
    evaluation_time: Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
    evaluation_place: Line(500, min_length=1)
    evaluation_days: Annotated[int, Field(ge=1, le=31)] = 1
    extra_exclusions: Annotated[list[ExtraExclusionBody], Field(max_length=1000)] = []
    tenderee_representatives: Annotated[int, Field(ge=0, le=50)] = 0
    min_members: Annotated[int, Field(ge=5, le=99)] = 5
    cooldown_days: Annotated[int, Field(ge=0, le=3650)] = 0
    yearly_cap: Annotated[int, Field(ge=1, le=1000)] | None = None
    relation_lookback_years: Annotated[int, Field(ge=3, le=10)] = 3
    beacon: BeaconBody | None = None
    answer_within_minutes: Annotated[int, Field(ge=1, le=10080)] | None = None


class RunBody(Body):
    beacon_value: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{2}){1,1024}$")] | None = (
        None
    )


class ReasonBody(Body):
    reason: FreeText(500) = ""


class RecuseBody(Body):
    reason: FreeText(500, min_length=1)


class DrawQuery(Query):
    tender_ref: IdStr | None = None
    status: Literal["committed", "drawn", "full", "short", "fixed"] | None = None
    before: Id | None = None
    limit: Annotated[int, Field(ge=1, le=500)] = 50


def _draw_input(b: DrawBody) -> draws.DrawInput:
    demands = tuple(
        SpecialtyDemand(
            SpecialtyCode.parse(d.code), d.count,
            RegionRule(RegionScope(d.region_rule.scope), frozenset(d.region_rule.regions)), d.reserve,
        )
        for d in b.demands
    )  # fmt: skip
    return draws.DrawInput(
        tender_ref=b.tender_ref,
        tenderee_org_id=b.tenderee_org_id,
        bidder_org_ids=tuple(b.bidder_org_ids),
        supervising_org_ids=tuple(b.supervising_org_ids),
        tender_region=b.tender_region,
        demands=demands,
        evaluation_date=b.evaluation_date,
        evaluation_time=time.fromisoformat(b.evaluation_time),
        evaluation_place=b.evaluation_place,
        evaluation_days=b.evaluation_days,
        extra_exclusions=tuple(ExtraExclusion(x.expert_id, x.detail) for x in b.extra_exclusions),
        tenderee_representatives=b.tenderee_representatives,
        min_members=b.min_members,
        cooldown_days=b.cooldown_days,
        yearly_cap=b.yearly_cap,
        relation_lookback_years=b.relation_lookback_years,
        beacon=None if b.beacon is None else BeaconRef(b.beacon.source, b.beacon.round),
        answer_within_s=None if b.answer_within_minutes is None else b.answer_within_minutes * 60,
    )


@route("POST", "/draws", summary="Request a panel draw: the record is committed and its hashes audited before "
       "anything is drawn", tag="draws", roles=STAFF, body=DrawBody, status=201)  # fmt: skip
async def request_draw(call: Call) -> dict[str, Any]:
    data = _draw_input(call.body)
    async with call.pool.acquire() as conn:
        data = await without_banned_experts(conn, call.now, data)  # S2
        return await draws.request_draw(conn, call.audit, call.actor, call.now, keys=call.app[EXPERT_KEYS],
                                        cache=call.app[POOL_CACHE], settings=call.app[SETTINGS], data=data)  # fmt: skip


@route("GET", "/draws", summary="List draws (status and counts; no names)", tag="draws", roles=STAFF,
       query=DrawQuery)  # fmt: skip
async def list_draws(call: Call) -> list[dict[str, Any]]:
    q: DrawQuery = call.query
    async with call.pool.acquire() as conn:
        return await draws.list_draws(
            conn, tender_ref=q.tender_ref, status=q.status, before=q.before, limit=q.limit
        )


@route("GET", "/draws/{draw_id}", summary="One draw: status, hashes, counts per line (no names)", tag="draws",
       roles=STAFF)  # fmt: skip
async def get_draw(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await draws.get_draw(conn, call.path_int("draw_id"))


@route("POST", "/draws/{draw_id}/run", summary="Run the committed draw (with the beacon value if the record names "
       "a round) and summon the panel", tag="draws", roles=STAFF, body=RunBody)  # fmt: skip
async def run_draw(call: Call) -> dict[str, Any]:
    b: RunBody = call.body
    async with call.pool.acquire() as conn:
        view = await draws.run_draw(conn, call.audit, call.actor, call.now, keys=call.app[EXPERT_KEYS],
                                    settings=call.app[SETTINGS], draw_id=call.path_int("draw_id"),
                                    beacon_value=None if b.beacon_value is None else bytes.fromhex(b.beacon_value))  # fmt: skip
    call.app[OUTBOX].kick()
    return view


@route("GET", "/draws/{draw_id}/panel", summary="The panel list: secret until the result is fixed (the requesting "
       "staff member and supervisors only)", tag="draws", roles=ANYONE)  # fmt: skip
async def get_panel(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await draws.panel(conn, call.audit, call.actor, call.now, call.path_int("draw_id"))


@route("GET", "/draws/{draw_id}/record", summary="The published draw record (JSON, signed): record, result, calls, "
       "and the seed once the result is fixed", tag="draws", roles=ANYONE)  # fmt: skip
async def get_record(call: Call) -> web.Response:
    draw_id = call.path_int("draw_id")
    async with call.pool.acquire() as conn:
        bundle = await draws.published_bundle(conn, call.audit, call.actor, draw_id)
    return web.Response(
        body=json.dumps(bundle, ensure_ascii=False, indent=1).encode(),
        content_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="draw-{draw_id}.json"'},
    )


@route("POST", "/draws/{draw_id}/seats/{line}/{position}/recuse", summary="Take the member at a seat (its place in "
       "the drawn order) off the panel; the next in order is called", tag="draws", roles=STAFF,
       body=RecuseBody, path_params={"line": Count32, "position": Count32})  # fmt: skip
async def recuse_seat(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        view = await draws.recuse_seat(conn, call.audit, call.actor, call.now, settings=call.app[SETTINGS],
                                       draw_id=call.path_int("draw_id"), line=call.path_int("line"),
                                       position=call.path_int("position"), reason=call.body.reason)  # fmt: skip
    call.app[OUTBOX].kick()
    return view


@route("POST", "/draws/{draw_id}/fix-result", summary="Fix the result: the list stops being secret and the seed "
       "is revealed", tag="draws", roles=STAFF)  # fmt: skip
async def fix_result(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await draws.fix_result(conn, call.audit, call.actor, call.now, keys=call.app[EXPERT_KEYS],
                                      draw_id=call.path_int("draw_id"))  # fmt: skip


@route("GET", "/draws/{draw_id}/verify", summary="Re-run a fixed draw from its published record and compare "
       "(same panel, same replacement order — or where they differ)", tag="draws", roles=ANYONE)  # fmt: skip
async def verify_draw(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await draws.verify(conn, call.path_int("draw_id"))


# --- summons --------------------------------------------------------------------------------


def _token(call: Call) -> str:
    token = call.request.match_info["token"]
    if not 16 <= len(token) <= 64 or not token.replace("-", "").replace("_", "").isalnum():
        raise Rejected(ExpertReason.SUMMONS_NOT_FOUND)
    return token


@route("GET", "/summons/{token}", summary="A summons by its one-time link: time and place", tag="summons",
       roles=None)  # fmt: skip
async def show_summons(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await draws.summons_by_token(conn, _token(call))


async def _answer_token(call: Call, command: MemberCommand, reason: str) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        out = await draws.answer_by_token(conn, call.audit, call.actor, call.now, settings=call.app[SETTINGS],
                                          token=_token(call), command=command, reason=reason)  # fmt: skip
    call.app[OUTBOX].kick()
    return out


@route(
    "POST",
    "/summons/{token}/confirm",
    summary="Confirm through the one-time link",
    tag="summons",
    roles=None,
)
async def confirm_by_token(call: Call) -> dict[str, Any]:
    return await _answer_token(call, MemberCommand.CONFIRM, "")


@route("POST", "/summons/{token}/decline", summary="Decline through the one-time link", tag="summons", roles=None,
       body=ReasonBody)  # fmt: skip
async def decline_by_token(call: Call) -> dict[str, Any]:
    return await _answer_token(call, MemberCommand.DECLINE, call.body.reason)


@route(
    "GET",
    "/me/summons",
    summary="My summons (time and place only)",
    tag="summons",
    roles={Role.EXPERT},
)
async def my_summons(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return await draws.my_summons(conn, call.actor)


async def _answer_mine(call: Call, command: MemberCommand, reason: str) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        out = await draws.answer_as_expert(conn, call.audit, call.actor, call.now, settings=call.app[SETTINGS],
                                           member_id=call.path_int("summons_id"), command=command, reason=reason)  # fmt: skip
    call.app[OUTBOX].kick()
    return out


@route(
    "POST",
    "/me/summons/{summons_id}/confirm",
    summary="Confirm my summons",
    tag="summons",
    roles={Role.EXPERT},
)
async def confirm_mine(call: Call) -> dict[str, Any]:
    return await _answer_mine(call, MemberCommand.CONFIRM, "")


@route("POST", "/me/summons/{summons_id}/decline", summary="Decline my summons", tag="summons",
       roles={Role.EXPERT}, body=ReasonBody)  # fmt: skip
async def decline_mine(call: Call) -> dict[str, Any]:
    return await _answer_mine(call, MemberCommand.DECLINE, call.body.reason)


@route("POST", "/me/summons/{summons_id}/recuse", summary="Withdraw after confirming (a conflict of interest): "
       "the next in order is called", tag="summons", roles={Role.EXPERT}, body=RecuseBody)  # fmt: skip
async def recuse_mine(call: Call) -> dict[str, Any]:
    return await _answer_mine(call, MemberCommand.RECUSE, call.body.reason)
