"""The deadline and the opening against PostgreSQL with a fake clock.

Sources (RULES.md): T7 (BL 28, IR 44: fewer than 3 bids — no opening, the tender fails and
may be re-tendered; a bid that later fails to decrypt still counts), T8 (BL 34: opening
at the announced time), T9 (PT: k of n custodians; k − 1 cannot open; the same custodian
twice counts once), T10 (EM 31: bidder's fault → revoked, other cause → withdrawn +
incident; the others go on), T11 (BL 36, EM 30: the record is signed and published
without confidential fields), T12 (A4(g), EM 48–49: early access attempts are in the
audit log).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidding.client import open_sealed_share
from bidding.errors import BidRejected
from bidding.model import TenderState
from bidding.records import OPENING_RECORD_TYPE, PUBLIC_RECORD_TYPE, verify_signed
from bidding.service import opening, tenders
from crypto.envelope.format import PREAMBLE_SIZE, SIGNATURE_LABEL
from crypto.keys import b64url_encode
from crypto.shamir import Share
from crypto.signing import SigningKey
from tests.service.test_bidding_support import (
    MARKER,
    World,
    hand_in,
    make_world,
    new_tender,
    schedule_json,
    seal_for,
    share_of,
    submit,
    to_deadline,
    to_opening,
)
from trading.supervision import list_alerts


@pytest.fixture
async def world(pool, audit, clock) -> World:
    return await make_world(pool, audit, clock)


async def rejected(coro: object) -> BidRejected:
    with pytest.raises(BidRejected) as info:
        await coro  # type: ignore[misc]
    return info.value


async def three_bids_and_open_session(world: World) -> None:
    for i, bidder in enumerate(world.bidders[:3]):
        await submit(world, bidder, seal_for(world, bidder, schedule_json(1000 + i)))
    await to_deadline(world)
    await to_opening(world)


def garbage_but_signed(envelope: bytes, key: SigningKey) -> bytes:
    """What a broken (or malicious) bidder's client could send: well-formed, signed by the
    bidder, for this tender and key — but a chunk that does not decrypt."""
    data = bytearray(envelope)
    header_len = int.from_bytes(data[11:15], "big")
    data[PREAMBLE_SIZE + header_len + 9 + 3] ^= 0xFF  # inside chunk 0's ciphertext
    body = bytes(data[:-73])
    signature = key.sign(SIGNATURE_LABEL + hashlib.sha256(body).digest())
    return body + bytes(data[-73:-64]) + signature


async def test_fewer_than_three_bids_fail_the_tender_and_it_may_be_retendered(world: World) -> None:
    """T7 (BL 28, IR 44): 2 bids → failed, a signed record says so, no opening; re-tender."""
    for bidder in world.bidders[:2]:
        await submit(world, bidder, seal_for(world, bidder))
    await to_deadline(world)
    assert (
        world.tender.state is TenderState.FAILED and world.tender.failure_reason == "too_few_bids"
    )
    await to_opening(world)
    assert world.tender.state is TenderState.FAILED
    async with world.pool.acquire() as conn:
        record = await opening.get_opening_record(conn, world.tender_id, public=False)
        assert record.document["status"] == "failed" and record.document["bid_count"] == 2
        assert verify_signed(record, world.audit.public_key, expected_type=OPENING_RECORD_TYPE)
        assert (
            await rejected(
                opening.sealed_share(
                    conn,
                    world.audit,
                    world.custodians[0].party.actor,
                    world.clock.now(),
                    world.tender_id,
                )
            )
        ).code == "tender_failed"
        again = await tenders.retender(
            conn,
            world.audit,
            world.staff.actor,
            world.clock.now(),
            world.tender_id,
            code="RE-1",
            bid_deadline_at=world.clock.now() + timedelta(days=20),
            opening_at=world.clock.now() + timedelta(days=20),
            settings=world.settings,
        )
    assert again.retender_of == world.tender_id and again.state is TenderState.DRAFT


async def test_a_bid_that_later_fails_to_decrypt_still_counts_toward_three(world: World) -> None:
    """T7: three bids are three bids, whatever is inside them; T10: the bad one is revoked."""
    a, b, c = world.bidders[:3]
    await submit(world, a, garbage_but_signed(seal_for(world, a), a.key))
    await submit(world, b, seal_for(world, b))
    await submit(world, c, seal_for(world, c))
    await to_deadline(world)
    assert world.tender.state is TenderState.CLOSED
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    result = await hand_in(world, world.custodians[1])
    entries = result["record"]["document"]["entries"]
    assert [e["outcome"] for e in entries] == ["revoked", "opened", "opened"]
    assert (
        entries[0]["failure"]["cause"] == "bidder"
        and entries[0]["failure"]["code"] == "decrypt_failed"
    )


async def test_k_minus_one_shares_cannot_open_and_the_opening_says_whose_share_is_missing(
    pool, audit, clock
) -> None:
    """T9 (PT): with 3 of 5 needed, two shares leave the opening waiting, naming the rest."""
    world = await make_world(pool, audit, clock, k=3, n=5)
    await three_bids_and_open_session(world)
    one, two, *rest = world.custodians
    await hand_in(world, one)
    status = await hand_in(world, two)
    assert (
        status["state"] == "opening"
        and status["shares_received"] == 2
        and status["shares_needed"] == 1
    )
    assert status["missing"] == [c.party.username for c in rest]
    assert "record" not in status
    result = await hand_in(world, rest[1])
    assert result["state"] == "opened" and result["shares_needed"] == 0


async def test_the_same_custodian_twice_counts_once(world: World) -> None:
    """T9 (PT): a repeated share counts once; the opening still waits for a second custodian."""
    await three_bids_and_open_session(world)
    custodian = world.custodians[0]
    share = await share_of(world, custodian)
    first = await hand_in(world, custodian, share)
    again = await hand_in(world, custodian, share)
    assert (first["counted"], again["counted"]) == (True, False)
    assert again["shares_received"] == 1 and again["state"] == "opening"
    assert again["missing"] == [c.party.username for c in world.custodians[1:]]


async def test_a_share_that_does_not_fit_is_refused_and_recorded(world: World) -> None:
    """T9: a share of another tender, or forged, is refused (422), recorded in the audit log
    with a supervision alert; a malformed one is refused as malformed."""
    other = await new_tender(world)  # the same custodians hold shares of another tender
    await three_bids_and_open_session(world)
    custodian = world.custodians[0]
    async with world.pool.acquire() as conn:
        sealed = await conn.fetchval(
            "SELECT sealed_share FROM tender_custodians WHERE tender_id = $1 AND user_id = $2",
            other.tender_id,
            custodian.party.user_id,
        )
    foreign = open_sealed_share(b64url_encode(bytes(sealed)), custodian.private, other.tender_id)
    forged = Share(x=1, k=2, y=bytes(32)).encode()
    for share in (foreign, forged):
        err = await rejected(hand_in(world, custodian, share))
        assert err.code == "share_does_not_fit" and err.status_hint == 422
    assert (await rejected(hand_in(world, custodian, "S1-2-1-zz"))).code == "malformed_share"
    async with world.pool.acquire() as conn:
        failed = await conn.fetch(
            "SELECT outcome, detail FROM audit_log WHERE action = 'tender.share_hand_in' ORDER BY seq"
        )
        alerts = await list_alerts(conn, kind="bidding.share_does_not_fit")
        stored = await conn.fetchval("SELECT count(*) FROM opening_shares")
    assert [r["outcome"] for r in failed] == ["failed", "failed", "denied"]
    assert len(alerts) == 2 and stored == 0
    status = await hand_in(world, custodian)  # the right share still counts
    assert status["counted"] is True


async def test_a_share_from_a_non_custodian_is_refused(world: World) -> None:
    await three_bids_and_open_session(world)
    bidder = world.bidders[0]
    async with world.pool.acquire() as conn:
        err = await rejected(
            opening.hand_in_share(
                conn,
                world.audit,
                bidder.party.actor,
                world.clock.now(),
                world.tender_id,
                Share(x=1, k=2, y=bytes(32)).encode(),
                world.settings,
            )
        )
    assert err.code == "not_a_custodian" and err.status_hint == 403


async def test_fetching_or_handing_in_a_share_before_the_opening_is_refused_and_audited(
    world: World,
) -> None:
    """T12 (A4(g), EM 48–49): every attempt to fetch or open before the time is in the log,
    although it is a 409."""
    custodian = world.custodians[0]
    async with world.pool.acquire() as conn:
        err = await rejected(
            opening.sealed_share(
                conn, world.audit, custodian.party.actor, world.clock.now(), world.tender_id
            )
        )
        assert err.code == "opening_not_started" and err.status_hint == 409
        err = await rejected(
            opening.hand_in_share(
                conn,
                world.audit,
                custodian.party.actor,
                world.clock.now(),
                world.tender_id,
                Share(x=1, k=2, y=bytes(32)).encode(),
                world.settings,
            )
        )
        assert err.code == "opening_not_started"
        rows = await conn.fetch(
            "SELECT action, outcome, actor_user_id, detail FROM audit_log "
            "WHERE action IN ('tender.share_fetch', 'tender.share_hand_in') ORDER BY seq"
        )
    assert [(r["action"], r["outcome"], r["detail"]["code"]) for r in rows] == [
        ("tender.share_fetch", "denied", "opening_not_started"),
        ("tender.share_hand_in", "denied", "opening_not_started"),
    ]
    assert {r["actor_user_id"] for r in rows} == {custodian.party.user_id}


async def test_the_opening_session_starts_at_the_opening_time(world: World) -> None:
    """T8 (BL 34): the scheduler starts the session at the announced time, not before."""
    await three_bids_and_open_session(world)
    assert world.tender.state is TenderState.OPENING
    assert world.tender.opening_started_at == world.tender.opening_at


async def test_bidders_fault_is_revoked_other_causes_withdrawn_with_an_incident(
    world: World,
) -> None:
    """T10 (EM 31): both causes recorded; the opening completes for the others."""
    a, b, c, d = world.bidders
    await submit(world, a, seal_for(world, a, b'{"amount_fen": 1.5, "duration_days": 3}'))
    await submit(world, b, seal_for(world, b, documents={"x.pdf": b"b" * 2000}))
    await submit(world, c, seal_for(world, c, schedule_json(300)))
    await submit(world, d, seal_for(world, d, schedule_json(400)))
    await to_deadline(world)
    async with world.pool.acquire() as conn:  # the vault is damaged under bid b (storage fault)
        blob_id = await conn.fetchval("SELECT blob_id FROM bids WHERE org_id = $1", b.org_id)
        await conn.execute("ALTER TABLE blob_chunks DISABLE TRIGGER blob_chunks_append_only")
        await conn.execute(
            "UPDATE blob_chunks SET data = overlay(data placing '\\x00'::bytea from 700) "
            "WHERE blob_id = $1 AND seq = 0",
            blob_id,
        )
        await conn.execute("ALTER TABLE blob_chunks ENABLE TRIGGER blob_chunks_append_only")
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    result = await hand_in(world, world.custodians[2])
    entries = {e["bidder_org_id"]: e for e in result["record"]["document"]["entries"]}
    assert entries[a.org_id]["outcome"] == "revoked"
    assert entries[a.org_id]["failure"]["code"] == "malformed_price_schedule"
    assert (
        entries[b.org_id]["outcome"] == "withdrawn"
        and entries[b.org_id]["failure"]["cause"] == "other"
    )
    assert (entries[c.org_id]["amount_fen"], entries[d.org_id]["amount_fen"]) == (300, 400)
    async with world.pool.acquire() as conn:
        alerts = await list_alerts(conn, kind="bidding.opening_incident")
        outcomes = dict(
            await conn.fetch(
                "SELECT org_id, outcome FROM bids WHERE tender_id = $1", world.tender_id
            )
        )
    assert len(alerts) == 1 and alerts[0]["severity"] == "critical"
    assert outcomes == {
        a.org_id: "revoked",
        b.org_id: "withdrawn",
        c.org_id: "opened",
        d.org_id: "opened",
    }


async def test_the_opening_record_is_signed_and_its_public_view_omits_confidential_fields(
    world: World,
) -> None:
    """T11 (BL 36, EM 30)."""
    for i, bidder in enumerate(world.bidders[:3]):
        schedule = schedule_json(
            5000 + i,
            200 + i,
            declared_items={"质量": "合格", "工期承诺": f"{200 + i} 天"},
            confidential_items={"分项报价": f"secret-{i}"},
        )
        await submit(
            world, bidder, seal_for(world, bidder, schedule, {"技术标.pdf": b"tech" * 100})
        )
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[1])
    await hand_in(world, world.custodians[2])
    async with world.pool.acquire() as conn:
        full = await opening.get_opening_record(conn, world.tender_id, public=False)
        public = await opening.get_opening_record(conn, world.tender_id, public=True)
    assert verify_signed(full, world.audit.public_key, expected_type=OPENING_RECORD_TYPE)
    assert verify_signed(public, world.audit.public_key, expected_type=PUBLIC_RECORD_TYPE)
    entries = full.document["entries"]
    assert [(e["amount_fen"], e["duration_days"]) for e in entries] == [
        (5000, 200),
        (5001, 201),
        (5002, 202),
    ]
    assert entries[0]["declared_items"] == {"质量": "合格", "工期承诺": "200 天"}
    assert entries[0]["documents"][0]["name"] == "技术标.pdf"
    text = json.dumps(public.document, ensure_ascii=False)
    assert "secret-0" not in text and "技术标.pdf" not in text and "custodian" not in text
    assert public.document["entries"][2]["amount_fen"] == 5002
    assert full.document["opened_at"] == public.document["opened_at"]


async def test_only_k_minus_one_shares_are_ever_stored_and_they_are_wiped_at_the_opening(
    world: World,
) -> None:
    """k − 1 shares say nothing about the key: the k-th is never written."""
    await three_bids_and_open_session(world)
    await hand_in(world, world.custodians[0])
    async with world.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT count(*) FROM opening_shares WHERE share IS NOT NULL") == 1
        )
    await hand_in(world, world.custodians[1])
    async with world.pool.acquire() as conn:
        rows = await conn.fetch("SELECT share, wiped_at FROM opening_shares ORDER BY position")
    assert [r["share"] for r in rows] == [None, None]
    assert rows[0]["wiped_at"] is not None and rows[1]["wiped_at"] is None  # the 2nd never stored
    async with world.pool.acquire() as conn:
        err = await rejected(
            opening.hand_in_share(
                conn,
                world.audit,
                world.custodians[2].party.actor,
                world.clock.now(),
                world.tender_id,
                Share(x=3, k=2, y=bytes(32)).encode(),
                world.settings,
            )
        )
    assert err.code == "opening_completed"


_cache: dict[int, World] = {}


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    bids=st.lists(
        st.tuples(
            st.integers(1, 10**15),
            st.integers(1, 36500),
            st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20), max_size=3),
            st.dictionaries(
                st.sampled_from(["a.pdf", "b.docx", "报价.xlsx"]),
                st.binary(max_size=3000),
                max_size=2,
            ),
        ),
        min_size=3,
        max_size=4,
    ),
    piece=st.sampled_from([7, 500, 4096]),
)
async def test_round_trip_through_the_service_seal_submit_freeze_open(
    pool, audit, clock, bids, piece
) -> None:
    """EM 26–30: what each bidder sealed is what the opening record says, to the fen."""
    key = id(pool)
    if key not in _cache:
        _cache.clear()
        _cache[key] = await make_world(pool, audit, clock, publish=False)
    world = await new_tender(_cache[key])
    for bidder, (amount, duration, declared, docs) in zip(world.bidders, bids, strict=False):
        schedule = schedule_json(amount, duration, declared_items=declared)
        await submit(world, bidder, seal_for(world, bidder, schedule, docs), piece=piece)
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[2])
    result = await hand_in(world, world.custodians[0])
    entries = result["record"]["document"]["entries"]
    assert [(e["amount_fen"], e["duration_days"], e["declared_items"]) for e in entries] == [
        (amount, duration, declared) for amount, duration, declared, _ in bids
    ]
    for entry, (_, _, _, docs) in zip(entries, bids, strict=True):
        assert {d["name"]: d["sha256"] for d in entry["documents"]} == {
            name: hashlib.sha256(data).hexdigest() for name, data in docs.items()
        }
    assert MARKER not in json.dumps(entries)
