"""Load the demo centre: the core's parties first, then each package's own demo data, then
the crossings no domain package may make on its own (``load_opened_chain``): the demo's
opened tender gets its panel drawn, confirmed, given logins and signing keys, and its
evaluation started, so that docs/evaluation.md's walk-through begins at "the panel scores"."""

from __future__ import annotations

import importlib
import importlib.util
from datetime import time, timedelta

from aiohttp import web

from bidding import demo as bidding_demo
from bidding.evaluation import service as evaluation_service
from bidding.service import reading
from bidding.vault import EvaluationKeys
from experts import draws
from experts import service as experts_service
from experts import store as experts_store
from experts.panel import MemberCommand
from experts.settings import ExpertSettings
from experts.vault import PoolKeys
from trading import demo
from trading.context import Actor, Role
from trading.ledger import bank
from trading.ledger import demo as ledger_demo
from web import keys
from web.evaluation import panel_members
from web.panels import _demand, tender_ref
from web.register import without_banned_experts

DEMO_MODULES: tuple[str, ...] = ("trading.ledger.demo", "bidding.demo", "auction.demo", "experts.demo")

PANEL_LINES = [
    {"code": "A03", "count": 4, "region_rule": {"scope": "any", "regions": []}, "reserve": None},
    {"code": "C04", "count": 1, "region_rule": {"scope": "any", "regions": []}, "reserve": None},
]


async def load_demo(app: web.Application) -> list[str]:
    ctx = demo.DemoContext(
        pool=app[keys.POOL], audit=app[keys.AUDIT], now=app[keys.CLOCK].now(), data_dir=app[keys.CONFIG].data_dir
    )
    await demo.load(ctx)
    for name in DEMO_MODULES:
        if importlib.util.find_spec(name.rsplit(".", 1)[0]) is None or importlib.util.find_spec(name) is None:
            continue
        await importlib.import_module(name).load(ctx)
    await load_opened_chain(app, ctx)
    for line in ctx.lines:
        print(line, flush=True)
    return ctx.lines


async def load_opened_chain(app: web.Application, ctx: demo.DemoContext) -> int:
    """The opened demo tender (``bidding.demo.load_opened``) and what web/panels.py and
    web/evaluation.py would do for it, in its past: the panel requirements, the draw for the
    tender two days before its deadline, the summoned experts confirmed (each with a login
    ``member1``… — or ``expert1`` if drawn — and an Ed25519 key in ``demo-keys/``; who sits is
    written to ``demo-panel.txt``, ``username<TAB>expert id`` a line), and the evaluation
    started the day after the opening. Idempotent, step by step."""
    data_dir = app[keys.CONFIG].data_dir
    evaluation_keys = app.get(keys.EVALUATION_KEYS) or EvaluationKeys.load_or_create(data_dir)
    bank_key = bank.load_or_create_key(data_dir.joinpath(*ledger_demo.KEY_FILE))
    tender_id = await bidding_demo.load_opened(ctx, evaluation_keys, bank_key)
    t = bidding_demo.opened_timeline(ctx.now)
    staff = Actor(ctx.users["staff1"], "staff1", Role.STAFF, ctx.orgs["centre"])
    pool_keys = PoolKeys.load_or_create(data_dir)
    settings = ExpertSettings()
    requested = t["deadline"] - timedelta(days=2)
    async with ctx.pool.acquire() as conn:
        draw = await experts_store.latest_draw_for_tender(conn, tender_id)
        if draw is None:
            await reading.set_panel_requirements(
                conn, ctx.audit, staff, requested, tender_id, tenderee_org_id=ctx.orgs["tenderee"],
                supervising_org_ids=[ctx.orgs["supervisor_dept"]], lines=PANEL_LINES,
                tenderee_representatives=0, min_members=5,
            )  # fmt: skip
            async with conn.transaction():
                context = await reading.panel_context(conn, tender_id)
                data = draws.DrawInput(
                    tender_ref=tender_ref(tender_id), tender_id=tender_id,
                    tenderee_org_id=ctx.orgs["tenderee"], demands=tuple(_demand(ln) for ln in PANEL_LINES),
                    evaluation_date=(t["opening"] + timedelta(days=1)).date(), evaluation_time=time(9, 30),
                    evaluation_place="湖州市公共资源交易中心 3号评标室", evaluation_days=1,
                    bidder_org_ids=tuple(context.bidder_org_ids),
                    supervising_org_ids=(ctx.orgs["supervisor_dept"],), tenderee_representatives=0,
                    min_members=5, cooldown_days=0, yearly_cap=None, relation_lookback_years=3,
                    beacon=None, answer_within_s=None,
                )  # fmt: skip
                data = await without_banned_experts(conn, requested, data)
                view = await draws.request_draw(
                    conn, ctx.audit, staff, requested, keys=pool_keys, cache=draws.PoolCache(),
                    settings=settings, data=data,
                )  # fmt: skip
            await draws.run_draw(conn, ctx.audit, staff, requested, keys=pool_keys, settings=settings,
                                 draw_id=view["id"])  # fmt: skip
            draw = await experts_store.latest_draw_for_tender(conn, tender_id)
        assert draw is not None
        members = await experts_store.members_of(conn, draw["id"])
    seated = [m for m in members if m["status"] in ("summoned", "confirmed")]
    for n, m in enumerate(seated, start=1):
        async with ctx.pool.acquire() as conn:
            entry = await experts_service.get_entry(conn, m["expert_id"])
        if entry.user_id is None:
            username = f"member{n}"
            ids = await demo.ensure_users(ctx, [(username, f"{entry.expert.name} (评标专家 panel member)", Role.EXPERT, None)])
            async with ctx.pool.acquire() as conn:
                await experts_service.link_user(conn, ctx.audit, ctx.actor, requested, m["expert_id"], ids[username])
        else:
            async with ctx.pool.acquire() as conn:
                username = await conn.fetchval("SELECT username FROM users WHERE id = $1", entry.user_id)
            ctx.users[username] = entry.user_id
        await bidding_demo.signing_key_for(ctx, username)
        if m["status"] == "summoned":
            expert = Actor(ctx.users[username], username, Role.EXPERT, None)
            async with ctx.pool.acquire() as conn:
                await draws.answer_as_expert(
                    conn, ctx.audit, expert, requested + timedelta(minutes=20 + n), settings=settings,
                    member_id=m["id"], command=MemberCommand.CONFIRM,
                )  # fmt: skip
    async with ctx.pool.acquire() as conn:
        for message in await experts_store.messages_of_draw(conn, draw["id"]):
            if message["status"] == "pending":  # delivered in the demo's past, not by today's outbox
                await experts_store.finish_message(conn, message["id"], status="sent", now=requested,
                                                   channel="demo", provider_ref=None, error=None)  # fmt: skip
        if await conn.fetchval("SELECT 1 FROM evaluations WHERE tender_id = $1", tender_id) is None:
            drawn, panel = await panel_members(conn, tender_id)
            ready = drawn and any(not p.replaced and p.user_id is not None for p in panel)
            await evaluation_service.start_evaluation(
                conn, ctx.audit, staff, t["opening"] + timedelta(days=1), tender_id,
                members=panel, panel_seated=ready,
            )  # fmt: skip
        names = await conn.fetch(
            "SELECT u.username, e.expert_id FROM expert_draw_members m JOIN experts e USING (expert_id) "
            "JOIN users u ON u.id = e.user_id WHERE m.draw_id = $1 AND m.status = 'confirmed' "
            "ORDER BY m.line, m.position",
            draw["id"],
        )
    panel_file = ctx.data_dir / "demo-panel.txt"  # who sits, for docs/evaluation.md's walk-through
    panel_file.write_text("".join(f"{r['username']}\t{r['expert_id']}\n" for r in names), "utf-8")
    ctx.lines.append(
        f"Evaluation of {bidding_demo.OPENED_CODE} (id {tender_id}) started; the panel logs in as "
        + ", ".join(f"{r['username']} ({r['expert_id']})" for r in names)
        + f" (also in {panel_file}); walk-through in docs/evaluation.md"
    )
    return tender_id
