"""``sunlit export ocds``: write the OCDS 1.1 release package of a date range (RULES S6).

    sunlit export ocds --from YYYY-MM-DD --to YYYY-MM-DD [--out FILE]

Reads every page of ``GET /api/v1/public/ocds/releases`` from the server and writes one
release package (to ``--out``, else standard output). A bad date range exits 2 with its code.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.parse
from pathlib import Path
from typing import Any

from trading.config import Config
from web.cli_stats import fetch_public

__all__ = ["register"]


def cmd_export_ocds(args: argparse.Namespace, config: Config) -> int:
    params: dict[str, str] = {"from_date": args.from_date, "to_date": args.to_date, "limit": "500"}
    releases: list[dict[str, Any]] = []
    doc: dict[str, Any] | None = None
    while True:
        code, page = fetch_public(args, "/api/v1/public/ocds/releases", params)
        if code:
            return code
        doc = doc or page
        releases += page["releases"]
        nxt = (page.get("links") or {}).get("next")
        if not nxt:
            break
        params["after"] = urllib.parse.parse_qs(urllib.parse.urlsplit(nxt).query)["after"][0]
    assert doc is not None
    doc = {k: v for k, v in doc.items() if k != "links"} | {"releases": releases}
    text = json.dumps(doc, ensure_ascii=False, indent=2) + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{len(releases)} releases → {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    export = sub.add_parser("export", help="export open data").add_subparsers(dest="export_command", required=True)
    p = export.add_parser("ocds", help="OCDS 1.1 release package of every tender and auction lot in a date range")
    p.add_argument("--url", help="the server (default $SUNLIT_URL, else http://$SUNLIT_HOST:$SUNLIT_PORT)")
    p.add_argument("--from", dest="from_date", required=True, metavar="YYYY-MM-DD", help="first day (UTC)")
    p.add_argument("--to", dest="to_date", required=True, metavar="YYYY-MM-DD", help="last day (UTC), included")
    p.add_argument("--out", help="write the package to this file (default: standard output)")
    p.set_defaults(fn=cmd_export_ocds)
