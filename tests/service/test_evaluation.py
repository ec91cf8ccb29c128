"""The evaluation against PostgreSQL with a fake clock; the panel is passed in explicitly
(the web layer takes it from ``experts.seating``).

Sources (RULES.md): T16 (O12 29–37: weights fixed at publication), T17 (IR 53, O12 42–45:
≤ 3 candidates, every member signs, dissent in writing, silence = consent), T19 (IR 48:
a replaced member's scores are void, the replacement scores afresh), W3 (IR 27, 51(5):
above the control price → rejected with the cause in the report), W4 (IR 51), W5 (O12 21:
a flagged bid cannot be ranked until the panel's finding), W6 (IR 52: a clarification
never changes the price), W7 (BL 42: too few valid → failed).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from bidding.evaluation import records, rules, service
from bidding.evaluation.errors import EvaluationRejected
from bidding.evaluation.model import (
    Criterion,
    EvaluationMethod,
    EvaluationSettings,
    MethodSpec,
    PanelMember,
)
from bidding.evaluation.verify import verify_record
from bidding.model import TenderDraft
from bidding.service import tenders
from crypto.signing import SigningKey, canonical_json, generate_signing_key, public_key_bytes
from tests.helpers import Party, make_user
from tests.service.test_bidding_support import (
    World,
    hand_in,
    make_world,
    registry_for,
    schedule_json,
    seal_for,
    submit,
    to_deadline,
    to_opening,
)
from trading import admission
from trading.audit import AuditLog
from trading.calendar import EventContext, Scheduler
from trading.clock import FakeClock
from trading.context import Role
from trading.parties import service as parties

CRITERIA = (
    Criterion("price", "价格 Price", 40),
    Criterion("technical", "技术 Technical", 35),
    Criterion("business", "商务 Business", 25),
)
SPEC = MethodSpec(
    EvaluationMethod.COMPREHENSIVE, CRITERIA, control_price_fen=1_080_000, budget_fen=1_200_000
)
SETTINGS = EvaluationSettings(signing_window_s=3600)


@dataclass
class Expert:
    party: Party
    key: SigningKey = field(repr=False)
    member: PanelMember


@dataclass
class Ev:
    world: World
    experts: list[Expert]
    bid_ids: list[int]

    @property
    def pool(self) -> asyncpg.Pool:
        return self.world.pool

    @property
    def audit(self) -> AuditLog:
        return self.world.audit

    @property
    def clock(self) -> FakeClock:
        return self.world.clock

    @property
    def tender_id(self) -> int:
        return self.world.tender_id

    @property
    def members(self) -> list[PanelMember]:
        return [e.member for e in self.experts]


async def make_ev(
    pool: asyncpg.Pool,
    audit: AuditLog,
    clock: FakeClock,
    prices: tuple[int, ...] = (1_000_000, 1_020_000, 1_050_000, 1_100_000),
    spec: MethodSpec = SPEC,
    n_experts: int = 5,
) -> Ev:
    """An opened tender (comprehensive scoring unless told) with one bid per price, and
    ``n_experts`` seated members, each with a registered Ed25519 key."""
    world = await make_world(pool, audit, clock, bidders=len(prices), publish=False)
    now = clock.now()
    async with pool.acquire() as conn:
        await service.set_method(conn, audit, world.staff.actor, now, world.tender_id, spec)
        tender = await tenders.publish_tender(conn, audit, world.staff.actor, now, world.tender_id)
        for b in world.bidders:
            await tenders.register_bidder(conn, audit, b.party.actor, now, tender.id)
            await admission.flag_confirmed(
                conn, audit, world.staff.actor, now, org_id=b.org_id,
                project_ref=tender.project_ref, note="test deposit",
            )  # fmt: skip
        experts = []
        for i in range(n_experts):
            party = await make_user(conn, audit, clock, Role.EXPERT)
            key = generate_signing_key()
            await parties.register_key(conn, audit, party.actor, now, public_key=public_key_bytes(key))
            experts.append(Expert(party, key, PanelMember(i + 1, f"E{party.user_id:06d}", party.user_id, party.username)))
    world = replace(world, tender=tender)
    for bidder, price in zip(world.bidders, prices, strict=True):
        await submit(world, bidder, seal_for(world, bidder, schedule_json(price)))
        clock.advance(seconds=1)
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    result = await hand_in(world, world.custodians[1])
    bid_ids = [e["bid_id"] for e in result["record"]["document"]["entries"]]
    await world.reload()
    return Ev(world, experts, bid_ids)


@pytest.fixture
async def ev(pool, audit, clock) -> Ev:
    return await make_ev(pool, audit, clock)


def sheet_doc(ev: Ev, e: Expert, *, revision: int = 1, technical: str = "30",
              fail: dict[int, str] | None = None, spec: MethodSpec = SPEC) -> dict[str, Any]:  # fmt: skip
    fail = fail or {}
    scored = spec.method is EvaluationMethod.COMPREHENSIVE
    return records.sheet_document(
        tender_id=ev.tender_id, expert_id=e.member.expert_id, revision=revision,
        reviews=[
            {"bid_id": b, "passed": b not in fail, "cause": fail.get(b),
             "reason": "见评审意见 see the review" if b in fail else ""}
            for b in ev.bid_ids
        ],
        points={b: {"technical": technical, "business": "20"} for b in ev.bid_ids if b not in fail}
        if scored else {},
    )  # fmt: skip


def signed(e: Expert, document: dict[str, Any]) -> bytes:
    return e.key.sign(canonical_json(document))


async def hand_sheet(ev: Ev, e: Expert, document: dict[str, Any] | None = None,
                     members: list[PanelMember] | None = None) -> dict[str, Any]:  # fmt: skip
    document = document or sheet_doc(ev, e)
    async with ev.pool.acquire() as conn:
        return await service.submit_sheet(
            conn, ev.audit, e.party.actor, ev.clock.now(), ev.tender_id,
            members=members or ev.members, document=document, signature=signed(e, document),
        )  # fmt: skip


async def start(ev: Ev, members: list[PanelMember] | None = None) -> dict[str, Any]:
    async with ev.pool.acquire() as conn:
        return await service.start_evaluation(
            conn, ev.audit, ev.world.staff.actor, ev.clock.now(), ev.tender_id,
            members=members or ev.members, panel_seated=True,
        )  # fmt: skip


async def report(ev: Ev, members: list[PanelMember] | None = None) -> Any:
    async with ev.pool.acquire() as conn:
        return await service.generate_report(
            conn, ev.audit, ev.world.staff.actor, ev.clock.now(), ev.tender_id,
            members=members or ev.members, settings=SETTINGS,
        )  # fmt: skip


async def sign(ev: Ev, e: Expert, dissent: str | None = None,
               members: list[PanelMember] | None = None) -> dict[str, Any]:  # fmt: skip
    async with ev.pool.acquire() as conn:
        state = await service.evaluation_state(conn, ev.tender_id)
        doc = records.signature_document(
            tender_id=ev.tender_id, report_sha256=state["report"]["sha256"],
            expert_id=e.member.expert_id, dissent=dissent,
        )  # fmt: skip
        return await service.sign_report(
            conn, ev.audit, e.party.actor, ev.clock.now(), ev.tender_id,
            members=members or ev.members, document=doc, signature=signed(e, doc),
        )  # fmt: skip


async def refused(code: str, coro: Any) -> EvaluationRejected:
    with pytest.raises(EvaluationRejected) as info:
        await coro
    assert info.value.code == code, info.value.message_en
    return info.value


async def count(ev: Ev, table: str) -> int:
    async with ev.pool.acquire() as conn:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))


# ---------------------------------------------------------------------------- T16


async def test_changing_the_method_after_publication_is_refused(ev: Ev) -> None:
    """T16 (O12 29–37): weights cannot change after publication — refused by the use case
    and, underneath, by the database."""
    other = replace(SPEC, control_price_fen=2_000_000)
    async with ev.pool.acquire() as conn:
        await refused(
            "method_fixed_at_publication",
            service.set_method(conn, ev.audit, ev.world.staff.actor, ev.clock.now(), ev.tender_id, other),
        )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute("UPDATE tenders SET criteria = '[]' WHERE id = $1", ev.tender_id)
        tender = await tenders.load_tender(conn, ev.tender_id)
    assert tender.method_spec == SPEC


async def test_weights_not_summing_to_100_are_refused_at_creation(ev: Ev) -> None:
    """T16: the criteria's maximum points sum to 100; nothing is written."""
    world, before = ev.world, await count(ev, "tenders")
    t = world.tender
    draft = TenderDraft(
        code="T-bad-weights", project_name="x", category=t.category, procedure=t.procedure,
        lots=t.lots, estimated_price_fen=t.estimated_price_fen, deposit_fen=t.deposit_fen,
        bid_deadline_at=ev.clock.now() + timedelta(days=30),
        opening_at=ev.clock.now() + timedelta(days=30, hours=1), place="",
        custodian_user_ids=tuple(c.party.user_id for c in world.custodians), threshold_k=2,
        max_bid_bytes=t.max_bid_bytes,
        evaluation=MethodSpec(EvaluationMethod.COMPREHENSIVE, CRITERIA[:2]),
    )  # fmt: skip
    async with ev.pool.acquire() as conn:
        await refused(
            "criteria_not_100",
            tenders.create_tender(conn, ev.audit, world.staff.actor, ev.clock.now(), draft, world.settings),
        )
    assert await count(ev, "tenders") == before


# ---------------------------------------------------------------------------- sheets


async def test_a_sheet_from_a_non_member_or_after_the_report_is_refused(ev: Ev) -> None:
    """T17: only seated members score, and only until the report."""
    await start(ev)
    outsider = Expert(ev.experts[0].party, ev.experts[0].key, ev.experts[0].member)
    await refused("not_a_member", hand_sheet(ev, outsider, members=ev.members[1:]))
    for e in ev.experts:
        await hand_sheet(ev, e)
    await report(ev)
    late = sheet_doc(ev, ev.experts[0], revision=2)
    await refused("not_evaluating", hand_sheet(ev, ev.experts[0], late))
    assert await count(ev, "evaluation_sheets") == len(ev.experts)


async def test_points_above_a_maximum_or_a_bad_signature_leave_nothing(ev: Ev) -> None:
    await start(ev)
    e = ev.experts[0]
    await refused("points_above_maximum", hand_sheet(ev, e, sheet_doc(ev, e, technical="35.5")))
    doc = sheet_doc(ev, e)
    async with ev.pool.acquire() as conn:
        await refused(
            "evaluation_signature_invalid",
            service.submit_sheet(
                conn, ev.audit, e.party.actor, ev.clock.now(), ev.tender_id, members=ev.members,
                document=doc, signature=signed(ev.experts[1], doc),
            ),
        )  # fmt: skip
    await refused("stale_sheet_revision", hand_sheet(ev, e, sheet_doc(ev, e, revision=2)))
    assert await count(ev, "evaluation_sheets") == 0


async def test_a_replaced_members_sheet_is_void_and_the_replacement_scores_afresh(
    pool, audit, clock
) -> None:
    """T19 (IR 48): the replaced member's scores are dropped from the aggregate; the
    replacement hands in their own sheet."""
    ev = await make_ev(pool, audit, clock, n_experts=4)
    seated, spare = ev.experts[:3], ev.experts[3]
    ev.experts = seated
    await start(ev)
    for e in seated:
        await hand_sheet(ev, e, sheet_doc(ev, e, technical="0" if e is seated[0] else "30"))
    # seat 1 recuses; the spare is called to a new seat
    members = [replace(seated[0].member, replaced=True), *[e.member for e in seated[1:]],
               replace(spare.member, seat=4)]  # fmt: skip
    await refused("member_replaced", hand_sheet(ev, seated[0], sheet_doc(ev, seated[0], revision=2), members))
    await refused("sheets_missing", report(ev, members))
    await hand_sheet(ev, spare, members=members)
    signed_report = await report(ev, members)
    result = signed_report.document["result"]
    assert result["void_experts"] == [seated[0].member.expert_id]
    assert all(r["criteria"]["technical"] == "30.00" for r in result["ranking"])


# ---------------------------------------------------------------------------- the report


async def test_a_clarification_that_changes_the_price_is_refused(ev: Ev) -> None:
    """W6 (IR 52): asked in writing by the panel; answered in writing by that bidder only;
    an answer that changes the price or the substance is refused."""
    await start(ev)
    bid_id, bidder = ev.bid_ids[1], ev.world.bidders[1]
    async with ev.pool.acquire() as conn:
        q = await service.ask_clarification(
            conn, ev.audit, ev.experts[0].party.actor, ev.clock.now(), ev.tender_id,
            members=ev.members, bid_id=bid_id, question="请说明工期 Explain the duration",
        )  # fmt: skip
        await refused(
            "clarification_changes_price",
            service.answer_clarification(
                conn, ev.audit, bidder.party.actor, ev.clock.now(), ev.tender_id, q["id"],
                answer="报价改为 990,000 元", changes_price_or_substance=True,
            ),
        )  # fmt: skip
        await refused(
            "not_your_bid",
            service.answer_clarification(
                conn, ev.audit, ev.world.bidders[0].party.actor, ev.clock.now(), ev.tender_id,
                q["id"], answer="x", changes_price_or_substance=False,
            ),
        )  # fmt: skip
        a = await service.answer_clarification(
            conn, ev.audit, bidder.party.actor, ev.clock.now(), ev.tender_id, q["id"],
            answer="工期 365 日历天 365 calendar days", changes_price_or_substance=False,
        )  # fmt: skip
    assert a["answer"].startswith("工期")


async def test_the_report_ranks_rejects_above_the_control_price_and_concludes_when_all_sign(
    ev: Ev,
) -> None:
    """W3: above the control price → rejected with the cause in the report. T17: ≤ 3
    candidates; every member signs, one with a dissent in writing; the last signature
    concludes; the exported record verifies offline and re-derives the same ranking."""
    await start(ev)
    for i, e in enumerate(ev.experts):
        await hand_sheet(ev, e, sheet_doc(ev, e, technical=str(30 - i)))
    signed_report = await report(ev)
    result = signed_report.document["result"]
    assert result["rejected"] == [{"bid_id": ev.bid_ids[3], "cause": "above_control_price"}]
    assert result["candidates"] == ev.bid_ids[:3]  # equal points: the lower price first
    assert result["ranking"][0]["total"] == "88.00"  # 40 + 28 (mean of 30..26) + 20
    async with ev.pool.acquire() as conn:
        assert await service.concluded_result(conn, ev.tender_id) is None
    for e in ev.experts[:-1]:
        await sign(ev, e, dissent="技术分偏高 technical scores too high" if e is ev.experts[0] else None)
        async with ev.pool.acquire() as conn:
            assert await service.concluded_result(conn, ev.tender_id) is None
    await refused("report_already_signed", sign(ev, ev.experts[0]))
    last = await sign(ev, ev.experts[-1])
    assert last["state"] == "concluded"
    async with ev.pool.acquire() as conn:
        outcome = await service.concluded_result(conn, ev.tender_id)
        record = await service.export_record(conn, ev.tender_id, full=True)
        public = await service.export_record(conn, ev.tender_id, full=False)
    assert outcome is not None and not outcome.failed
    assert [(c.rank, c.bid_id, c.score) for c in outcome.candidates] == [
        (1, ev.bid_ids[0], Decimal("88.00")),
        (2, ev.bid_ids[1], Decimal("86.00")),  # 2 % above: 38 + 28 + 20
        (3, ev.bid_ids[2], Decimal("83.00")),  # 5 % above: 35 + 28 + 20
    ]
    assert outcome.rejected == ((ev.bid_ids[3], "above_control_price"),)
    check = verify_record(record, ev.audit.public_key)
    assert check.ok, check.problems
    assert record["conclusion"]["document"]["signatures"][0]["dissent"] == "技术分偏高 technical scores too high"
    assert "sheets" not in public and "reviews" not in str(public)
    assert "clarifications" not in public["report"]["document"]


async def test_silence_counts_as_consent_once_the_signing_deadline_passes(ev: Ev) -> None:
    """T17: a member who does not sign by the deadline consents; the deadline is a timed
    event in PostgreSQL (it survives a restart: a new scheduler finds it)."""
    await start(ev)
    for e in ev.experts:
        await hand_sheet(ev, e)
    await report(ev)
    await sign(ev, ev.experts[0])
    registry = registry_for(ev.audit)

    async def on_deadline(ctx: EventContext) -> None:
        await service.on_signing_deadline(ctx.conn, ev.audit, ctx.now, int(ctx.event.ref))

    registry.register(rules.SIGNING_DEADLINE_EVENT, on_deadline)
    ev.clock.advance(seconds=SETTINGS.signing_window_s - 1)
    await Scheduler(ev.pool, ev.clock, registry).run_due()
    async with ev.pool.acquire() as conn:
        assert await service.concluded_result(conn, ev.tender_id) is None
    ev.clock.advance(seconds=1)
    await Scheduler(ev.pool, ev.clock, registry).run_due()
    async with ev.pool.acquire() as conn:
        outcome = await service.concluded_result(conn, ev.tender_id)
        record = await service.export_record(conn, ev.tender_id, full=True)
    assert outcome is not None
    silent = record["conclusion"]["document"]["consent_by_silence"]
    assert silent == sorted(e.member.expert_id for e in ev.experts[1:])
    assert verify_record(record, ev.audit.public_key).ok


async def test_a_flagged_bid_blocks_the_report_until_the_panel_finds(pool, audit, clock) -> None:
    """W5 (O12 21): more than 15 % below the mean of the others → flagged; no report until
    the panel's finding; explanation rejected → the bid leaves the ranking as below cost."""
    ev = await make_ev(pool, audit, clock, prices=(800_000, 1_000_000, 1_000_000, 1_010_000),
                       spec=MethodSpec(EvaluationMethod.LOWEST_PRICE))  # fmt: skip
    await start(ev)
    spec = MethodSpec(EvaluationMethod.LOWEST_PRICE)
    for e in ev.experts:
        await hand_sheet(ev, e, sheet_doc(ev, e, spec=spec))
    await refused("below_cost_finding_missing", report(ev))
    async with ev.pool.acquire() as conn:
        await refused(
            "not_flagged_below_cost",
            service.record_finding(
                conn, ev.audit, ev.experts[0].party.actor, ev.clock.now(), ev.tender_id,
                members=ev.members, bid_id=ev.bid_ids[1], accepted=False, reason="x",
                settings=SETTINGS,
            ),
        )  # fmt: skip
        await service.record_finding(
            conn, ev.audit, ev.experts[0].party.actor, ev.clock.now(), ev.tender_id,
            members=ev.members, bid_id=ev.bid_ids[0], accepted=False,
            reason="未能合理说明 no reasonable explanation", settings=SETTINGS,
        )  # fmt: skip
    result = (await report(ev)).document["result"]
    assert result["rejected"] == [{"bid_id": ev.bid_ids[0], "cause": "below_cost"}]
    assert result["candidates"] == ev.bid_ids[1:]
    assert [r["evaluated_price_fen"] for r in result["ranking"]] == [1_000_000, 1_000_000, 1_010_000]


async def test_too_few_valid_bids_fail_the_evaluation(pool, audit, clock) -> None:
    """W7 (BL 42): rejected bids leave fewer than 3 valid → the result says failed."""
    ev = await make_ev(pool, audit, clock, prices=(1_000_000, 1_010_000, 1_020_000))
    await start(ev)
    for e in ev.experts:
        await hand_sheet(ev, e, sheet_doc(ev, e, fail={ev.bid_ids[2]: "unqualified"}))
    result = (await report(ev)).document["result"]
    assert result["failed"] and result["candidates"] == []
    assert result["rejected"] == [{"bid_id": ev.bid_ids[2], "cause": "unqualified"}]
    for e in ev.experts:
        await sign(ev, e)
    async with ev.pool.acquire() as conn:
        outcome = await service.concluded_result(conn, ev.tender_id)
    assert outcome is not None and outcome.failed and outcome.candidates == ()


async def test_the_evaluation_starts_only_after_the_opening(pool, audit, clock) -> None:
    world = await make_world(pool, audit, clock)
    async with pool.acquire() as conn:
        await refused(
            "tender_not_opened",
            service.start_evaluation(
                conn, audit, world.staff.actor, clock.now(), world.tender_id,
                members=[PanelMember(1, "E1", None, "x")], panel_seated=True,
            ),
        )  # fmt: skip
