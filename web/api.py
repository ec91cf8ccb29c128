"""The route table: every JSON API endpoint is declared once, with the roles it admits, whether
it writes, and the pydantic models of its body and query. From that one declaration come the
aiohttp route, the authentication and scope check, input validation, and the OpenAPI document.

An endpoint's handler receives a ``Call`` (the authenticated actor, the validated body and
query, ``now`` from the app clock) and returns a JSON-able value, or a ``web.StreamResponse``.

Roles: ``roles=None`` means public. A supervisor may call every endpoint that does not write
(they read everything); nobody outside ``roles`` may call one that writes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import asyncpg
from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from trading.audit import AuditLog
from trading.clock import Clock, iso_ms
from trading.context import Actor, Role
from trading.errors import Forbidden, Unauthenticated, ValidationFailed
from trading.parties import service as parties
from trading.parties.model import User
from web import keys

PREFIX = "/api/v1"


class Body(BaseModel):
    """Base for request bodies: unknown fields refused, types strict (no "5" for 5, no 5.0)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=10_000)


class Query(BaseModel):
    """Base for query strings: unknown parameters refused; strings converted to declared types."""

    model_config = ConfigDict(extra="forbid", str_max_length=500)


@dataclass
class Call:
    request: web.Request
    actor: Actor
    user: User | None
    now: datetime
    body: Any = None
    query: Any = None

    @property
    def app(self) -> web.Application:
        return self.request.app

    @property
    def pool(self) -> asyncpg.Pool:
        return self.request.app[keys.POOL]

    @property
    def audit(self) -> AuditLog:
        return self.request.app[keys.AUDIT]

    @property
    def clock(self) -> Clock:
        return self.request.app[keys.CLOCK]

    def path_int(self, name: str) -> int:
        raw = self.request.match_info[name]
        if not raw.isdigit() or len(raw) > 18:
            raise ValidationFailed(
                f"path parameter {name} must be a positive integer", f"路径参数 {name} 须为正整数", code="invalid_path_parameter"
            )
        return int(raw)

    def require_org(self, org_id: int | None) -> None:
        """Scope check: a party acts for its own organisation only (staff, admin, supervisor pass)."""
        if self.actor.role in (Role.STAFF, Role.ADMIN, Role.SUPERVISOR, Role.SYSTEM):
            return
        if org_id is None or self.actor.org_id != org_id:
            raise Forbidden(
                "you may act only for your own organisation", "您只能代表本机构操作", code="out_of_scope"
            )


Handler = Callable[[Call], Awaitable[Any]]


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: frozenset[Role] | None
    write: bool
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    raw_body: bool = False
    """The handler reads the body itself (streaming uploads); ``body_content_type`` documents it."""
    body_content_type: str = "application/octet-stream"
    status: int = 200
    responses: dict[str, Any] = field(default_factory=dict)
    websocket: bool = False

    @property
    def full_path(self) -> str:
        return PREFIX + self.path


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, frozenset | set):
        return sorted(value)
    if hasattr(value, "value"):  # Enum
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"cannot render {type(value).__name__} as JSON")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_json_default, ensure_ascii=False)


def json_response(value: Any, status: int = 200) -> web.Response:
    return web.Response(text=dumps(value), status=status, content_type="application/json")


def _validation_failed(exc: ValidationError, where: str) -> ValidationFailed:
    errors = [
        {"field": ".".join(str(p) for p in e["loc"]) or where, "problem": e["msg"], "type": e["type"]}
        for e in exc.errors(include_url=False, include_input=False)
    ]
    en = f"the {where} is invalid: " + "; ".join(f"{e['field']}: {e['problem']}" for e in errors)
    zh = f"{'请求体' if where == 'body' else '查询参数'}无效：" + "；".join(f"{e['field']}：{e['problem']}" for e in errors)
    return ValidationFailed(en, zh, details={"errors": errors})


async def authenticate(request: web.Request, now: datetime) -> User:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "log in first and send 'Authorization: Bearer <token>'",
            "请先登录，并携带 'Authorization: Bearer <令牌>'",
            code="unauthenticated",
        )
    async with request.app[keys.POOL].acquire() as conn:
        return await parties.resolve_session(conn, token.strip(), now)


def actor_for(request: web.Request, user: User | None) -> Actor:
    addr = request.remote or ""
    rid = request.get(keys.REQUEST_ID, "")
    if user is None:
        return Actor.anonymous(addr, rid)
    return Actor(user.id, user.username, user.role, user.org_id, addr, rid)


def check_role(endpoint: Endpoint, user: User) -> None:
    assert endpoint.roles is not None
    if user.role in endpoint.roles:
        return
    if user.role == Role.SUPERVISOR and not endpoint.write:
        return
    raise Forbidden(
        f"role {user.role} may not {endpoint.method} {endpoint.full_path}",
        f"角色 {user.role} 无权执行 {endpoint.method} {endpoint.full_path}",
        code="role_forbidden",
    )


class Api:
    def __init__(self) -> None:
        self.endpoints: list[Endpoint] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        tag: str,
        roles: set[Role] | frozenset[Role] | None,
        write: bool | None = None,
        body: type[BaseModel] | None = None,
        query: type[BaseModel] | None = None,
        raw_body: bool = False,
        body_content_type: str = "application/octet-stream",
        status: int = 200,
        websocket: bool = False,
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method.upper(), path=path, handler=handler, summary=summary, tag=tag,
                    roles=frozenset(roles) if roles is not None else None,
                    write=write if write is not None else method.upper() not in ("GET", "HEAD"),
                    body=body, query=query, raw_body=raw_body, body_content_type=body_content_type,
                    status=status, websocket=websocket,
                )
            )
            return handler

        return register

    def install(self, app: web.Application) -> None:
        for ep in self.endpoints:
            app.router.add_route(ep.method, ep.full_path, _wrap(ep))

    def openapi(self, *, title: str = "Sunlit API", version: str = "1") -> dict[str, Any]:
        return build_openapi(self.endpoints, title=title, version=version)


def _wrap(ep: Endpoint) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handle(request: web.Request) -> web.StreamResponse:
        clock: Clock = request.app[keys.CLOCK]
        now = clock.now()
        user: User | None = None
        if ep.roles is not None:
            request[keys.ACTOR] = actor_for(request, None)
            user = await authenticate(request, now)
            request[keys.ACTOR] = actor_for(request, user)
            check_role(ep, user)
        call = Call(request=request, actor=actor_for(request, user), user=user, now=now)
        if ep.query is not None:
            try:
                call.query = ep.query.model_validate(dict(request.query))
            except ValidationError as exc:
                raise _validation_failed(exc, "query") from None
        elif request.query and not ep.websocket:
            raise ValidationFailed(
                f"this endpoint takes no query parameters (got {', '.join(sorted(request.query))})",
                f"该接口不接受查询参数（收到 {', '.join(sorted(request.query))}）",
                code="unknown_query_parameter",
            )
        if ep.body is not None:
            call.body = await _read_body(request, ep.body)
        result = await ep.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=ep.status)

    handle.__name__ = getattr(ep.handler, "__name__", "handle")
    return handle


async def _read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    ctype = request.content_type
    if ctype not in ("application/json", "application/problem+json") and not ctype.endswith("+json"):
        raise ValidationFailed(
            f"send the body as application/json (got {ctype or 'no Content-Type'})",
            f"请以 application/json 发送请求体（收到 {ctype or '无 Content-Type'}）",
            code="unsupported_media_type",
            status_hint=415,
        )
    raw = await request.read()  # bounded by the app's client_max_size → 413
    try:
        # One parse, in JSON mode: strict types, yet enums and datetimes given as JSON strings.
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise ValidationFailed(
                f"the body is not valid JSON ({first['msg']})",
                f"请求体不是合法的 JSON（{first['msg']}）",
                code="malformed_json",
                status_hint=400,
            ) from None
        if first["type"] == "model_type" and not first["loc"]:
            raise ValidationFailed(
                "the body must be a JSON object", "请求体须为 JSON 对象", code="malformed_json", status_hint=400
            ) from None
        raise _validation_failed(exc, "body") from None


# ---------------------------------------------------------------------------------------------
# OpenAPI

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?}")

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string", "description": "zh-CN or en, by Accept-Language"},
        "code": {"type": "string", "description": "stable machine-readable code"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def openapi_path(path: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def build_openapi(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', ep.path).strip('_')}",
            "responses": {
                str(ep.status): {"description": "success", "content": {"application/json": {"schema": {}}}},
                "default": {
                    "description": "problem",
                    "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
                },
            },
        }
        if ep.websocket:
            op["responses"] = {"101": {"description": "switching protocols to a websocket"}}
        if ep.roles is not None:
            op["security"] = [{"bearer": []}]
            roles = sorted(ep.roles | ({Role.SUPERVISOR} if not ep.write else set()))
            op["x-roles"] = [r.value for r in roles]
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PARAM.findall(ep.path)
        ]
        if ep.query is not None:
            qschema = ep.query.model_json_schema(ref_template="#/components/schemas/{model}")
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
            for dname, dschema in qschema.get("$defs", {}).items():
                schemas[dname] = dschema
        if parameters:
            op["parameters"] = parameters
        if ep.body is not None:
            bschema = ep.body.model_json_schema(ref_template="#/components/schemas/{model}")
            for dname, dschema in bschema.pop("$defs", {}).items():
                schemas[dname] = dschema
            schemas[ep.body.__name__] = bschema
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ep.body.__name__}"}}},
            }
        elif ep.raw_body:
            op["requestBody"] = {
                "required": True,
                "content": {ep.body_content_type: {"schema": {"type": "string", "format": "binary"}}},
            }
        paths.setdefault(openapi_path(ep.full_path), {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version, "description": "Sunlit public-resource trading platform API"},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
