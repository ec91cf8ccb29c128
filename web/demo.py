"""Load the demo centre: the core's parties first, then each package's own demo data."""

from __future__ import annotations

import importlib
import importlib.util

from aiohttp import web

from trading import demo
from web import keys

DEMO_MODULES: tuple[str, ...] = ("trading.ledger.demo", "bidding.demo", "auction.demo", "experts.demo")


async def load_demo(app: web.Application) -> list[str]:
    ctx = demo.DemoContext(
        pool=app[keys.POOL], audit=app[keys.AUDIT], now=app[keys.CLOCK].now(), data_dir=app[keys.CONFIG].data_dir
    )
    await demo.load(ctx)
    for name in DEMO_MODULES:
        if importlib.util.find_spec(name.rsplit(".", 1)[0]) is None or importlib.util.find_spec(name) is None:
            continue
        await importlib.import_module(name).load(ctx)
    for line in ctx.lines:
        print(line, flush=True)
    return ctx.lines
