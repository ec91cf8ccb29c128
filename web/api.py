"""The route table: every JSON API endpoint is declared once, with the roles it admits, whether
it writes, and the pydantic models of its body and query. From that one declaration come the
aiohttp route, the authentication and scope check, input validation, and the OpenAPI document.

An endpoint's handler receives a ``Call`` (the authenticated actor, the validated body and
query, ``now`` from the app clock) and returns a JSON-able value, or a ``web.StreamResponse``.

Roles: ``roles=None`` means public. A supervisor may call every endpoint that does not write
(they read everything); nobody outside ``roles`` may call one that writes.

The validation layer (issue 16; ``docs/api.md`` "Validation"), applied by ``_wrap`` to every
endpoint before its handler runs, so that a new endpoint cannot forget it:

- path parameters: a name ending in ``id`` is an id — plain ASCII decimal digits, at most the
  signed 64-bit maximum (``²``, ``٣``, ``５``, ``+1``, ``1_0`` refused, never read as numbers);
  a route declares any other type in ``path_params`` (string ids, ``line``, ``position``);
  other names are bounded single-line text;
- query: unknown parameters refused; an integer parameter is ASCII digits (optional ``-``)
  within its bounds; no control characters anywhere;
- body: JSON, an object, at most ``client_max_size`` bytes (with or without a length); no
  NUL or other control character in any string (tab, CR and LF allowed only where a field
  is free text), no integer outside int64, unknown fields refused at every level; a body
  sent to an operation that takes none is refused.

Annotated types for fields: ``Id``, ``Cursor``, ``Fen``, ``Int32``, ``Count32``, ``Text()``
(single line) and ``FreeText()`` (tab and newlines allowed). Every refusal is a
``ValidationFailed`` whose ``details['errors']`` are ``{field, problem, type}`` objects.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Annotated, Any, get_args

import asyncpg
from aiohttp import web
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic.json_schema import GenerateJsonSchema
from pydantic_core import core_schema

from trading.audit import AuditLog
from trading.clock import Clock, iso_ms
from trading.context import Actor, Role
from trading.errors import Forbidden, Unauthenticated, ValidationFailed
from trading.parties import service as parties
from trading.parties.model import User
from trading.parties.sessions import SessionCache
from web import keys
from web.pages.session import check_csrf, session_token

PREFIX = "/api/v1"

SESSIONS = web.AppKey("sessions", SessionCache)
"""The process's cache of resolved sessions (set up by ``web.core``; absent: no cache)."""

# --- the bounds of the database's column types, and of text --------------------------------

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""``bigint``: ids, sequence numbers, amounts in fen."""
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
"""``integer``: versions, counts, positions."""
PATH_TEXT_MAX = 200
"""Longest non-id path parameter (a project reference, a bank reference, a token)."""

SINGLE_LINE_PATTERN = r"^[^\x00-\x1f\x7f-\x9f]*$"
"""No control character at all (names, codes, titles, query and path values)."""
FREE_TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
"""Free text: tab, LF and CR allowed; NUL and every other control character refused."""
_CONTROL_FREE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_ANY = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_ASCII_ID = re.compile(r"[0-9]{1,19}")
_ASCII_INT = re.compile(r"-?[0-9]{1,19}")
_ISO_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
YEAR_MIN, YEAR_MAX = 1900, 9000
"""Dates and times outside these years are refused: nothing in the trade is dated there, and
the rules' arithmetic (a deadline plus 20 days, a time in UTC) stays inside ``datetime``."""
MAX_JSON_DEPTH = 32
"""Deepest nesting of a JSON body; no endpoint's schema is deeper than a few levels."""

Id = Annotated[int, Field(ge=1, le=INT64_MAX)]
"""A ``bigint`` row id (organisation, user, tender, lot…)."""
Cursor = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""A ``bigint`` paging cursor (``after_id``, ``after_seq``); 0 is the start."""
Fen = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""An amount in fen in a ``bigint`` column (the domain may bound it further)."""
Int32 = Annotated[int, Field(ge=INT32_MIN, le=INT32_MAX)]
"""An ``integer`` column."""
Count32 = Annotated[int, Field(ge=0, le=INT32_MAX)]
"""A non-negative ``integer`` column (a version, a position)."""


def Text(max_length: int, *, min_length: int = 0, strip: bool = False) -> Any:
    """Single-line text of at most ``max_length`` characters: no control character at all."""
    return Annotated[
        str,
        StringConstraints(
            min_length=min_length, max_length=max_length, strip_whitespace=strip, pattern=SINGLE_LINE_PATTERN
        ),
    ]


def FreeText(max_length: int, *, min_length: int = 0, strip: bool = False) -> Any:
    """Free text (a reason, a note, a description): tab and newlines allowed, NUL and other
    control characters refused."""
    return Annotated[
        str,
        StringConstraints(
            min_length=min_length, max_length=max_length, strip_whitespace=strip, pattern=FREE_TEXT_PATTERN
        ),
    ]


PathId = Annotated[int, Field(ge=0, le=INT64_MAX)]
"""The default type of a path parameter whose name ends in ``id``."""
PathText = Text(PATH_TEXT_MAX, min_length=1)
"""The default type of any other path parameter."""


class Body(BaseModel):
    """Base for request bodies: unknown fields refused (every nested model derives from this
    too), types strict (no "5" for 5, no 5.0)."""

    model_config = ConfigDict(extra="forbid", strict=True, str_max_length=10_000)


def _is_field_of(annotation: Any, kinds: tuple[type, ...]) -> bool:
    if annotation in kinds:
        return True
    return any(_is_field_of(a, kinds) for a in get_args(annotation) if a is not type(None))


class Query(BaseModel):
    """Base for query strings: unknown parameters refused; strings converted to declared types,
    an integer only from plain ASCII digits (pydantic alone would take ``+5``, ``5.0``, ``1_0``),
    a date or a time only as ISO 8601 (pydantic alone would read ``since=5`` as Unix time)."""

    model_config = ConfigDict(extra="forbid", str_max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _ascii_integers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        errors = []
        for name, raw in data.items():
            f = cls.model_fields.get(name)
            if f is None or not isinstance(raw, str):
                continue
            if _is_field_of(f.annotation, (int,)):
                if not _ASCII_INT.fullmatch(raw) or not INT64_MIN <= int(raw) <= INT64_MAX:
                    errors.append(
                        {"field": name, "problem": "must be an integer written in ASCII digits, within the signed 64-bit range",
                         "type": "int_parsing", "zh": "须为 ASCII 十进制数字表示的 64 位有符号整数"}
                    )
            elif _is_field_of(f.annotation, (datetime, date)) and not _ISO_DAY.match(raw):
                errors.append(
                    {"field": name, "problem": "must be an ISO 8601 date (YYYY-MM-DD) or date and time "
                     "(YYYY-MM-DDTHH:MM:SSZ), not a number", "type": "iso_8601",
                     "zh": "须为 ISO 8601 日期（YYYY-MM-DD）或日期时间（YYYY-MM-DDTHH:MM:SSZ），不能是数字"}
                )
        if errors:
            zh = "；".join(f"{e['field']}：{e.pop('zh')}" for e in errors)
            raise ValidationFailed(
                "the query is invalid: " + "; ".join(f"{e['field']}: {e['problem']}" for e in errors),
                "查询参数无效：" + zh,
                details={"errors": errors},
            )
        return data


@dataclass
class Call:
    request: web.Request
    actor: Actor
    user: User | None
    now: datetime
    body: Any = None
    query: Any = None
    path: dict[str, Any] = field(default_factory=dict)
    """The path parameters, validated by the endpoint's declared types."""

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
        """The integer path parameter ``name``: already validated by ``_wrap`` when the route
        declares it (every ``…id``); else checked here the same way (ASCII digits, int64)."""
        value = self.path.get(name)
        if isinstance(value, int):
            return value
        return parse_path_id(name, self.request.match_info[name])

    def require_org(self, org_id: int | None) -> None:
        """Scope check: a party acts for its own organisation only (staff, admin, supervisor pass)."""
        if self.actor.role in (Role.STAFF, Role.ADMIN, Role.SUPERVISOR, Role.SYSTEM):
            return
        if org_id is None or self.actor.org_id != org_id:
            raise Forbidden(
                "you may act only for your own organisation", "您只能代表本机构操作", code="out_of_scope"
            )


Handler = Callable[[Call], Awaitable[Any]]


def _path_problem(name: str, problem: str, type_: str) -> ValidationFailed:
    return ValidationFailed(
        f"path parameter {name} {problem}",
        f"路径参数 {name} 无效：{problem}",
        code="invalid_path_parameter",
        details={"errors": [{"field": f"path.{name}", "problem": problem, "type": type_}]},
    )


def parse_path_id(name: str, raw: str, *, max_value: int = INT64_MAX) -> int:
    """An id in a path: plain ASCII decimal digits (``str.isdigit`` would take ``²`` and
    ``٣``), at most ``max_value``."""
    if not _ASCII_ID.fullmatch(raw) or int(raw) > max_value:
        raise _path_problem(name, f"must be an integer of ASCII digits 0-9, at most {max_value}", "int_parsing")
    return int(raw)


def validate_path(ep: Endpoint, match_info: Mapping[str, str]) -> dict[str, Any]:
    """Every declared path parameter, by its type: ints from ASCII digits only, text without
    control characters and bounded."""
    out: dict[str, Any] = {}
    for name, (tp, adapter) in ep.path_adapters.items():
        raw = match_info.get(name)
        if raw is None:
            continue
        if _is_field_of(tp, (int,)):
            if not _ASCII_INT.fullmatch(raw) or not INT64_MIN <= int(raw) <= INT64_MAX:
                raise _path_problem(name, "must be an integer of ASCII digits 0-9 within the signed 64-bit range",
                                    "int_parsing")  # fmt: skip
            value: Any = int(raw)
        else:
            if _CONTROL_ANY.search(raw):
                raise _path_problem(name, "must not contain control characters", "control_character")
            value = raw
        try:
            out[name] = adapter.validate_python(value)
        except ValidationError as exc:
            first = exc.errors(include_url=False, include_input=False)[0]
            raise _path_problem(name, first["msg"], first["type"]) from None
    return out


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
    path_params: dict[str, Any] = field(default_factory=dict)
    """The type of each path parameter (``_path_types`` fills the defaults)."""
    produces: tuple[str, ...] = ("application/json",)
    """The media types of a success (a download: ``application/octet-stream``, ``text/csv``)."""

    @property
    def full_path(self) -> str:
        return PREFIX + self.path

    @cached_property
    def path_adapters(self) -> dict[str, tuple[Any, TypeAdapter[Any]]]:
        return {name: (tp, TypeAdapter(tp)) for name, tp in self.path_params.items()}


def _path_types(path: str, declared: Mapping[str, Any] | None) -> dict[str, Any]:
    """Each parameter of ``path``: as declared, else an id (``…id``: ASCII digits, int64),
    else bounded single-line text."""
    declared = dict(declared or {})
    names = _PARAM.findall(path)
    unknown = set(declared) - set(names)
    assert not unknown, f"path_params {sorted(unknown)} are not in {path}"
    return {n: declared.get(n, PathId if n.endswith("id") else PathText) for n in names}


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
    """The user behind ``Authorization: Bearer`` or, from a browser page, the session cookie;
    a cookie-authenticated write must carry the CSRF token (``web.pages.session``)."""
    token, via_cookie = session_token(request)
    if token is None:
        raise Unauthenticated(
            "log in first and send 'Authorization: Bearer <token>'",
            "请先登录，并携带 'Authorization: Bearer <令牌>'",
            code="unauthenticated",
        )
    user = await parties.resolve_cached(request.app.get(SESSIONS), request.app[keys.POOL], token, now)
    if via_cookie:
        check_csrf(request, token)
    return user


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
        path_params: Mapping[str, Any] | None = None,
        produces: tuple[str, ...] = ("application/json",),
    ) -> Callable[[Handler], Handler]:
        """Declare an endpoint. ``path_params`` types the path parameters that are not ids
        (a name ending in ``id`` is an int64 id unless declared here)."""

        def register(handler: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method=method.upper(), path=path, handler=handler, summary=summary, tag=tag,
                    roles=frozenset(roles) if roles is not None else None,
                    write=write if write is not None else method.upper() not in ("GET", "HEAD"),
                    body=body, query=query, raw_body=raw_body, body_content_type=body_content_type,
                    status=status, websocket=websocket, path_params=_path_types(path, path_params),
                    produces=produces,
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
        actor = actor_for(request, None)
        if ep.roles is not None:
            request[keys.ACTOR] = actor
            user = await authenticate(request, now)
            request[keys.ACTOR] = actor = actor_for(request, user)
            check_role(ep, user)
        call = Call(request=request, actor=actor, user=user, now=now)
        call.path = validate_path(ep, request.match_info)
        _check_query_text(request)
        if ep.query is not None:
            try:
                call.query = ep.query.model_validate(dict(request.query))
            except ValidationError as exc:
                raise _validation_failed(exc, "query") from None
            _refuse_times(call.query, "query")
        elif request.query and not ep.websocket:
            names = ", ".join(sorted(request.query))
            raise ValidationFailed(
                f"this endpoint takes no query parameters (got {names})",
                f"该接口不接受查询参数（收到 {names}）",
                code="unknown_query_parameter",
                details={"errors": [{"field": f"query.{n}", "problem": "unknown query parameter", "type": "extra_forbidden"}
                                    for n in sorted(request.query)]},
            )
        if ep.body is not None:
            call.body = await _read_body(request, ep.body)
        elif not ep.raw_body and not ep.websocket:
            await _refuse_body(request)
        result = await ep.handler(call)
        if isinstance(result, web.StreamResponse):
            return result
        return json_response(result, status=ep.status)

    handle.__name__ = getattr(ep.handler, "__name__", "handle")
    return handle


def _check_query_text(request: web.Request) -> None:
    errors = [
        {"field": f"query.{k}", "problem": "must not contain control characters", "type": "control_character"}
        for k, v in request.query.items()
        if _CONTROL_ANY.search(k) or _CONTROL_ANY.search(v)
    ]
    if errors:
        raise ValidationFailed(
            "the query is invalid: a parameter contains control characters",
            "查询参数无效：参数含有控制字符",
            details={"errors": errors},
        )


async def _refuse_body(request: web.Request) -> None:
    """An operation that takes no body refuses one (a client that sends it expects it read)."""
    if not request.body_exists:
        return
    if not await request.content.read(1):  # a chunked body of no bytes is no body
        return
    raise ValidationFailed(
        "this operation takes no request body; send none",
        "该操作不接受请求体，请勿发送",
        code="body_not_allowed",
        status_hint=400,
        details={"errors": [{"field": "body", "problem": "no body is allowed", "type": "body_not_allowed"}]},
    )


_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\xc2[\x80-\x9f]")


def refuse_control_bytes(data: bytes, what: str) -> None:
    """A streamed text upload (CSV) holds no NUL or other control character (tab, CR and LF
    are the format's own): PostgreSQL cannot store NUL in text, and nothing else belongs there."""
    m = _CONTROL_BYTES.search(data)
    if m is None:
        return
    line = data.count(b"\n", 0, m.start()) + 1
    raise ValidationFailed(
        f"the {what} contains a control character (byte {m.group()[-1]:#04x}) on line {line}",
        f"{what} 第 {line} 行含有控制字符（字节 {m.group()[-1]:#04x}）",
        details={"errors": [{"field": f"line {line}", "problem": "control character", "type": "control_character"}]},
    )


class _OutOfRange(int):
    """An integer literal of more than 19 digits (``json.loads`` would build it in full)."""


def _parse_int(text: str) -> int:
    return int(text) if len(text) <= 20 else _OutOfRange(0)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_problems(doc: Any) -> list[dict[str, str]]:
    """Every string with a control character (tab, LF, CR aside) or a lone surrogate, and
    every integer outside int64, anywhere in the document; and nesting past the bound."""
    problems: list[dict[str, str]] = []
    stack: list[tuple[Any, str, int]] = [(doc, "", 0)]
    while stack and len(problems) < 50:
        value, where, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            problems.append({"field": where or "body", "problem": f"nested deeper than {MAX_JSON_DEPTH} levels",
                             "type": "too_deep"})  # fmt: skip
            continue
        if isinstance(value, dict):
            for k, v in value.items():
                path = f"{where}.{k}" if where else str(k)
                if _CONTROL_FREE.search(k):
                    problems.append({"field": path, "problem": "a field name contains control characters",
                                     "type": "control_character"})  # fmt: skip
                    continue
                stack.append((v, path, depth + 1))
        elif isinstance(value, list):
            stack.extend((v, f"{where}.{i}" if where else str(i), depth + 1) for i, v in enumerate(value))
        elif isinstance(value, str):
            if _CONTROL_FREE.search(value):
                problems.append({"field": where or "body", "problem": "must not contain NUL, control characters "
                                 "(tab and newlines aside) or lone surrogates", "type": "control_character"})  # fmt: skip
        elif isinstance(value, int) and not isinstance(value, bool):
            if isinstance(value, _OutOfRange) or not INT64_MIN <= value <= INT64_MAX:
                problems.append({"field": where or "body", "problem": "integer outside the signed 64-bit range",
                                 "type": "int64_range"})  # fmt: skip
    problems.sort(key=lambda p: p["field"])
    return problems


def time_problems(value: Any, where: str = "") -> list[dict[str, str]]:
    """Every date or time in a validated model (or list, dict) outside ``YEAR_MIN``..``YEAR_MAX``
    — in UTC for a time with an offset (9999-12-31T23:00-05:00 is past the year 9999)."""
    problems: list[dict[str, str]] = []
    if isinstance(value, BaseModel):
        for name in type(value).model_fields:
            problems += time_problems(getattr(value, name), f"{where}.{name}" if where else name)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            problems += time_problems(v, f"{where}.{i}" if where else str(i))
    elif isinstance(value, dict):
        for k, v in value.items():
            problems += time_problems(v, f"{where}.{k}" if where else str(k))
    elif isinstance(value, date):
        try:
            year = value.astimezone(UTC).year if isinstance(value, datetime) and value.tzinfo else value.year
        except OverflowError:
            year = 0
        if not YEAR_MIN <= year <= YEAR_MAX:
            problems.append({"field": where, "problem": f"must be within the years {YEAR_MIN} to {YEAR_MAX} (UTC)",
                             "type": "date_range"})  # fmt: skip
    return problems


def _refuse_times(model: BaseModel, where: str) -> None:
    problems = time_problems(model)
    if problems:
        raise ValidationFailed(
            f"the {where} is invalid: " + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
            f"{'请求体' if where == 'body' else '查询参数'}无效：" + "；".join(f"{p['field']}：须在 {YEAR_MIN} 至 {YEAR_MAX} 年之间" for p in problems),
            details={"errors": problems},
        )


def _malformed(reason: str) -> ValidationFailed:
    return ValidationFailed(
        f"the body is not valid JSON ({reason})",
        f"请求体不是合法的 JSON（{reason}）",
        code="malformed_json",
        status_hint=400,
        details={"errors": [{"field": "body", "problem": reason, "type": "json_invalid"}]},
    )


async def _read_body(request: web.Request, model: type[BaseModel]) -> BaseModel:
    ctype = request.content_type
    if ctype not in ("application/json", "application/problem+json") and not ctype.endswith("+json"):
        raise ValidationFailed(
            f"send the body as application/json (got {ctype or 'no Content-Type'})",
            f"请以 application/json 发送请求体（收到 {ctype or '无 Content-Type'}）",
            code="unsupported_media_type",
            status_hint=415,
        )
    # Bounded by the app's client_max_size → 413, whether the body has a Content-Length or
    # comes chunked (aiohttp counts while it reads).
    raw = await request.read()
    try:
        doc = json.loads(raw, parse_int=_parse_int, parse_constant=_refuse_constant)
    except RecursionError:
        raise _malformed(f"nested deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise _malformed(str(exc)) from None
    if not isinstance(doc, dict):
        raise ValidationFailed(
            f"the body must be a JSON object, not {_json_kind(doc)}",
            f"请求体须为 JSON 对象，而不是 {_json_kind(doc)}",
            code="malformed_json",
            status_hint=400,
            details={"errors": [{"field": "body", "problem": "must be a JSON object", "type": "model_type"}]},
        )
    problems = json_problems(doc)
    if problems:
        raise ValidationFailed(
            "the body is invalid: " + "; ".join(f"{p['field']}: {p['problem']}" for p in problems),
            "请求体无效：" + "；".join(f"{p['field']}：{p['problem']}" for p in problems),
            details={"errors": problems},
        )
    try:
        # In JSON mode: strict types, yet enums and datetimes given as JSON strings.
        body = model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise _malformed(first["msg"]) from None
        raise _validation_failed(exc, "body") from None
    _refuse_times(body, "body")
    return body


def _json_kind(doc: Any) -> str:
    if doc is None:
        return "null"
    if isinstance(doc, bool):
        return "a boolean"
    if isinstance(doc, list):
        return "an array"
    if isinstance(doc, str):
        return "a string"
    return "a number"


# ---------------------------------------------------------------------------------------------
# OpenAPI

_PARAM = re.compile(r"{([a-zA-Z_][a-zA-Z0-9_]*)(?::[^}]*)?}")

ERROR_OBJECT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "One problem found in the request (validation lists every problem, not the first)",
    "required": ["field", "problem", "type"],
    "properties": {
        "field": {"type": "string", "description": "where: body.<field>.<index>…, query.<name>, path.<name>, or empty"},
        "problem": {"type": "string", "description": "what is wrong, in English"},
        "type": {"type": "string", "description": "stable machine-readable kind of problem"},
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details. Members other than these carry the specifics of "
    "the problem (an id, a current state); they never replace these.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "the HTTP status"},
        "detail": {"type": "string", "description": "zh-CN or en, by Accept-Language"},
        "code": {"type": "string", "description": "stable machine-readable code"},
        "request_id": {"type": "string"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorObject"}},
    },
}

_ERROR_DESCRIPTIONS: dict[str, str] = {
    "400": "malformed request: the body is not JSON, not a JSON object, or sent to an operation that takes none",
    "401": "not logged in, or the session has ended",
    "403": "the role or organisation may not do this",
    "404": "no such resource (or none this caller may see)",
    "409": "the resource's state does not allow this now",
    "413": "the request body is larger than the limit",
    "415": "the body's Content-Type is not one this operation takes",
    "422": "invalid input: a path parameter, an unknown or invalid query parameter, a body field; "
    "or a rule refused the request — see code and errors",
}


class _OpenApiSchema(GenerateJsonSchema):
    """States in the document what the edge enforces for every field: integers within int64
    (unless the field is bounded tighter), text without NUL or control characters."""

    def int_schema(self, schema: core_schema.IntSchema) -> dict[str, Any]:
        js = super().int_schema(schema)
        js.setdefault("format", "int64")
        if "minimum" not in js and "exclusiveMinimum" not in js:
            js["minimum"] = INT64_MIN
        if "maximum" not in js and "exclusiveMaximum" not in js:
            js["maximum"] = INT64_MAX
        return js

    def str_schema(self, schema: core_schema.StringSchema) -> dict[str, Any]:
        js = super().str_schema(schema)
        if "pattern" not in js and "format" not in js:
            js["pattern"] = FREE_TEXT_PATTERN
        return js


def _model_schema(model: type[BaseModel], *, mode: str = "validation") -> dict[str, Any]:
    return model.model_json_schema(
        ref_template="#/components/schemas/{model}", schema_generator=_OpenApiSchema, mode=mode  # type: ignore[arg-type]
    )


def _path_param_schema(tp: Any) -> dict[str, Any]:
    if tp is PathId:
        return {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX,
                "description": "ASCII decimal digits 0-9 only"}  # fmt: skip
    return TypeAdapter(tp).json_schema(schema_generator=_OpenApiSchema)


def _problem_responses(ep: Endpoint) -> dict[str, Any]:
    codes = {"404", "422"}
    if ep.websocket:
        codes |= {"400"}  # a plain GET, without the websocket handshake
    if ep.body is not None or ep.raw_body or ep.method in ("POST", "PUT", "PATCH", "DELETE"):
        codes |= {"400"}
    if ep.body is not None or ep.raw_body:
        codes |= {"413", "415"}
    if ep.roles is not None:
        codes |= {"401", "403"}
    if ep.write or ep.method != "GET":
        codes |= {"409"}
    out = {c: {"$ref": f"#/components/responses/Problem{c}"} for c in sorted(codes)}
    out["default"] = {"$ref": "#/components/responses/Problem"}
    return out


def _problem_components() -> dict[str, Any]:
    content = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    out = {f"Problem{c}": {"description": d, "content": content} for c, d in _ERROR_DESCRIPTIONS.items()}
    out["Problem"] = {"description": "any other problem", "content": content}
    return out


def openapi_path(path: str) -> str:
    return _PARAM.sub(lambda m: "{" + m.group(1) + "}", path)


def build_openapi(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA, "ErrorObject": ERROR_OBJECT_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "summary": ep.summary,
            "tags": [ep.tag],
            "operationId": f"{ep.method.lower()}_{re.sub(r'[^a-zA-Z0-9]+', '_', ep.path).strip('_')}",
            "responses": {
                str(ep.status): {"description": "success", "content": {t: {"schema": {}} for t in ep.produces}},
                **_problem_responses(ep),
            },
        }
        if ep.websocket:
            op["responses"] = {"101": {"description": "switching protocols to a websocket"}, **_problem_responses(ep)}
        if ep.roles is not None:
            op["security"] = [{"bearer": []}, {"cookieAuth": []}]
            if ep.write:  # the cookie alone does not authorise a write: the CSRF header too
                op["x-csrf-required"] = True
            roles = sorted(ep.roles | ({Role.SUPERVISOR} if not ep.write else set()))
            op["x-roles"] = [r.value for r in roles]
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": _path_param_schema(tp)}
            for name, tp in ep.path_params.items()
        ]
        if ep.query is not None:
            qschema = _model_schema(ep.query)
            required = set(qschema.get("required", []))
            for name, prop in qschema.get("properties", {}).items():
                parameters.append({"name": name, "in": "query", "required": name in required, "schema": prop})
            for dname, dschema in qschema.get("$defs", {}).items():
                schemas[dname] = dschema
        if parameters:
            op["parameters"] = parameters
        if ep.body is not None:
            bschema = _model_schema(ep.body)
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
            "responses": _problem_components(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}, "cookieAuth": COOKIE_AUTH},
            "parameters": {"CsrfToken": CSRF_PARAMETER},
        },
    }


COOKIE_AUTH: dict[str, Any] = {
    "type": "apiKey",
    "in": "cookie",
    "name": "sunlit_session",
    "description": (
        "The pages' session: the token POST /api/v1/sessions opens, held by the browser in the HttpOnly "
        "cookie `sunlit_session` (set by the login page). A write (any method but GET, HEAD, OPTIONS; "
        "operations marked `x-csrf-required`) authenticated by this cookie must also send the header "
        "`X-CSRF-Token` with the value of the readable cookie `sunlit_csrf` (components.parameters.CsrfToken), "
        "else 403 `csrf_failed`. `Authorization: Bearer` needs no CSRF token and wins when both are sent."
    ),
}
CSRF_PARAMETER: dict[str, Any] = {
    "name": "X-CSRF-Token",
    "in": "header",
    "required": False,
    "description": (
        "Required on a write authenticated by the `sunlit_session` cookie (cookieAuth): the value of the "
        "`sunlit_csrf` cookie, an HMAC of the session token. Not needed with `Authorization: Bearer`."
    ),
    "schema": {"type": "string", "maxLength": 128},
}
