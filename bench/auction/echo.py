"""The baseline: a bare aiohttp websocket server that sends every text frame back as it came.
No parsing, no rules, no database — the floor of what one websocket round trip costs here.
It runs on the same event loop as ``sunlit serve`` (``SUNLIT_EVENT_LOOP``, uvloop by default).

    python -m bench.auction.echo PORT
"""

from __future__ import annotations

import os
import resource
import sys

from aiohttp import WSMsgType, web

from web.cli import new_event_loop


async def echo(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(compress=False, max_msg_size=64 * 1024)
    await ws.prepare(request)
    async for msg in ws:
        if msg.type is WSMsgType.TEXT:
            await ws.send_str(msg.data)
        else:
            break
    return ws


def main() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    app = web.Application()
    app.router.add_get("/api/v1/auctions/ws", echo)
    web.run_app(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        print=lambda _: print("READY", flush=True),
        access_log=None,
        loop=new_event_loop(os.environ.get("SUNLIT_EVENT_LOOP", "uvloop")),
    )


if __name__ == "__main__":
    main()
