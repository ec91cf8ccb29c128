"""Pages for people: server-rendered shells (Jinja2) in Chinese or English, whose scripts talk
to the same JSON API and websocket everyone else uses. Nothing here decides anything.

    /            what is on: tenders, auctions, the audit log's state; log in
    /audit       supervisors: verify the audit chain, read the latest entries
    /auctions    live auctions: watch a lot's ordered stream, bid with a paddle
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from trading.calendar import EventRegistry
from web.api import Api
from web.i18n import pick_language

HERE = Path(__file__).resolve().parent
TEMPLATES = web.AppKey("templates", jinja2.Environment)

TEXT: dict[str, dict[str, str]] = {
    "title": {"zh": "阳光公共资源交易平台", "en": "Sunlit public-resource trading"},
    "tagline": {"zh": "公开、公平、公正：密封投标、网上竞价、专家抽取、保证金管理",
                "en": "In the open and by the rules: sealed tenders, live auctions, expert drawing, deposits"},
    "login": {"zh": "登录", "en": "Log in"},
    "logout": {"zh": "退出", "en": "Log out"},
    "username": {"zh": "用户名", "en": "Username"},
    "password": {"zh": "密码", "en": "Password"},
    "tenders": {"zh": "招标项目", "en": "Tenders"},
    "auctions": {"zh": "网上竞价", "en": "Live auctions"},
    "audit": {"zh": "审计日志", "en": "Audit log"},
    "verify": {"zh": "验证审计链", "en": "Verify the audit chain"},
    "verified": {"zh": "审计链完整", "en": "Audit chain intact"},
    "broken": {"zh": "审计链被篡改", "en": "Audit chain BROKEN"},
    "entries": {"zh": "条记录", "en": "entries"},
    "checkpoints": {"zh": "个签名检查点", "en": "signed checkpoints"},
    "latest": {"zh": "最新记录", "en": "Latest entries"},
    "signed_in_as": {"zh": "当前用户", "en": "Signed in as"},
    "none": {"zh": "暂无", "en": "None yet"},
    "lot": {"zh": "标的", "en": "Lot"},
    "state": {"zh": "状态", "en": "State"},
    "price": {"zh": "当前价（元）", "en": "Current price (yuan)"},
    "leader": {"zh": "领先竞买号", "en": "Leading paddle"},
    "countdown": {"zh": "倒计时", "en": "Countdown"},
    "bid": {"zh": "出价", "en": "Bid"},
    "amount_yuan": {"zh": "出价金额（元）", "en": "Amount (yuan)"},
    "watch": {"zh": "观看", "en": "Watch"},
    "stream": {"zh": "竞价记录", "en": "Bid stream"},
    "health": {"zh": "系统状态", "en": "System health"},
    "lang_other": {"zh": "English", "en": "中文"},
    "need_login": {"zh": "请先登录", "en": "Log in first"},
    "deadline": {"zh": "投标截止", "en": "Bid deadline"},
    "opening": {"zh": "开标时间", "en": "Opening"},
}


def lang_of(request: web.Request) -> str:
    q = request.query.get("lang")
    if q in ("zh", "en"):
        return q
    return pick_language(request.headers.get("Accept-Language"), default="zh")


def render(request: web.Request, template: str, **ctx: Any) -> web.Response:
    lang = lang_of(request)
    t = {k: v[lang] for k, v in TEXT.items()}
    html = request.app[TEMPLATES].get_template(template).render(
        t=t, lang=lang, other_lang="en" if lang == "zh" else "zh", path=request.path, **ctx
    )
    return web.Response(text=html, content_type="text/html", headers={"Content-Language": "zh-CN" if lang == "zh" else "en"})


async def index(request: web.Request) -> web.Response:
    return render(request, "index.html")


async def audit_page(request: web.Request) -> web.Response:
    return render(request, "audit.html")


async def auctions_page(request: web.Request) -> web.Response:
    return render(request, "auctions.html")


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=jinja2.select_autoescape(["html"])
    )
    app.router.add_get("/", index)
    app.router.add_get("/audit", audit_page)
    app.router.add_get("/auctions", auctions_page)
    app.router.add_static("/static", HERE / "static", append_version=True)
