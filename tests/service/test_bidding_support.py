"""Helpers for the sealed-tendering tests (no tests here): a small world of staff,
custodians with X25519 keys, bidders with Ed25519 keys and confirmed deposits, and a
published tender; sealing, uploading in pieces, and running the timed events."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from bidding import rules
from bidding.client import seal_bid_bytes
from bidding.model import BiddingSettings, Category, Procedure, Tender, TenderDraft
from bidding.records import Signed
from bidding.service import opening, submission, tenders
from bidding.service.common import load_tender
from crypto.keys import generate_x25519
from crypto.signing import SigningKey, generate_signing_key, public_key_bytes
from tests.helpers import Party, make_org, make_user
from trading import admission
from trading.audit import AuditLog
from trading.calendar import EventContext, EventRegistry, Scheduler
from trading.clock import FakeClock
from trading.context import Role
from trading.parties import service as parties
from trading.parties.model import OrgKind

SMALL = BiddingSettings(store_chunk_bytes=4096, max_document_bytes=1024 * 1024)
MARKER = "ZEBRA-PLAINTEXT-MARKER-7f3a"


@dataclass
class Custodian:
    party: Party
    private: bytes = field(repr=False)


@dataclass
class Bidder:
    party: Party
    key: SigningKey = field(repr=False)

    @property
    def org_id(self) -> int:
        assert self.party.org_id is not None
        return self.party.org_id


@dataclass
class World:
    pool: asyncpg.Pool
    audit: AuditLog
    clock: FakeClock
    settings: BiddingSettings
    staff: Party
    custodians: list[Custodian]
    bidders: list[Bidder]
    tender: Tender

    @property
    def tender_id(self) -> int:
        return self.tender.id

    async def reload(self) -> Tender:
        async with self.pool.acquire() as conn:
            self.tender = await load_tender(conn, self.tender.id)
        return self.tender


def schedule_json(amount_fen: int = 123_456_789, duration_days: int = 365, **extra: Any) -> bytes:
    body: dict[str, Any] = {"amount_fen": amount_fen, "duration_days": duration_days}
    body.update(extra)
    return json.dumps(body, ensure_ascii=False).encode()


async def pieces(data: bytes, size: int = 1000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def registry_for(audit: AuditLog) -> EventRegistry:
    registry = EventRegistry()

    async def on_deadline(ctx: EventContext) -> None:
        await opening.freeze_bids(ctx.conn, audit, ctx.now, int(ctx.event.ref))

    async def on_opening(ctx: EventContext) -> None:
        await opening.start_opening(ctx.conn, audit, ctx.now, int(ctx.event.ref))

    registry.register(rules.DEADLINE_EVENT, on_deadline)
    registry.register(rules.OPENING_EVENT, on_opening)
    return registry


async def make_world(
    pool: asyncpg.Pool,
    audit: AuditLog,
    clock: FakeClock,
    *,
    bidders: int = 4,
    k: int = 2,
    n: int = 3,
    settings: BiddingSettings = SMALL,
    **tender_options: Any,
) -> World:
    """Staff, ``n`` custodians with X25519 keys, ``bidders`` bidders with Ed25519 keys, and
    a tender (see :func:`new_tender` for the options)."""
    now = clock.now()
    async with pool.acquire() as conn:
        await audit.register_key(conn, now)
        centre = await make_org(conn, audit, clock, OrgKind.CENTRE, platform_affiliate=True)
        staff = await make_user(conn, audit, clock, Role.STAFF, org_id=centre)
        custodians: list[Custodian] = []
        for _ in range(n):
            party = await make_user(conn, audit, clock, Role.CUSTODIAN, org_id=centre)
            private, public = generate_x25519()
            await parties.register_key(
                conn, audit, party.actor, now, public_key=public, algorithm="x25519"
            )
            custodians.append(Custodian(party, private))
        people: list[Bidder] = []
        for _ in range(bidders):
            party = await make_user(conn, audit, clock, Role.BIDDER)
            key = generate_signing_key()
            await parties.register_key(
                conn, audit, party.actor, now, public_key=public_key_bytes(key)
            )
            people.append(Bidder(party, key))
    world = World(pool, audit, clock, settings, staff, custodians, people, None)  # type: ignore[arg-type]
    return await new_tender(world, k=k, **tender_options)


_codes = iter(range(1, 10**6))


async def new_tender(
    world: World,
    *,
    k: int = 2,
    deadline_in: timedelta = timedelta(days=21),
    opening_after: timedelta = timedelta(hours=1),
    publish: bool = True,
    register: bool = True,
    confirm: bool = True,
    max_bid_bytes: int = 256 * 1024,
    min_bidders: int = 3,
) -> World:
    """The same people, a new tender (published, bidders registered with deposits confirmed
    unless told otherwise)."""
    now = world.clock.now()
    audit, staff, settings = world.audit, world.staff, world.settings
    async with world.pool.acquire() as conn:
        draft = TenderDraft(
            code=f"T-{staff.user_id}-{next(_codes)}",
            project_name="湖州市某道路改造工程 Road works",
            category=Category.WORKS,
            procedure=Procedure.OPEN,
            lots=("标段一 Lot 1",),
            estimated_price_fen=500_000_000,
            deposit_fen=10_000_000,
            bid_deadline_at=now + deadline_in,
            opening_at=now + deadline_in + opening_after,
            place="湖州市公共资源交易中心 开标室 1",
            custodian_user_ids=tuple(c.party.user_id for c in world.custodians),
            threshold_k=k,
            max_bid_bytes=max_bid_bytes,
            min_bidders=min_bidders,
        )
        tender = await tenders.create_tender(conn, audit, staff.actor, now, draft, settings)
        await tenders.add_document(
            conn,
            audit,
            staff.actor,
            now,
            tender_id=tender.id,
            name="招标文件.pdf",
            source=pieces(b"%PDF-1.7 tender documents " * 100),
            content_length=None,
            settings=settings,
        )
        if publish:
            tender = await tenders.publish_tender(conn, audit, staff.actor, now, tender.id)
            for b in world.bidders:
                if register:
                    await tenders.register_bidder(conn, audit, b.party.actor, now, tender.id)
                if confirm:
                    await admission.flag_confirmed(
                        conn,
                        audit,
                        staff.actor,
                        now,
                        org_id=b.org_id,
                        project_ref=tender.project_ref,
                        note="test deposit",
                    )
    return replace(world, tender=tender)


def seal_for(
    world: World,
    bidder: Bidder,
    schedule: bytes | None = None,
    documents: dict[str, bytes] | None = None,
    *,
    chunk_size: int = 256,
    tender_id: int | None = None,
    org_id: int | None = None,
    tender_public: bytes | None = None,
    key: SigningKey | None = None,
) -> bytes:
    assert world.tender.opening_public_key is not None
    return seal_bid_bytes(
        tender_public=tender_public or world.tender.opening_public_key,
        tender_id=tender_id if tender_id is not None else world.tender_id,
        bidder_org_id=org_id if org_id is not None else bidder.org_id,
        signing_key=key or bidder.key,
        price_schedule=schedule if schedule is not None else schedule_json(),
        documents=documents,
        chunk_size=chunk_size,
    )


async def submit(world: World, bidder: Bidder, envelope: bytes, *, piece: int = 1000) -> Signed:
    return await submission.submit_bid(
        world.pool,
        world.audit,
        bidder.party.actor,
        world.clock,
        tender_id=world.tender_id,
        source=pieces(envelope, piece),
        content_length=len(envelope),
        settings=world.settings,
    )


async def withdraw(world: World, bidder: Bidder) -> Signed:
    async with world.pool.acquire() as conn:
        return await submission.withdraw_bid(
            conn, world.audit, bidder.party.actor, world.clock, tender_id=world.tender_id
        )


async def run_due(world: World) -> list[Any]:
    return await Scheduler(world.pool, world.clock, registry_for(world.audit)).run_due()


async def to_deadline(world: World) -> None:
    world.clock.set(world.tender.bid_deadline_at)
    await run_due(world)
    await world.reload()


async def to_opening(world: World) -> None:
    world.clock.set(max(world.clock.now(), world.tender.opening_at))
    await run_due(world)
    await world.reload()


async def share_of(world: World, custodian: Custodian) -> str:
    from bidding.client import open_sealed_share

    async with world.pool.acquire() as conn:
        sealed = await opening.sealed_share(
            conn, world.audit, custodian.party.actor, world.clock.now(), world.tender_id
        )
    return open_sealed_share(sealed["sealed_share"], custodian.private, world.tender_id)


async def hand_in(world: World, custodian: Custodian, share: str | None = None) -> dict[str, Any]:
    share = share if share is not None else await share_of(world, custodian)
    async with world.pool.acquire() as conn:
        return await opening.hand_in_share(
            conn,
            world.audit,
            custodian.party.actor,
            world.clock.now(),
            world.tender_id,
            share,
            world.settings,
        )


def at(world: World, **delta: float) -> datetime:
    return world.tender.bid_deadline_at + timedelta(**delta)
