"""China dates, working days and simple interest: the arithmetic behind refund deadlines
and the interest a refund carries."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from ..errors import LedgerReason
from ..model import AMOUNT_MAX_FEN, CHINA_TZ, WorkCalendar

__all__ = [
    "add_working_days",
    "china_date",
    "days_held",
    "interest_fen",
    "is_working_day",
]


def china_date(when: datetime) -> date:
    """The calendar date in China (UTC+8) of an aware datetime."""
    if when.tzinfo is None:
        raise LedgerReason.INVALID_INPUT.reject("a datetime must carry its timezone")
    return when.astimezone(CHINA_TZ).date()


def is_working_day(day: date, calendar: WorkCalendar) -> bool:
    if day in calendar.workdays:
        return True
    return day.weekday() < 5 and day not in calendar.holidays


_WORKING_DAY_SEARCH_MAX = 3_660


def add_working_days(start: date, days: int, calendar: WorkCalendar) -> date:
    """The ``days``-th working day after ``start`` (``start`` itself is not counted):
    "within 5 working days" of a Friday result means by the next Friday, holidays aside."""
    if isinstance(days, bool) or not isinstance(days, int) or days < 0:
        raise LedgerReason.INVALID_INPUT.reject(f"days={days!r}", field="days")
    day, left, steps = start, days, 0
    while left:
        day += timedelta(days=1)
        steps += 1
        if steps > _WORKING_DAY_SEARCH_MAX:
            raise LedgerReason.INVALID_INPUT.reject("the calendar has no working days")
        if is_working_day(day, calendar):
            left -= 1
    return day


def days_held(received_at: datetime, refunded_at: datetime) -> int:
    """Days money was held: from the China date of value, counted, to the China date of the
    refund, not counted (算头不算尾). Never negative."""
    return max(0, (china_date(refunded_at) - china_date(received_at)).days)


_DAYS_PER_YEAR = 365
_BP_PER_UNIT = 10_000
INTEREST_RATE_MAX_BP = 10_000


def interest_fen(principal_fen: int, rate_bp: int, days: int) -> int:
    """Simple interest on ``principal_fen`` for ``days`` at ``rate_bp`` a year (basis points),
    on a 365-day year, rounded half-up to the fen. Integer arithmetic only::

        principal × rate_bp × days / (10 000 × 365), half-up
    """
    for name, value in (("principal_fen", principal_fen), ("rate_bp", rate_bp), ("days", days)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise LedgerReason.INVALID_INPUT.reject(f"{name}={value!r}", field=name)
    if principal_fen > AMOUNT_MAX_FEN or rate_bp > INTEREST_RATE_MAX_BP:
        raise LedgerReason.INVALID_INPUT.reject("principal or rate out of range")
    numerator = principal_fen * rate_bp * days
    denominator = _BP_PER_UNIT * _DAYS_PER_YEAR
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (1 if 2 * remainder >= denominator else 0)
