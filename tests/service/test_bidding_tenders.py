"""A tender's life before the deadline against PostgreSQL: creation checks, publication
(the opening key made, split and sealed, and forgotten), date changes, documents.

Sources (RULES.md): T1 (BL 24: at least 20 days from publication to the deadline), T4
(A4(c): only staff set or change dates, only before the deadline, logged, notified), T9
(PT: a quorum of custodians; one person cannot open), T14 (IR 26: deposit at most 2 % of
the estimate; works cap 800,000 yuan, cfg).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta
from itertools import combinations

import pytest

from bidding.client import open_sealed_share
from bidding.errors import BidRejected
from bidding.model import Category, Procedure, Tender, TenderDraft, TenderState
from bidding.service import tenders
from crypto.errors import SealedBoxError, ShamirError
from crypto.keys import b64url_encode, x25519_public
from crypto.shamir import Share, combine
from tests.helpers import make_user
from tests.service.test_bidding_support import (
    World,
    make_world,
    new_tender,
    pieces,
    run_due,
)
from trading.calendar import events as calendar
from trading.context import Role
from trading.notices import list_notices


@pytest.fixture
async def world(pool, audit, clock) -> World:
    return await make_world(pool, audit, clock, bidders=3)


async def rejected(coro: object) -> BidRejected:
    with pytest.raises(BidRejected) as info:
        await coro  # type: ignore[misc]
    return info.value


def draft_of(world: World, **kw: object) -> tenders.TenderDraft:
    now = world.clock.now()
    base = TenderDraft(
        code="NEW-1",
        project_name="Bridge",
        category=Category.WORKS,
        procedure=Procedure.OPEN,
        lots=("Lot 1",),
        estimated_price_fen=100_000_000,
        deposit_fen=2_000_000,
        bid_deadline_at=now + timedelta(days=25),
        opening_at=now + timedelta(days=25),
        place="room",
        custodian_user_ids=tuple(c.party.user_id for c in world.custodians),
        threshold_k=2,
        max_bid_bytes=1 << 20,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


async def create(world: World, **kw: object) -> Tender:
    async with world.pool.acquire() as conn:
        return await tenders.create_tender(
            conn,
            world.audit,
            world.staff.actor,
            world.clock.now(),
            draft_of(world, **kw),
            world.settings,
        )


async def test_a_deposit_of_2_01_percent_is_refused_at_creation(world: World) -> None:
    """T14 (IR 26): 2.01 % refused, 2 % accepted."""
    err = await rejected(create(world, deposit_fen=2_010_000))
    assert err.code == "deposit_over_two_percent" and err.status_hint == 422
    assert (await create(world, deposit_fen=2_000_000)).deposit_fen == 2_000_000


async def test_a_works_deposit_over_800000_yuan_is_refused(world: World) -> None:
    """T14 (cfg): the works cap."""
    err = await rejected(create(world, estimated_price_fen=10_000_000_000, deposit_fen=80_000_001))
    assert err.code == "deposit_over_works_cap"


async def test_custodians_must_be_custodian_users_and_k_at_least_two(world: World) -> None:
    """T9 (PT): one person cannot open."""
    assert (await rejected(create(world, threshold_k=1))).code == "bad_custodian_threshold"
    staff_id = world.staff.user_id
    err = await rejected(
        create(world, custodian_user_ids=(staff_id, world.custodians[0].party.user_id))
    )
    assert err.code == "custodian_user_invalid" and err.details["user_ids"] == [staff_id]


async def test_the_opening_cannot_precede_the_deadline_and_codes_are_unique(world: World) -> None:
    now = world.clock.now()
    err = await rejected(create(world, opening_at=now + timedelta(days=24)))
    assert err.code == "opening_before_deadline"
    await create(world, code="DUP")
    err = await rejected(create(world, code="DUP"))
    assert err.code == "tender_code_taken" and err.status_hint == 409


async def test_publishing_with_19_days_is_refused(world: World) -> None:
    """T1 (BL 24): publishing with 19 days is refused; the refusal is audited."""
    tender = await create(
        world,
        bid_deadline_at=world.clock.now() + timedelta(days=19),
        opening_at=world.clock.now() + timedelta(days=19),
    )
    async with world.pool.acquire() as conn:
        await tenders.add_document(
            conn,
            world.audit,
            world.staff.actor,
            world.clock.now(),
            tender_id=tender.id,
            name="doc.pdf",
            source=pieces(b"doc"),
            content_length=3,
            settings=world.settings,
        )
        err = await rejected(
            tenders.publish_tender(
                conn, world.audit, world.staff.actor, world.clock.now(), tender.id
            )
        )
        assert err.code == "period_too_short"
        row = await conn.fetchrow(
            "SELECT outcome, detail FROM audit_log WHERE action = 'tender.publish' "
            "AND object_id = $1",
            str(tender.id),
        )
    assert row["outcome"] == "denied" and row["detail"]["code"] == "period_too_short"


async def test_publishing_needs_documents_and_every_custodian_key(world: World) -> None:
    tender = await create(world)
    async with world.pool.acquire() as conn:
        err = await rejected(
            tenders.publish_tender(
                conn, world.audit, world.staff.actor, world.clock.now(), tender.id
            )
        )
        assert err.code == "no_tender_documents"
        keyless = await make_user(conn, world.audit, world.clock, Role.CUSTODIAN)
    tender = await create(
        world, code="NEW-2", custodian_user_ids=(world.custodians[0].party.user_id, keyless.user_id)
    )
    async with world.pool.acquire() as conn:
        await tenders.add_document(
            conn,
            world.audit,
            world.staff.actor,
            world.clock.now(),
            tender_id=tender.id,
            name="doc.pdf",
            source=pieces(b"doc"),
            content_length=3,
            settings=world.settings,
        )
        err = await rejected(
            tenders.publish_tender(
                conn, world.audit, world.staff.actor, world.clock.now(), tender.id
            )
        )
    assert err.code == "custodian_without_key" and err.details["custodians"] == [keyless.username]


async def test_publication_splits_the_opening_key_so_that_k_and_only_k_custodians_rebuild_it(
    world: World,
) -> None:
    """T9 (PT 2 of 3): any k shares rebuild the key; k − 1 cannot; the server keeps only the
    public key and sealed shares — the private key is nowhere in the database."""
    assert world.tender.state is TenderState.PUBLISHED and world.tender.opening_public_key
    async with world.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT user_id, sealed_share FROM tender_custodians WHERE tender_id = $1 "
            "ORDER BY position",
            world.tender_id,
        )
    privates = {c.party.user_id: c.private for c in world.custodians}
    shares = [
        Share.decode(
            open_sealed_share(
                b64url_encode(bytes(r["sealed_share"])), privates[r["user_id"]], world.tender_id
            )
        )
        for r in rows
    ]
    keys = {combine(list(pair)) for pair in combinations(shares, 2)}
    assert len(keys) == 1
    private = keys.pop()
    assert x25519_public(private) == world.tender.opening_public_key
    for share in shares:
        with pytest.raises(ShamirError):
            combine([share])
    async with world.pool.acquire() as conn:
        columns = await conn.fetch(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type = 'bytea'"
        )
        for c in columns:
            hits = await conn.fetchval(
                f'SELECT count(*) FROM "{c["table_name"]}" WHERE position($1::bytea in "{c["column_name"]}") > 0',
                private,
            )
            assert hits == 0, f"the opening private key is in {c['table_name']}.{c['column_name']}"


async def test_a_sealed_share_opens_only_for_its_tender(world: World) -> None:
    other = await new_tender(world)
    custodian = world.custodians[0]
    async with world.pool.acquire() as conn:
        sealed = await conn.fetchval(
            "SELECT sealed_share FROM tender_custodians WHERE tender_id = $1 AND user_id = $2",
            other.tender_id,
            custodian.party.user_id,
        )
    with pytest.raises(SealedBoxError):
        open_sealed_share(b64url_encode(bytes(sealed)), custodian.private, world.tender_id)


async def test_dates_change_before_the_deadline_logged_notified_and_the_events_moved(
    world: World,
) -> None:
    """T4 (A4(c)): staff change dates before the deadline; audit entry + notice; events moved."""
    new_deadline = world.clock.now() + timedelta(days=22)  # T1: 20 days from publication
    async with world.pool.acquire() as conn:
        tender = await tenders.change_dates(
            conn,
            world.audit,
            world.staff.actor,
            world.clock.now(),
            world.tender_id,
            bid_deadline_at=new_deadline,
            opening_at=new_deadline + timedelta(minutes=10),
            reason="walk-through",
        )
        assert tender.bid_deadline_at == new_deadline
        entry = await conn.fetchrow(
            "SELECT detail FROM audit_log WHERE action = 'tender.dates_change'"
        )
        assert entry["detail"]["notified"] == 3
        for bidder in world.bidders:
            notices = await list_notices(conn, org_id=bidder.org_id)
            assert any("Dates changed" in n["subject"] for n in notices)
        pending = {e.kind: e.due_at for e in await calendar.pending(conn, ref=str(world.tender_id))}
        assert pending == {
            "tender.deadline": new_deadline,
            "tender.opening": new_deadline + timedelta(minutes=10),
        }
        assert (
            len(
                await conn.fetch(
                    "SELECT * FROM tender_date_changes WHERE tender_id = $1", world.tender_id
                )
            )
            == 1
        )
    world.clock.set(new_deadline - timedelta(milliseconds=1))
    await run_due(world)
    assert (await world.reload()).state is TenderState.PUBLISHED
    world.clock.set(new_deadline)
    await run_due(world)
    assert (await world.reload()).state is TenderState.FAILED  # the moved deadline fired (no bids)


async def test_a_date_change_after_the_deadline_is_refused_and_audited(world: World) -> None:
    """T4: after the deadline → 409, and the attempt is in the audit log."""
    world.clock.set(world.tender.bid_deadline_at)
    async with world.pool.acquire() as conn:
        err = await rejected(
            tenders.change_dates(
                conn,
                world.audit,
                world.staff.actor,
                world.clock.now(),
                world.tender_id,
                bid_deadline_at=world.clock.now() + timedelta(days=30),
                opening_at=world.clock.now() + timedelta(days=30),
                reason="too late",
            )
        )
        assert err.code == "deadline_passed" and err.status_hint == 409
        row = await conn.fetchrow(
            "SELECT outcome FROM audit_log WHERE action = 'tender.dates_change'"
        )
    assert row["outcome"] == "denied"


async def test_documents_are_fixed_at_publication_and_names_are_unique(world: World) -> None:
    tender = await create(world)
    async with world.pool.acquire() as conn:
        add = lambda name, t=tender.id: tenders.add_document(  # noqa: E731
            conn,
            world.audit,
            world.staff.actor,
            world.clock.now(),
            tender_id=t,
            name=name,
            source=pieces(b"content"),
            content_length=7,
            settings=world.settings,
        )
        doc = await add("a.pdf")
        assert doc.sha256 == hashlib.sha256(b"content").hexdigest()
        assert (await rejected(add("a.pdf"))).code == "document_name_taken"
        assert (await rejected(add("../etc/passwd"))).code == "bad_document_name"
        assert (await rejected(add("x.pdf", world.tender_id))).code == "tender_not_draft"


async def test_a_published_tender_is_cancelled_before_its_deadline_and_its_events_with_it(
    world: World,
) -> None:
    async with world.pool.acquire() as conn:
        tender = await tenders.cancel_tender(
            conn,
            world.audit,
            world.staff.actor,
            world.clock.now(),
            world.tender_id,
            reason="budget withdrawn",
        )
        assert tender.state is TenderState.CANCELLED
        assert await calendar.pending(conn, ref=str(world.tender_id)) == []
