"""Panel draws against PostgreSQL with a fake clock: commit before the run, exclusions
recorded, summons, decline and timeout replaced from the same stream, a short specialty
reported, secrecy, and verification (including after tampering with the database).

Sources: RULES.md T15 (BL 37, O12 9), E1 (IR 46, O12 10), E2 (发改法规〔2018〕316号), E3
(O12 12, GPR 9, IR 46), E4 (BL 37, O12 8, IR 41), E5 (IR 46, 48), E6 (practice), E7 (RFC
3797, DB35/T 2223—2024), T19 (IR 48).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crypto.signing import sha256_hex
from experts import draws, service, store
from experts.draw import seed_hash_of
from experts.model.request import ExtraExclusion, SpecialtyDemand
from experts.model.specialties import SpecialtyCode
from experts.notify import MemoryChannel
from experts.outbox import deliver_round
from experts.panel import MemberCommand
from experts.pool import ExpertInput, RelationInput, SanctionInput
from experts.settings import ExpertSettings
from tests.helpers import Party, make_org, make_user
from tests.service.test_experts_pool import KEYS, expert_input
from trading.calendar import EventRegistry, Scheduler
from trading.context import Actor, Role
from trading.errors import Rejected
from trading.parties.model import OrgKind

SETTINGS = ExpertSettings(
    public_url="http://sunlit.test", answer_within_s=1800, centre_name="测试交易中心"
)
TZ = ZoneInfo("Asia/Shanghai")
SITTING = date(2026, 1, 12)
PLACE = "湖州市公共资源交易中心 3号评标室"
TENDER = "HZJT-2026-007"


@dataclass
class World:
    tenderee: int
    bidders: list[int]
    supervising: int
    codes: dict[int, str]
    staff: Party
    other_staff: Party
    supervisor: Party
    bidder: Party
    expert_users: dict[str, Party]


async def build_world(pool, audit, clock, *, c04: int = 4) -> World:
    """12 clean highway experts, ``c04`` clean cost experts, and one expert for each kind
    of conflict the request will find (all highway)."""
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())  # the fixture's key signs checkpoints
        tenderee = await make_org(conn, audit, clock, OrgKind.TENDEREE, region="330500")
        bidders = [await make_org(conn, audit, clock, OrgKind.BIDDER) for _ in range(2)]
        supervising = await make_org(conn, audit, clock, OrgKind.SUPERVISOR_DEPT)
        rows = await conn.fetch("SELECT id, credit_code FROM organisations")
        codes = {r["id"]: r["credit_code"] for r in rows}
        staff = await make_user(conn, audit, clock, Role.STAFF)
        other_staff = await make_user(conn, audit, clock, Role.STAFF)
        supervisor = await make_user(conn, audit, clock, Role.SUPERVISOR)
        bidder = await make_user(conn, audit, clock, Role.BIDDER, org_id=bidders[0])
        inputs: list[ExpertInput] = [
            expert_input(n, "A030101" if n % 2 else "A0302") for n in range(1, 13)
        ]
        inputs += [expert_input(n, "C04") for n in range(13, 13 + c04)]
        inputs += [
            expert_input(20, "A030101", employer_code=codes[bidders[0]]),
            expert_input(21, "A030101", relations=(RelationInput("relative", codes[tenderee], relationship="spouse"),)),
            expert_input(22, "A0302", relations=(RelationInput("employment", codes[bidders[1]], "", date(2018, 1, 1),
                                                               date(2025, 1, 1)),)),
            expert_input(23, "A030101", employer_code=codes[supervising]),
            expert_input(24, "A030101", status="suspended", suspended_until=date(2026, 6, 30)),
            expert_input(25, "A0302", sanctions=(SanctionInput("tendering_penalty", date(2025, 1, 1), None),)),
            expert_input(26, "A0302", unavailable_dates=(SITTING,)),
            expert_input(27, "A030101"),
        ]  # fmt: skip
        await service.import_experts(conn, audit, Actor.system("test"), clock.now(), KEYS,
                                     list(enumerate(inputs, start=1)))  # fmt: skip
    return World(tenderee, bidders, supervising, codes, staff, other_staff, supervisor, bidder, {})


async def expert_user(pool, audit, clock, w: World, expert_id: str) -> Party:
    """A user with the expert role linked to ``expert_id`` (made on first use)."""
    if expert_id not in w.expert_users:
        async with pool.acquire() as conn:
            u = await make_user(conn, audit, clock, Role.EXPERT)
            await service.link_user(
                conn, audit, Actor.system("test"), clock.now(), expert_id, u.user_id
            )
        w.expert_users[expert_id] = u
    return w.expert_users[expert_id]


def draw_input(w: World, **kw: Any) -> draws.DrawInput:
    fields: dict[str, Any] = {
        "tender_ref": TENDER,
        "tenderee_org_id": w.tenderee,
        "bidder_org_ids": tuple(w.bidders),
        "supervising_org_ids": (w.supervising,),
        "demands": (
            SpecialtyDemand(SpecialtyCode("A03"), 4),
            SpecialtyDemand(SpecialtyCode("C04"), 1),
        ),
        "evaluation_date": SITTING,
        "evaluation_time": time(9, 0),
        "evaluation_place": PLACE,
        "extra_exclusions": (ExtraExclusion("E027", "worked on the tender documents"),),
    }
    fields.update(kw)
    return draws.DrawInput(**fields)


async def request(
    pool, audit, clock, w: World, cache: draws.PoolCache | None = None, **kw: Any
) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await draws.request_draw(conn, audit, w.staff.actor, clock.now(), keys=KEYS,
                                        cache=cache or draws.PoolCache(), settings=SETTINGS,
                                        data=draw_input(w, **kw))  # fmt: skip


async def run(pool, audit, clock, w: World, draw_id: int) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await draws.run_draw(conn, audit, w.staff.actor, clock.now(), keys=KEYS, settings=SETTINGS,
                                    draw_id=draw_id)  # fmt: skip


async def members(pool, draw_id: int) -> list[dict[str, Any]]:
    async with pool.acquire() as conn:
        return [dict(m) for m in await store.members_of(conn, draw_id)]


async def result_of(pool, draw_id: int) -> dict[str, Any]:
    async with pool.acquire() as conn:
        d = await store.get_draw(conn, draw_id)
        return d["result"]


async def deliver(pool, clock, channel: MemoryChannel | None = None) -> MemoryChannel:
    """Deliver what is pending (into ``channel``, which keeps every summons sent)."""
    channel = channel or MemoryChannel(TZ)
    await deliver_round(pool, channel, clock, SETTINGS)
    return channel


async def answer(pool, audit, clock, token: str, command: MemberCommand) -> dict[str, Any]:
    async with pool.acquire() as conn:
        return await draws.answer_by_token(conn, audit, Actor.anonymous(), clock.now(), settings=SETTINGS,
                                           token=token, command=command)  # fmt: skip


def token_for(channel: MemoryChannel, pool_name: str) -> str:
    return channel.token_of(pool_name)


def name_of(expert_id: str) -> str:
    return f"专家{int(expert_id[1:])}"


# --- commit ---------------------------------------------------------------------------------


async def test_the_record_is_committed_and_its_hashes_audited_before_the_draw_runs(
    pool, audit, clock
) -> None:
    """E7 step 1: request, pool snapshot, exclusions, version and seed hash are fixed and
    written to the audit log before anything is drawn; the seed is stored sealed."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    assert view["status"] == "committed" and view["seed"] is None
    assert [(ln["code"], ln["count"], ln["candidates"]) for ln in view["lines"]] == [
        ("A03", 4, 12),
        ("C04", 1, 4),
    ]
    async with pool.acquire() as conn:
        entry = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'experts.draw.commit'")
        row = await conn.fetchrow(
            "SELECT record_json, seed_enc, result FROM expert_draws WHERE id = $1", view["id"]
        )
        assert await store.members_of(conn, view["id"]) == []
    assert entry["detail"]["record_hash"] == view["record_hash"]
    for name in ("request_hash", "pool_hash", "exclusions_hash", "seed_hash", "algorithm_version"):
        assert entry["detail"][name]
    assert entry["payload_digest"] == sha256_hex(row["record_json"].encode())
    assert row["result"] is None
    seed = KEYS.open_seed(view["id"], view["record_hash"], row["seed_enc"])
    assert seed_hash_of(seed) == entry["detail"]["seed_hash"] and seed not in row["seed_enc"]


async def test_every_exclusion_is_recorded_with_its_reason(pool, audit, clock) -> None:
    """E3 (O12 12, GPR 9, IR 46): each excluded expert is in the record with a reason, and
    never among the candidates."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    async with pool.acquire() as conn:
        bundle = await draws.published_bundle(conn, audit, w.staff.actor, view["id"])
    record = bundle["record"]
    reasons = {(x[0], x[1]) for x in record["exclusions"]}
    assert reasons == {
        ("E020", "bidder_staff"), ("E021", "tenderee_relative"), ("E022", "labour_relation"),
        ("E023", "supervising_staff"), ("E024", "suspended"), ("E025", "sanctioned"), ("E026", "unavailable"),
        ("E027", "tender_specific"),
    }  # fmt: skip
    excluded = {x[0] for x in record["exclusions"]}
    assert not excluded & {x for line in record["candidates"] for x in line}
    assert record["request"]["tenderee_org_id"] == w.codes[w.tenderee]
    assert record["request"]["bidder_org_ids"] == sorted(w.codes[b] for b in w.bidders)


async def test_bad_requests_are_refused_and_nothing_is_written(pool, audit, clock) -> None:
    """T15 and bad input: an even or too small committee, an unknown code, more experts than
    are eligible (which specialty, short by how many), an unknown organisation."""
    w = await build_world(pool, audit, clock)
    cases = [
        ({"demands": (SpecialtyDemand(SpecialtyCode("A03"), 4), SpecialtyDemand(SpecialtyCode("C04"), 2))},
         "committee_even"),
        ({"demands": (SpecialtyDemand(SpecialtyCode("A03"), 3),)}, "committee_too_small"),
        ({"demands": (SpecialtyDemand(SpecialtyCode("A03"), 4), SpecialtyDemand(SpecialtyCode("A05"), 1))},
         "unknown_specialty"),
        ({"demands": (SpecialtyDemand(SpecialtyCode("A03"), 2), SpecialtyDemand(SpecialtyCode("C04"), 5))},
         "not_enough_eligible"),
        ({"bidder_org_ids": (w.bidders[0], 999_999)}, "unknown_organisation"),
        ({"tenderee_representatives": 2, "demands": (SpecialtyDemand(SpecialtyCode("A03"), 3),)},
         "experts_below_two_thirds"),
        ({"evaluation_date": date(2026, 1, 4)}, "invalid_draw_request"),
    ]  # fmt: skip
    for changes, code in cases:
        with pytest.raises(Rejected) as err:
            await request(pool, audit, clock, w, **changes)
        assert err.value.code == code, (changes, err.value.code)
    with pytest.raises(Rejected) as err:
        await request(
            pool,
            audit,
            clock,
            w,
            demands=(
                SpecialtyDemand(SpecialtyCode("A03"), 2),
                SpecialtyDemand(SpecialtyCode("C04"), 5),
            ),
        )
    short = err.value.details["errors"][0]["data"]
    assert (short["specialty"], short["needed"], short["eligible"], short["short_by"]) == (
        "C04",
        5,
        4,
        1,
    )
    assert "C04" in err.value.message_en and "short by 1" in err.value.message_en
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM expert_draws") == 0
        assert (
            await conn.fetchval("SELECT count(*) FROM audit_log WHERE action LIKE 'experts.draw%'")
            == 0
        )


# --- run and summons ------------------------------------------------------------------------


async def test_the_run_summons_the_panel_with_time_and_place_only(pool, audit, clock) -> None:
    """E1/E6: the drawn panel is summoned, each by a message with time and place, never the
    project; the linked expert also gets a notice."""
    w = await build_world(pool, audit, clock)
    for n in range(13, 17):  # the cost experts have user accounts: the one called gets a notice
        await expert_user(pool, audit, clock, w, f"E{n:03d}")
    view = await request(pool, audit, clock, w)
    drawn = await run(pool, audit, clock, w, view["id"])
    assert drawn["status"] == "drawn"
    res = await result_of(pool, view["id"])
    called = await members(pool, view["id"])
    assert [(m["line"], m["position"], m["expert_id"]) for m in called] == [
        (ln["line"], k, ln["order"][k]) for ln in res["lines"] for k in range(ln["count"])
    ]
    assert all(m["status"] == "summoned" for m in called)
    assert (
        len(res["lines"][0]["order"]) == 12 and len(res["lines"][1]["order"]) == 3
    )  # 4+8, 1+2 reserves
    channel = await deliver(pool, clock)
    assert len(channel.sent) == 5
    for text in channel.texts():
        assert (
            "2026-01-12" in text
            and "09:00" in text
            and PLACE in text
            and "http://sunlit.test/api/v1/summons/" in text
        )
        assert TENDER not in text and "HZJT" not in text
    async with pool.acquire() as conn:
        notices = await conn.fetch(
            "SELECT body, user_id FROM notices WHERE object_type = 'expert_summons'"
        )
        tokens = await conn.fetchval("SELECT count(token_hash) FROM expert_draw_members")
    assert len(notices) == 1 and all(
        PLACE in n["body"] and TENDER not in n["body"] for n in notices
    )
    assert tokens == 5
    again = await deliver(pool, clock)
    assert again.sent == []  # delivered once


async def test_a_decline_calls_the_next_expert_of_the_same_stream(pool, audit, clock) -> None:
    """E5 (IR 46, 48): the decliner is replaced by the next position of the same line's order,
    fixed before anyone was called; a reused link is a clear error."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    await run(pool, audit, clock, w, view["id"])
    res = await result_of(pool, view["id"])
    order = res["lines"][0]["order"]
    channel = await deliver(pool, clock)
    token = token_for(channel, name_of(order[1]))
    out = await answer(pool, audit, clock, token, MemberCommand.DECLINE)
    assert out["status"] == "declined"
    with pytest.raises(Rejected) as err:
        await answer(pool, audit, clock, token, MemberCommand.CONFIRM)
    assert err.value.code == "token_used"
    called = await members(pool, view["id"])
    line0 = [(m["position"], m["expert_id"], m["status"]) for m in called if m["line"] == 0]
    assert line0[-1] == (4, order[4], "summoned")
    assert (1, order[1], "declined") in line0
    second = await deliver(pool, clock)
    assert [s.expert_name for s in second.sent] == [name_of(order[4])]
    # a second decline on the line takes position 5, not a fresh draw
    await answer(pool, audit, clock, token_for(second, name_of(order[4])), MemberCommand.DECLINE)
    called = await members(pool, view["id"])
    assert [m["expert_id"] for m in called if m["line"] == 0][-1] == order[5]


async def test_no_answer_in_time_counts_as_a_decline(pool, audit, clock) -> None:
    """E5: the timed event ``experts.summons_timeout`` replaces a silent member from the next
    stream position (fake clock + scheduler)."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    await run(pool, audit, clock, w, view["id"])
    order = (await result_of(pool, view["id"]))["lines"][1]["order"]
    channel = await deliver(pool, clock)
    for m in (await members(pool, view["id"]))[:4]:  # line 0 answers; line 1 stays silent
        await answer(
            pool, audit, clock, token_for(channel, name_of(m["expert_id"])), MemberCommand.CONFIRM
        )
    registry = EventRegistry()

    async def handler(ctx) -> None:
        await draws.on_summons_timeout(ctx, audit, SETTINGS)

    registry.register(draws.TIMEOUT_EVENT, handler)
    scheduler = Scheduler(pool, clock, registry)
    clock.advance(seconds=1799)
    assert await scheduler.run_due() == []
    clock.advance(seconds=1)
    ran = await scheduler.run_due()
    assert len(ran) == 1  # the four who answered had their events cancelled
    line1 = [
        (m["position"], m["expert_id"], m["status"])
        for m in await members(pool, view["id"])
        if m["line"] == 1
    ]
    assert line1 == [(0, order[0], "timed_out"), (1, order[1], "summoned")]
    async with pool.acquire() as conn:
        entry = await conn.fetchrow(
            "SELECT actor_name, detail FROM audit_log WHERE action = 'experts.summons.timeout'"
        )
    assert entry["actor_name"] == "system:summons-timeout"


async def test_when_the_order_runs_out_staff_are_told_which_specialty_is_short(
    pool, audit, clock
) -> None:
    """The pool runs out: the draw is ``short``; the staff member gets a notice and
    supervision an alert naming the specialty and how many seats are missing."""
    w = await build_world(pool, audit, clock, c04=1)
    view = await request(pool, audit, clock, w, demands=(SpecialtyDemand(SpecialtyCode("A03"), 4),
                                                          SpecialtyDemand(SpecialtyCode("C04"), 1, reserve=0)))  # fmt: skip
    await run(pool, audit, clock, w, view["id"])
    channel = await deliver(pool, clock)
    out = await answer(
        pool, audit, clock, token_for(channel, name_of("E013")), MemberCommand.DECLINE
    )
    assert out["status"] == "declined" and set(out) == {  # the expert learns nothing of the draw
        "summons_id", "status", "evaluation_date", "evaluation_time", "evaluation_days", "place", "called_at",
        "answer_due_at", "answered_at"}  # fmt: skip
    async with pool.acquire() as conn:
        d = await draws.get_draw(conn, view["id"])
        notice = await conn.fetchrow("SELECT body FROM notices WHERE user_id = $1 AND object_type = 'expert_draw'",
                                     w.staff.user_id)  # fmt: skip
        alert = await conn.fetchrow("SELECT * FROM alerts WHERE kind = 'experts.panel_short'")
    assert d["status"] == "short"
    assert d["short_lines"] == [{"line": 1, "code": "C04", "count": 1, "confirmed": 0, "pending": 0, "called": 1,
                                 "order_length": 1, "short_by": 1}]  # fmt: skip
    assert "C04" in notice["body"] and "1" in notice["body"]
    assert alert["detail"]["short_lines"][0]["code"] == "C04"


async def test_a_decline_from_someone_not_summoned_is_refused(pool, audit, clock) -> None:
    """Bad input: an expert answering another's summons → 403 ``not_summoned``; a user not
    in the pool → ``not_in_pool``; nothing changes."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    await run(pool, audit, clock, w, view["id"])
    called = await members(pool, view["id"])
    called_ids = {m["expert_id"] for m in called}
    outsider = await expert_user(pool, audit, clock, w, next(f"E{n:03d}" for n in range(1, 13)
                                                             if f"E{n:03d}" not in called_ids))  # fmt: skip
    mine = await expert_user(pool, audit, clock, w, called[0]["expert_id"])
    async with pool.acquire() as conn:
        with pytest.raises(Rejected) as err:
            await draws.answer_as_expert(conn, audit, outsider.actor, clock.now(), settings=SETTINGS,
                                         member_id=called[0]["id"], command=MemberCommand.DECLINE)  # fmt: skip
        assert err.value.code == "not_summoned" and err.value.status_hint == 403
        stranger = await make_user(conn, audit, clock, Role.EXPERT)
        with pytest.raises(Rejected) as err:
            await draws.answer_as_expert(conn, audit, stranger.actor, clock.now(), settings=SETTINGS,
                                         member_id=called[0]["id"], command=MemberCommand.DECLINE)  # fmt: skip
        assert err.value.code == "not_in_pool"
        summons = await draws.my_summons(conn, mine.actor)
        assert [s["summons_id"] for s in summons] == [called[0]["id"]]
        assert TENDER not in str(summons)
        out = await draws.answer_as_expert(conn, audit, mine.actor, clock.now(), settings=SETTINGS,
                                           member_id=called[0]["id"], command=MemberCommand.CONFIRM)  # fmt: skip
        assert out["status"] == "confirmed"
    assert [m["status"] for m in await members(pool, view["id"])].count("summoned") == 4


async def test_the_panel_list_is_secret_until_the_result_is_fixed(pool, audit, clock) -> None:
    """E4 (BL 37, O12 8): the requesting staff member and supervisors see the list; other
    staff and bidders do not; after the result is fixed, it is published."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    await run(pool, audit, clock, w, view["id"])
    async with pool.acquire() as conn:
        for who in (w.other_staff, w.bidder, await expert_user(pool, audit, clock, w, "E001")):
            with pytest.raises(Rejected) as err:
                await draws.panel(conn, audit, who.actor, clock.now(), view["id"])
            assert err.value.code == "panel_secret" and err.value.status_hint == 403
            with pytest.raises(Rejected):
                await draws.published_bundle(conn, audit, who.actor, view["id"])
        for who in (w.staff, w.supervisor):
            listed = await draws.panel(conn, audit, who.actor, clock.now(), view["id"])
            assert len(listed["members"]) == 5
        views = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'experts.panel.view'"
        )
        assert views == 2
        with pytest.raises(Rejected) as err:
            await draws.run_draw(conn, audit, w.other_staff.actor, clock.now(), keys=KEYS, settings=SETTINGS,
                                 draw_id=view["id"])  # fmt: skip
        assert err.value.code == "not_draw_owner"


async def confirm_all(
    pool, audit, clock, draw_id: int, channel: MemoryChannel | None = None
) -> None:
    channel = await deliver(pool, clock, channel)
    for m in await members(pool, draw_id):
        if m["status"] == "summoned":
            await answer(
                pool,
                audit,
                clock,
                token_for(channel, name_of(m["expert_id"])),
                MemberCommand.CONFIRM,
            )


async def fixed_draw(pool, audit, clock, w: World) -> tuple[int, list[dict[str, Any]]]:
    """Request, run, one decline, everyone else confirms, fix."""
    view = await request(pool, audit, clock, w)
    await run(pool, audit, clock, w, view["id"])
    channel = await deliver(pool, clock)
    first = (await members(pool, view["id"]))[0]
    await answer(
        pool, audit, clock, token_for(channel, name_of(first["expert_id"])), MemberCommand.DECLINE
    )
    await confirm_all(pool, audit, clock, view["id"], channel)
    async with pool.acquire() as conn:
        assert (await draws.get_draw(conn, view["id"]))["status"] == "full"
        with pytest.raises(Rejected) as err:
            await draws.fix_result(
                conn, audit, w.other_staff.actor, clock.now(), keys=KEYS, draw_id=view["id"]
            )
        assert err.value.code == "not_draw_owner"
        fixed = await draws.fix_result(
            conn, audit, w.staff.actor, clock.now(), keys=KEYS, draw_id=view["id"]
        )
    assert fixed["status"] == "fixed" and len(fixed["seed"]) == 64
    return view["id"], await members(pool, view["id"])


async def test_a_fixed_draw_verifies_from_its_published_record(pool, audit, clock) -> None:
    """E7: after the result is fixed the seed is revealed and the re-run gives the same panel
    and the same replacement order; anyone may then read the list."""
    w = await build_world(pool, audit, clock)
    draw_id, called = await fixed_draw(pool, audit, clock, w)
    async with pool.acquire() as conn:
        report = await draws.verify(conn, draw_id)
        assert report["ok"], report["differences"]
        assert report["published_record_hash"] == report["record_hash"]
        listed = await draws.panel(conn, audit, w.bidder.actor, clock.now(), draw_id)
        seed_entry = await conn.fetchrow(
            "SELECT detail FROM audit_log WHERE action = 'experts.draw.fix'"
        )
    assert [m["expert_id"] for m in listed["members"]] == [m["expert_id"] for m in called]
    assert len(seed_entry["detail"]["seed"]) == 64


async def test_verification_fails_when_a_committed_input_is_tampered_with(
    pool, audit, clock
) -> None:
    """E7: change the committed record (the sitting's place) or the called list in the
    database afterwards, and verification says exactly where they differ."""
    w = await build_world(pool, audit, clock)
    draw_id, called = await fixed_draw(pool, audit, clock, w)
    async with pool.acquire() as conn:
        await conn.execute("UPDATE expert_draws SET record_json = replace(record_json, '3号评标室', '4号评标室') "
                           "WHERE id = $1", draw_id)  # fmt: skip
        report = await draws.verify(conn, draw_id)
    assert not report["ok"]
    assert {(d["kind"], d["code"]) for d in report["differences"]} >= {
        ("hash_mismatch", "request_hash")
    }

    w2_draw, called2 = draw_id, called
    async with pool.acquire() as conn:
        await conn.execute("UPDATE expert_draws SET record_json = replace(record_json, '4号评标室', '3号评标室') "
                           "WHERE id = $1", w2_draw)  # fmt: skip
        assert (await draws.verify(conn, w2_draw))["ok"]
        # someone swaps a seated member for another expert of the pool
        seated = next(m for m in called2 if m["status"] == "confirmed" and m["line"] == 0)
        await conn.execute(
            "UPDATE expert_draw_members SET expert_id = 'E027' WHERE id = $1", seated["id"]
        )
        report = await draws.verify(conn, w2_draw)
    assert not report["ok"]
    diff = next(d for d in report["differences"] if d["kind"] == "call_order")
    assert (diff["line"], diff["position"], diff["claimed"], diff["expected"]) == (
        0,
        seated["position"],
        "E027",
        seated["expert_id"],
    )


async def test_verification_waits_for_the_result_to_be_fixed(pool, audit, clock) -> None:
    """E7: the seed is revealed only after the result is fixed; verifying before says so."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    async with pool.acquire() as conn:
        with pytest.raises(Rejected) as err:
            await draws.verify(conn, view["id"])
    assert err.value.code == "draw_not_fixed"


async def test_a_recused_member_is_replaced_and_their_scores_are_void(pool, audit, clock) -> None:
    """T19 (IR 48) and E5: a seated member who must recuse becomes ``replaced`` (the
    evaluation drops their scores) and the next in the order is called."""
    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w)
    await run(pool, audit, clock, w, view["id"])
    await confirm_all(pool, audit, clock, view["id"])
    order = (await result_of(pool, view["id"]))["lines"][0]["order"]
    async with pool.acquire() as conn:
        assert (await draws.get_draw(conn, view["id"]))["status"] == "full"
        out = await draws.recuse_seat(conn, audit, w.staff.actor, clock.now(), settings=SETTINGS,
                                      draw_id=view["id"], line=0, position=2, reason="conflict found late")  # fmt: skip
        assert out["status"] == "drawn"
        listed = await draws.panel(conn, audit, w.staff.actor, clock.now(), view["id"])
        with pytest.raises(Rejected) as err:
            await draws.recuse_seat(conn, audit, w.staff.actor, clock.now(), settings=SETTINGS,
                                    draw_id=view["id"], line=0, position=9, reason="x")  # fmt: skip
        assert err.value.code == "seat_not_found"
    rows = {(m["position"], m["expert_id"]): m for m in listed["members"] if m["line"] == 0}
    assert (
        rows[(2, order[2])]["status"] == "replaced" and rows[(2, order[2])]["scores_void"] is True
    )
    assert rows[(4, order[4])]["status"] == "summoned"


async def test_the_pool_index_is_built_once_per_pool_version(pool, audit, clock) -> None:
    """The built index is reused while the pool is unchanged and rebuilt after a change."""
    w = await build_world(pool, audit, clock)
    cache = draws.PoolCache()
    await request(pool, audit, clock, w, cache=cache)
    await request(pool, audit, clock, w, cache=cache)
    assert cache.builds == 1
    async with pool.acquire() as conn:
        entry = await service.get_entry(conn, "E001")
        await service.update_expert(conn, audit, Actor.system("test"), clock.now(), KEYS, "E001", entry.version,
                                    {"status": "retired"})  # fmt: skip
    view = await request(pool, audit, clock, w, cache=cache)
    assert cache.builds == 2
    async with pool.acquire() as conn:
        bundle = await draws.published_bundle(conn, audit, w.staff.actor, view["id"])
    assert ["E001", "retired", ""] in bundle["record"]["exclusions"]


async def test_a_beacon_round_named_at_commit_is_needed_to_run(pool, audit, clock) -> None:
    """E7: with a beacon, the record names the round; the value is supplied at run time."""
    from experts.model.record import BeaconRef

    w = await build_world(pool, audit, clock)
    view = await request(pool, audit, clock, w, beacon=BeaconRef("drand-quicknet", 12345))
    async with pool.acquire() as conn:
        with pytest.raises(Rejected) as err:
            await draws.run_draw(conn, audit, w.staff.actor, clock.now(), keys=KEYS, settings=SETTINGS,
                                 draw_id=view["id"])  # fmt: skip
        assert err.value.code == "beacon_required"
        out = await draws.run_draw(conn, audit, w.staff.actor, clock.now(), keys=KEYS, settings=SETTINGS,
                                   draw_id=view["id"], beacon_value=bytes(range(48)))  # fmt: skip
    assert out["beacon_value"] == bytes(range(48)).hex() and out["beacon"]["round"] == 12345
