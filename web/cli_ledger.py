"""``sunlit ledger …``: the deposit ledger from the command line, and a bank simulator.

    sunlit ledger bank-key [--key PATH]                  make (once) and trust the bank's key pair
    sunlit ledger notify --sub-account N --amount YUAN   sign a simulated bank notification and
        [--payer-account A] [--payer-name N]             POST it to the server (or --print it)
        [--value-time ISO] [--bank-ref R] [--seq N]
        [--reverses REF] [--key PATH] [--url URL] [--print]
    sunlit ledger statement [--from D] [--to D]          the bank's statement of the ledger's
        [--extra REF:YUAN[:DATE]] [--drop REF] [--out F] movements (a simulator), with changes
    sunlit ledger reconcile STATEMENT.csv [--from D] [--to D] [--tolerance N]
    sunlit ledger batch [--out FILE]                     refund instructions waiting → a batch file
    sunlit ledger bank-results RESULTS.csv               post the bank's answers to a batch
    sunlit ledger trial-balance                          every account; the totals must be zero

The bank's private key lives in ``<data dir>/demo-keys/bank-ed25519.key`` unless ``--key``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from crypto.signing import public_key_bytes
from trading.config import Config
from trading.context import Actor
from trading.ledger import bank, reconciling, service, settlement, store
from trading.ledger.model import BankNotification, NotificationKind
from trading.ledger.reconcile import format_fen, parse_yuan
from web.cli import Env, run_with_db

BANK_KEY_FILE = Path("demo-keys") / "bank-ed25519.key"


def key_path(args: argparse.Namespace, config: Config) -> Path:
    return Path(args.key) if args.key else config.data_dir / BANK_KEY_FILE


def server_url(args: argparse.Namespace, config: Config) -> str:
    from web.cli import server_url as url_of

    return url_of(args.url)


def _http(method: str, url: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def cmd_bank_key(args: argparse.Namespace, config: Config) -> int:
    path = key_path(args, config)
    key = bank.load_or_create_key(path)
    public = public_key_bytes(key)

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            key_id = await service.register_bank_key(
                conn,
                env.audit,
                Actor.system("cli"),
                env.clock.now(),
                public,
                "sunlit ledger bank-key",
            )
        print(f"bank key {key_id} trusted; public key {public.hex()}; private key in {path}")
        return 0

    return run_with_db(config, go)


def cmd_notify(args: argparse.Namespace, config: Config) -> int:
    path = key_path(args, config)
    if not path.exists():
        print(
            f"no bank key at {path}: run 'sunlit ledger bank-key' or 'sunlit demo load' first",
            file=sys.stderr,
        )
        return 2
    key = bank.load_or_create_key(path)
    url = server_url(args, config)
    seq = args.seq
    if seq is None:
        status, answer = _http("GET", url + "/api/v1/bank/sequence")
        if status != 200:
            print(f"cannot read the bank sequence from {url}: {status} {answer}", file=sys.stderr)
            return 1
        seq = answer["last_seq"] + 1
    now = datetime.now(UTC)
    value_at = datetime.fromisoformat(args.value_time) if args.value_time else now
    if value_at.tzinfo is None:
        print("--value-time needs a UTC offset, e.g. 2026-03-02T09:30:00+08:00", file=sys.stderr)
        return 2
    n = BankNotification(
        seq=seq,
        bank_ref=args.bank_ref or "SIM" + now.strftime("%Y%m%d%H%M%S%f"),
        kind=NotificationKind.REVERSAL if args.reverses else NotificationKind.CREDIT,
        sub_account=args.sub_account,
        amount_fen=parse_yuan(args.amount),
        value_at=value_at,
        payer_account=args.payer_account,
        payer_name=args.payer_name,
        reverses_ref=args.reverses,
    )
    body = bank.sign_notification(n, key)
    if args.print:
        print(json.dumps(body, ensure_ascii=False, indent=2))
        return 0
    status, answer = _http("POST", url + "/api/v1/bank/notifications", body)
    print(json.dumps(answer, ensure_ascii=False, indent=2))
    return 0 if status == 200 else 1


def cmd_statement(args: argparse.Namespace, config: Config) -> int:
    made: list[str] = []

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            movements = await store.movements(conn, from_on=args.from_on, to_on=args.to_on)
        drop = set(args.drop or [])
        extra = []
        for item in args.extra or []:
            ref, _, rest = item.partition(":")
            amount, _, day = rest.partition(":")
            extra.append(
                (ref, parse_yuan(amount), day or (args.to_on or date.today()).isoformat(), "")
            )
        made.append(
            bank.statement_csv([m for m in movements if m.bank_ref not in drop], extra=extra)
        )
        return 0

    code = run_with_db(config, go)
    if code == 0:
        if args.out:
            Path(args.out).write_text(made[0], encoding="utf-8")
            print(f"statement with {made[0].count(chr(10)) - 1} lines written to {args.out}")
        else:
            sys.stdout.write(made[0])
    return code


def cmd_reconcile(args: argparse.Namespace, config: Config) -> int:
    text = Path(args.statement).read_text(encoding="utf-8")

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            r = await reconciling.reconcile_statement(
                conn,
                env.audit,
                Actor.system("cli"),
                env.clock.now(),
                text,
                from_on=args.from_on,
                to_on=args.to_on,
                date_tolerance_days=args.tolerance,
            )
        print(
            f"reconciliation {r['id']}: {r['lines']} lines, {r['matched']} matched, {r['differences']} differences, "
            f"{r['missing_in_ledger']} missing in the ledger, {r['missing_in_bank']} missing at the bank; "
            f"{format_fen(r['to_suspense_fen'])} yuan put in suspense; "
            f"{'CLEAN' if r['clean'] else 'DOES NOT RECONCILE'}"
        )
        for d in r["details"]["differences"]:
            print(
                f"  difference  line {d['line_no']} {d['bank_ref']}: statement {format_fen(d['statement_fen'])}, "
                f"ledger {format_fen(d['ledger_fen'])}"
            )
        for s in r["details"]["missing_in_ledger"]:
            where = f" → suspense {s['to_suspense']}" if s["to_suspense"] else ""
            print(
                f"  not in ledger  line {s['line_no']} {s['bank_ref'] or '(no ref)'} {format_fen(s['amount_fen'])}"
                f" on {s['value_on']}{where}"
            )
        for m in r["details"]["missing_in_bank"]:
            print(
                f"  not at bank  {m['transfer_id']} {m['bank_ref']} {format_fen(m['amount_fen'])} on {m['value_on']}"
            )
        return 0 if r["clean"] else 1

    return run_with_db(config, go)


def cmd_batch(args: argparse.Namespace, config: Config) -> int:
    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            batch = await settlement.create_refund_batch(
                conn, env.audit, Actor.system("cli"), env.clock.now()
            )
        if batch is None:
            print("no refund instructions are waiting")
            return 0
        out = Path(args.out or env.config.data_dir / f"refund-batch-{batch.id}.csv")
        await asyncio.to_thread(out.write_text, batch.csv(), encoding="utf-8")
        print(
            f"batch {batch.id}: {len(batch.payouts)} refunds, {format_fen(batch.total_fen)} yuan → {out}"
        )
        return 0

    return run_with_db(config, go)


def cmd_bank_results(args: argparse.Namespace, config: Config) -> int:
    text = Path(args.results).read_text(encoding="utf-8")

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            payouts = await settlement.confirm_payouts_csv(
                conn, env.audit, Actor.system("cli"), env.clock.now(), text
            )
        for p in payouts:
            print(f"{p.id}: {p.state.value} ({p.bank_ref})")
        return 0

    return run_with_db(config, go)


def cmd_trial_balance(args: argparse.Namespace, config: Config) -> int:
    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            tb = await service.trial_balance(conn)
        print(
            f"{'account':<40} {'debits':>16} {'credits':>16} {'pending dr':>14} {'pending cr':>14}"
        )
        for r in tb.rows:
            print(
                f"{r.account_id:<40} {format_fen(r.debits_posted):>16} {format_fen(r.credits_posted):>16} "
                f"{format_fen(r.debits_pending):>14} {format_fen(r.credits_pending):>14}"
            )
        print(
            f"{'total':<40} {format_fen(tb.debits_posted):>16} {format_fen(tb.credits_posted):>16} "
            f"{format_fen(tb.debits_pending):>14} {format_fen(tb.credits_pending):>14}"
        )
        print("balanced: the ledger sums to zero" if tb.balanced else "NOT BALANCED")
        return 0 if tb.balanced else 1

    return run_with_db(config, go)


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    ledger = sub.add_parser(
        "ledger", help="the deposit ledger (保证金) and a bank simulator"
    ).add_subparsers(dest="ledger_command", required=True)
    p = ledger.add_parser("bank-key", help="make (once) and trust the bank's Ed25519 key pair")
    p.add_argument("--key", help="private key file (default <data dir>/demo-keys/bank-ed25519.key)")
    p.set_defaults(fn=cmd_bank_key)

    p = ledger.add_parser(
        "notify", help="sign a simulated bank notification and send it to the server"
    )
    p.add_argument("--sub-account", required=True, help="the virtual sub-account paid into")
    p.add_argument("--amount", required=True, help="yuan, e.g. 200000.00")
    p.add_argument("--payer-account", default="6222020000000000001")
    p.add_argument("--payer-name", default="")
    p.add_argument("--value-time", help="the bank's value time, ISO 8601 with offset (default now)")
    p.add_argument("--bank-ref", help="the bank's reference (default SIM<timestamp>)")
    p.add_argument("--seq", type=int, help="message number (default: the server's last + 1)")
    p.add_argument(
        "--reverses", help="send a reversal (冲正) of this bank reference instead of a credit"
    )
    p.add_argument("--key", help="the bank's private key file")
    p.add_argument(
        "--url", help="the server (default $SUNLIT_URL or http://host:port from the config)"
    )
    p.add_argument(
        "--print", action="store_true", help="print the signed body instead of sending it"
    )
    p.set_defaults(fn=cmd_notify)

    p = ledger.add_parser(
        "statement", help="the bank's statement of the ledger's bank movements (simulator)"
    )
    p.add_argument("--from", dest="from_on", type=date.fromisoformat)
    p.add_argument("--to", dest="to_on", type=date.fromisoformat)
    p.add_argument(
        "--extra",
        action="append",
        help="an extra line REF:YUAN[:YYYY-MM-DD] (negative for money out)",
    )
    p.add_argument(
        "--drop", action="append", help="leave out the movement with this bank reference"
    )
    p.add_argument("--out", help="file to write (default stdout)")
    p.set_defaults(fn=cmd_statement)

    p = ledger.add_parser(
        "reconcile", help="import the bank's daily statement (CSV) and reconcile it"
    )
    p.add_argument("statement")
    p.add_argument("--from", dest="from_on", type=date.fromisoformat)
    p.add_argument("--to", dest="to_on", type=date.fromisoformat)
    p.add_argument(
        "--tolerance", type=int, default=1, help="days a value date may differ (default 1)"
    )
    p.set_defaults(fn=cmd_reconcile)

    p = ledger.add_parser("batch", help="put waiting refund instructions into a bank batch file")
    p.add_argument("--out")
    p.set_defaults(fn=cmd_batch)

    p = ledger.add_parser("bank-results", help="post the bank's answers to a batch (CSV)")
    p.add_argument("results")
    p.set_defaults(fn=cmd_bank_results)

    p = ledger.add_parser(
        "trial-balance", help="every account's sums; exit 1 unless they sum to zero"
    )
    p.set_defaults(fn=cmd_trial_balance)
