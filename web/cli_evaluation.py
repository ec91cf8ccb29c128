"""``sunlit verify-evaluation`` and ``sunlit evaluation sign``: offline, no server.

    sunlit verify-evaluation --record record.json --public-key KEY
        check an exported evaluation record (GET /api/v1/tenders/{id}/evaluation/record)
        with the server's public key (GET /api/v1/bidding/server-key): the server's
        signatures, each member's signature on their sheet and on the report, and the
        ranking re-derived from the sheets equal to the report's. Exit 0 valid, 1 invalid,
        2 unreadable input.
    sunlit evaluation sign --signing-key FILE --document sheet.json
        sign a sheet (or a signature on the report) with a member's Ed25519 key; prints the
        request body {"document", "signature"} to POST.

Keys are given as a file or as the text itself (base64url or hex).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from bidding.client import load_key
from bidding.evaluation.verify import verify_record
from crypto.keys import b64url_encode
from crypto.signing import canonical_json, load_signing_key
from trading.config import Config

__all__ = ["register"]


def _read_json(path: str) -> Any:
    return json.loads(Path(path).read_text("utf-8"))


def cmd_verify(args: argparse.Namespace, config: Config) -> int:
    try:
        record = _read_json(args.record)
        public = load_key(args.public_key)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if not isinstance(record, dict):
        print("error: the record must be a JSON object", file=sys.stderr)
        return 2
    outcome = verify_record(record, public)
    if not outcome.ok:
        print("INVALID / 验证失败:")
        for problem in outcome.problems:
            print(f"  - {problem}")
        return 1
    assert outcome.result is not None
    result = outcome.result
    print("VALID / 验证通过: the ranking re-derived from the signed sheets equals the report")
    print(f"failed / 评标失败: {result['failed']}")
    for row in result["ranking"]:
        mark = "*" if row["bid_id"] in result["candidates"] else " "
        print(
            f" {mark} rank {row['rank']}: bid {row['bid_id']} org {row['org_id']} "
            f"price {row['price_fen']} fen total {row['total']}"
        )
    for rejected in result["rejected"]:
        print(f"   rejected / 否决: bid {rejected['bid_id']} ({rejected['cause']})")
    return 0


def cmd_sign(args: argparse.Namespace, config: Config) -> int:
    try:
        key = load_signing_key(load_key(args.signing_key))
        document = _read_json(args.document)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    signature = key.sign(canonical_json(document))
    print(json.dumps({"document": document, "signature": b64url_encode(signature)}, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "verify-evaluation",
        help="check an evaluation record offline and re-derive its ranking from the signed sheets",
    )
    p.add_argument("--record", required=True, help="the exported record (JSON)")
    p.add_argument("--public-key", required=True, help="the server's Ed25519 key: hex, base64url or a file")
    p.set_defaults(fn=cmd_verify)

    evaluation = sub.add_parser("evaluation", help="an evaluation member's offline tools").add_subparsers(
        dest="evaluation_command", required=True
    )
    p = evaluation.add_parser("sign", help="sign a sheet or a report signature with my Ed25519 key")
    p.add_argument("--signing-key", required=True, help="the member's Ed25519 private key (file or text)")
    p.add_argument("--document", required=True, help="the document to sign (JSON)")
    p.set_defaults(fn=cmd_sign)
