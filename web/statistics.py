"""Statistics over HTTP (RULES S5; definitions in docs/statistics.md): the public figures
at ``GET /api/v1/public/statistics``, each chart's numbers as CSV, and the timed roll-up
that keeps the aggregates current.

The roll-up (timed event ``statistics.rollup``: at start — catching up on whatever closed
while the server was down — then every ``SUNLIT_STATS_ROLLUP_S`` seconds, default 3600, like the award watch)
reads the trades that closed since it last ran from the domain tables (a tender's contract
or failure, a lot's settled result) and adds each, once, through
:func:`trading.statistics.store.record_trades` — the same path the fixture test and the
benchmark load through. Deposits (held, refunded on time or late, forfeited) are rebuilt
from the ledger on each roll-up. A request sums monthly aggregate rows; it never scans the
trades.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Annotated, Any, Literal

import asyncpg
from aiohttp import web
from pydantic import StringConstraints

from bidding.award.rules import total_savings_rate
from trading.calendar import EventContext, EventRegistry
from trading.calendar import events as calendar
from trading.statistics import rules, store
from trading.statistics.model import CHINA_TZ, Category, DepositFact, Outcome, TradeFact, TradeKind
from web import keys
from web.api import Api, Call, Query

__all__ = ["ROLLUP_EVENT", "api_statistics", "figures", "rollup", "setup"]

ROLLUP_EVENT = "statistics.rollup"
SAVINGS_CHART_MAX = 200
"""Tenders in the per-tender savings chart (the latest of the period)."""

api_statistics = Api()
route = api_statistics.route

Month = Annotated[str, StringConstraints(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$")]
CategoryName = Literal["construction", "procurement", "land", "plates", "other"]


class StatsQuery(Query):
    from_month: Month | None = None
    """First month (YYYY-MM); default: twelve months before ``to_month``."""
    to_month: Month | None = None
    """Last month (YYYY-MM), included; default: this month (China)."""
    category: CategoryName | None = None
    region: Annotated[str, StringConstraints(max_length=20, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")] | None = None


def _china_today(now: datetime) -> date:
    return now.astimezone(CHINA_TZ).date()


def period_of(q: StatsQuery, now: datetime) -> rules.Period:
    last = rules.parse_month(q.to_month, "to_month") if q.to_month else rules.month_of(_china_today(now))
    if q.from_month:
        first = rules.parse_month(q.from_month, "from_month")
    else:
        first = date(last.year - 1, last.month, 1) + timedelta(days=31)
        first = first.replace(day=1)
    return rules.period(first, last)


def _last_day(month: date) -> date:
    return (month.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)


# ---------------------------------------------------------------------------- figures


def _frac(value: Any) -> Fraction:
    return Fraction(str(value))


def _sums(row: dict[str, Any]) -> dict[str, Any]:
    """The figures of one aggregate sum (a period, a category, a month)."""
    sales = row["sales"]
    start, final = int(row["sale_start_fen"]), int(row["sale_final_fen"])
    budget, award = int(row["budget_fen"]), int(row["budgeted_award_fen"])
    savings = total_savings_rate([(budget, award)]) if budget > 0 else None
    return {
        "trades": row["trades"],
        "amount_fen": int(row["amount_fen"]),
        "amount_yuan": rules.yuan(int(row["amount_fen"])),
        "failed": row["failed"],
        "sales": {
            "lots": sales,
            "start_fen": start,
            "final_fen": final,
            "premium_rate_mean_percent": rules.percent(_frac(row["premium_sum"]) / sales) if sales else None,
            "premium_rate_weighted_percent": rules.percent(Fraction(final - start, start)) if start else None,
            "premium_rate_max_percent": rules.percent(_frac(row["premium_max"])) if row["premium_max"] is not None
            else None,
        },
        "purchases": {
            "tenders": row["purchases"],
            "with_budget": row["budgeted"],
            "budget_fen": budget,
            "award_fen": award,
            "savings_rate_percent": rules.percent(savings),
        },
    }


def _deposit_figures(raw: dict[str, Any]) -> dict[str, Any]:
    out = {s: {"deposits": 0, "amount_fen": 0} for s in ("held", "refunded_on_time", "refunded_late", "forfeited")}
    months: dict[str, dict[str, int]] = {}
    for r in raw["rows"]:
        out[r["state"]]["deposits"] += r["deposits"]
        out[r["state"]]["amount_fen"] += int(r["amount_fen"])
        if r["state"] != "held":
            m = months.setdefault(r["month"].strftime("%Y-%m"), {"on_time": 0, "late": 0, "forfeited": 0})
            key = {"refunded_on_time": "on_time", "refunded_late": "late", "forfeited": "forfeited"}[r["state"]]
            m[key] += r["deposits"]
    return {**out, "by_month": [{"month": k, **v} for k, v in sorted(months.items())], "rolled_at": raw["rolled_at"]}


def figures(p: rules.Period, category: str | None, region: str | None, raw: dict[str, Any],
            deposits: dict[str, Any], savings: list[dict[str, Any]]) -> dict[str, Any]:  # fmt: skip
    """The public statistics document (docs/statistics.md) from the aggregate reads."""
    return {
        "period": {"from_month": p.first_month.strftime("%Y-%m"), "to_month": p.last_month.strftime("%Y-%m"),
                   "months": p.months},
        "category": category,
        "region": region,
        **_sums(raw["total"]),
        "by_category": [{"category": r["category"], **_sums(r)} for r in raw["by_category"]],
        "by_region": [{"region": r["region"], **_sums(r)} for r in raw["by_region"]],
        "by_month": [{"month": r["month"].strftime("%Y-%m"), "trades": r["trades"], "amount_fen": int(r["amount_fen"]),
                      "failed": r["failed"]} for r in raw["by_month"]],
        "premium_histogram": [
            {"bucket": r["bucket"], "from_percent": r["bucket"] * 10,
             "to_percent": None if r["bucket"] == rules.BUCKET_MAX else r["bucket"] * 10 + 10, "lots": r["lots"]}
            for r in raw["histogram"]
        ],
        "savings_per_tender": [
            {"trade_ref": s["trade_ref"], "closed_on": s["closed_on"].isoformat(), "budget_fen": s["budget_fen"],
             "award_fen": s["amount_fen"],
             "savings_rate_percent": rules.percent(Fraction(s["budget_fen"] - s["amount_fen"], s["budget_fen"]))}
            for s in savings
        ],
        "deposits": _deposit_figures(deposits),
    }  # fmt: skip


async def read_figures(conn: asyncpg.Connection, p: rules.Period, category: str | None,
                       region: str | None) -> dict[str, Any]:  # fmt: skip
    raw = await store.totals(conn, p.first_month, p.last_month, category, region)
    deposits = await store.deposits(conn, p.first_month, p.last_month)
    savings = [] if category in ("land", "plates", "other") else await store.purchases(
        conn, p.first_month, _last_day(p.last_month), SAVINGS_CHART_MAX, category, region)
    return figures(p, category, region, raw, deposits, savings)


@route("GET", "/public/statistics", summary="Statistics (S5): trades and amounts by category, region and month; "
       "premium and savings rates; failed trades; deposits — from pre-aggregated tables", tag="public",
       roles=None, query=StatsQuery)  # fmt: skip
async def public_statistics(call: Call) -> dict[str, Any]:
    q: StatsQuery = call.query
    p = period_of(q, call.now)
    async with call.pool.acquire() as conn:
        return await read_figures(conn, p, q.category, q.region)


CHARTS = ("months", "premium", "savings", "deposits")


def chart_rows(doc: dict[str, Any], chart: str) -> tuple[list[str], list[list[Any]]]:
    """One chart's numbers as a table (the page shows it beside the chart; CSV exports it)."""
    if chart == "months":
        return ["month", "trades", "amount_yuan", "failed"], [
            [m["month"], m["trades"], rules.yuan(m["amount_fen"]), m["failed"]] for m in doc["by_month"]]
    if chart == "premium":
        return ["from_percent", "to_percent", "lots"], [
            [h["from_percent"], "" if h["to_percent"] is None else h["to_percent"], h["lots"]]
            for h in doc["premium_histogram"]]
    if chart == "savings":
        return ["trade_ref", "closed_on", "budget_yuan", "award_yuan", "savings_rate_percent"], [
            [s["trade_ref"], s["closed_on"], rules.yuan(s["budget_fen"]), rules.yuan(s["award_fen"]),
             s["savings_rate_percent"]] for s in doc["savings_per_tender"]]
    assert chart == "deposits"
    return ["month", "refunded_on_time", "refunded_late", "forfeited"], [
        [m["month"], m["on_time"], m["late"], m["forfeited"]] for m in doc["deposits"]["by_month"]]  # fmt: skip


def to_csv(header: list[str], rows: list[list[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


@route("GET", "/public/statistics/{chart}.csv", summary="One chart's numbers as CSV (months, premium, savings, "
       "deposits); the same query as the statistics", tag="public", roles=None, query=StatsQuery,
       path_params={"chart": Literal["months", "premium", "savings", "deposits"]},
       produces=("text/csv",))  # fmt: skip
async def chart_csv(call: Call) -> web.Response:
    q: StatsQuery = call.query
    p = period_of(q, call.now)
    async with call.pool.acquire() as conn:
        doc = await read_figures(conn, p, q.category, q.region)
    chart = call.path["chart"]
    body = to_csv(*chart_rows(doc, chart))
    name = f"sunlit-{chart}-{doc['period']['from_month']}-{doc['period']['to_month']}.csv"
    return web.Response(text=body, content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})  # fmt: skip


# ---------------------------------------------------------------------------- the roll-up


def _category_of_tender(cat: str) -> Category:
    return Category.CONSTRUCTION if cat == "works" else Category.PROCUREMENT


async def closed_trades(conn: asyncpg.Connection) -> list[TradeFact]:
    """Trades closed in the domain tables and not yet counted."""
    out: list[TradeFact] = []
    for r in await conn.fetch(
        """SELECT t.id, t.category, c.amount_fen, c.signed_at, ap.budget_fen, coalesce(o.region, '') AS region
           FROM award_contracts c JOIN tenders t ON t.id = c.tender_id
           JOIN award_procedures ap ON ap.tender_id = t.id
           LEFT JOIN tender_panel_requirements pr ON pr.tender_id = t.id
           LEFT JOIN organisations o ON o.id = pr.tenderee_org_id
           WHERE NOT EXISTS (SELECT 1 FROM stat_trades s WHERE s.trade_ref = 'tender:' || t.id)"""
    ):
        out.append(TradeFact(f"tender:{r['id']}", _category_of_tender(r["category"]), TradeKind.PURCHASE,
                             Outcome.DONE, _china_today(r["signed_at"]), r["region"][:20], r["amount_fen"],
                             budget_fen=r["budget_fen"]))  # fmt: skip
    for r in await conn.fetch(
        """SELECT t.id, t.category, coalesce(ap.failed_at, t.failed_at) AS failed_at
           FROM tenders t LEFT JOIN award_procedures ap ON ap.tender_id = t.id
           WHERE (t.state = 'failed' OR ap.state = 'failed') AND coalesce(ap.failed_at, t.failed_at) IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM stat_trades s WHERE s.trade_ref = 'tender:' || t.id)"""
    ):
        out.append(TradeFact(f"tender:{r['id']}", _category_of_tender(r["category"]), TradeKind.PURCHASE,
                             Outcome.FAILED, _china_today(r["failed_at"])))  # fmt: skip
    for r in await conn.fetch(
        """SELECT id, kind, outcome, price_fen, (config->>'starting_price_fen')::bigint AS start_fen,
                  coalesce(settled_at, closed_at) AS closed_at
           FROM auction_lots WHERE status = 'closed' AND outcome IN ('sold', 'no_sale') AND closed_at IS NOT NULL
             AND NOT EXISTS (SELECT 1 FROM stat_trades s WHERE s.trade_ref = 'lot:' || id)"""
    ):
        sold = r["outcome"] == "sold" and r["price_fen"]
        out.append(TradeFact(f"lot:{r['id']}", Category.LAND if r["kind"] == "land" else Category.PLATES,
                             TradeKind.SALE, Outcome.DONE if sold else Outcome.FAILED, _china_today(r["closed_at"]),
                             amount_fen=r["price_fen"] if sold else 0,
                             start_fen=r["start_fen"] if r["start_fen"] and r["start_fen"] > 0 else None))  # fmt: skip
    return out


async def deposit_facts(conn: asyncpg.Connection) -> list[DepositFact]:
    out = []
    for r in await conn.fetch(
        "SELECT state, amount_fen, refund_due_on, updated_at FROM ledger_deposits "
        "WHERE state IN ('confirmed', 'refund_pending', 'forfeit_pending', 'refunded', 'forfeited')"
    ):
        day = _china_today(r["updated_at"])
        if r["state"] in ("confirmed", "refund_pending", "forfeit_pending"):
            out.append(DepositFact("held", r["amount_fen"], None))
        elif r["state"] == "refunded":
            late = r["refund_due_on"] is not None and day > r["refund_due_on"]
            out.append(DepositFact("refunded", r["amount_fen"], day.replace(day=1), late))
        else:
            out.append(DepositFact("forfeited", r["amount_fen"], day.replace(day=1)))
    return out


async def rollup(conn: asyncpg.Connection, now: datetime) -> int:
    """Count every newly closed trade and rebuild the deposit figures, in one transaction."""
    async with conn.transaction():
        await conn.execute("SELECT rolled_at FROM stat_rollup FOR UPDATE")  # one roll-up at a time
        added = await store.record_trades(conn, await closed_trades(conn), now)
        await store.replace_deposits(conn, await deposit_facts(conn), now)
    return added


def _interval_s() -> int:
    return int(os.environ.get("SUNLIT_STATS_ROLLUP_S", "3600"))


async def _schedule_rollup(app: web.Application) -> AsyncIterator[None]:
    now = app[keys.CLOCK].now()
    async with app[keys.POOL].acquire() as conn:
        await calendar.schedule(conn, kind=ROLLUP_EVENT, ref="all", due_at=now, now=now)
    yield


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_statistics.endpoints)
    app.cleanup_ctx.append(_schedule_rollup)

    async def on_rollup(ctx: EventContext) -> None:
        await calendar.schedule(ctx.conn, kind=ROLLUP_EVENT, ref="all",
                                due_at=ctx.now + timedelta(seconds=_interval_s()), now=ctx.now)  # fmt: skip
        await rollup(ctx.conn, ctx.now)

    registry.register(ROLLUP_EVENT, on_rollup)
