"""Core endpoints: health, metrics, the OpenAPI document, sessions, parties, keys, the audit
log, supervision alerts, timed events, notices."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from trading import admission, migrate
from trading.audit import log as audit_log
from trading.calendar import EventRegistry
from trading.calendar import events as calendar
from trading.clock import iso_ms
from trading.context import Role
from trading.errors import NotFound, ValidationFailed
from trading.notices import list_notices
from trading.parties import service as parties
from trading.parties import sessions
from trading.parties.model import Organisation, OrgKind, PartyKey, User
from trading.parties.sessions import SessionCache
from trading.supervision import list_alerts
from web import keys
from web.api import SESSIONS, Api, Body, Call, Cursor, Id, Query, Text, json_response
from web.errors import problem_response
from web.metrics import CONTENT_TYPE_LATEST
from web.pages.session import clear_session_cookies, session_token

log = logging.getLogger("sunlit.web")

STAFF = {Role.STAFF, Role.ADMIN}
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}

Name = Text(200, min_length=1, strip=True)


def org_json(o: Organisation) -> dict[str, Any]:
    return {"id": o.id, "name": o.name, "kind": o.kind, "credit_code": o.credit_code, "region": o.region,
            "platform_affiliate": o.platform_affiliate, "created_at": o.created_at}


def user_json(u: User) -> dict[str, Any]:
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role, "org_id": u.org_id,
            "active": u.active, "created_at": u.created_at}


def key_json(k: PartyKey) -> dict[str, Any]:
    return {"id": k.id, "org_id": k.org_id, "user_id": k.user_id, "algorithm": k.algorithm,
            "public_key": base64.urlsafe_b64encode(k.public_key).rstrip(b"=").decode(), "public_key_hex": k.public_key.hex(),
            "label": k.label, "created_at": k.created_at}


def decode_key(text: str) -> bytes:
    """A 32-byte key given as 64 hex digits or unpadded base64url."""
    text = text.strip()
    try:
        if len(text) == 64:
            return bytes.fromhex(text)
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, binascii.Error):
        raise ValidationFailed(
            "public_key must be 64 hex digits or base64url", "公钥须为 64 位十六进制或 base64url", code="invalid_public_key"
        ) from None


class LoginBody(Body):
    username: Text(40, min_length=1)
    password: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class OrganisationBody(Body):
    name: Name
    kind: OrgKind
    credit_code: Annotated[str, StringConstraints(min_length=18, max_length=18)]
    region: Text(60) = ""
    platform_affiliate: bool = False


class OrganisationQuery(Query):
    kind: OrgKind | None = None


class UserBody(Body):
    username: Text(40, min_length=3)
    full_name: Text(100, min_length=1)
    role: Role
    password: Annotated[str, StringConstraints(min_length=10, max_length=200)]
    org_id: Id | None = None


class UserQuery(Query):
    org_id: Id | None = None
    role: Role | None = None


class KeyBody(Body):
    public_key: Annotated[str, StringConstraints(min_length=43, max_length=64)]
    algorithm: Annotated[str, StringConstraints(pattern="^(ed25519|x25519)$")] = "ed25519"
    label: Text(100) = ""


class KeyQuery(Query):
    algorithm: Annotated[str, StringConstraints(pattern="^(ed25519|x25519)$")] = "ed25519"


class AuditQuery(Query):
    object_type: Annotated[str, StringConstraints(max_length=60)] | None = None
    object_id: Annotated[str, StringConstraints(max_length=200)] | None = None
    actor_user_id: Id | None = None
    action: Annotated[str, StringConstraints(max_length=200)] | None = None
    since: datetime | None = None
    until: datetime | None = None
    after_seq: Cursor = 0
    order: Literal["asc", "desc"] = "asc"
    """``desc``: the newest first, paged with ``before_seq`` (the supervisor's console)."""
    before_seq: Id | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class AdmissionFlagBody(Body):
    org_id: Id
    project_ref: Annotated[str, StringConstraints(pattern="^[a-z_]+:[0-9]+$", max_length=40)]
    note: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class AlertQuery(Query):
    kind: Text(60) | None = None
    after_id: Cursor = 0
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


class EventQuery(Query):
    kind: Text(60) | None = None
    ref: Text(200) | None = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 100


api_core = Api()
route = api_core.route


@route("POST", "/sessions", summary="Log in: exchange a username and password for a bearer token", tag="sessions",
       roles=None, body=LoginBody, status=201)
async def login(call: Call) -> dict[str, Any]:
    b: LoginBody = call.body
    async with call.pool.acquire() as conn:
        token, user, expires_at = await parties.login(
            conn, call.audit, call.actor, call.now, username=b.username, password=b.password,
            ttl_s=call.app[keys.CONFIG].session_ttl_s,
        )
    return {"token": token, "token_type": "Bearer", "expires_at": expires_at, "user": user_json(user)}


@route("DELETE", "/sessions/current", summary="Log out: end this session", tag="sessions", roles=ANYONE, write=False)
async def logout(call: Call) -> dict[str, Any] | web.Response:
    token, via_cookie = session_token(call.request)
    assert token is not None  # authenticated by the wrapper
    async with call.pool.acquire() as conn:
        await parties.logout(conn, call.audit, call.actor, call.now, token, sessions=call.app.get(SESSIONS))
    from web.auction_ws import GATEWAY  # the auction gateway is optional: an app may have none

    gateway = call.app.get(GATEWAY)
    if gateway is not None:  # the session's open websockets close now (issue 16 item 7)
        await gateway.end_session(token)
    if via_cookie:  # a browser's session: its cookies go with it
        response = json_response({"ended": True})
        clear_session_cookies(response)
        return response
    return {"ended": True}


@route("GET", "/me", summary="Who am I: the logged-in user", tag="sessions", roles=ANYONE)
async def me(call: Call) -> dict[str, Any]:
    assert call.user is not None
    return user_json(call.user)


@route("POST", "/organisations", summary="Register an organisation (tenderee, agency, bidder…)", tag="parties",
       roles=STAFF, body=OrganisationBody, status=201)
async def create_org(call: Call) -> dict[str, Any]:
    b: OrganisationBody = call.body
    async with call.pool.acquire() as conn:
        org = await parties.create_organisation(
            conn, call.audit, call.actor, call.now, name=b.name, kind=b.kind, credit_code=b.credit_code,
            region=b.region, platform_affiliate=b.platform_affiliate,
        )
    return org_json(org)


@route("GET", "/organisations", summary="List organisations", tag="parties", roles=ANYONE, query=OrganisationQuery)
async def list_orgs(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return [org_json(o) for o in await parties.list_organisations(conn, kind=call.query.kind)]


@route("GET", "/organisations/{org_id}", summary="One organisation", tag="parties", roles=ANYONE)
async def get_org(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return org_json(await parties.get_organisation(conn, call.path_int("org_id")))


@route("POST", "/users", summary="Create a user with a role", tag="parties", roles={Role.ADMIN}, body=UserBody, status=201)
async def create_user(call: Call) -> dict[str, Any]:
    b: UserBody = call.body
    async with call.pool.acquire() as conn:
        user = await parties.create_user(
            conn, call.audit, call.actor, call.now, username=b.username, full_name=b.full_name, role=b.role,
            password=b.password, org_id=b.org_id,
        )
    return user_json(user)


@route("GET", "/users", summary="List users", tag="parties", roles={Role.ADMIN, Role.STAFF}, query=UserQuery)
async def list_users(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return [user_json(u) for u in await parties.list_users(conn, org_id=call.query.org_id, role=call.query.role)]


class RoleBody(Body):
    role: Role


@route("PUT", "/users/{user_id}/role", summary="Change a user's role; their next request is checked against it",
       tag="parties", roles={Role.ADMIN}, body=RoleBody)
async def change_role(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        user = await parties.change_role(
            conn, call.audit, call.actor, call.now, user_id=call.path_int("user_id"), role=call.body.role,
            sessions=call.app.get(SESSIONS),
        )
    return user_json(user)


@route("POST", "/me/keys", summary="Register my public key (Ed25519 to sign, X25519 to receive)", tag="parties",
       roles={Role.BIDDER, Role.CUSTODIAN, Role.STAFF, Role.EXPERT}, body=KeyBody, status=201)
async def register_key(call: Call) -> dict[str, Any]:
    b: KeyBody = call.body
    async with call.pool.acquire() as conn:
        key = await parties.register_key(
            conn, call.audit, call.actor, call.now, public_key=decode_key(b.public_key), algorithm=b.algorithm, label=b.label
        )
    return key_json(key)


@route("GET", "/me/keys", summary="My registered public keys", tag="parties", roles=ANYONE, query=KeyQuery)
async def my_keys(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return [key_json(k) for k in await parties.active_keys(conn, user_id=call.actor.user_id, algorithm=call.query.algorithm)]


@route("GET", "/organisations/{org_id}/keys", summary="An organisation's registered public keys", tag="parties",
       roles=ANYONE, query=KeyQuery)
async def org_keys(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return [key_json(k) for k in await parties.active_keys(conn, org_id=call.path_int("org_id"), algorithm=call.query.algorithm)]


def entry_json(e: audit_log.Entry) -> dict[str, Any]:
    d = dict(e.__dict__)
    d["at"] = iso_ms(e.at)
    return d


@route("GET", "/audit", summary="Read the audit log, filtered by object, actor, action and time; oldest or newest first",
       tag="audit",
       roles={Role.SUPERVISOR}, query=AuditQuery)
async def read_audit(call: Call) -> dict[str, Any]:
    q: AuditQuery = call.query
    async with call.pool.acquire() as conn:
        entries = await audit_log.query(
            conn, object_type=q.object_type, object_id=q.object_id, actor_user_id=q.actor_user_id, action=q.action,
            since=q.since, until=q.until, after_seq=q.after_seq, limit=q.limit,
            newest_first=q.order == "desc", before_seq=q.before_seq,
        )
    page: dict[str, Any] = {"entries": [entry_json(e) for e in entries]}
    if q.order == "desc":  # the next page holds the entries below the last one shown
        page["next_before_seq"] = entries[-1].seq if len(entries) == q.limit else None
    else:
        page["next_after_seq"] = entries[-1].seq if entries else q.after_seq
    return page


@route("GET", "/audit/verify", summary="Verify the whole hash chain and every signed checkpoint", tag="audit",
       roles={Role.SUPERVISOR})
async def verify_audit(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        report = await audit_log.verify_chain(conn)
    return report.as_dict() | {"server_key_id": call.audit.key_id, "server_public_key": call.audit.public_key.hex()}


@route("POST", "/audit/checkpoints", summary="Sign a checkpoint over the current head of the chain now", tag="audit",
       roles={Role.ADMIN, Role.STAFF})
async def checkpoint_audit(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        cp = await call.audit.checkpoint(conn, call.now)
    if cp is None:
        raise NotFound("the audit log is empty", "审计日志为空", code="audit_empty")
    return cp


@route("POST", "/admission-flags", summary="Record a deposit (or guarantee) confirmed outside the ledger",
       tag="deposits", roles=STAFF, body=AdmissionFlagBody, status=201)
async def flag_admission(call: Call) -> dict[str, Any]:
    b: AdmissionFlagBody = call.body
    async with call.pool.acquire() as conn:
        await parties.get_organisation(conn, b.org_id)
        await admission.flag_confirmed(conn, call.audit, call.actor, call.now, org_id=b.org_id,
                                       project_ref=b.project_ref, note=b.note)
        confirmed = await admission.is_deposit_confirmed(conn, org_id=b.org_id, project_ref=b.project_ref)
    return {"org_id": b.org_id, "project_ref": b.project_ref, "confirmed": confirmed}


@route("GET", "/alerts", summary="Supervision alerts (电子监察)", tag="supervision", roles={Role.SUPERVISOR, Role.STAFF},
       query=AlertQuery)
async def alerts(call: Call) -> list[dict[str, Any]]:
    q: AlertQuery = call.query
    async with call.pool.acquire() as conn:
        return await list_alerts(conn, kind=q.kind, after_id=q.after_id, limit=q.limit)


@route("GET", "/events", summary="Timed events: what is scheduled, what ran and when", tag="calendar",
       roles={Role.SUPERVISOR, Role.STAFF, Role.ADMIN}, query=EventQuery)
async def events(call: Call) -> list[dict[str, Any]]:
    q: EventQuery = call.query
    async with call.pool.acquire() as conn:
        rows = await calendar.history(conn, kind=q.kind, ref=q.ref, limit=q.limit)
    return [e.__dict__ for e in rows]


@route("GET", "/me/notices", summary="Notices to me and my organisation", tag="sessions", roles=ANYONE)
async def my_notices(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        mine = await list_notices(conn, user_id=call.actor.user_id)
        org = await list_notices(conn, org_id=call.actor.org_id) if call.actor.org_id else []
    return sorted(mine + org, key=lambda n: n["id"], reverse=True)


async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[keys.POOL].acquire() as conn:
            await conn.fetchval("SELECT 1")
            todo = await migrate.pending(conn)
    except (OSError, migrate.MigrationError) as exc:
        return problem_response(request, status=503, code="unhealthy", detail_en=f"database check failed: {exc}",
                                detail_zh=f"数据库检查失败：{exc}")
    if todo:
        names = [f"{m.package}/{m.name}" for m in todo]
        return problem_response(request, status=503, code="migrations_pending", detail_en=f"migrations pending: {names}",
                                detail_zh=f"有未应用的迁移：{names}")
    return json_response({"status": "ok", "database": "reachable", "migrations": "current"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[keys.METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def openapi(request: web.Request) -> web.Response:
    return json_response(request.app[keys.API].openapi())


LISTEN_START_S = 10.0
"""How long a start waits for the session listener before serving without the cache."""


def _to_gateway(app: web.Application, notice: str) -> None:
    """A logout or a role change in any process closes the websockets of that session or
    user here too (``Gateway.session_notice``)."""
    from web.auction_ws import GATEWAY  # the auction gateway is optional: an app may have none

    gateway = app.get(GATEWAY)
    if gateway is not None:
        gateway.session_notice(notice)


async def _session_listener_ctx(app: web.Application) -> AsyncIterator[None]:
    """The session cache and the auction gateway hear the logouts and role changes of every
    process (LISTEN); until it does, the cache caches nothing (``trading.parties.sessions``)."""
    cache = app[SESSIONS]
    cache.suspend()
    listening = asyncio.Event()
    task = asyncio.create_task(
        sessions.listen(app[keys.DSN], cache, listening, also=lambda notice: _to_gateway(app, notice)),
        name="session-listener",
    )
    try:
        await asyncio.wait_for(listening.wait(), LISTEN_START_S)
    except TimeoutError:
        log.warning("not listening for session changes yet; sessions are read from the database until then")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_core.endpoints)
    app[SESSIONS] = SessionCache(app[keys.CONFIG].session_cache_s)
    app.cleanup_ctx.append(_session_listener_ctx)  # also without a cache: the gateway listens
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/api/v1/openapi.json", openapi)
