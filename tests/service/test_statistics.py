"""Statistics from the pre-aggregated tables: the seed's figures reproduce from a fixture of
the same trades, loaded through the one aggregate path.

Source: RULES.md S5 (seed 000: Huzhou's centre, first half of 2007 — 6,073 trades worth
5.13 bn yuan; 555 plates sold at an average premium of 48 %, the highest 295.6 %; a savings
rate of 14.5 % on purchases).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from trading.errors import ValidationFailed
from trading.statistics import rules, store
from trading.statistics.model import Category, Outcome, TradeFact, TradeKind
from web.statistics import read_figures, rollup

NOW = datetime(2007, 7, 1, tzinfo=UTC)
TOTAL_TRADES = 6_073
TOTAL_FEN = 513_000_000_000  # 5.13 bn yuan
PLATE_START_FEN = 100_000  # 1,000 yuan


def seed_trades() -> list[TradeFact]:
    """6,073 trades in 2007H1 worth exactly 5.13 bn yuan: 555 plates (mean premium exactly
    48 %, highest 295.6 %), 1,000 purchases saving exactly 14.5 % of their budgets, 200 land
    lots and the rest other trades; plus failures and trades outside the period."""
    out: list[TradeFact] = []
    months = [date(2007, m, 10) for m in range(1, 7)]
    # plates: Σ(final − start) = 555 × 48 % × start; one lot at 295.6 %
    excess_total = 555 * 48 * PLATE_START_FEN // 100
    top = PLATE_START_FEN * 2956 // 1000
    each, rest = divmod(excess_total - top, 554)
    plates = [top] + [each + (rest if i == 0 else 0) for i in range(554)]
    for i, excess in enumerate(plates):
        out.append(TradeFact(f"lot:p{i}", Category.PLATES, TradeKind.SALE, Outcome.DONE, months[i % 6], "330500",
                             PLATE_START_FEN + excess, start_fen=PLATE_START_FEN))  # fmt: skip
    # purchases: budgets of 1 million yuan each, awards saving 14.5 % in total
    budget = 100_000_000
    for i in range(1000):
        award = budget - 14_500_000 + (100_000 if i % 2 else -100_000)
        cat = Category.CONSTRUCTION if i % 2 else Category.PROCUREMENT
        out.append(TradeFact(f"tender:{i}", cat, TradeKind.PURCHASE, Outcome.DONE, months[i % 6],
                             "330502" if i % 3 else "330500", award, budget_fen=budget))  # fmt: skip
    for i in range(200):
        out.append(TradeFact(f"lot:l{i}", Category.LAND, TradeKind.SALE, Outcome.DONE, months[i % 6], "330500",
                             50_000_000_000 // 200 * 2, start_fen=50_000_000_000 // 200))  # fmt: skip
    sofar = sum(t.amount_fen for t in out)
    others = TOTAL_TRADES - len(out)
    each, rest = divmod(TOTAL_FEN - sofar, others)
    for i in range(others):
        out.append(TradeFact(f"other:{i}", Category.OTHER, TradeKind.PURCHASE, Outcome.DONE, months[i % 6], "330500",
                             each + (rest if i == 0 else 0)))  # fmt: skip
    # 流标 and 流拍 (not trades), and trades outside the half-year
    out.append(TradeFact("tender:f1", Category.CONSTRUCTION, TradeKind.PURCHASE, Outcome.FAILED, date(2007, 3, 1)))
    out.append(TradeFact("lot:f2", Category.PLATES, TradeKind.SALE, Outcome.FAILED, date(2007, 4, 1)))
    out.append(TradeFact("lot:x1", Category.PLATES, TradeKind.SALE, Outcome.DONE, date(2006, 12, 31), "330500",
                         PLATE_START_FEN * 9, start_fen=PLATE_START_FEN))  # fmt: skip
    out.append(TradeFact("tender:x2", Category.CONSTRUCTION, TradeKind.PURCHASE, Outcome.DONE, date(2007, 7, 1),
                         "330500", 10**9))  # fmt: skip
    return out


H1 = rules.period(date(2007, 1, 1), date(2007, 6, 1))


async def test_the_seed_figures_reproduce_from_a_fixture_of_its_trades(pool) -> None:
    """S5 (seed 000): 6,073 trades, 5.13 bn yuan; 555 plates at 48 % mean premium, 295.6 %
    the highest; 14.5 % savings — through the aggregate path, twice loaded, counted once."""
    trades = seed_trades()
    async with pool.acquire() as conn:
        async with conn.transaction():
            assert await store.record_trades(conn, trades[:3000], NOW) == 3000
            assert await store.record_trades(conn, trades, NOW) == len(trades) - 3000  # the rest only
        doc = await read_figures(conn, H1, None, None)
        plates = await read_figures(conn, H1, "plates", None)
        cells = await conn.fetchval("SELECT count(*) FROM stat_month")
    assert doc["trades"] == 6_073 and doc["amount_fen"] == TOTAL_FEN and doc["amount_yuan"] == "5130000000.00"
    assert doc["failed"] == 2
    assert plates["trades"] == 555 and plates["sales"]["lots"] == 555
    assert plates["sales"]["premium_rate_mean_percent"] == "48.00"
    assert plates["sales"]["premium_rate_max_percent"] == "295.60"
    assert plates["failed"] == 1
    assert doc["purchases"]["savings_rate_percent"] == "14.50"
    assert {c["category"]: c["trades"] for c in doc["by_category"]} == {
        "construction": 500, "land": 200, "other": 6_073 - 1_755, "plates": 555, "procurement": 500}
    assert sum(h["lots"] for h in plates["premium_histogram"]) == 555
    assert [m["month"] for m in doc["by_month"]] == [f"2007-0{m}" for m in range(1, 7)]
    assert len(doc["savings_per_tender"]) == 200
    assert cells <= 6 * 5 * 2 + 2  # the aggregates, not the trades, are what a request reads


async def test_a_period_over_ten_years_or_reversed_is_refused() -> None:
    """Bad input (issue 14): statistics for more than 10 years, or a period ending before it starts."""
    assert rules.period(date(2000, 1, 1), date(2009, 12, 1)).months == 120
    with pytest.raises(ValidationFailed) as info:
        rules.period(date(2000, 1, 1), date(2010, 1, 1))
    assert info.value.code == "invalid_period"
    with pytest.raises(ValidationFailed):
        rules.period(date(2007, 6, 1), date(2007, 1, 1))


async def test_the_rollup_counts_each_closed_lot_once_and_the_deposits(pool) -> None:
    """The timed roll-up reads closed lots from the auction tables, adds them once."""
    async with pool.acquire() as conn:
        assert await rollup(conn, NOW) == 0
        for outcome, price in (("sold", 148_000), ("no_sale", None)):
            await conn.execute(
                "INSERT INTO auction_lots (kind, title, config, status, created_at, outcome, price_fen, closed_at, "
                "settled_at) VALUES ('land', 't', $1, 'closed', $2, $3, $4, $2, $2)",
                {"starting_price_fen": 100000}, datetime(2007, 2, 3, tzinfo=UTC), outcome, price,
            )
        assert await rollup(conn, NOW) == 2
        assert await rollup(conn, NOW) == 0
        doc = await read_figures(conn, H1, "land", None)
    assert doc["trades"] == 1 and doc["failed"] == 1
    assert doc["sales"]["premium_rate_mean_percent"] == "48.00"
    assert doc["deposits"]["held"]["deposits"] == 0
