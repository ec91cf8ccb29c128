"""``sunlit experts …``: the pool from the command line, and draw verification.

    sunlit experts import FILE.csv                   import experts (all or nothing; every bad row listed)
    sunlit experts codes FILE.csv                    add/rename specialty codes (code,name_zh,name_en)
    sunlit experts verify-draw DRAW_ID               re-run a fixed draw from the database's published record
    sunlit experts verify-draw FILE.json | --record FILE.json (--public-key KEY | --public-key-file FILE)
                               [--seed HEX] [--beacon HEX]
                                                     verify a downloaded record offline (no database)

``verify-draw`` exits 0 when the draw verifies (same panel, same replacement order) — for a
file, only once the server's signature has been checked with a key you trust (``GET
/api/v1/bidding/server-key``, compared with the key published outside the platform) —, 1
when it does not (each difference is printed), 2 on bad input, 3 when a file's hashes and
re-run agree but no key was given, so its signature was not checked: that is *not* a
verification (printed as such). Why not fetch the key from the server: a bundle forged by
whoever controls the server would then come with a matching key; the key must come from
somewhere else.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

from trading.config import Config
from trading.context import Actor
from trading.errors import Rejected

UNSIGNED = 3
"""Exit code: the hashes and the re-run agree, the signature was not checked (no key)."""


def _print_report(report: dict[str, Any], as_json: bool) -> int:
    unsigned = report.get("signature") == "not_checked" and report.get("hashes_ok")
    if as_json:
        print(json.dumps(report, ensure_ascii=False, indent=1))
        return 0 if report["ok"] else UNSIGNED if unsigned else 1
    who = f"draw {report['draw_id']}" if report.get("draw_id") is not None else "draw"
    if unsigned:
        print(f"{who}: NOT VERIFIED — the hashes and the re-run agree, but the signature was not checked: "
              "give the server's public key (--public-key KEY or --public-key-file FILE)", file=sys.stderr)
        print(f"{who}：未完成验证 — 哈希与重算结果一致，但未核验签名：请用 --public-key 或 --public-key-file "
              "提供服务器公钥", file=sys.stderr)  # fmt: skip
        return UNSIGNED
    if report["ok"]:
        lines = (report.get("expected") or {}).get("lines", [])
        print(f"{who}: OK — same panel and same replacement order (record {report['record_hash']})")
        print(f"{who}：验证通过 — 评标委员会名单与候补顺序一致")
        for ln in lines:
            order = ln["order"]
            print(f"  line {ln['line']} {ln['code']} × {ln['count']}: panel {' '.join(order[: ln['count']])}"
                  f" | replacements {' '.join(order[ln['count']:]) or '—'}")  # fmt: skip
        return 0
    print(f"{who}: MISMATCH — {len(report['differences'])} difference(s)", file=sys.stderr)
    print(f"{who}：验证不通过 — 共{len(report['differences'])}处差异", file=sys.stderr)
    for d in report["differences"]:
        print(f"  [{d['kind']}] {d['message_en']}", file=sys.stderr)
        print(f"      {d['message_zh']}", file=sys.stderr)
    if report.get("note"):
        print(f"  note: {report['note']}", file=sys.stderr)
    return 1


def cmd_verify(args: argparse.Namespace, config: Config) -> int:
    from experts.bundle import verify_bundle

    def hexarg(value: str | None, name: str) -> bytes | None:
        if value is None:
            return None
        try:
            return bytes.fromhex(value.strip())
        except ValueError:
            print(f"error: --{name} must be hexadecimal", file=sys.stderr)
            raise SystemExit(2) from None

    if args.target is not None:
        if args.target.isdigit():
            args.draw_id = int(args.target)
        elif args.record is None:
            args.record = args.target
        else:
            print("error: give a draw id or a record file, not both", file=sys.stderr)
            return 2
    if args.record:
        try:
            bundle = json.loads(Path(args.record).read_text("utf-8"))
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            print(f"error: cannot read {args.record}: {exc}", file=sys.stderr)
            return 2
        if not isinstance(bundle, dict):
            print(f"error: {args.record} is not a draw record", file=sys.stderr)
            return 2
        try:
            public_key = _public_key(args)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        report = verify_bundle(
            bundle,
            seed=hexarg(args.seed, "seed"),
            beacon_value=hexarg(args.beacon, "beacon"),
            public_key=public_key,
        )
        if public_key is not None and not args.json:
            from crypto.signing import sha256_hex

            stated = (bundle.get("signature") or {}).get("key_id") if isinstance(bundle.get("signature"), dict) else None
            print(f"server key srv-{sha256_hex(public_key)[:16]} (bundle names {stated or 'no key'})")
        return _print_report(report, args.json)
    if args.draw_id is None:
        print("error: give a draw id, or --record FILE.json", file=sys.stderr)
        return 2

    from experts import draws
    from web.cli import Env, run_with_db

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            report = await draws.verify(conn, args.draw_id)
        return _print_report(report, args.json)

    return run_with_db(config, go)


def _public_key(args: argparse.Namespace) -> bytes | None:
    """The trusted key: ``--public-key`` (64 hex digits or base64url) or ``--public-key-file``."""
    from bidding.client import decode_key_text

    if args.public_key is not None and args.public_key_file is not None:
        raise ValueError("give --public-key or --public-key-file, not both")
    if args.public_key_file is not None:
        try:
            data = Path(args.public_key_file).read_bytes()
        except OSError as exc:
            raise ValueError(f"cannot read {args.public_key_file}: {exc}") from exc
        if len(data) == 32:
            return data
        return decode_key_text(data.decode("ascii", errors="replace"))
    if args.public_key is not None:
        return decode_key_text(args.public_key)
    return None


def cmd_import(args: argparse.Namespace, config: Config) -> int:
    from experts import service
    from experts.csvio import read_csv
    from experts.vault import PoolKeys
    from web.cli import Env, run_with_db

    try:
        data = Path(args.file).read_bytes()
    except OSError as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    rows, problems = read_csv(data)

    async def go(env: Env) -> int:
        keys = PoolKeys.load_or_create(env.config.data_dir)
        try:
            async with env.pool.acquire() as conn:
                report = await service.import_experts(
                    conn,
                    env.audit,
                    Actor.system("cli"),
                    env.clock.now(),
                    keys,
                    rows,
                    problems,
                    source=args.file,
                )
        except Rejected as err:
            print(
                f"error [{err.code}]: {err.message_en}\n        {err.message_zh}", file=sys.stderr
            )
            for e in err.details.get("errors", []):
                print(f"  row {e['row']}, {e['field']}: [{e['code']}] {e['message_en']} / {e['message_zh']}",
                      file=sys.stderr)  # fmt: skip
            return 1
        print(f"imported {report.imported} experts ({report.expert_ids[0]} … {report.expert_ids[-1]}); "
              f"pool version {report.pool_version}")  # fmt: skip
        return 0

    return run_with_db(config, go)


def cmd_codes(args: argparse.Namespace, config: Config) -> int:
    from experts import service
    from web.cli import Env, run_with_db

    try:
        text = Path(args.file).read_text("utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"error: cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    rows = [
        tuple((r + ["", "", ""])[:3]) for r in csv.reader(io.StringIO(text)) if r and r[0] != "code"
    ]

    async def go(env: Env) -> int:
        try:
            async with env.pool.acquire() as conn:
                n = await service.import_codes(
                    conn, env.audit, Actor.system("cli"), env.clock.now(), rows
                )  # type: ignore[arg-type]
        except Rejected as err:
            print(f"error [{err.code}]: {err.message_en}", file=sys.stderr)
            for e in err.details.get("errors", []):
                print(f"  row {e['row']}: {e['message_en']}", file=sys.stderr)
            return 1
        print(f"{n} specialty codes added or renamed")
        return 0

    return run_with_db(config, go)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    experts = sub.add_parser("experts", help="the expert pool and panel draws").add_subparsers(
        dest="experts_command", required=True
    )
    p = experts.add_parser("import", help="import experts from a CSV file (all or nothing)")
    p.add_argument("file")
    p.set_defaults(fn=cmd_import)

    p = experts.add_parser(
        "codes", help="add or rename specialty codes from a CSV file (code,name_zh,name_en)"
    )
    p.add_argument("file")
    p.set_defaults(fn=cmd_codes)

    p = experts.add_parser(
        "verify-draw", help="re-run a draw from its published record and compare"
    )
    p.add_argument(
        "target", nargs="?", help="a fixed draw's id in this server's database, or a record file"
    )
    p.add_argument(
        "--record", help="a downloaded record (GET /api/v1/draws/{id}/record): verify offline"
    )
    p.add_argument("--seed", help="the revealed seed (hex); default: the one in the record file")
    p.add_argument("--beacon", help="the beacon value (hex), fetched from the beacon itself")
    p.add_argument(
        "--public-key",
        help="the server's public key (64 hex digits or base64url; --public-key=VALUE if it "
        "starts with '-') to check the record's signature; without it a file is never OK",
    )
    p.add_argument("--public-key-file", help="a file holding the server's public key")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(fn=cmd_verify, draw_id=None)
