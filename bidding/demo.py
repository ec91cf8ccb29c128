"""Demo data for sealed tendering: one published works tender by the demo centre, with
custodian1..3 holding its opening key 2 of 3, and bidder1..4 registered with their
deposits confirmed. Key files for all of them are written (0600) under
``<data dir>/demo-keys/`` so a newcomer can seal, submit, hand in shares and read the
opening record (docs/bidding.md, "Walk-through"). A second tender, ``HZJT-2026-002``
(``load_opened``, called by web/demo.py), lies in the past: bid, frozen and opened, for the
evaluation's walk-through (docs/evaluation.md).

The deadline is legal (21 days after publication, T1); the walk-through moves it earlier
with ``PATCH /api/v1/tenders/{id}/dates`` — staff may, before the deadline, audited and
notified to the bidders (T4). Idempotent: a second load finds the tender and only prints
where things are.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bidding.client import load_key, open_sealed_share, seal_bid_bytes, write_key_file
from bidding.evaluation.model import Criterion, EvaluationMethod, MethodSpec, PriceBenchmark
from bidding.model import BiddingSettings, Category, Procedure, TenderDraft
from bidding.service import deposits, opening, submission, tenders
from crypto.keys import b64url_encode, generate_x25519, x25519_public
from crypto.signing import (
    generate_signing_key,
    load_signing_key,
    private_key_bytes,
    public_key_bytes,
)
from trading import admission
from trading.context import Actor, Role
from trading.demo import DemoContext
from trading.ledger import bank
from trading.ledger import service as ledger_service
from trading.ledger import store as ledger_store
from trading.ledger.model import BankNotification, NotificationKind
from trading.parties import service as parties

DEMO_CODE = "HZJT-2026-001"
CUSTODIANS = ("custodian1", "custodian2", "custodian3")
BIDDERS = {
    "bidder1": "bidder_a",
    "bidder2": "bidder_b",
    "bidder3": "bidder_c",
    "bidder4": "bidder_d",
}

TENDER_DOCUMENT = """湖州市公共资源交易中心 招标文件（演示）
项目：湖州市环城北路改造工程施工 (HZJT-2026-001)
第一章 投标人须知 … 投标报价以人民币分为单位填写于 price-schedule.json 的 amount_fen。
Chapter 1, Instructions to bidders: state the bid price in fen as amount_fen in
price-schedule.json, the construction period in days as duration_days.
"""


def _key_dir(ctx: DemoContext) -> Path:
    return ctx.data_dir / "demo-keys"


async def _x25519_for(ctx: DemoContext, username: str) -> Path:
    path = _key_dir(ctx) / f"{username}.x25519"
    if path.exists():
        private = load_key(path)
    else:
        private, _ = generate_x25519()
        write_key_file(path, private)
        write_key_file(path.with_name(path.name + ".pub"), x25519_public(private), private=False)
    public = x25519_public(private)
    uid = ctx.users[username]
    async with ctx.pool.acquire() as conn:
        registered = await parties.active_keys(conn, user_id=uid, algorithm="x25519")
        if not any(k.public_key == public for k in registered):
            user = await parties.get_user(conn, uid)
            actor = Actor(uid, username, user.role, user.org_id)
            await parties.register_key(
                conn, ctx.audit, actor, ctx.now, public_key=public, algorithm="x25519", label="demo"
            )
    return path


async def signing_key_for(ctx: DemoContext, username: str) -> Path:
    """The demo user's Ed25519 key file (made once, 0600), its public key registered."""
    return await _ed25519_for(ctx, username)


async def _ed25519_for(ctx: DemoContext, username: str) -> Path:
    path = _key_dir(ctx) / f"{username}.ed25519"
    if path.exists():
        key = load_signing_key(load_key(path))
    else:
        key = generate_signing_key()
        write_key_file(path, private_key_bytes(key))
        write_key_file(path.with_name(path.name + ".pub"), public_key_bytes(key), private=False)
    public = public_key_bytes(key)
    uid = ctx.users[username]
    async with ctx.pool.acquire() as conn:
        registered = await parties.active_keys(conn, user_id=uid, algorithm="ed25519")
        if not any(k.public_key == public for k in registered):
            user = await parties.get_user(conn, uid)
            actor = Actor(uid, username, user.role, user.org_id)
            await parties.register_key(
                conn,
                ctx.audit,
                actor,
                ctx.now,
                public_key=public,
                algorithm="ed25519",
                label="demo",
            )
    return path


DEMO_METHOD = MethodSpec(
    method=EvaluationMethod.COMPREHENSIVE,
    criteria=(
        Criterion("price", "投标报价 Bid price", 60),
        Criterion("technical", "施工组织设计 Construction plan", 25),
        Criterion("business", "业绩与信誉 Record and standing", 15),
    ),
    price_benchmark=PriceBenchmark.MEAN,
    points_per_percent=Decimal("1.00"),
    control_price_fen=880_000_000,  # 8.8 million yuan (最高投标限价)
    budget_fen=900_000_000,
)
"""The demo tender's evaluation (综合评估法): price 60, construction plan 25, record 15;
the mean of the valid prices as the benchmark, 1 point per % of deviation."""


async def load(ctx: DemoContext) -> None:
    keys_dir = _key_dir(ctx)
    for username in CUSTODIANS:
        await _x25519_for(ctx, username)
    for username in BIDDERS:
        await _ed25519_for(ctx, username)
    staff = Actor(ctx.users["staff1"], "staff1", Role.STAFF, ctx.orgs["centre"])
    async with ctx.pool.acquire() as conn:
        tender_id = await conn.fetchval("SELECT id FROM tenders WHERE code = $1", DEMO_CODE)
        if tender_id is None:
            deadline = ctx.now.replace(microsecond=0) + timedelta(days=21)
            draft = TenderDraft(
                code=DEMO_CODE,
                project_name="湖州市环城北路改造工程施工 Huancheng North Road works",
                category=Category.WORKS,
                procedure=Procedure.OPEN,
                lots=("第一标段 路基路面 Lot 1 roadbed", "第二标段 桥梁 Lot 2 bridges"),
                estimated_price_fen=860_000_000,  # 8.6 million yuan
                deposit_fen=8_000_000,  # 80,000 yuan: within 2 % and the works cap
                bid_deadline_at=deadline,
                opening_at=deadline + timedelta(minutes=30),
                place="湖州市公共资源交易中心 第一开标室 (Opening room 1)",
                custodian_user_ids=tuple(ctx.users[u] for u in CUSTODIANS),
                threshold_k=2,
                max_bid_bytes=256 * 1024 * 1024,
                evaluation=DEMO_METHOD,
            )
            settings = BiddingSettings()
            tender = await tenders.create_tender(conn, ctx.audit, staff, ctx.now, draft, settings)

            async def document() -> AsyncIterator[bytes]:
                yield TENDER_DOCUMENT.encode()

            await tenders.add_document(
                conn,
                ctx.audit,
                staff,
                ctx.now,
                tender_id=tender.id,
                name="招标文件.txt",
                source=document(),
                content_length=None,
                settings=settings,
            )
            tender = await tenders.publish_tender(conn, ctx.audit, staff, ctx.now, tender.id)
            tender_id = tender.id
            for username, org_key in BIDDERS.items():
                bidder = Actor(ctx.users[username], username, Role.BIDDER, ctx.orgs[org_key])
                await tenders.register_bidder(conn, ctx.audit, bidder, ctx.now, tender.id)
                await admission.flag_confirmed(
                    conn,
                    ctx.audit,
                    staff,
                    ctx.now,
                    org_id=ctx.orgs[org_key],
                    project_ref=tender.project_ref,
                    note="demo: deposit received",
                )
        public = await conn.fetchval(
            "SELECT opening_public_key FROM tenders WHERE id = $1", tender_id
        )
    public_path = keys_dir / f"tender-{tender_id}.pub"
    public_path.write_text(b64url_encode(bytes(public)) + "\n", "ascii")
    sample = keys_dir / "price-schedule-sample.json"
    if not sample.exists():
        sample.write_text(
            json.dumps(
                {
                    "amount_fen": 812_345_600,
                    "duration_days": 540,
                    "declared_items": {"质量标准 quality": "合格 pass", "项目经理 manager": "张工"},
                    "confidential_items": {"分项报价 breakdown": "路基 40%，路面 35%，桥梁 25%"},
                },
                ensure_ascii=False,
                indent=2,
            ),
            "utf-8",
        )
    ctx.lines.append(
        f"Sealed tender {DEMO_CODE} (id {tender_id}) published; opening key {public_path}; "
        f"custodian and bidder keys in {keys_dir}; walk-through in docs/bidding.md. "
        f"Bidder org ids: " + ", ".join(f"{u}={ctx.orgs[o]}" for u, o in BIDDERS.items())
    )


# ---------------------------------------------------------------------------- the opened tender

OPENED_CODE = "HZJT-2026-002"
OPENED_PRICES = {  # bidder user → (price in fen, construction days)
    "bidder1": (412_000_000, 360),
    "bidder2": (398_000_000, 380),
    "bidder3": (425_000_000, 350),
    "bidder4": (405_000_000, 365),
}
OPENED_METHOD = MethodSpec(
    method=EvaluationMethod.COMPREHENSIVE,
    criteria=(
        Criterion("price", "投标报价 Bid price", 60),
        Criterion("technical", "施工组织设计 Construction plan", 25),
        Criterion("business", "业绩与信誉 Record and standing", 15),
    ),
    price_benchmark=PriceBenchmark.LOWEST,
    points_per_percent=Decimal("1.00"),
    control_price_fen=440_000_000,
    budget_fen=450_000_000,
)


class _At:
    """A clock stopped at one moment (the opened tender's history is replayed in the past)."""

    def __init__(self, when: datetime) -> None:
        self.when = when

    def now(self) -> datetime:
        return self.when


def opened_timeline(now: datetime) -> dict[str, datetime]:
    """The opened tender's history, relative to the load: published 26 days before, the
    deadline 5 days before (21 days after publication, T1), opened 30 minutes later."""
    published = (now - timedelta(days=26)).replace(second=0, microsecond=0)
    deadline = published + timedelta(days=21)
    return {
        "published": published,
        "registered": published + timedelta(days=1),
        "bids": published + timedelta(days=10),
        "deadline": deadline,
        "opening": deadline + timedelta(minutes=30),
    }


async def load_opened(ctx: DemoContext, evaluation_keys: Any, bank_key: Any) -> int:
    """The second demo tender, ``HZJT-2026-002``, whose history lies in the past: published
    26 days before the load, bidder1..4 registered with their deposits paid through the
    ledger (notifications signed by the demo bank's key), four sealed bids made with the demo
    bidders' keys, frozen at its deadline 5 days ago and opened by custodian1 and custodian2
    (the opening key kept wrapped for the panel, ``evaluation_keys``). Returns its id; a
    second load finds it and changes nothing."""
    async with ctx.pool.acquire() as conn:
        found = await conn.fetchval("SELECT id FROM tenders WHERE code = $1", OPENED_CODE)
    if found is not None:
        return int(found)
    t = opened_timeline(ctx.now)
    staff = Actor(ctx.users["staff1"], "staff1", Role.STAFF, ctx.orgs["centre"])
    settings = BiddingSettings()
    async with ctx.pool.acquire() as conn:
        draft = TenderDraft(
            code=OPENED_CODE,
            project_name="湖州市南太湖大道养护工程 South Taihu Avenue maintenance works",
            category=Category.WORKS,
            procedure=Procedure.OPEN,
            lots=("第一标段 Lot 1",),
            estimated_price_fen=430_000_000,
            deposit_fen=4_000_000,
            bid_deadline_at=t["deadline"],
            opening_at=t["opening"],
            place="湖州市公共资源交易中心 第二开标室 (Opening room 2)",
            custodian_user_ids=tuple(ctx.users[u] for u in CUSTODIANS),
            threshold_k=2,
            max_bid_bytes=16 * 1024 * 1024,
            evaluation=OPENED_METHOD,
        )
        tender = await tenders.create_tender(conn, ctx.audit, staff, t["published"], draft, settings)

        async def document() -> AsyncIterator[bytes]:
            yield TENDER_DOCUMENT.replace("HZJT-2026-001", OPENED_CODE).encode()

        await tenders.add_document(
            conn, ctx.audit, staff, t["published"], tender_id=tender.id, name="招标文件.txt",
            source=document(), content_length=None, settings=settings,
        )  # fmt: skip
        tender = await tenders.publish_tender(conn, ctx.audit, staff, t["published"], tender.id)
        for username, org_key in BIDDERS.items():
            bidder = Actor(ctx.users[username], username, Role.BIDDER, ctx.orgs[org_key])
            await tenders.register_bidder(conn, ctx.audit, bidder, t["registered"], tender.id)
            found_deposit = await deposits.terms_and_deposit(conn, tender, ctx.orgs[org_key])
            assert found_deposit is not None, "the demo tender takes a deposit"
            n = BankNotification(
                await ledger_store.last_seq(conn) + 1,
                f"DEMO-{OPENED_CODE}-{username}",
                NotificationKind.CREDIT,
                found_deposit[1].sub_account,
                tender.deposit_fen,
                t["registered"],
                f"6222 0205 0000 {ctx.orgs[org_key]:04d}",
                username,
            )
            signed = bank.sign_notification(n, bank_key)
            await ledger_service.receive_notification(
                conn, ctx.audit, ctx.actor, t["registered"], n,
                bank.decode_signature(signed["signature"]),
            )  # fmt: skip
        assert tender.opening_public_key is not None
        public = bytes(tender.opening_public_key)
    for i, (username, (price, days)) in enumerate(OPENED_PRICES.items()):
        org_id = ctx.orgs[BIDDERS[username]]
        key = load_signing_key(load_key(await _ed25519_for(ctx, username)))
        envelope = seal_bid_bytes(
            tender_public=public,
            tender_id=tender.id,
            bidder_org_id=org_id,
            signing_key=key,
            price_schedule=json.dumps({"amount_fen": price, "duration_days": days}).encode(),
            documents={"技术标.txt": f"施工组织设计 construction plan of {username}\n".encode()},
        )

        async def source(data: bytes = envelope) -> AsyncIterator[bytes]:
            yield data

        bidder = Actor(ctx.users[username], username, Role.BIDDER, org_id)
        await submission.submit_bid(
            ctx.pool, ctx.audit, bidder, _At(t["bids"] + timedelta(hours=i)),
            tender_id=tender.id, source=source(), content_length=len(envelope), settings=settings,
        )  # fmt: skip
    async with ctx.pool.acquire() as conn:
        async with conn.transaction():
            await opening.freeze_bids(conn, ctx.audit, t["deadline"], tender.id)
        async with conn.transaction():
            await opening.start_opening(conn, ctx.audit, t["opening"], tender.id)
        for j, username in enumerate(CUSTODIANS[:2]):
            at = t["opening"] + timedelta(minutes=5 + j)
            user = await parties.get_user(conn, ctx.users[username])
            custodian = Actor(user.id, username, user.role, user.org_id)
            sealed = await opening.sealed_share(conn, ctx.audit, custodian, at, tender.id)
            share = open_sealed_share(
                sealed["sealed_share"], load_key(_key_dir(ctx) / f"{username}.x25519"), tender.id
            )
            await opening.hand_in_share(
                conn, ctx.audit, custodian, at, tender.id, share, settings, evaluation_keys
            )
        state = await conn.fetchval("SELECT state FROM tenders WHERE id = $1", tender.id)
    assert state == "opened", f"the demo tender {OPENED_CODE} is {state}, not opened"
    ctx.lines.append(
        f"Opened tender {OPENED_CODE} (id {tender.id}): published {t['published']:%Y-%m-%d}, "
        f"4 sealed bids, frozen {t['deadline']:%Y-%m-%d %H:%M}, opened by custodian1 and custodian2"
    )
    return tender.id
