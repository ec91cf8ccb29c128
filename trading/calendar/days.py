"""The working-day calendar (the one calendar): Monday to Friday, less the public holidays,
plus the adjusted working days (调休) the centre loads. The days live in the ledger's table
``ledger_calendar_days`` (the refunds' working days came first); every working-day deadline —
a refund's 5 working days (A7), a complaint's 3 and 30 (W12) — reads it through here.

A file to load (``sunlit calendar load FILE``) has one day a line, ``#`` comments and blank
lines aside::

    2026-10-01,holiday,国庆节 National Day
    2026-10-10,workday,调休 adjusted working day

Every line is checked before anything is written; a file with any bad line writes nothing
and names every bad line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

import asyncpg

from crypto.signing import sha256_hex
from trading.audit import AuditLog
from trading.context import Actor
from trading.errors import ValidationFailed

if TYPE_CHECKING:  # the ledger imports the calendar's events: no import of it at load time
    from trading.ledger.model import WorkCalendar

__all__ = ["CalendarDay", "DAYS_MAX", "load_days", "parse_days", "work_calendar"]

DAYS_MAX = 10_000
"""Most days one file may hold."""
NOTE_MAX = 200


@dataclass(frozen=True)
class CalendarDay:
    day: date
    working: bool
    note: str


_KINDS = {"holiday": False, "workday": True, "working": True, "off": False}


def parse_days(text: str) -> list[CalendarDay]:
    """Every day of the file, or ``ValidationFailed`` naming every bad line."""
    days: list[CalendarDay] = []
    errors: list[dict[str, str]] = []
    seen: dict[date, int] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split(",", 2)]
        problem = None
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            day, problem = None, f"{parts[0]!r} is not a date YYYY-MM-DD"
        kind = parts[1].lower() if len(parts) > 1 else ""
        note = parts[2] if len(parts) > 2 else ""
        if problem is None and kind not in _KINDS:
            problem = f"the second field must be holiday or workday, not {kind!r}"
        if problem is None and len(note) > NOTE_MAX:
            problem = f"the note is longer than {NOTE_MAX} characters"
        if problem is None and day is not None and day in seen:
            problem = f"{day} is listed already on line {seen[day]}"
        if problem is not None or day is None:
            errors.append({"field": f"line {n}", "problem": problem or "bad line", "type": "calendar_line"})
            continue
        seen[day] = n
        days.append(CalendarDay(day, _KINDS[kind], note))
    if len(days) > DAYS_MAX:
        errors.append({"field": "file", "problem": f"more than {DAYS_MAX} days", "type": "too_many"})
    if not days and not errors:
        errors.append({"field": "file", "problem": "no day in the file", "type": "empty"})
    if errors:
        raise ValidationFailed(
            "the calendar file is invalid: " + "; ".join(f"{e['field']}: {e['problem']}" for e in errors),
            "日历文件无效：" + "；".join(f"{e['field']}：{e['problem']}" for e in errors),
            code="invalid_calendar",
            details={"errors": errors},
        )
    return days


async def load_days(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    days: list[CalendarDay],
    *,
    source: bytes,
) -> int:
    """Load the days (a day already listed takes the new value) in one transaction, audited
    once with the file's hash. Returns how many days were loaded."""
    from trading.ledger import store as ledger_store  # the table is the ledger's

    async with conn.transaction():
        for d in days:
            await ledger_store.set_calendar_day(conn, d.day, d.working, d.note)
        await audit.append(
            conn, actor=actor, action="calendar.load", object_type="calendar", object_id="working-days", at=now,
            payload={"sha256": sha256_hex(source), "days": len(days)},
            detail={"holidays": sum(1 for d in days if not d.working), "workdays": sum(1 for d in days if d.working),
                    "from": min(d.day for d in days).isoformat(), "to": max(d.day for d in days).isoformat()},
        )
    return len(days)


async def work_calendar(conn: asyncpg.Connection) -> WorkCalendar:
    """The calendar every working-day rule reads."""
    from trading.ledger import store as ledger_store

    return await ledger_store.work_calendar(conn)
