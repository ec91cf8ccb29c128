"""``sunlit verify-auction``: replay an ended lot's exported log offline (no server, no database).

    sunlit verify-auction --log lot7.json --public-key KEY [--confirmation confirmation.json] [--json]

``--log`` is ``GET /api/v1/auctions/lots/{id}/log`` (``sunlit auction export``); ``KEY`` the
server's public key (64 hex digits, base64url, or a file holding it) from a place you trust —
the key written in the file is never used. The log is replayed through the published rules
(``auction.verify``, ``auction.rules``); with ``--confirmation`` the signed 成交确认书 is checked
against the replay and its log digest. A lottery at the price cap (A8) is checked against the
seed commitment logged before the first bid (``seed_committed``; ``docs/auction.md``).

Exit 0: verified. 1: not (every problem printed). 2: bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trading.config import Config

__all__ = ["register"]


def _read_key(value: str) -> bytes:
    from bidding.client import decode_key_text

    path = Path(value)
    if path.is_file():
        data = path.read_bytes()
        return data if len(data) == 32 else decode_key_text(data.decode("ascii", errors="replace"))
    return decode_key_text(value)


def cmd_verify_auction(args: argparse.Namespace, config: Config) -> int:
    from auction.verify import verify_auction

    try:
        export = json.loads(Path(args.log).read_text("utf-8"))
        confirmation = (
            json.loads(Path(args.confirmation).read_text("utf-8")) if args.confirmation else None
        )
        public_key = _read_key(args.public_key)
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    report = verify_auction(export, public_key, confirmation=confirmation)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
        return 0 if report.ok else 1
    for line in report.checked:
        print(f"  ok: {line}")
    if report.ok and report.quota_result is not None:
        q = report.quota_result
        print(
            f"VALID: quota session {export['log'].get('session_id')} — {q['winner_count']} winner(s), "
            f"cutoff {q['cutoff_fen']} fen, average {q['average_fen']} fen"
        )
        print("验证通过：额度拍卖日志按公布的规则重放一致，结果（中标人、最低成交价、平均成交价）一致")
        return 0
    if report.ok:
        result = report.as_dict()["result"] or {}
        print(
            f"VALID: lot {export['log'].get('lot_id')} — {result.get('outcome')} ({result.get('basis')})"
            + (f", paddle {result['winner_paddle']} at {result['price_fen']} fen" if result.get("winner_paddle") else "")
        )
        print("验证通过：竞价日志按公布的规则重放一致" + ("，成交确认书一致" if confirmation else ""))
        return 0
    print(f"INVALID: {len(report.problems)} problem(s)", file=sys.stderr)
    print(f"验证不通过：共{len(report.problems)}处问题", file=sys.stderr)
    for problem in report.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "verify-auction",
        help="replay an ended lot's exported log through the published rules; check its confirmation",
    )
    p.add_argument("--log", required=True, help="the exported log (sunlit auction export)")
    p.add_argument(
        "--public-key",
        required=True,
        help="the server's public key: 64 hex digits, base64url (--public-key=VALUE if it starts "
        "with '-') or a file",
    )
    p.add_argument("--confirmation", help="the signed confirmation (成交确认书) to check too")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(fn=cmd_verify_auction)
