"""``sunlit notices …`` and ``sunlit tender …``: the public notices, and a bidder's or staff's
side of the tender documents.

    sunlit notices list [--kind K] [--q TEXT] [--category C] [--region R] [--limit N] [--cursor S]
        the public list, newest first (no login); prints the next cursor
    sunlit notices show ID
    sunlit tender download --tender-id N --document-id D --out FILE
        download a tender document (recorded by the server); checks its SHA-256
    sunlit tender ask --tender-id N --text TEXT           a bidder's question
    sunlit tender clarify --tender-id N --text TEXT [--kind clarification|amendment]
        [--answers 1,2] [--document-version V ...] [--bid-deadline ISO --opening ISO]
    sunlit tender object --tender-id N --text TEXT        an objection to the documents (W2)

Commands take ``--url`` (default ``$SUNLIT_URL`` or http://127.0.0.1:8080); those that need a
login take ``--token`` (``$SUNLIT_TOKEN``) or ``--username`` with ``$SUNLIT_PASSWORD``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
from pathlib import Path
from typing import Any

import aiohttp

from trading.config import Config
from web.cli_bidding import CliError, _print, _problem, _run, _server_args

__all__ = ["register"]


def _url_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the server (default $SUNLIT_URL, else http://$SUNLIT_HOST:$SUNLIT_PORT)")


def _public(args: argparse.Namespace, path: str, params: dict[str, str]) -> int:
    from web.cli import server_url, unreachable_line

    args.url = server_url(args.url)

    async def main() -> Any:
        async with aiohttp.ClientSession() as session, session.get(
            args.url.rstrip("/") + path, params=params
        ) as r:
            text = await r.text()
            if r.status != 200:
                raise _problem(r.status, text)
            return await r.json()

    try:
        got = asyncio.run(main())
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except aiohttp.ClientConnectionError as err:
        print(unreachable_line(args.url, err), file=sys.stderr)
        return 2
    except aiohttp.ClientError as err:
        print(f"error: {args.url}: {err}", file=sys.stderr)
        return 2
    if args.json or "items" not in got:
        _print(got)
        return 0
    for n in got["items"]:
        print(f"{n['id']:>6}  {n['published_at'][:10]}  {n['kind']:<15} {n['title_zh']}  /  {n['title_en']}")
    if got.get("next") is not None:
        print(f"next: --cursor {got['next']}")
    return 0


def cmd_list(args: argparse.Namespace, config: Config) -> int:
    params = {
        k: str(v)
        for k, v in {
            "kind": args.kind,
            "q": args.q,
            "category": args.category,
            "region": args.region,
            "limit": args.limit,
            "cursor": args.cursor,
            "tender_id": args.tender_id,
        }.items()
        if v is not None
    }
    return _public(args, "/api/v1/public/notices", params)


def cmd_show(args: argparse.Namespace, config: Config) -> int:
    args.json = True
    return _public(args, f"/api/v1/public/notices/{args.notice_id}", {})


def _post(args: argparse.Namespace, path: str, body: dict[str, Any]) -> int:
    async def go(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
        async with session.post(f"{args.url.rstrip('/')}/api/v1{path}", json=body, headers=headers) as r:
            text = await r.text()
            if r.status not in (200, 201):
                raise _problem(r.status, text)
            _print(await r.json())
        return 0

    return _run(args, go)


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    return _post(args, f"/tenders/{args.tender_id}/questions", {"text": args.text})


def cmd_object(args: argparse.Namespace, config: Config) -> int:
    return _post(args, f"/tenders/{args.tender_id}/objections", {"text": args.text})


def cmd_clarify(args: argparse.Namespace, config: Config) -> int:
    body: dict[str, Any] = {"kind": args.kind, "text": args.text}
    if args.answers:
        body["answers"] = [int(x) for x in args.answers.split(",") if x.strip()]
    if args.document_version:
        body["document_versions"] = args.document_version
    if args.bid_deadline:
        body["bid_deadline_at"] = args.bid_deadline
    if args.opening:
        body["opening_at"] = args.opening
    return _post(args, f"/tenders/{args.tender_id}/clarifications", body)


def cmd_download(args: argparse.Namespace, config: Config) -> int:
    out = Path(args.out)

    async def go(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
        url = f"{args.url.rstrip('/')}/api/v1/tenders/{args.tender_id}/documents/{args.document_id}"
        async with session.get(url, headers=headers) as r:
            if r.status != 200:
                raise _problem(r.status, await r.text())
            expected = r.headers.get("X-Content-SHA256", "")
            version = r.headers.get("X-Document-Version", "?")
            digest = hashlib.sha256()
            tmp = out.with_name(out.name + ".part")
            with tmp.open("wb") as f:
                async for piece in r.content.iter_chunked(64 * 1024):
                    digest.update(piece)
                    f.write(piece)
        if digest.hexdigest() != expected:
            tmp.unlink()
            raise CliError(f"the download does not hash to {expected}: discarded")
        tmp.replace(out)
        print(f"{out}  version {version}  sha256 {expected}")
        return 0

    return _run(args, go)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    notices = sub.add_parser("notices", help="public notices (公告), no login").add_subparsers(
        dest="notices_command", required=True
    )
    p = notices.add_parser("list", help="the public notices, newest first")
    _url_args(p)
    p.add_argument("--kind", help="tender, amendment, clarification, opening_record, candidates, "
                   "award_result, failed, re_tender")
    p.add_argument("--q", help="words of the title (Chinese or English)")
    p.add_argument("--category", help="works, goods, services")
    p.add_argument("--region")
    p.add_argument("--tender-id", type=int)
    p.add_argument("--limit", type=int)
    p.add_argument("--cursor", help="the 'next' printed by the previous page")
    p.add_argument("--json", action="store_true", help="print the page as JSON")
    p.set_defaults(fn=cmd_list)

    p = notices.add_parser("show", help="one notice, in full")
    _url_args(p)
    p.add_argument("notice_id", type=int)
    p.set_defaults(fn=cmd_show)

    tender = sub.add_parser(
        "tender", help="tender documents: download, ask, clarify, object"
    ).add_subparsers(dest="tender_command", required=True)

    p = tender.add_parser("download", help="download a tender document (the server records it)")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--document-id", type=int, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_download)

    p = tender.add_parser("ask", help="ask about the documents (registered bidders)")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--text", required=True)
    p.set_defaults(fn=cmd_ask)

    p = tender.add_parser("clarify", help="staff: publish a clarification or amendment (W1)")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--text", required=True)
    p.add_argument("--kind", choices=("clarification", "amendment"), default="clarification")
    p.add_argument("--answers", help="question ids answered, comma-separated")
    p.add_argument("--document-version", type=int, action="append",
                   help="a staged document version to publish (repeat)")
    p.add_argument("--bid-deadline", help="new bid deadline (ISO 8601 with offset)")
    p.add_argument("--opening", help="new opening time (ISO 8601 with offset)")
    p.set_defaults(fn=cmd_clarify)

    p = tender.add_parser("object", help="object to the tender documents (W2: ≥ 10 days before the deadline)")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--text", required=True)
    p.set_defaults(fn=cmd_object)
