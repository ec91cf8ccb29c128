"""What statistics count: a closed trade's facts, the categories, and the figures."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta, timezone
from enum import StrEnum

__all__ = ["CHINA_TZ", "Category", "DepositFact", "Outcome", "TradeFact", "TradeKind"]

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""Trades are counted on China dates (UTC+8): a month is a China month."""


class Category(StrEnum):
    CONSTRUCTION = "construction"
    """工程建设: tenders for works."""
    PROCUREMENT = "procurement"
    """政府采购: tenders for goods and services."""
    LAND = "land"
    """土地使用权出让: land auctions."""
    PLATES = "plates"
    """号牌: licence-plate auctions."""
    OTHER = "other"


class TradeKind(StrEnum):
    SALE = "sale"
    """The centre sells (auctions): the premium rate applies."""
    PURCHASE = "purchase"
    """The centre's client buys (tenders): the savings rate applies."""


class Outcome(StrEnum):
    DONE = "done"
    """成交: a contract (tender) or a sale (lot)."""
    FAILED = "failed"
    """流标 (a tender with no award) or 流拍 (a lot with no sale)."""


@dataclass(frozen=True)
class TradeFact:
    """One closed trade, as statistics see it. ``trade_ref`` is unique ('tender:12',
    'lot:7'); recording it twice counts it once."""

    trade_ref: str
    category: Category
    kind: TradeKind
    outcome: Outcome
    closed_on: date
    """China date of the closing event (contract signed, lot settled, failure)."""
    region: str = ""
    amount_fen: int = 0
    """Contract or award amount (purchase), final price (sale); 0 when failed."""
    start_fen: int | None = None
    """Sale: the starting price (起拍价)."""
    budget_fen: int | None = None
    """Purchase: the budget (预算), when known."""

    def __post_init__(self) -> None:
        assert self.amount_fen >= 0
        assert self.outcome is Outcome.FAILED or self.amount_fen > 0 or self.kind is TradeKind.PURCHASE


@dataclass(frozen=True)
class DepositFact:
    """A deposit's state for the roll-up: held, refunded (on time or late), forfeited."""

    state: str
    amount_fen: int
    month: date | None
    """First day of the month of its refund or forfeiture (None while held)."""
    late: bool = False
