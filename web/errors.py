"""Every error, rendered once as RFC 9457 problem+json: ``type``, ``title``, ``status``,
``detail`` (in the client's language), ``code`` (stable), ``request_id``, and any details.

Domain errors carry their own code and bilingual message; the HTTP-level ones (unknown route,
wrong method, body too large, malformed JSON) are mapped here. An unexpected exception is
logged once, here, with the request id, and answered 500 without internals.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from aiohttp import web

from trading.errors import DomainError
from web import keys
from web.i18n import pick_language

log = logging.getLogger("sunlit.web")

PROBLEM_TYPE_BASE = "https://sunlit.example/problems/"
RESERVED = frozenset({"type", "title", "status", "detail", "code", "request_id"})
"""The members every problem has; a domain error's details never replace them (a detail
named ``status`` once turned a 409 ``wrong_draw_state`` into ``"status": "drawn"``)."""
_FIELD_PREFIX = re.compile(r"^([A-Za-z_][\w.\[\]]*): (.+)$", re.S)

_HTTP_PROBLEMS: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "The request is malformed.", "请求格式错误。"),
    401: ("unauthenticated", "Log in first: send 'Authorization: Bearer <token>'.", "请先登录：请携带 'Authorization: Bearer <令牌>'。"),
    403: ("forbidden", "You are not allowed to do this.", "您无权执行此操作。"),
    404: ("not_found", "There is no such resource; check the path.", "资源不存在，请检查路径。"),
    405: ("method_not_allowed", "This method is not allowed on this path; see the Allow header.", "该路径不支持此请求方法，请参见 Allow 头。"),
    413: ("body_too_large", "The request body is larger than the configured limit.", "请求体超过配置的大小上限。"),
    415: ("unsupported_media_type", "Send the body as application/json.", "请以 application/json 发送请求体。"),
    500: ("internal_error", "Something went wrong on our side; quote the request id when you report it.", "服务器内部错误；报告时请提供请求编号。"),
}


def problem_response(
    request: web.Request,
    *,
    status: int,
    code: str,
    detail_en: str,
    detail_zh: str,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    lang = pick_language(request.headers.get("Accept-Language"))
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + code,
        "title": code.replace("_", " "),
        "status": status,
        "detail": detail_zh if lang == "zh" else detail_en,
        "code": code,
        "request_id": request.get(keys.REQUEST_ID, ""),
    }
    for name, value in (extra or {}).items():
        if name in RESERVED:
            log.warning("problem detail %r would replace a reserved member; dropped", name,
                        extra={"code": code})  # fmt: skip
            continue
        body[name] = error_objects(value) if name == "errors" else value
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type="application/problem+json",
        charset="utf-8",
        headers={**(headers or {}), "Content-Language": "zh-CN" if lang == "zh" else "en"},
    )


def error_object(item: Any) -> dict[str, Any]:
    """One entry of ``errors`` as the object the Problem schema describes: ``field``,
    ``problem``, ``type`` (strings), plus whatever else the layer that found it said."""
    if isinstance(item, dict):
        out = dict(item)
        field = out.get("field")
        if field is None:
            field = next((f"{k}={out[k]}" for k in ("line", "row", "org_id", "path") if k in out), "")
        problem = out.get("problem")
        if problem is None:
            problem = out.get("message_en") or out.get("message") or out.get("detail") or out.get("code") or ""
        kind = out.get("type") or out.get("code") or "invalid"
        out.update(field=str(field), problem=str(problem), type=str(kind))
        return out
    text = str(item)
    m = _FIELD_PREFIX.match(text)
    if m:
        return {"field": m.group(1), "problem": m.group(2), "type": "invalid"}
    return {"field": "", "problem": text, "type": "invalid"}


def error_objects(value: Any) -> list[dict[str, Any]]:
    items = value if isinstance(value, list | tuple) else [value]
    return [error_object(i) for i in items]


def domain_problem(request: web.Request, err: DomainError) -> web.Response:
    extra = dict(err.details) if err.details else None
    return problem_response(
        request, status=err.status_hint, code=err.code, detail_en=err.message_en, detail_zh=err.message_zh, extra=extra
    )


def http_problem(request: web.Request, exc: web.HTTPException) -> web.Response:
    code, en, zh = _HTTP_PROBLEMS.get(exc.status, (f"http_{exc.status}", exc.reason, exc.reason))
    headers = {}
    if exc.status == 405 and "Allow" in exc.headers:
        headers["Allow"] = allow_header(exc.headers["Allow"].split(","))
    return problem_response(request, status=exc.status, code=code, detail_en=en, detail_zh=zh, headers=headers)


def allow_header(methods: Any) -> str:
    """The methods a path answers, OPTIONS (answered for every path) included."""
    names = {m.strip().upper() for m in methods if m and m.strip() and m.strip() != "*"}
    return ", ".join(sorted(names | {"OPTIONS"}))


def internal_problem(request: web.Request) -> web.Response:
    code, en, zh = _HTTP_PROBLEMS[500]
    return problem_response(request, status=500, code=code, detail_en=en, detail_zh=zh)
