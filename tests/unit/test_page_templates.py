"""The public templates render every kind of notice and every lot outcome in both languages
(no database: the real Jinja2 environments with the catalogs, fed the API's JSON shapes).
RULES A4: a lot without a sale (流拍) never shows a price or a buyer."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web

from web.pages import public, render

AT = "2026-01-05T01:00:00.000Z"


@pytest.fixture(scope="module")
def envs() -> dict[str, Any]:
    app = web.Application()
    render.setup_envs(app)
    return {lang: app[render.ENV_KEYS[lang]] for lang in ("zh", "en")}


def page(envs: dict[str, Any], lang: str, template: str, **ctx: Any) -> str:
    base = {"lang": lang, "html_lang": "zh-CN" if lang == "zh" else "en", "other_lang": "en", "user": None,
            "csrf": "x", "path": "/", "path_qs": "/", "public_menu": render.PUBLIC_MENU, "role_menu": [],
            "asset": lambda name: "/static/" + name}
    labels = {"outcome_labels": public.OUTCOME_LABELS, "phase_labels": public.PHASE_LABELS,
              "lot_kind_labels": public.LOT_KIND_LABELS, "entry_outcome_labels": public.ENTRY_OUTCOME_LABELS}
    return envs[lang].get_template(template).render(**base, **labels, **ctx)


def notice(kind: str, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": 7, "seq": 7, "kind": kind, "tender_id": 3, "category": "works", "region": "330500",
            "title_zh": f"{kind} 标题", "title_en": f"{kind} title", "published_at": AT,
            "url": "/api/v1/public/notices/7", "data": data}


NOTICES = {
    "tender": {"code": "T-1", "project_name": "环城北路", "category": "works", "deposit_fen": 8_000_000,
               "bid_deadline_at": AT, "opening_at": AT, "place": "开标室 1",
               "documents": [{"name": "招标文件.pdf", "sha256": "ab" * 32, "size_bytes": 21}]},
    "amendment": {"code": "T-1", "old_bid_deadline_at": AT, "bid_deadline_at": "2026-02-01T01:00:00.000Z",
                  "old_opening_at": AT, "opening_at": "2026-02-01T02:00:00.000Z", "reason": "moved"},
    "clarification": {"code": "T-1", "no": 1, "text": "答复", "questions": [{"text": "问题？"}], "documents": []},
    "opening_record": {"code": "T-1", "record": {"document": {"status": "opened", "entries": [
        {"leaf_index": 0, "bidder_name": "甲公司", "outcome": "opened", "amount_fen": 800_000_000, "duration_days": 500},
        {"leaf_index": 1, "bidder_name": "乙公司", "outcome": "failed", "failure": {"cause": "bad_signature", "code": "x"}},
    ]}, "signature": "s", "key_id": "srv-1"}},
    "candidates": {"publicity_starts_at": AT, "publicity_ends_at": AT,
                   "candidates": [{"rank": 1, "bidder_name": "甲公司", "price_fen": 800_000_000, "score": "91.50"}]},
    "award_result": {"tender_code": "T-1", "winner_name": "甲公司", "price_fen": 800_000_000, "rank": 1, "awarded_at": AT},
    "failed": {"code": "T-1", "cause": "too_few_bids", "bid_count": 2, "min_bidders": 3, "failed_at": AT},
}


@pytest.mark.parametrize("lang", ["zh", "en"])
@pytest.mark.parametrize("kind", sorted(NOTICES))
def test_every_notice_kind_renders(envs: dict[str, Any], lang: str, kind: str) -> None:
    html = page(envs, lang, "notice.html", n=notice(kind, NOTICES[kind]))
    assert (f"{kind} 标题" if lang == "zh" else f"{kind} title") in html
    if kind == "opening_record":
        assert "8,000,000.00" in html and "甲公司" in html
    if kind == "failed":
        assert ("流标" in html) if lang == "zh" else ("failed" in html)


def test_the_tender_page_puts_the_notices_together(envs: dict[str, Any]) -> None:
    full = [notice(k, v) for k, v in NOTICES.items() if k != "failed"]
    html = page(envs, "zh", "tender.html", tender_id="3", notices=full, announce=full[0], facts=NOTICES["tender"],
                documents=NOTICES["tender"]["documents"], changes=full[1:3], opening=full[3], candidates=full[4],
                award=full[5], failed=None)
    assert "已定标" in html and "招标文件.pdf" in html and "91.50" in html


def lot(outcome: str | None, price_fen: int | None = None) -> dict[str, Any]:
    result = None if outcome is None else {"outcome": outcome, "basis": "x", "winner_paddle": "123456" if outcome == "sold" else None,
                                           "price_fen": price_fen, "reserve_fen": None, "closed_at": AT}
    return {"id": 1, "session_id": None, "kind": "land", "title": "地块", "status": "closed", "starting_price_fen": 100,
            "increment_fen": 1, "deposit_fen": 20, "opens_at": AT, "result": result, "live": None}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_lot_without_a_sale_never_shows_a_price_or_a_buyer(envs: dict[str, Any], lang: str) -> None:
    """Even when its highest bid is on record (below the reserve: not a sale price)."""
    html = page(envs, lang, "auction_calendar.html", days=[], results=[lot("no_sale", price_fen=99_999_900)])
    assert ("流拍" in html) and "999,999.00" not in html and "123456" not in html
    r = {"lot": lot("no_sale", 99_999_900), "outcome": "no_sale", "basis": "below_reserve", "winner": None,
         "price_fen": 99_999_900, "premium_pct": "5.00", "reserve": None, "closed_at": AT, "bids": []}
    html = page(envs, lang, "auction_result.html", r=r)
    assert "流拍" in html and "999,999.00" not in html and "5.00%" not in html


def test_a_sold_lot_shows_its_price_and_paddle(envs: dict[str, Any]) -> None:
    html = page(envs, "zh", "auction_calendar.html", days=[], results=[lot("sold", price_fen=12_345)])
    assert "已成交" in html and "123.45" in html and "123456" in html and "流拍" not in html
