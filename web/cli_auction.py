"""``sunlit auction``: a small websocket client for live auctions (no database needed).

    sunlit auction watch --lot 7 [--lot 8] [--after-seq N] [--url http://127.0.0.1:8080]
                         [--username bidder1 --password …]
    sunlit auction bid --lot 7 --amount-fen 38100000000 --username bidder1 --password … [--bid-id X]

``watch`` prints the snapshot and every event as it comes, with the countdown measured on
the server's clock; it reconnects and resumes from the last sequence number it saw.
``bid`` places one bid and prints the answer (the ack once it is durable, or the refusal).

    sunlit auction export --lot 7 --out lot7.json [--username staff1 --password …]

``export`` saves an ended lot's whole log, signed (``GET /api/v1/auctions/lots/{id}/log``),
for ``sunlit verify-auction`` to replay offline.

    sunlit auction reserve-share --lot 7 --key c1.x25519 --username custodian1 --password …

``reserve-share`` (a custodian, once bidding has ended and the lot awaits its reserve):
fetch my sealed share of the lot's reserve key, open it here with my X25519 private key
(never sent), hand it in; the k-th share reveals the reserve and closes the lot.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from datetime import UTC, datetime
from typing import Any

from trading.config import Config

MAX_RECONNECTS = 20


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    group = sub.add_parser(
        "auction", help="live auctions: watch a lot, place a bid"
    ).add_subparsers(dest="auction_command", required=True)
    for name, fn, helptext in (
        ("watch", cmd_watch, "watch lots live"),
        ("bid", cmd_bid, "place one bid"),
    ):
        p = group.add_parser(name, help=helptext)
        p.add_argument(
            "--url", default=None,
            help="the server (default $SUNLIT_URL, else http://$SUNLIT_HOST:$SUNLIT_PORT)",
        )
        p.add_argument("--lot", type=int, action="append", required=True, dest="lots")
        p.add_argument("--username")
        p.add_argument("--password")
        p.add_argument("--token", help="a bearer token instead of a username and password")
        if name == "watch":
            p.add_argument(
                "--after-seq", type=int, default=None, help="resume after this sequence number"
            )
            p.add_argument("--count", type=int, default=None, help="stop after this many events")
        else:
            p.add_argument("--amount-fen", type=int, required=True)
            p.add_argument("--bid-id", default=None, help="your id for this bid (default: random)")
        p.set_defaults(fn=fn)
    p = group.add_parser("export", help="save an ended lot's signed log (for sunlit verify-auction)")
    p.add_argument(
        "--url", default=None,
        help="the server (default $SUNLIT_URL, else http://$SUNLIT_HOST:$SUNLIT_PORT)",
    )
    p.add_argument("--lot", type=int, required=True)
    p.add_argument("--out", required=True, help="the file to write")
    p.add_argument("--confirmation-out", help="also save the signed confirmation (sold lots)")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--token", help="a bearer token instead of a username and password")
    p.set_defaults(fn=cmd_export)
    p = group.add_parser(
        "reserve-share",
        help="custodian: fetch, open and hand in my share of a lot's reserve key",
    )
    p.add_argument(
        "--url", default=None,
        help="the server (default $SUNLIT_URL, else http://$SUNLIT_HOST:$SUNLIT_PORT)",
    )
    p.add_argument("--lot", type=int, required=True)
    p.add_argument("--key", required=True, help="my X25519 private key file (sunlit bid keygen)")
    p.add_argument("--username")
    p.add_argument("--password")
    p.add_argument("--token", help="a bearer token instead of a username and password")
    p.set_defaults(fn=cmd_reserve_share)
    from web.cli_quota import register_quota  # sunlit auction quota …

    register_quota(group)


def _base(args: argparse.Namespace, config: Config) -> str:
    from web.cli import server_url

    return server_url(args.url)


async def _token(args: argparse.Namespace, base: str) -> str | None:
    if args.token:
        return str(args.token)
    if not args.username:
        return None
    import aiohttp

    async with aiohttp.ClientSession() as http:
        body = {"username": args.username, "password": args.password or ""}
        async with http.post(base + "/api/v1/sessions", json=body) as r:
            data = await r.json()
            if r.status != 201:
                raise SystemExit(f"login failed: {data.get('code')}: {data.get('detail')}")
            return str(data["token"])


def _line(frame: dict[str, Any], skew_s: float) -> str:
    kind = frame["type"]
    if kind == "snapshot":
        lot = frame["lot"]
        return (
            f"lot {frame['lot_id']} [{lot['phase']}] seq {frame['seq']} highest {lot['highest_fen']} "
            f"leader {lot['leader']} ends {lot['countdown_ends_at'] or lot['listing_ends_at']} "
            f"your paddle {frame['paddle']}"
        )
    if kind == "event":
        e = frame["event"]
        extra = {k: v for k, v in e.items() if k not in ("type", "seq", "at")}
        ends = e.get("countdown_ends_at")
        left = ""
        if ends:
            left_s = (
                datetime.fromisoformat(ends).timestamp() - datetime.now(UTC).timestamp()
            ) + skew_s
            left = f"  ({max(left_s, 0):.1f} s left)"
        return f"lot {frame['lot_id']} #{frame['seq']} {e['at']} {e['type']} {json.dumps(extra, ensure_ascii=False)}{left}"
    return json.dumps(frame, ensure_ascii=False)


def _frames(raw: str | bytes) -> list[dict[str, Any]]:
    """A server frame holds one object, or an array of them when several were waiting."""
    data = json.loads(raw)
    return data if isinstance(data, list) else [data]


async def watch(args: argparse.Namespace, base: str) -> int:
    import websockets

    token = await _token(args, base)
    url = base.replace("http", "ws", 1) + "/api/v1/auctions/ws"
    last = {lot: args.after_seq for lot in args.lots}
    seen = 0
    skew_s = 0.0
    connected = False
    for _ in range(MAX_RECONNECTS):
        try:
            async with websockets.connect(url + (f"?token={token}" if token else "")) as ws:
                connected = True
                lots = [
                    {"lot_id": lot, **({"after_seq": s} if s is not None else {})}
                    for lot, s in last.items()
                ]
                await ws.send(json.dumps({"op": "subscribe", "lots": lots}))
                async for raw in ws:
                    for frame in _frames(raw):
                        if "server_time" in frame:
                            server = datetime.fromisoformat(frame["server_time"]).timestamp()
                            skew_s = server - datetime.now(UTC).timestamp()
                        if frame["type"] in ("snapshot", "resumed", "event"):
                            last[frame["lot_id"]] = frame["seq"]
                        print(_line(frame, skew_s), flush=True)
                        if frame["type"] == "event":
                            seen += 1
                            if args.count is not None and seen >= args.count:
                                return 0
        except (OSError, websockets.ConnectionClosed) as exc:
            if not connected:
                raise  # never reached: one line from the CLI, not twenty retries
            print(f"connection lost ({exc}); resuming", file=sys.stderr, flush=True)
            await asyncio.sleep(1)
    return 1


async def bid(args: argparse.Namespace, base: str) -> int:
    import websockets

    token = await _token(args, base)
    if token is None:
        raise SystemExit("bidding needs --username/--password or --token")
    url = base.replace("http", "ws", 1) + f"/api/v1/auctions/ws?token={token}"
    bid_id = args.bid_id or "cli-" + secrets.token_hex(6)
    lot = args.lots[0]
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"op": "subscribe", "lots": [lot]}))
        await ws.send(
            json.dumps(
                {"op": "bid", "lot_id": lot, "bid_id": bid_id, "amount_fen": args.amount_fen}
            )
        )
        for _ in range(10_000):
            for frame in _frames(await asyncio.wait_for(ws.recv(), 30)):
                if frame.get("bid_id") == bid_id:
                    print(json.dumps(frame, ensure_ascii=False))
                    return 0 if frame["type"] == "ack" else 2
    return 1


def cmd_watch(args: argparse.Namespace, config: Config) -> int:
    try:
        return asyncio.run(watch(args, _base(args, config)))
    except KeyboardInterrupt:
        return 0


def cmd_bid(args: argparse.Namespace, config: Config) -> int:
    return asyncio.run(bid(args, _base(args, config)))


async def export(args: argparse.Namespace, base: str) -> dict[str, Any] | None:
    """GET the lot's log (and its confirmation): file → document; None (printed) if refused."""
    import aiohttp

    token = await _token(args, base)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    wanted = [(f"/api/v1/auctions/lots/{args.lot}/log", args.out)]
    if args.confirmation_out:
        wanted.append((f"/api/v1/auctions/lots/{args.lot}/confirmation", args.confirmation_out))
    got: dict[str, Any] = {}
    async with aiohttp.ClientSession() as http:
        for path, out in wanted:
            async with http.get(base + path, headers=headers) as r:
                data = await r.json(content_type=None)
                if r.status != 200:
                    print(f"error: HTTP {r.status} [{data.get('code')}]: {data.get('detail')}", file=sys.stderr)
                    return None
            got[out] = data
    return got


def cmd_export(args: argparse.Namespace, config: Config) -> int:
    from pathlib import Path

    import aiohttp

    base = _base(args, config)
    try:
        got = asyncio.run(export(args, base))
    except (aiohttp.ClientConnectionError, OSError) as exc:
        print(f"error: cannot reach {base} ({exc}) / 无法连接服务器", file=sys.stderr)
        return 2
    if got is None:
        return 1
    for out, data in got.items():
        Path(out).write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", "utf-8")
        print(f"wrote {out}")
    return 0


async def reserve_share(args: argparse.Namespace, base: str, private: bytes) -> int:
    """GET my sealed share, open it here, POST it; 0 once handed in (counted or not)."""
    import aiohttp

    from auction.reserve import open_sealed_share
    from crypto.errors import CryptoError

    token = await _token(args, base)
    if token is None:
        raise SystemExit("a custodian logs in: --username/--password or --token")
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{base}/api/v1/auctions/lots/{args.lot}/reserve"
    async with aiohttp.ClientSession() as http:
        async with http.get(url + "/shares/mine", headers=headers) as r:
            sealed = await r.json(content_type=None)
            if r.status != 200:
                print(f"error: HTTP {r.status} [{sealed.get('code')}]: {sealed.get('detail')}", file=sys.stderr)
                return 1
        try:
            share = open_sealed_share(sealed["sealed_share"], private, args.lot)
        except CryptoError as exc:
            print(f"error: the sealed share does not open with this key / 份额无法用此密钥开启: {exc}",
                  file=sys.stderr)  # fmt: skip
            return 1
        async with http.post(url + "/shares", json={"share": share}, headers=headers) as r:
            result = await r.json(content_type=None)
            if r.status != 200:
                print(f"error: HTTP {r.status} [{result.get('code')}]: {result.get('detail')}", file=sys.stderr)
                return 1
    print(
        f"share {sealed['position']} handed in{'' if result['counted'] else ' (already counted)'}: "
        f"{result['shares_received']} of {result['threshold_k']} needed; lot {args.lot} {result['phase']}"
        + (f" ({result['outcome']})" if result.get("outcome") else "")
    )
    if result.get("missing") and result["phase"] != "closed":
        print("still missing: " + ", ".join(result["missing"]))
    return 0


def cmd_reserve_share(args: argparse.Namespace, config: Config) -> int:
    import aiohttp

    from bidding.client import load_key
    from crypto.errors import CryptoError

    try:
        private = load_key(args.key)
    except (OSError, ValueError, CryptoError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    base = _base(args, config)
    try:
        return asyncio.run(reserve_share(args, base, private))
    except (aiohttp.ClientConnectionError, OSError) as exc:
        print(f"error: cannot reach {base} ({exc}) / 无法连接服务器", file=sys.stderr)
        return 2
