"""Demo data for the deposit ledger (idempotent): the bank's key pair, and one land sale of
the ledger's own (``demo:1``) with two deposits paid and one awaiting, plus a bank statement
for the walk-through in ``docs/ledger.md``.

It runs before ``bidding.demo`` and ``auction.demo``: those register their own projects'
deposit terms through ``trading.ledger.service.register_project`` and open deposits with
``trading.ledger.service.open_deposit``.
"""

from __future__ import annotations

from datetime import timedelta

from crypto.signing import public_key_bytes
from trading.demo import DemoContext

from . import bank, service, store
from .model import BankNotification, NotificationKind, ProjectKind

DEMO_PROJECT = "demo:1"
KEY_FILE = ("demo-keys", "bank-ed25519.key")
STATEMENT_FILE = "ledger-demo-statement.csv"
PAYMENTS = (  # bidder key, bank reference, payer account, payer name
    ("bidder_a", "DEMOLEDGER0001", "6222 0200 0000 0001", "浙江宏远建设集团有限公司"),
    ("bidder_b", "DEMOLEDGER0002", "6222 0200 0000 0002", "湖州市路桥建设有限公司"),
)
STARTING_PRICE_FEN = 1_000_000_000  # 10,000,000 yuan
DEPOSIT_FEN = 200_000_000  # 20 %: 2,000,000 yuan


async def load(ctx: DemoContext) -> None:
    key_path = ctx.data_dir.joinpath(*KEY_FILE)
    key = bank.load_or_create_key(key_path)
    async with ctx.pool.acquire() as conn:
        key_id = await service.register_bank_key(
            conn,
            ctx.audit,
            ctx.actor,
            ctx.now,
            public_key_bytes(key),
            "demo bank (ICBC Huzhou simulator)",
        )
        terms = await store.get_project(conn, DEMO_PROJECT)
        if terms is None:
            terms = await service.register_project(
                conn,
                ctx.audit,
                ctx.actor,
                ctx.now,
                project_ref=DEMO_PROJECT,
                kind=ProjectKind.AUCTION,
                required_fen=DEPOSIT_FEN,
                deadline_at=ctx.now + timedelta(days=20),
                land=True,
                starting_price_fen=STARTING_PRICE_FEN,
                accept_guarantees=True,
            )
        subs = {}
        for who in ("bidder_a", "bidder_b", "bidder_c"):
            d = await service.open_deposit(
                conn, ctx.audit, ctx.actor, ctx.now, DEMO_PROJECT, ctx.orgs[who]
            )
            subs[who] = d.sub_account
        for who, ref, account, name in PAYMENTS:
            if await store.get_notification(conn, ref) is not None:
                continue
            n = BankNotification(
                await store.last_seq(conn) + 1,
                ref,
                NotificationKind.CREDIT,
                subs[who],
                DEPOSIT_FEN,
                ctx.now - timedelta(minutes=5),
                account,
                name,
            )
            signed = bank.sign_notification(n, key)
            await service.receive_notification(
                conn, ctx.audit, ctx.actor, ctx.now, n, bank.decode_signature(signed["signature"])
            )
        movements = await store.movements(conn)
    statement = ctx.data_dir / STATEMENT_FILE
    demo_refs = {ref for _, ref, _, _ in PAYMENTS}
    day = ctx.now.date().isoformat()
    statement.write_text(
        bank.statement_csv(
            [m for m in movements if m.bank_ref in demo_refs],
            extra=[("DEMOSTRAY0001", 50_000, day, "6222 0200 0000 0099")],
        ),
        encoding="utf-8",
    )
    ctx.lines += [
        f"Deposit ledger: bank key {key_id}, private key in {key_path} (signs simulated bank notifications)",
        f"  demo land sale {DEMO_PROJECT}: deposit {DEPOSIT_FEN // 100:,} yuan before {terms.deadline_at:%Y-%m-%d %H:%M} UTC; "
        f"bidder_a and bidder_b paid, bidder_c awaits payment into sub-account {subs['bidder_c']}",
        f"  pay it:   sunlit ledger notify --sub-account {subs['bidder_c']} --amount {DEPOSIT_FEN // 100}.00",
        f"  statement with one stray line: sunlit ledger reconcile {statement}",
    ]
