"""The one clock. Everything that needs "now" gets it from a ``Clock`` passed in; rules take
``now`` as a parameter. All times are timezone-aware UTC, to the millisecond at the edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """Wall-clock UTC time."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 1, 5, 1, 0, tzinfo=UTC)
        assert self._now.tzinfo is not None, "FakeClock needs an aware datetime"

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        assert when.tzinfo is not None
        self._now = when

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now = self._now + (delta or timedelta(**kwargs))
        return self._now


_SUB_MS = tuple(timedelta(microseconds=us) for us in range(1000))
"""Each possible sub-millisecond part, built once (a lookup is cheaper than a multiplication)."""


def utc_ms(when: datetime) -> datetime:
    """Truncate to the millisecond, the precision receipts and records carry."""
    if when.tzinfo is UTC:  # what the clocks give: a subtraction, or nothing (a third of replace)
        extra = when.microsecond % 1000
        return when - _SUB_MS[extra] if extra else when
    return when.astimezone(UTC).replace(microsecond=(when.microsecond // 1000) * 1000)


def iso_ms(when: datetime) -> str:
    """Render as ISO 8601 UTC with milliseconds and a ``Z``: ``2026-01-05T01:00:00.000Z``."""
    return utc_ms(when).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
