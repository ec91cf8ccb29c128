"""The demo expert pool: loads idempotently, links expert1, and the example draw it prints
works and shows the exclusions the demo ties were made for (E3: O12 12, IR 46)."""

from __future__ import annotations

import json
from datetime import date, time

from experts import demo as experts_demo
from experts import draws, store
from experts.model.request import SpecialtyDemand
from experts.model.specialties import SpecialtyCode
from experts.settings import ExpertSettings
from experts.vault import PoolKeys
from trading import demo as core_demo
from trading.context import Actor, Role


async def test_the_demo_pool_loads_once_and_its_example_draw_shows_the_exclusions(
    pool, audit, clock, tmp_path
) -> None:
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
    ctx = core_demo.DemoContext(pool=pool, audit=audit, now=clock.now(), data_dir=tmp_path)
    await core_demo.load(ctx)
    await experts_demo.load(ctx)
    await experts_demo.load(ctx)  # idempotent
    assert any("expert1" in line for line in ctx.lines)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM experts") == experts_demo.POOL_SIZE
        linked = await store.expert_of_user(conn, ctx.users["expert1"])
        assert linked["expert_id"] == "DEMO-0001" and linked["name"] == "许建国"
        staff_id = ctx.users["staff1"]
    body = json.loads((tmp_path / "demo-draw-request.json").read_text("utf-8"))
    data = draws.DrawInput(
        tender_ref=body["tender_ref"],
        tenderee_org_id=body["tenderee_org_id"],
        bidder_org_ids=tuple(body["bidder_org_ids"]),
        supervising_org_ids=tuple(body["supervising_org_ids"]),
        demands=(
            SpecialtyDemand(SpecialtyCode("A03"), 4),
            SpecialtyDemand(SpecialtyCode("C04"), 1),
        ),
        evaluation_date=date.fromisoformat(body["evaluation_date"]),
        evaluation_time=time(9, 0),
        evaluation_place=body["evaluation_place"],
    )
    staff = Actor(staff_id, "staff1", Role.STAFF)
    async with pool.acquire() as conn:
        view = await draws.request_draw(conn, audit, staff, clock.now(), keys=PoolKeys.load_or_create(tmp_path),
                                        cache=draws.PoolCache(), settings=ExpertSettings(), data=data)  # fmt: skip
        bundle = await draws.published_bundle(conn, audit, staff, view["id"])
    reasons = {x[1] for x in bundle["record"]["exclusions"]}
    assert reasons >= {"bidder_staff", "tenderee_staff", "bidder_relative", "labour_relation", "director_relation",
                       "supervising_staff", "suspended", "retired", "sanctioned", "judgment_defaulter",
                       "unavailable"}  # fmt: skip
    excluded = {x[0] for x in bundle["record"]["exclusions"]}
    assert "DEMO-0013" not in excluded  # left the bidder in 2019: outside the three-year look-back
    assert all(n > 50 for n in (len(c) for c in bundle["record"]["candidates"][:1]))
