"""Submitting sealed bids against PostgreSQL with a fake clock: receipts, the deadline edge,
replace and withdraw, and every bad input refused with its own code and nothing stored.

Sources (RULES.md): T2 (A4(a), EM 28: the receipt time is exact and set by the server at
commit), T3 (EM 26, 28; A4(b): only sealed bids are accepted; nobody can decrypt before
the deadline), T5 (BL 29, IR 35, EM 27: submit, replace, withdraw until the deadline, each
with a receipt), T6 (EM 27: an upload unfinished at the deadline counts as not
submitted), T13 (EM 23: the platform operator and its affiliates may not bid), A6/D2
(deposit confirmed first).
"""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from bidding.client import verify_receipt
from bidding.errors import BidRejected
from bidding.service import submission, tenders
from crypto.envelope.format import PREAMBLE_SIZE
from crypto.keys import generate_x25519
from crypto.signing import generate_signing_key, sha256_hex
from tests.helpers import make_org, make_user
from tests.service.test_bidding_support import (
    World,
    make_world,
    new_tender,
    pieces,
    run_due,
    schedule_json,
    seal_for,
    submit,
    to_deadline,
    withdraw,
)
from trading.context import Role
from trading.parties.model import OrgKind

MS = timedelta(milliseconds=1)


STAGING = ("bid_uploads", "bid_upload_chunks")


async def counts(world: World) -> tuple[int, ...]:
    async with world.pool.acquire() as conn:
        return tuple(
            [
                await conn.fetchval(f"SELECT count(*) FROM {t}")
                for t in ("blobs", "blob_chunks", "bids", "bid_receipts", *STAGING)
            ]
        )


async def refused_with(world: World, code: str, coro: object) -> BidRejected:
    before = await counts(world)
    assert before[-len(STAGING) :] == (0, 0)
    with pytest.raises(BidRejected) as info:
        await coro  # type: ignore[misc]
    assert info.value.code == code, info.value.message_en
    assert await counts(world) == before, "nothing is stored half, nothing is left staged"
    return info.value


@pytest.fixture
async def world(pool, audit, clock) -> World:
    return await make_world(pool, audit, clock)


async def test_a_receipt_names_the_bid_and_verifies_offline(world: World) -> None:
    """T5 (BL 29): a receipt for each submission, signed by the server, checkable offline."""
    bidder = world.bidders[0]
    envelope = seal_for(world, bidder)
    world.clock.advance(hours=2, milliseconds=7)
    signed = await submit(world, bidder, envelope)
    doc = signed.document
    assert doc["action"] == "submit" and doc["tender_id"] == world.tender_id
    assert doc["bidder_org_id"] == bidder.org_id
    assert doc["envelope_sha256"] == sha256_hex(envelope)
    assert doc["received_at"].endswith(".007Z")
    assert verify_receipt(
        signed.as_json(), world.audit.public_key, envelope_sha256=sha256_hex(envelope)
    )[0]


async def test_deadline_minus_one_millisecond_is_accepted_and_the_deadline_refused(
    world: World,
) -> None:
    """T2 (A4(a), EM 28): with the fake clock, deadline − 1 ms in, the deadline out."""
    first, second = world.bidders[:2]
    world.clock.set(world.tender.bid_deadline_at - MS)
    signed = await submit(world, first, seal_for(world, first))
    assert signed.document["received_at"] == (
        (world.tender.bid_deadline_at - MS).strftime("%Y-%m-%dT%H:%M:%S.") + "999Z"
    )
    for late in (timedelta(0), MS):  # at the deadline, and one millisecond after it
        world.clock.set(world.tender.bid_deadline_at + late)
        await refused_with(world, "deadline_passed", submit(world, second, seal_for(world, second)))


async def test_an_upload_straddling_the_deadline_is_not_submitted(world: World) -> None:
    """T6 (EM 27): the upload began before the deadline, ended after it: not submitted, and
    not in the frozen set."""
    bidder = world.bidders[0]
    envelope = seal_for(world, bidder, documents={"big.bin": b"x" * 20_000})
    world.clock.set(world.tender.bid_deadline_at - timedelta(seconds=2))

    async def slow() -> AsyncIterator[bytes]:
        async for piece in pieces(envelope, 4000):
            yield piece
            world.clock.advance(seconds=1)  # the network is slow

    await refused_with(
        world,
        "deadline_passed",
        submission.submit_bid(
            world.pool,
            world.audit,
            bidder.party.actor,
            world.clock,
            tender_id=world.tender_id,
            source=slow(),
            content_length=len(envelope),
            settings=world.settings,
        ),
    )
    await run_due(world)
    async with world.pool.acquire() as conn:
        head = await conn.fetchrow(
            "SELECT tree_size FROM bid_tree_heads WHERE tender_id = $1", world.tender_id
        )
    assert head["tree_size"] == 0


async def test_a_bid_completing_just_after_the_deadline_is_refused_and_leaves_nothing(
    world: World,
) -> None:
    """T2, T6 (A4(a), EM 27–28): every byte staged before the deadline, but the deadline
    passes before the commit reads the clock under the tender lock: refused, nothing in the
    vault, nothing left staged, not in the frozen set."""
    bidder = world.bidders[0]
    envelope = seal_for(world, bidder, documents={"big.bin": b"x" * 20_000})
    world.clock.set(world.tender.bid_deadline_at - MS)

    async def last_byte_at_the_deadline() -> AsyncIterator[bytes]:
        async for piece in pieces(envelope, 4000):
            yield piece
        world.clock.set(world.tender.bid_deadline_at)  # the server's commit comes 1 ms late

    await refused_with(
        world,
        "deadline_passed",
        submission.submit_bid(
            world.pool,
            world.audit,
            bidder.party.actor,
            world.clock,
            tender_id=world.tender_id,
            source=last_byte_at_the_deadline(),
            content_length=len(envelope),
            settings=world.settings,
        ),
    )
    await run_due(world)
    async with world.pool.acquire() as conn:
        size = await conn.fetchval(
            "SELECT tree_size FROM bid_tree_heads WHERE tender_id = $1", world.tender_id
        )
        envelopes = await conn.fetchval("SELECT count(*) FROM blobs WHERE kind = 'bid_envelope'")
    assert size == 0 and envelopes == 0


async def test_replace_and_withdraw_until_the_deadline_each_with_a_receipt(world: World) -> None:
    """T5 (BL 29, IR 35): replace and withdraw before the deadline, each with a receipt;
    history kept (superseded, withdrawn); nothing after the deadline."""
    bidder = world.bidders[0]
    first = await submit(world, bidder, seal_for(world, bidder, schedule_json(100)))
    world.clock.advance(minutes=1)
    second_env = seal_for(world, bidder, schedule_json(90))
    second = await submit(world, bidder, second_env)
    assert second.document["action"] == "replace"
    assert second.document["sequence"] > first.document["sequence"]
    world.clock.advance(minutes=1)
    gone = await withdraw(world, bidder)
    assert gone.document["action"] == "withdraw"
    assert gone.document["envelope_sha256"] == sha256_hex(second_env)
    for signed in (first, second, gone):
        assert verify_receipt(signed.as_json(), world.audit.public_key)[0]
    third = await submit(world, bidder, seal_for(world, bidder, schedule_json(80)))
    assert third.document["action"] == "submit"
    async with world.pool.acquire() as conn:
        status = await submission.bid_status(conn, bidder.party.actor, world.tender_id)
        rows = await conn.fetch(
            "SELECT status FROM bids WHERE tender_id = $1 ORDER BY id", world.tender_id
        )
    assert [r["status"] for r in rows] == ["superseded", "withdrawn", "current"]
    assert [r["document"]["action"] for r in status["receipts"]] == [
        "submit",
        "replace",
        "withdraw",
        "submit",
    ]
    world.clock.set(world.tender.bid_deadline_at)
    await refused_with(world, "deadline_passed", submit(world, bidder, seal_for(world, bidder)))
    await refused_with(world, "deadline_passed", withdraw(world, bidder))


async def test_withdrawing_without_a_bid_is_refused(world: World) -> None:
    await refused_with(world, "no_current_bid", withdraw(world, world.bidders[0]))


async def test_plaintext_instead_of_an_envelope_is_refused(world: World) -> None:
    """T3 (EM 26): only sealed bids are accepted."""
    bidder = world.bidders[0]
    plaintext = b'{"amount_fen": 100, "duration_days": 30}' * 50
    await refused_with(world, "not_an_envelope", submit(world, bidder, plaintext))
    await refused_with(world, "truncated_envelope", submit(world, bidder, b""))


async def test_a_truncated_envelope_is_refused(world: World) -> None:
    bidder = world.bidders[0]
    envelope = seal_for(world, bidder, documents={"a.pdf": b"y" * 3000})
    for cut in (10, PREAMBLE_SIZE + 5, len(envelope) // 2, len(envelope) - 1):
        await refused_with(world, "truncated_envelope", submit(world, bidder, envelope[:cut]))


def swap_first_two_chunks(envelope: bytes) -> bytes:
    (header_len,) = struct.unpack(">I", envelope[11:15])
    pos = PREAMBLE_SIZE + header_len
    records = []
    for _ in range(2):
        (length,) = struct.unpack(">I", envelope[pos + 5 : pos + 9])
        records.append(envelope[pos : pos + 9 + length])
        pos += 9 + length
    return envelope[: PREAMBLE_SIZE + header_len] + records[1] + records[0] + envelope[pos:]


async def test_a_reordered_chunk_stream_is_refused(world: World) -> None:
    bidder = world.bidders[0]
    envelope = seal_for(world, bidder, documents={"a.pdf": b"z" * 2000})
    await refused_with(
        world, "chunk_out_of_order", submit(world, bidder, swap_first_two_chunks(envelope))
    )


async def test_an_envelope_for_another_tender_or_bidder_is_refused(world: World) -> None:
    """The header names the tender and the bidder; both must be this submission's."""
    bidder, other = world.bidders[:2]
    await refused_with(
        world, "header_mismatch", submit(world, bidder, seal_for(world, bidder, tender_id=999))
    )
    await refused_with(
        world, "header_mismatch", submit(world, bidder, seal_for(world, other, key=bidder.key))
    )


async def test_an_envelope_sealed_to_another_key_is_refused(world: World) -> None:
    bidder = world.bidders[0]
    _, stranger = generate_x25519()
    await refused_with(
        world,
        "wrong_recipient",
        submit(world, bidder, seal_for(world, bidder, tender_public=stranger)),
    )


async def test_a_bad_signature_is_refused(world: World) -> None:
    """Signed by a key not registered to the bidder, or altered after signing."""
    bidder = world.bidders[0]
    await refused_with(
        world,
        "bad_signature",
        submit(world, bidder, seal_for(world, bidder, key=generate_signing_key())),
    )
    for where in (-80, -10):  # the last chunk's tag; the signature itself
        envelope = bytearray(seal_for(world, bidder))
        envelope[where] ^= 1
        await refused_with(world, "bad_signature", submit(world, bidder, bytes(envelope)))


async def test_a_file_over_the_limit_is_refused(world: World) -> None:
    """A size limit per tender: declared too large, or streaming past the limit."""
    small = await new_tender(world, max_bid_bytes=4096)
    bidder = small.bidders[0]
    envelope = seal_for(small, bidder, documents={"a.pdf": b"q" * 6000})
    await refused_with(small, "bid_too_large", submit(small, bidder, envelope))
    await refused_with(
        small,
        "bid_too_large",
        submission.submit_bid(
            small.pool,
            small.audit,
            bidder.party.actor,
            small.clock,
            tender_id=small.tender_id,
            source=pieces(envelope, 1000),
            content_length=None,
            settings=small.settings,
        ),
    )


async def test_a_bidder_not_registered_or_without_a_deposit_or_key_may_not_submit(
    pool, audit, clock
) -> None:
    """A6/D2: registered, deposit confirmed, a registered signing key — or 403."""
    world = await make_world(pool, audit, clock, bidders=2, register=False)
    bidder = world.bidders[0]
    await refused_with(world, "not_registered", submit(world, bidder, seal_for(world, bidder)))
    unconfirmed = await new_tender(world, confirm=False)
    await refused_with(
        unconfirmed,
        "deposit_not_confirmed",
        submit(unconfirmed, bidder, seal_for(unconfirmed, bidder)),
    )
    async with pool.acquire() as conn:
        keyless = await make_user(conn, audit, clock, Role.BIDDER)
        await tenders.register_bidder(conn, audit, keyless.actor, clock.now(), world.tender_id)
    with pytest.raises(BidRejected) as info:
        await submission.submit_bid(
            pool,
            audit,
            keyless.actor,
            clock,
            tender_id=world.tender_id,
            source=pieces(b"x"),
            content_length=1,
            settings=world.settings,
        )
    assert info.value.code == "not_registered" or info.value.code == "deposit_not_confirmed"


async def test_the_platform_operator_and_its_affiliates_may_not_register(world: World) -> None:
    """T13 (EM 23): registration refused."""
    async with world.pool.acquire() as conn:
        affiliate = await make_org(
            conn, world.audit, world.clock, OrgKind.BIDDER, platform_affiliate=True
        )
        user = await make_user(conn, world.audit, world.clock, Role.BIDDER, org_id=affiliate)
        with pytest.raises(BidRejected) as info:
            await tenders.register_bidder(
                conn, world.audit, user.actor, world.clock.now(), world.tender_id
            )
    assert info.value.code == "platform_affiliate_may_not_bid" and info.value.status_hint == 403


async def test_registration_closes_at_the_deadline(world: World) -> None:
    async with world.pool.acquire() as conn:
        late = await make_user(conn, world.audit, world.clock, Role.BIDDER)
        world.clock.set(world.tender.bid_deadline_at)
        with pytest.raises(BidRejected) as info:
            await tenders.register_bidder(
                conn, world.audit, late.actor, world.clock.now(), world.tender_id
            )
    assert info.value.code == "deadline_passed"


async def test_refused_uploads_are_in_the_audit_log(world: World) -> None:
    """T12 (A4(g)): an attempt that fails is detectable."""
    bidder = world.bidders[0]
    await refused_with(world, "not_an_envelope", submit(world, bidder, b"plain text bid"))
    async with world.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT outcome, detail FROM audit_log WHERE action = 'bid.submit' ORDER BY seq DESC LIMIT 1"
        )
    assert row["outcome"] == "denied" and row["detail"]["code"] == "not_an_envelope"


async def test_at_the_deadline_the_set_is_frozen_and_each_bidder_gets_its_proof(
    world: World,
) -> None:
    """The deadline freezes current, non-withdrawn bids under a signed Merkle root."""
    from bidding.client import verify_proof

    a, b, c, d = world.bidders
    for bidder in (a, b, c, d):
        await submit(world, bidder, seal_for(world, bidder))
    await withdraw(world, d)
    async with world.pool.acquire() as conn:
        with pytest.raises(BidRejected) as info:
            await submission.proof_of_inclusion(conn, a.party.actor, world.tender_id)
    assert info.value.code == "bids_not_frozen"
    await to_deadline(world)
    assert world.tender.state == "closed"
    async with world.pool.acquire() as conn:
        for bidder in (a, b, c):
            proof = await submission.proof_of_inclusion(conn, bidder.party.actor, world.tender_id)
            assert verify_proof(proof, world.audit.public_key)[0]
            assert proof["tree_size"] == 3
        with pytest.raises(BidRejected) as info:
            await submission.proof_of_inclusion(conn, d.party.actor, world.tender_id)
    assert info.value.code == "not_in_frozen_set"
