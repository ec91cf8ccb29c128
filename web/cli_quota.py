"""``sunlit auction quota``: quota-plate sessions (额度拍卖) from the command line.

    sunlit auction quota create --title T --quota 8310 --warning-price-fen 9270000 \\
        --starts-at 2026-03-21T02:30:00Z [--first-half-s 1800 --second-half-s 1800] \\
        [--min-price-fen … --max-price-fen … --step-fen 10000 --window-fen 30000 \\
         --max-revisions 2 --deposit-fen 200000] --username staff1 --password …
    sunlit auction quota apply --session 3 --username bidder1 --password …
    sunlit auction quota admit --session 3 --username staff1 --password …
    sunlit auction quota bid --session 3 --amount-fen 9270000 [--bid-id X] --username bidder1 …
    sunlit auction quota watch --session 3 [--count N]
    sunlit auction quota result --session 3 [--out result.json]
    sunlit auction quota export --session 3 --out quota3.json --username staff1 --password …

``bid`` goes through the websocket like the page does (subscribe, bid, the ack or the
refusal); ``export`` saves the signed log for ``sunlit verify-auction``. Exit 0: done; 1:
refused (the answer printed); 2: the server could not be reached.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from pathlib import Path
from typing import Any

from trading.config import Config

__all__ = ["register_quota"]


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", default=None, help="the server (default $SUNLIT_URL)")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--token", help="a bearer token instead of a username and password")


def register_quota(group: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    quota = group.add_parser("quota", help="quota-plate sessions (额度拍卖)").add_subparsers(
        dest="quota_command", required=True
    )
    p = quota.add_parser("create", help="create a session (staff)")
    _common(p)
    p.add_argument("--title", required=True)
    p.add_argument("--quota", type=int, required=True)
    p.add_argument("--warning-price-fen", type=int, required=True)
    p.add_argument("--starts-at", required=True, help="ISO 8601 with a zone, e.g. 2026-03-21T02:30:00Z")
    for name in ("first-half-s", "second-half-s", "min-price-fen", "max-price-fen", "step-fen",
                 "window-fen", "max-revisions", "deposit-fen"):
        p.add_argument(f"--{name}", type=int, default=None)
    p.set_defaults(fn=_run(create))
    for name, fn, helptext in (
        ("apply", apply, "apply (报名): your deposit's sub-account; your paddle once it is confirmed"),
        ("admit", admit, "admit every applicant whose deposit is confirmed (staff)"),
        ("result", result, "the signed result"),
        ("export", export, "save the signed log (for sunlit verify-auction)"),
        ("bid", bid, "place one bid over the websocket"),
        ("watch", watch, "watch the published cutoff and bid count"),
    ):
        p = quota.add_parser(name, help=helptext)
        _common(p)
        p.add_argument("--session", type=int, required=True)
        if name in ("result", "export"):
            p.add_argument("--out", required=name == "export", help="the file to write")
        if name == "bid":
            p.add_argument("--amount-fen", type=int, required=True)
            p.add_argument("--bid-id", default=None)
        if name == "watch":
            p.add_argument("--count", type=int, default=3, help="stop after this many status frames")
        p.set_defaults(fn=_run(fn))


def _run(fn: Any) -> Any:
    def command(args: argparse.Namespace, config: Config) -> int:
        import aiohttp

        from web.cli import server_url

        base = server_url(args.url)
        try:
            code: int = asyncio.run(fn(args, base))
        except (aiohttp.ClientConnectionError, OSError) as exc:
            print(f"error: cannot reach {base} ({exc}) / 无法连接服务器", file=sys.stderr)
            return 2
        return code

    return command


async def _headers(args: argparse.Namespace, base: str) -> dict[str, str]:
    from web.cli_auction import _token

    token = await _token(args, base)
    return {"Authorization": f"Bearer {token}"} if token else {}


async def _call(args: argparse.Namespace, base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        async with http.request(
            method, base + "/api/v1" + path, json=body, headers=await _headers(args, base)
        ) as r:
            return r.status, await r.json(content_type=None)


def _print(status: int, data: Any, out: str | None = None) -> int:
    if status >= 400:
        print(f"error: HTTP {status} [{data.get('code')}]: {data.get('detail')}", file=sys.stderr)
        return 1
    text = json.dumps(data, ensure_ascii=False, indent=1)
    if out:
        Path(out).write_text(text + "\n", "utf-8")
        print(f"wrote {out}")
    else:
        print(text)
    return 0


async def create(args: argparse.Namespace, base: str) -> int:
    body: dict[str, Any] = {
        "title": args.title,
        "quota": args.quota,
        "warning_price_fen": args.warning_price_fen,
        "starts_at": args.starts_at,
    }
    for name in ("first_half_s", "second_half_s", "min_price_fen", "max_price_fen", "step_fen",
                 "window_fen", "max_revisions", "deposit_fen"):
        if getattr(args, name) is not None:
            body[name] = getattr(args, name)
    return _print(*await _call(args, base, "POST", "/auctions/quota", body))


async def apply(args: argparse.Namespace, base: str) -> int:
    return _print(*await _call(args, base, "POST", f"/auctions/quota/{args.session}/apply"))


async def admit(args: argparse.Namespace, base: str) -> int:
    return _print(*await _call(args, base, "POST", f"/auctions/quota/{args.session}/admissions/sweep"))


async def result(args: argparse.Namespace, base: str) -> int:
    return _print(*await _call(args, base, "GET", f"/auctions/quota/{args.session}/result"), args.out)


async def export(args: argparse.Namespace, base: str) -> int:
    return _print(*await _call(args, base, "GET", f"/auctions/quota/{args.session}/log"), args.out)


def _frames(raw: str | bytes) -> list[dict[str, Any]]:
    data = json.loads(raw)
    return data if isinstance(data, list) else [data]


async def _socket(args: argparse.Namespace, base: str) -> Any:
    import websockets

    from web.cli_auction import _token

    token = await _token(args, base)
    url = base.replace("http", "ws", 1) + "/api/v1/auctions/ws" + (f"?token={token}" if token else "")
    return websockets.connect(url)


async def bid(args: argparse.Namespace, base: str) -> int:
    bid_id = args.bid_id or "cli-" + secrets.token_hex(6)
    async with await _socket(args, base) as ws:
        await ws.send(json.dumps({"op": "subscribe", "quota_session": args.session}))
        await ws.send(
            json.dumps({"op": "bid", "quota_session": args.session, "bid_id": bid_id, "amount_fen": args.amount_fen})
        )
        for _ in range(10_000):
            for frame in _frames(await asyncio.wait_for(ws.recv(), 30)):
                if frame.get("bid_id") == bid_id or (frame.get("type") == "error" and frame.get("op") != "bid"):
                    print(json.dumps(frame, ensure_ascii=False))
                    return 0 if frame["type"] == "ack" else 1
    return 1


async def watch(args: argparse.Namespace, base: str) -> int:
    seen = 0
    async with await _socket(args, base) as ws:
        await ws.send(json.dumps({"op": "subscribe", "quota_session": args.session}))
        while seen < args.count:
            for frame in _frames(await asyncio.wait_for(ws.recv(), 30)):
                if frame.get("quota_session") != args.session:
                    continue
                print(json.dumps(frame, ensure_ascii=False), flush=True)
                if frame["type"] in ("quota_status", "quota_closed"):
                    seen += 1
                if frame["type"] == "error":
                    return 1
    return 0
