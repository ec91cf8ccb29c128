"""Every error, rendered once as RFC 9457 problem+json: ``type``, ``title``, ``status``,
``detail`` (in the client's language), ``code`` (stable), ``request_id``, and any details.

Domain errors carry their own code and bilingual message; the HTTP-level ones (unknown route,
wrong method, body too large, malformed JSON) are mapped here. An unexpected exception is
logged once, here, with the request id, and answered 500 without internals.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from trading.errors import DomainError
from web import keys
from web.i18n import pick_language

log = logging.getLogger("sunlit.web")

PROBLEM_TYPE_BASE = "https://sunlit.example/problems/"

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
    if extra:
        body.update(extra)
    return web.Response(
        status=status,
        body=json.dumps(body, ensure_ascii=False).encode(),
        content_type="application/problem+json",
        charset="utf-8",
        headers={**(headers or {}), "Content-Language": "zh-CN" if lang == "zh" else "en"},
    )


def domain_problem(request: web.Request, err: DomainError) -> web.Response:
    extra = dict(err.details) if err.details else None
    return problem_response(
        request, status=err.status_hint, code=err.code, detail_en=err.message_en, detail_zh=err.message_zh, extra=extra
    )


def http_problem(request: web.Request, exc: web.HTTPException) -> web.Response:
    code, en, zh = _HTTP_PROBLEMS.get(exc.status, (f"http_{exc.status}", exc.reason, exc.reason))
    headers = {}
    if exc.status == 405 and "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return problem_response(request, status=exc.status, code=code, detail_en=en, detail_zh=zh, headers=headers)


def internal_problem(request: web.Request) -> web.Response:
    code, en, zh = _HTTP_PROBLEMS[500]
    return problem_response(request, status=500, code=code, detail_en=en, detail_zh=zh)
