"""Every SQL statement of the statistics: the one aggregate path (:func:`record_trades`) and
the reads of aggregates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from . import rules
from .model import DepositFact, TradeFact

HELD_MONTH = date(1, 1, 1)


async def record_trades(conn: asyncpg.Connection, trades: Sequence[TradeFact], now: datetime) -> int:
    """Add each trade not recorded yet to stat_trades and to its month's aggregates, in the
    caller's transaction, set-based (one statement each). Returns how many were new."""
    if not trades:
        return 0
    cols: dict[str, list[Any]] = {k: [] for k in (
        "ref", "cat", "kind", "out", "on", "region", "amount", "start", "budget", "premium", "bucket")}  # fmt: skip
    for t in trades:
        p = rules.counted_premium(t)
        cols["ref"].append(t.trade_ref)
        cols["cat"].append(t.category.value)
        cols["kind"].append(t.kind.value)
        cols["out"].append(t.outcome.value)
        cols["on"].append(t.closed_on)
        cols["region"].append(t.region)
        cols["amount"].append(t.amount_fen)
        cols["start"].append(t.start_fen)
        cols["budget"].append(t.budget_fen)
        cols["premium"].append(None if p is None else Decimal(p.numerator) / Decimal(p.denominator))
        cols["bucket"].append(None if p is None else rules.bucket_of(p))
    new = await conn.fetchval(
        """
        WITH input AS (
            SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[], $6::text[],
                                 $7::bigint[], $8::bigint[], $9::bigint[], $10::numeric[], $11::int[])
                AS i(ref, cat, kind, out, closed_on, region, amount, start, budget, premium, bucket)
        ), new AS (
            INSERT INTO stat_trades (trade_ref, category, kind, outcome, closed_on, region, amount_fen,
                                     start_fen, budget_fen, recorded_at)
            SELECT ref, cat, kind, out, closed_on, region, amount, start, budget, $12 FROM input
            ON CONFLICT (trade_ref) DO NOTHING
            RETURNING trade_ref
        ), added AS (
            SELECT i.*, date_trunc('month', i.closed_on)::date AS month FROM input i JOIN new ON new.trade_ref = i.ref
        ), months AS (
            INSERT INTO stat_month AS m (month, category, region, trades, amount_fen, failed, sales,
                    sale_start_fen, sale_final_fen, premium_sum, premium_max, purchases, budgeted,
                    budget_fen, budgeted_award_fen)
            SELECT month, cat, region,
                   count(*) FILTER (WHERE out = 'done'),
                   coalesce(sum(amount) FILTER (WHERE out = 'done'), 0),
                   count(*) FILTER (WHERE out = 'failed'),
                   count(premium),
                   coalesce(sum(start) FILTER (WHERE premium IS NOT NULL), 0),
                   coalesce(sum(amount) FILTER (WHERE premium IS NOT NULL), 0),
                   coalesce(sum(premium), 0),
                   max(premium),
                   count(*) FILTER (WHERE kind = 'purchase' AND out = 'done'),
                   count(*) FILTER (WHERE kind = 'purchase' AND out = 'done' AND budget IS NOT NULL),
                   coalesce(sum(budget) FILTER (WHERE kind = 'purchase' AND out = 'done'), 0),
                   coalesce(sum(amount) FILTER (WHERE kind = 'purchase' AND out = 'done' AND budget IS NOT NULL), 0)
            FROM added GROUP BY month, cat, region
            ON CONFLICT (month, category, region) DO UPDATE SET
                trades = m.trades + excluded.trades,
                amount_fen = m.amount_fen + excluded.amount_fen,
                failed = m.failed + excluded.failed,
                sales = m.sales + excluded.sales,
                sale_start_fen = m.sale_start_fen + excluded.sale_start_fen,
                sale_final_fen = m.sale_final_fen + excluded.sale_final_fen,
                premium_sum = m.premium_sum + excluded.premium_sum,
                premium_max = greatest(m.premium_max, excluded.premium_max),
                purchases = m.purchases + excluded.purchases,
                budgeted = m.budgeted + excluded.budgeted,
                budget_fen = m.budget_fen + excluded.budget_fen,
                budgeted_award_fen = m.budgeted_award_fen + excluded.budgeted_award_fen
            RETURNING 1
        ), hist AS (
            INSERT INTO stat_premium_hist AS h (month, category, region, bucket, lots)
            SELECT month, cat, region, bucket, count(*) FROM added WHERE bucket IS NOT NULL
            GROUP BY month, cat, region, bucket
            ON CONFLICT (month, category, region, bucket) DO UPDATE SET lots = h.lots + excluded.lots
            RETURNING 1
        )
        SELECT (SELECT count(*) FROM new) + 0 * (SELECT count(*) FROM months) + 0 * (SELECT count(*) FROM hist)
        """,
        cols["ref"], cols["cat"], cols["kind"], cols["out"], cols["on"], cols["region"], cols["amount"],
        cols["start"], cols["budget"], cols["premium"], cols["bucket"], now,
    )
    return int(new)


async def replace_deposits(conn: asyncpg.Connection, facts: Sequence[DepositFact], now: datetime) -> None:
    """The deposits roll-up: rebuilt whole (deposits change state; trades only close)."""
    agg: dict[tuple[date, str], list[int]] = {}
    for d in facts:
        if d.state == "held":
            key = (HELD_MONTH, "held")
        elif d.state == "refunded":
            assert d.month is not None
            key = (d.month, "refunded_late" if d.late else "refunded_on_time")
        else:
            assert d.month is not None
            key = (d.month, "forfeited")
        row = agg.setdefault(key, [0, 0])
        row[0] += 1
        row[1] += d.amount_fen
    await conn.execute("DELETE FROM stat_deposits")
    if agg:
        await conn.executemany(
            "INSERT INTO stat_deposits (month, state, deposits, amount_fen) VALUES ($1, $2, $3, $4)",
            [(m, s, n, a) for (m, s), (n, a) in sorted(agg.items())],
        )
    await conn.execute("UPDATE stat_rollup SET rolled_at = $1", now)


_FILTER = "month BETWEEN $1 AND $2 AND ($3::text IS NULL OR category = $3) AND ($4::text IS NULL OR region = $4)"


async def totals(conn: asyncpg.Connection, first: date, last: date, category: str | None, region: str | None,
                 ) -> dict[str, Any]:  # fmt: skip
    """The period's sums (one row), by category, by region and by month, from the aggregates."""
    sums = """count(*) AS cells, coalesce(sum(trades), 0)::bigint AS trades, coalesce(sum(amount_fen), 0) AS amount_fen,
        coalesce(sum(failed), 0)::bigint AS failed, coalesce(sum(sales), 0)::bigint AS sales,
        coalesce(sum(sale_start_fen), 0) AS sale_start_fen, coalesce(sum(sale_final_fen), 0) AS sale_final_fen,
        coalesce(sum(premium_sum), 0) AS premium_sum, max(premium_max) AS premium_max,
        coalesce(sum(purchases), 0)::bigint AS purchases, coalesce(sum(budgeted), 0)::bigint AS budgeted,
        coalesce(sum(budget_fen), 0) AS budget_fen, coalesce(sum(budgeted_award_fen), 0) AS budgeted_award_fen"""
    args = (first, last, category, region)
    # one scan of the period's rows, four groupings (the total, by category, region, month)
    rows = await conn.fetch(
        f"""SELECT grouping(category, region, month) AS g, category, region, month, {sums}
            FROM stat_month WHERE {_FILTER}
            GROUP BY GROUPING SETS ((), (category), (region), (month))""",
        *args,
    )
    total = next(r for r in rows if r["g"] == 7)
    by_cat = sorted((r for r in rows if r["g"] == 3), key=lambda r: r["category"])
    by_region = sorted((r for r in rows if r["g"] == 5), key=lambda r: r["region"])
    by_month = sorted((r for r in rows if r["g"] == 6), key=lambda r: r["month"])
    hist = await conn.fetch(f"SELECT bucket, sum(lots)::bigint AS lots FROM stat_premium_hist WHERE {_FILTER} "
                            "GROUP BY bucket ORDER BY bucket", *args)  # fmt: skip
    assert total is not None
    return {"total": dict(total), "by_category": [dict(r) for r in by_cat], "by_region": [dict(r) for r in by_region],
            "by_month": [dict(r) for r in by_month], "histogram": [dict(r) for r in hist]}  # fmt: skip


async def deposits(conn: asyncpg.Connection, first: date, last: date) -> dict[str, Any]:
    rows = await conn.fetch(
        "SELECT month, state, deposits, amount_fen FROM stat_deposits WHERE month = $3 OR month BETWEEN $1 AND $2 "
        "ORDER BY month, state",
        first, last, HELD_MONTH,
    )
    rolled = await conn.fetchval("SELECT rolled_at FROM stat_rollup")
    return {"rows": [dict(r) for r in rows], "rolled_at": rolled}


async def purchases(conn: asyncpg.Connection, first: date, last_day: date, limit: int,
                    category: str | None = None, region: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Per-tender savings for the chart: the latest ``limit`` purchases with a budget in the
    period (an index range read backwards, stopped at ``limit``)."""
    rows = await conn.fetch(
        "SELECT trade_ref, category, closed_on, budget_fen, amount_fen FROM stat_trades "
        "WHERE kind = 'purchase' AND outcome = 'done' AND closed_on BETWEEN $1 AND $2 AND budget_fen IS NOT NULL "
        "AND ($4::text IS NULL OR category = $4) AND ($5::text IS NULL OR region = $5) "
        "ORDER BY closed_on DESC, trade_ref LIMIT $3",
        first, last_day, limit, category, region,
    )
    return [dict(r) for r in rows]
