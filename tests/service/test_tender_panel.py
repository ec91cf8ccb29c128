"""The panel of a tender and the panel's reading of the opened bids, against PostgreSQL with
a fake clock (issue 12, items 3–4).

Sources (RULES.md): T19 (IR 48: a replaced member's scores are void), E4 (BL 37, O12 8:
the list stays secret until the result is fixed), T3 (EM 26, 28: nothing readable at rest —
here after the opening too, outside the evaluation).
"""

from __future__ import annotations

import random

import pytest

from bidding.package import pack_bytes
from bidding.service import opening, reading
from bidding.service.reading import DocumentTap, ReadingReason
from bidding.vault import EvaluationKeys
from experts import draws, store
from experts.panel import MemberCommand
from experts.seating import seated_for_tender
from tests.service.test_bidding_support import (
    MARKER,
    hand_in,
    make_world,
    schedule_json,
    seal_for,
    share_of,
    submit,
    to_deadline,
    to_opening,
)
from tests.service.test_bidding_vault import holds, pg_dump
from tests.service.test_experts_draws import (
    SETTINGS,
    build_world,
    expert_user,
    members,
    request,
    run,
)
from tests.service.test_experts_pool import KEYS
from trading.errors import Rejected

DOC_MARKER = "PANEL-DOCUMENT-" + MARKER
EVAL_KEYS = EvaluationKeys(bytes(range(100, 132)))


async def confirm_all(pool, audit, clock, w, draw_id: int) -> None:
    for m in await members(pool, draw_id):
        if m["status"] != "summoned":
            continue
        u = await expert_user(pool, audit, clock, w, m["expert_id"])
        async with pool.acquire() as conn:
            await draws.answer_as_expert(conn, audit, u.actor, clock.now(), settings=SETTINGS,
                                         member_id=m["id"], command=MemberCommand.CONFIRM)  # fmt: skip


async def test_the_panel_of_a_tender_names_who_sat_and_whose_sheets_are_void(
    pool, audit, clock
) -> None:
    """T19 (IR 48): a member recused after seating is listed as replaced; the replacement,
    once confirmed, sits after them; both are linked to their logins."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w, tender_ref="tender:77", tender_id=77)
    assert view["tender_id"] == 77
    async with pool.acquire() as conn:
        committed = await seated_for_tender(conn, 77)
        assert committed is not None and committed.members == () and not committed.fixed
        assert await seated_for_tender(conn, 78) is None
    await run(pool, audit, clock, w, view["id"])
    async with pool.acquire() as conn:
        summoned = await seated_for_tender(conn, 77)
    assert summoned is not None and summoned.members == ()  # nobody sits before confirming
    await confirm_all(pool, audit, clock, w, view["id"])
    async with pool.acquire() as conn:
        panel = await seated_for_tender(conn, 77)
    assert panel is not None and len(panel.members) == 5
    assert all(m.user_id is not None and not m.replaced for m in panel.members)
    first = panel.members[0]

    u = w.expert_users[first.expert_id]
    seat = next(m for m in await members(pool, view["id"]) if m["expert_id"] == first.expert_id)
    async with pool.acquire() as conn:
        await draws.answer_as_expert(conn, audit, u.actor, clock.now(), settings=SETTINGS,
                                     member_id=seat["id"], command=MemberCommand.RECUSE,
                                     reason="a relative works for a bidder")  # fmt: skip
    await confirm_all(pool, audit, clock, w, view["id"])
    async with pool.acquire() as conn:
        after = await seated_for_tender(conn, 77)
    assert after is not None and len(after.members) == 6
    assert [m.expert_id for m in after.members if m.replaced] == [first.expert_id]
    assert after.members[-1].seat > max(m.seat for m in panel.members)
    assert after.member_of_user(u.user_id) is None  # replaced: no longer sits
    assert len(after.sitting()) == 5
    assert {m.seat for m in panel.members} <= {m.seat for m in after.members}  # seats stay


async def test_a_tender_panel_is_fixed_only_through_the_tender(pool, audit, clock) -> None:
    """E4 (BL 37): the list of a tender's panel is revealed when the tender's result is
    fixed, so the draw's own fix endpoint refuses it."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w, tender_ref="tender:5", tender_id=5)
    await run(pool, audit, clock, w, view["id"])
    await confirm_all(pool, audit, clock, w, view["id"])
    async with pool.acquire() as conn:
        with pytest.raises(Rejected) as err:
            await draws.fix_result(conn, audit, w.staff.actor, clock.now(), keys=KEYS,
                                   draw_id=view["id"])  # fmt: skip
        assert err.value.code == "wrong_draw_state"
        fixed = await draws.fix_result(conn, audit, w.staff.actor, clock.now(), keys=KEYS,
                                       draw_id=view["id"], for_tender=True)  # fmt: skip
        assert fixed["status"] == "fixed"
        assert (await draws.verify(conn, view["id"]))["ok"]
        panel = await seated_for_tender(conn, 5)
        assert panel is not None and panel.fixed
        assert (await store.get_draw(conn, view["id"]))["tender_ref"] == "tender:5"


async def test_the_panel_context_lists_every_registered_bidder(pool, audit, clock) -> None:
    """The exclusions are computed from the tender: every registered bidder's organisation."""
    world = await make_world(pool, audit, clock)
    async with pool.acquire() as conn:
        with pytest.raises(Rejected) as err:
            await reading.panel_context(conn, world.tender_id)
        assert err.value.code == "panel_requirements_missing"
        await reading.set_panel_requirements(
            conn, audit, world.staff.actor, clock.now(), world.tender_id,
            tenderee_org_id=world.bidders[0].org_id, supervising_org_ids=[],
            lines=[{"code": "A03", "count": 5, "region_rule": {"scope": "any", "regions": []},
                    "reserve": None}],
            tenderee_representatives=0, min_members=5,
        )  # fmt: skip
        ctx = await reading.panel_context(conn, world.tender_id)
    assert set(ctx.bidder_org_ids) == {b.org_id for b in world.bidders}
    assert ctx.requirements["lines"][0]["code"] == "A03"


async def test_bids_are_read_again_only_with_the_evaluation_key_and_never_lie_in_clear(
    pool, audit, clock, db_dsn
) -> None:
    """T3 after the opening: the documents are not in the database; the server opens a bid
    again in memory with the wrapped evaluation key, audits the read, and once the key is
    wiped nobody can read it again."""
    world = await make_world(pool, audit, clock)
    docs = {"tech.pdf": (DOC_MARKER + " tech ") * 300, "报价说明.txt": DOC_MARKER + " 报价"}
    for i, bidder in enumerate(world.bidders[:3]):
        envelope = seal_for(world, bidder, schedule_json(900_000_000 + i, 300),
                            {k: f"{v} {i}".encode() for k, v in docs.items()})  # fmt: skip
        await submit(world, bidder, envelope)
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    last = world.custodians[1]
    async with pool.acquire() as conn:
        await opening.hand_in_share(conn, audit, last.party.actor, clock.now(), world.tender_id,
                                    await share_of(world, last), world.settings, EVAL_KEYS)  # fmt: skip
    dump = await pg_dump(db_dsn)
    assert not holds(dump, DOC_MARKER), "a document is readable in the database after the opening"

    async with pool.acquire() as conn:
        listed = await reading.list_opened_bids(
            conn, audit, world.staff.actor, clock.now(), world.tender_id
        )
        assert sorted(b["amount_fen"] for b in listed) == [900_000_000, 900_000_001, 900_000_002]
        bid = next(b for b in listed if b["amount_fen"] == 900_000_001)
        data = await reading.read_document(conn, audit, world.staff.actor, clock.now(),
                                           tender_id=world.tender_id, bid_id=bid["bid_id"],
                                           name="报价说明.txt", keys=EVAL_KEYS)  # fmt: skip
        assert data == f"{DOC_MARKER} 报价 1".encode()
        big = await reading.read_document(conn, audit, world.staff.actor, clock.now(),
                                          tender_id=world.tender_id, bid_id=bid["bid_id"],
                                          name="tech.pdf", keys=EVAL_KEYS)  # fmt: skip
        assert big == f"{docs['tech.pdf']} 1".encode()
        reads = await conn.fetch(
            "SELECT object_id, detail FROM audit_log WHERE action = 'tender.evaluation_read' ORDER BY seq"
        )
        assert [r["detail"]["document"] for r in reads] == ["报价说明.txt", "tech.pdf"]
        with pytest.raises(Rejected) as err:  # another key does not open it
            await reading.read_document(conn, audit, world.staff.actor, clock.now(),
                                        tender_id=world.tender_id, bid_id=bid["bid_id"],
                                        name="tech.pdf", keys=EvaluationKeys(bytes(32)))  # fmt: skip
        assert err.value.code == "evaluation_key_gone"

        assert await reading.close_evaluation_access(
            conn, audit, world.staff.actor, clock.now(), world.tender_id
        )
        with pytest.raises(Rejected) as err:
            await reading.read_document(conn, audit, world.staff.actor, clock.now(),
                                        tender_id=world.tender_id, bid_id=bid["bid_id"],
                                        name="tech.pdf", keys=EVAL_KEYS)  # fmt: skip
        assert err.value.reason is ReadingReason.EVALUATION_KEY_GONE
    assert not holds(await pg_dump(db_dsn), DOC_MARKER)


def test_the_document_tap_keeps_one_document_whatever_the_pieces() -> None:
    """The tap walks the package format and keeps only the document asked for."""
    package = pack_bytes(schedule_json(), {"a.pdf": b"A" * 5000, "b.txt": b"bee", "c": b""})
    rng = random.Random(7)
    for want, expected in (("a.pdf", b"A" * 5000), ("b.txt", b"bee"), ("c", b""), ("z", None)):
        tap = DocumentTap(want, 10_000)
        pos = 0
        while pos < len(package):
            n = rng.randint(1, 700)
            tap.write(package[pos : pos + n])
            pos += n
        assert tap.data() == expected
