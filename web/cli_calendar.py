"""``sunlit calendar …``: the working-day calendar (holidays and adjusted working days).

    sunlit calendar load FILE     load the days of FILE (``YYYY-MM-DD,holiday|workday[,note]``
                                  a line); a file with a bad line writes nothing
    sunlit calendar show          every listed day
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from trading.calendar.days import load_days, parse_days
from trading.config import Config
from trading.context import Actor
from trading.errors import DomainError, ValidationFailed
from web.cli import Env, run_with_db

__all__ = ["register"]


def cmd_load(args: argparse.Namespace, config: Config) -> int:
    raw = Path(args.file).read_bytes()
    try:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationFailed("the calendar file is not UTF-8", "日历文件不是 UTF-8 编码",
                                   code="invalid_calendar") from None  # fmt: skip
        days = parse_days(text)
    except DomainError as err:
        print(f"error [{err.code}]: {err.message_en}\n        {err.message_zh}", file=sys.stderr)
        return 2

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            n = await load_days(conn, env.audit, Actor.system("cli"), env.clock.now(), days, source=raw)
        print(f"loaded {n} days ({sum(not d.working for d in days)} holidays, "
              f"{sum(d.working for d in days)} working days) from {args.file}")  # fmt: skip
        return 0

    return run_with_db(config, go)


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    from trading.ledger import store as ledger_store

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            for r in await ledger_store.list_calendar_days(conn):
                print(f"{r['day']},{'workday' if r['working'] else 'holiday'},{r['note']}")
        return 0

    return run_with_db(config, go)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    cal = sub.add_parser("calendar", help="the working-day calendar: holidays and adjusted working days").add_subparsers(
        dest="calendar_command", required=True
    )
    p = cal.add_parser("load", help="load holidays and adjusted working days from a file (one day a line)")
    p.add_argument("file", metavar="FILE")
    p.set_defaults(fn=cmd_load)
    p = cal.add_parser("show", help="every listed day")
    p.set_defaults(fn=cmd_show)
