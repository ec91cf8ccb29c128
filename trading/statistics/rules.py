"""Statistics rules (RULES S5; definitions in docs/statistics.md).

Theory of operation. Every closed trade becomes one :class:`~trading.statistics.model.TradeFact`
and is added, once, to the monthly aggregate row of its (month, category, region): counts
and sums in integers (fen), the sum of per-lot premium rates exact to 10⁻¹², the highest
premium rate, and a histogram of premium rates by 10-point bucket. A request sums the rows
of its period — at most 120 months × 5 categories × regions — never the trades.

- premium rate (溢价率) of a sale: (final − start) / start; per lot, the mean of the lots'
  rates; volume-weighted, Σ(final − start) / Σ start;
- savings rate (节支率) of purchases: Σ(budget − award) / Σ budget over the purchases with a
  budget (``bidding.award.rules.total_savings_rate``: weighted by budget, never a mean of
  rates);
- a period is whole months, at most ``PERIOD_MAX_MONTHS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from trading.errors import ValidationFailed

from .model import TradeFact, TradeKind

__all__ = [
    "BUCKET_MAX",
    "BUCKET_MIN",
    "PERIOD_MAX_MONTHS",
    "Period",
    "bucket_of",
    "month_of",
    "percent",
    "premium_rate",
]

PERIOD_MAX_MONTHS = 120
"""Ten years."""
YEAR_MIN, YEAR_MAX = 1900, 9000
"""Months outside these years are refused (as every date at the API's edge is)."""
BUCKET_MIN, BUCKET_MAX = -10, 30
"""Premium histogram buckets of 10 points: −100 % … ≥ 300 % (the last holds all above)."""


@dataclass(frozen=True)
class Period:
    first_month: date
    last_month: date

    @property
    def months(self) -> int:
        return (self.last_month.year - self.first_month.year) * 12 + self.last_month.month - self.first_month.month + 1


def month_of(day: date) -> date:
    return day.replace(day=1)


def parse_month(text: str, field: str) -> date:
    try:
        year, month = text.split("-")
        if len(year) != 4 or len(month) != 2 or not YEAR_MIN <= int(year) <= YEAR_MAX:
            raise ValueError
        return date(int(year), int(month), 1)
    except ValueError:
        raise ValidationFailed(
            f"{field}: write the month as YYYY-MM, years {YEAR_MIN}-{YEAR_MAX} (got {text!r})",
            f"{field}：月份格式须为 YYYY-MM，年份 {YEAR_MIN}-{YEAR_MAX}（收到 {text!r}）",
            details={"errors": [{"field": f"query.{field}", "problem": "must be YYYY-MM", "type": "month"}]},
        ) from None


def period(first: date, last: date) -> Period:
    """Whole months ``first``..``last`` inclusive; refused if reversed or over ten years."""
    p = Period(month_of(first), month_of(last))
    problems = []
    if p.last_month < p.first_month:
        problems.append(("to", "the period ends before it starts", "统计期间的结束早于开始"))
    elif p.months > PERIOD_MAX_MONTHS:
        problems.append(("to", f"the period is longer than 10 years ({p.months} months)",
                         f"统计期间超过 10 年（{p.months} 个月）"))  # fmt: skip
    if problems:
        raise ValidationFailed(
            "; ".join(f"{f}: {en}" for f, en, _ in problems), "；".join(f"{f}：{zh}" for f, _, zh in problems),
            code="invalid_period",
            details={"errors": [{"field": f"query.{f}", "problem": en, "type": "period"} for f, en, _ in problems]},
        )
    return p


def premium_rate(start_fen: int, final_fen: int) -> Fraction:
    """溢价率 = (final − start) / start, exact."""
    assert start_fen > 0
    return Fraction(final_fen - start_fen, start_fen)


def bucket_of(rate: Fraction) -> int:
    """The 10-point bucket of a premium rate: 0 = [0 %, 10 %), 4 = [40 %, 50 %), …"""
    b = (rate * 10).__floor__()
    return max(BUCKET_MIN, min(BUCKET_MAX, b))


def counted_premium(t: TradeFact) -> Fraction | None:
    if t.kind is TradeKind.SALE and t.outcome.value == "done" and t.start_fen:
        return premium_rate(t.start_fen, t.amount_fen)
    return None


def percent(rate: Fraction | Decimal | None, places: int = 2) -> str | None:
    """A rate as a percentage string rounded half-up (``Fraction(12, 25)`` → ``"48.00"``)."""
    if rate is None:
        return None
    exact = Decimal(rate.numerator * 100) / Decimal(rate.denominator) if isinstance(rate, Fraction) else rate * 100
    return str(exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
