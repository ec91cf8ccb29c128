"""Auction use cases and the engine's store against real PostgreSQL, with a fake clock:
the group-commit INSERT, the log's append-only table, admission and paddles, the sealed
reserve (no plaintext in the database before the close), settling a closed lot once.

Sources: RULES.md A3, A4, A6, A7; DESIGN.md "Auctions" and "Security model".
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from auction import service, store
from auction.engine import rows_of
from auction.errors import AuctionRejected
from auction.model import (
    BidAccepted,
    BidderAdmitted,
    LotConfig,
    LotStarted,
    Phase,
    PlaceBid,
    RevealReserve,
    SealReserve,
    Start,
    Tick,
)
from auction.reserve import ReserveKey
from auction.rules import decide, initial_state
from auction.store import PgLogStore
from crypto.errors import SealedBoxError
from tests.helpers import make_org, make_user
from trading import admission
from trading.context import Role
from trading.parties.model import OrgKind

START = 1_000_000
INC = 10_000


async def land_lot(conn, audit, clock, staff, **kw):  # type: ignore[no-untyped-def]
    now = clock.now()
    return await service.create_land_lot(
        conn,
        audit,
        staff.actor,
        now,
        title="plot",
        description="",
        starting_price_fen=START,
        increment_fen=INC,
        deposit_fen=START // 5,
        listing_starts_at=now,
        listing_ends_at=now + timedelta(days=10),
        options=kw,
    )


async def test_the_store_writes_a_flush_in_one_statement_and_reads_it_back(
    pool, audit, clock
) -> None:
    """DESIGN: one INSERT of many rows per flush; the log replays to the same events."""
    async with pool.acquire() as conn:
        staff = await make_user(conn, audit, clock, Role.STAFF)
        lot = await land_lot(conn, audit, clock, staff)
    config = LotConfig.land(
        lot_id=str(lot["id"]),
        starting_price_fen=START,
        increment_fen=INC,
        deposit_fen=START // 5,
        listing_starts_at=clock.now(),
        listing_ends_at=clock.now() + timedelta(days=10),
    )
    state = decide(initial_state(config), Start(), clock.now()).state
    events = [
        LotStarted(
            seq=1,
            at=state.started_at,
            phase=Phase.LISTING,
            listing_ends_at=state.listing_ends_at,
            countdown_ends_at=None,
        )
    ]
    events += [
        BidAccepted(
            seq=n + 2,
            at=clock.now(),
            bid_id=f"b{n}",
            paddle=f"10000{n % 3}",
            amount_fen=START + n * INC,
            countdown_ends_at=None,
        )
        for n in range(500)
    ]
    events.append(BidderAdmitted(seq=502, at=clock.now(), paddle="100009"))
    log_store = PgLogStore("unused", pool)
    async with pool.acquire() as conn:
        log_store._conn = conn  # the writer's connection, borrowed for the test
        assert await log_store.claim([lot["id"]]) == [lot["id"]]  # only an owner writes a lot
        await log_store.append(rows_of(lot["id"], events))
        await log_store.release(lot["id"])
        log_store._conn = None
        with pytest.raises(asyncpg.UniqueViolationError):  # a seq is written once
            await conn.execute(
                "INSERT INTO auction_events (lot_id, seq, at, type, public, data) VALUES ($1, 2, now(), 'x', true, '{}')",
                lot["id"],
            )
        with pytest.raises(asyncpg.PostgresError):  # append-only
            await conn.execute("UPDATE auction_events SET data = '{}' WHERE lot_id = $1", lot["id"])
        with pytest.raises(asyncpg.PostgresError):
            await conn.execute("DELETE FROM auction_events WHERE lot_id = $1", lot["id"])
    loaded = await log_store.load_lot(lot["id"])
    assert loaded is not None and loaded.events == events and loaded.config == config
    public = await log_store.public_events(lot["id"], 499, 502)
    assert [seq for seq, _ in public] == [500, 501]  # the admission is not public


async def test_paddles_are_six_random_digits_unique_in_their_scope(pool, audit, clock) -> None:
    """A6: each admitted bidder is known by a paddle number (竞买号) only."""
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())  # many entries: checkpoints are signed
        staff = await make_user(conn, audit, clock, Role.STAFF)
        session = await service.create_plate_session(
            conn,
            audit,
            staff.actor,
            clock.now(),
            title="s",
            starts_at=clock.now(),
            countdown_s=60,
            lots=[
                {"title": "浙E·1", "starting_price_fen": 100, "increment_fen": 10, "deposit_fen": 1}
            ],
        )
        ref = f"auction_session:{session['id']}"
        orgs = [await make_org(conn, audit, clock) for _ in range(300)]
        await conn.executemany(
            "INSERT INTO admission_flags (org_id, project_ref, confirmed_by, confirmed_at) VALUES ($1, $2, $3, $4)",
            [(o, ref, staff.user_id, clock.now()) for o in orgs],
        )
        admitted = await service.admit(
            conn, audit, staff.actor, clock.now(), scope=f"session:{session['id']}", org_ids=orgs
        )
        paddles = [a["paddle"] for a in admitted]
        assert len(set(paddles)) == 300 and all(p.isdigit() and len(p) == 6 for p in paddles)
        assert paddles != sorted(paddles)  # not in the order of admission
        entries = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'auction.admit'"
        )
        assert entries == 1


async def test_a_platform_affiliate_or_a_non_bidder_is_not_admitted(pool, audit, clock) -> None:
    """EM 23 (as T13): the platform operator and its affiliates may not bid."""
    async with pool.acquire() as conn:
        staff = await make_user(conn, audit, clock, Role.STAFF)
        lot = await land_lot(conn, audit, clock, staff)
        affiliate = await make_org(conn, audit, clock, platform_affiliate=True)
        agency = await make_org(conn, audit, clock, OrgKind.AGENCY)
        for org in (affiliate, agency):
            await admission.flag_confirmed(
                conn,
                audit,
                staff.actor,
                clock.now(),
                org_id=org,
                project_ref=f"lot:{lot['id']}",
                note="x",
            )
        with pytest.raises(AuctionRejected) as refused:
            await service.admit(
                conn,
                audit,
                staff.actor,
                clock.now(),
                scope=f"lot:{lot['id']}",
                org_ids=[affiliate, agency],
            )
        assert [e["code"] for e in refused.value.details["errors"]] == [
            "not_a_bidder",
            "not_a_bidder",
        ]
        assert await conn.fetchval("SELECT count(*) FROM auction_paddles") == 0


async def test_the_reserve_is_nowhere_in_the_database_before_the_close(
    pool, audit, clock, tmp_path
) -> None:
    """A3: the reserve is entered under supervision (alert, audit), stays encrypted, and is
    checked only at the close; a dump of every auction table holds no plaintext amount."""
    key = ReserveKey.load_or_create(tmp_path / "reserve.key")
    assert (tmp_path / "reserve.key").stat().st_mode & 0o777 == 0o600
    reserve = 1_234_567
    async with pool.acquire() as conn:
        staff = await make_user(conn, audit, clock, Role.STAFF)
        lot = await land_lot(conn, audit, clock, staff)
        other = await land_lot(conn, audit, clock, staff)
        sealed = await service.enter_reserve(
            conn, audit, staff.actor, clock.now(), lot_id=lot["id"], reserve_fen=reserve, key=key
        )
        dump = ""
        for table in (
            "auction_lots",
            "auction_events",
            "auction_reserves",
            "auction_paddles",
            "audit_log",
            "alerts",
        ):
            rows = await conn.fetch(f"SELECT * FROM {table}")
            dump += repr([dict(r) for r in rows])
        assert str(reserve) not in dump and "12345.67" not in dump
        alert = await conn.fetchrow("SELECT * FROM alerts WHERE kind = 'auction.reserve_entered'")
        assert alert is not None and alert["detail"]["commitment"] == sealed.commitment
        opened, salt = await service.open_reserve(
            conn, key, lot_id=lot["id"], commitment=sealed.commitment
        )
        assert opened == reserve and len(salt) == 32
        row = await store.get_reserve(conn, lot["id"], sealed.commitment)
        with pytest.raises(SealedBoxError):  # a box is bound to its lot
            key.open(other["id"], row["sealed_box"])
        with pytest.raises(SealedBoxError):  # and to the key
            ReserveKey.generate().open(lot["id"], row["sealed_box"])


async def test_settling_a_closed_lot_records_the_result_once(pool, audit, clock, tmp_path) -> None:
    """A4, A7: the result is written once (a restart may settle again); the winner is told
    the confirmation is ready and the deposit converts; the others that it is refundable."""
    key = ReserveKey.load_or_create(tmp_path / "reserve.key")
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
        staff = await make_user(conn, audit, clock, Role.STAFF)
        lot = await land_lot(conn, audit, clock, staff, countdown_s=60)
        bidders = [await make_user(conn, audit, clock, Role.BIDDER) for _ in range(3)]
        for b in bidders:
            await admission.flag_confirmed(
                conn,
                audit,
                staff.actor,
                clock.now(),
                org_id=b.org_id,
                project_ref=f"lot:{lot['id']}",
                note="x",
            )
        admitted = await service.admit(
            conn,
            audit,
            staff.actor,
            clock.now(),
            scope=f"lot:{lot['id']}",
            org_ids=[b.org_id for b in bidders],
        )
        sealed = await service.enter_reserve(
            conn, audit, staff.actor, clock.now(), lot_id=lot["id"], reserve_fen=START, key=key
        )
        paddles = {a["paddle"] for a in admitted}
        config = LotConfig.land(
            lot_id=str(lot["id"]),
            starting_price_fen=START,
            increment_fen=INC,
            deposit_fen=START // 5,
            listing_starts_at=clock.now(),
            listing_ends_at=clock.now() + timedelta(days=10),
            countdown_s=60,
        )
        state = initial_state(config)
        now = clock.now()
        for command in (SealReserve(commitment=sealed.commitment), Start()):
            state = decide(state, command, now).state
        winner = admitted[1]["paddle"]
        state = decide(
            state,
            PlaceBid(bid_id="w", paddle=winner, amount_fen=START + INC),
            now,
            admitted=paddles,
        ).state
        state = decide(state, Tick(), now + timedelta(days=11)).state
        fen, salt = await service.open_reserve(
            conn, key, lot_id=lot["id"], commitment=sealed.commitment
        )
        state = decide(
            state, RevealReserve(reserve_fen=fen, salt=salt), now + timedelta(days=11)
        ).state
        assert state.phase is Phase.CLOSED and state.winner == winner
        assert await service.settle(
            conn, audit, clock.now(), lot_id=lot["id"], state=state, key=key
        )
        assert not await service.settle(
            conn, audit, clock.now(), lot_id=lot["id"], state=state, key=key
        )
        row = await store.get_lot(conn, lot["id"])
        assert row["status"] == "closed" and row["winner_org_id"] == admitted[1]["org_id"]
        assert row["price_fen"] == START + INC and row["reserve_fen"] == START
        notices = await conn.fetch(
            "SELECT org_id, subject FROM notices WHERE object_id = $1", str(lot["id"])
        )
        assert sorted(n["org_id"] for n in notices) == sorted(b.org_id for b in bidders)
        assert sum("won" in n["subject"] for n in notices) == 1
        assert (
            await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'auction.lot.close'")
            == 1
        )
        result = await service.result(conn, lot["id"])
        assert result["reserve"]["reserve_fen"] == START and result["premium_pct"] == "1.00"
        assert result["winner"]["paddle"] == winner and result["price_yuan"] == "10100.00"


def test_money_renders_in_yuan_by_one_function() -> None:
    """STYLE: money is int fen; render decimals at the edge through one function."""
    assert (
        service.yuan(12_345_678) == "123456.78"
        and service.yuan(5) == "0.05"
        and service.yuan(None) is None
    )
