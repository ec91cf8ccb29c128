"""``sunlit stats``: the public statistics (RULES S5; docs/statistics.md), from the server.

    sunlit stats [--from YYYY-MM] [--to YYYY-MM] [--category C] [--region R] [--json]

Prints the same figures as ``GET /api/v1/public/statistics`` (``--json``: that document).
A refusal (a period over ten years, an unknown category) exits 2 with its code.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp

from trading.config import Config
from web.cli_bidding import CliError, _print, _problem

__all__ = ["fetch_public", "register"]

CATEGORIES = ("construction", "procurement", "land", "plates", "other")


def fetch_public(args: argparse.Namespace, path: str, params: dict[str, str]) -> tuple[int, Any]:
    """GET a public endpoint; (0, document) or (2, None) after printing the one error line."""
    from web.cli import server_url, unreachable_line

    args.url = server_url(args.url)

    async def main() -> Any:
        async with aiohttp.ClientSession() as session, session.get(args.url + path, params=params) as r:
            text = await r.text()
            if r.status != 200:
                raise _problem(r.status, text)
            return await r.json()

    try:
        return 0, asyncio.run(main())
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
    except aiohttp.ClientConnectionError as err:
        print(unreachable_line(args.url, err), file=sys.stderr)
    except aiohttp.ClientError as err:
        print(f"error: {args.url}: {err}", file=sys.stderr)
    return 2, None


def _line(label: str, value: Any) -> None:
    print(f"  {label:<34} {'—' if value is None else value}")


def cmd_stats(args: argparse.Namespace, config: Config) -> int:
    params = {k: v for k, v in {"from_month": args.from_month, "to_month": args.to_month,
                                "category": args.category, "region": args.region}.items() if v}  # fmt: skip
    code, doc = fetch_public(args, "/api/v1/public/statistics", params)
    if code:
        return code
    if args.json:
        _print(doc)
        return 0
    p = doc["period"]
    print(f"Statistics 统计 {p['from_month']} … {p['to_month']}"
          + (f"  category {doc['category']}" if doc["category"] else "")
          + (f"  region {doc['region']}" if doc["region"] else ""))  # fmt: skip
    _line("trades 成交宗数", doc["trades"])
    _line("amount 成交金额 (yuan 元)", doc["amount_yuan"])
    _line("failed 流标/流拍", doc["failed"])
    s, b = doc["sales"], doc["purchases"]
    _line("sales 出让/拍卖 (lots)", s["lots"])
    _line("premium rate, mean per lot 溢价率 %", s["premium_rate_mean_percent"])
    _line("premium rate, volume-weighted %", s["premium_rate_weighted_percent"])
    _line("premium rate, highest 最高溢价率 %", s["premium_rate_max_percent"])
    _line("purchases 采购/招标 (tenders)", b["tenders"])
    _line("savings rate 节支率 %", b["savings_rate_percent"])
    d = doc["deposits"]
    for key, label in (("held", "deposits held 在管保证金"), ("refunded_on_time", "refunded on time 按期退还"),
                       ("refunded_late", "refunded late 逾期退还"), ("forfeited", "forfeited 没收")):  # fmt: skip
        _line(label, f"{d[key]['deposits']} ({d[key]['amount_fen'] // 100} yuan)")
    print("  by category 分类:")
    for c in doc["by_category"]:
        print(f"    {c['category']:<14} {c['trades']:>8} trades  {c['amount_yuan']:>20} yuan  {c['failed']:>5} failed")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("stats", help="public statistics: trades, amounts, premium and savings rates, deposits")
    p.add_argument("--url", help="the server (default $SUNLIT_URL, else http://$SUNLIT_HOST:$SUNLIT_PORT)")
    p.add_argument("--from", dest="from_month", metavar="YYYY-MM", help="first month (default: 12 months back)")
    p.add_argument("--to", dest="to_month", metavar="YYYY-MM", help="last month, included (default: this month)")
    p.add_argument("--category", choices=CATEGORIES)
    p.add_argument("--region")
    p.add_argument("--json", action="store_true", help="print the JSON document")
    p.set_defaults(fn=cmd_stats)
