"""``sunlit calendar load``: the centre loads its working-day calendar (holidays and adjusted
working days) from a file; the working-day deadlines read it.

Sources (RULES.md): W12 (IR 61: 3 and 30 *working* days), A7 (5 working days), S4 (the watch's
deadlines); issue 14 item 1 ("working days come from a calendar table the centre can load").
"""

from __future__ import annotations

from datetime import date

import asyncpg

from tests.e2e.test_cli_core import sunlit
from trading.ledger.rules.dates import add_working_days
from trading.ledger.store import work_calendar


async def test_a_loaded_holiday_moves_a_working_day_deadline_and_is_audited_once(db_dsn, tmp_path) -> None:
    """W12: with Friday 2027-10-01 and Monday 10-04 holidays, 3 working days after Thursday
    2027-09-30 end on Thursday 10-07 (on Tuesday 10-05 without them); the load is audited once."""
    f = tmp_path / "days.csv"
    f.write_text("# holidays\n2027-10-01,holiday,国庆节\n2027-10-04,holiday,国庆节\n2027-10-09,workday,调休\n",
                 encoding="utf-8")  # fmt: skip
    r = sunlit(["calendar", "load", str(f)], db_dsn, tmp_path / "data")
    assert r.returncode == 0, r.stderr
    assert "loaded 3 days (2 holidays, 1 working days)" in r.stdout
    conn = await asyncpg.connect(db_dsn)
    try:
        calendar = await work_calendar(conn)
        audited = await conn.fetch("SELECT action FROM audit_log WHERE action = 'calendar.load'")
    finally:
        await conn.close()
    assert add_working_days(date(2027, 9, 30), 3, calendar) == date(2027, 10, 7)
    assert len(audited) == 1
    shown = sunlit(["calendar", "show"], db_dsn, tmp_path / "data")
    assert shown.stdout.splitlines() == ["2027-10-01,holiday,国庆节", "2027-10-04,holiday,国庆节", "2027-10-09,workday,调休"]


async def test_a_file_with_a_bad_line_writes_nothing_and_names_every_bad_line(db_dsn, tmp_path) -> None:
    f = tmp_path / "days.csv"
    f.write_text("2027-10-01,holiday\n2027-13-01,holiday\n2027-10-02,vacation\n2027-10-01,workday\n",
                 encoding="utf-8")  # fmt: skip
    r = sunlit(["calendar", "load", str(f)], db_dsn, tmp_path / "data")
    assert r.returncode == 2 and "invalid_calendar" in r.stderr
    assert "line 2" in r.stderr and "line 3" in r.stderr and "line 4" in r.stderr and "line 1:" not in r.stderr
    conn = await asyncpg.connect(db_dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM ledger_calendar_days") == 0
    finally:
        await conn.close()
