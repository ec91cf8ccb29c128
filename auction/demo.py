"""Demo auctions: a land lot whose listing (挂牌) is already open and ends in about twenty
minutes, then a four-minute timed phase; and a plate session (号牌) of four plates starting
two minutes after loading. The four demo bidders have confirmed deposits and paddles on
both. Idempotent: a demo lot still open is kept; one that is over is replaced by a new one.
"""

from __future__ import annotations

from datetime import timedelta

import asyncpg

from auction import service
from trading import admission
from trading.context import Actor, Role
from trading.demo import DemoContext

LAND_MARK = "sunlit-demo:land"
PLATE_MARK = "sunlit-demo:plates"
BIDDERS = ("bidder_a", "bidder_b", "bidder_c", "bidder_d")
PLATES = ("浙E·88888", "浙E·66666", "浙E·A8888", "浙E·12345")


async def load(ctx: DemoContext) -> None:
    staff = Actor(ctx.users["staff1"], "staff1", Role.STAFF, ctx.orgs["centre"])
    orgs = [ctx.orgs[key] for key in BIDDERS]
    now = ctx.now
    async with ctx.pool.acquire() as conn:
        land = await conn.fetchrow(
            "SELECT id, config FROM auction_lots WHERE description LIKE $1 AND status <> 'closed' "
            "AND (config->>'listing_ends_at')::timestamptz > $2 ORDER BY id DESC LIMIT 1",
            LAND_MARK + "%",
            now,
        )
        if land is None:
            lot = await service.create_land_lot(
                conn,
                ctx.audit,
                staff,
                now,
                title="湖州市吴兴区 2026-07 号地块（住宅） Wuxing plot 2026-07 (residential)",
                description=f"{LAND_MARK} 国有建设用地使用权挂牌出让，面积 35,612 ㎡，容积率 ≤ 2.2",
                starting_price_fen=38_000_000_000,
                increment_fen=100_000_000,
                deposit_fen=7_600_000_000,
                listing_starts_at=now - timedelta(days=10),
                listing_ends_at=now + timedelta(minutes=20),
                options={"listing_quiet_s": 300, "countdown_s": 240},
            )
            land_id = lot["id"]
            await service.schedule_lot(conn, ctx.audit, staff, now, lot_id=land_id)
        else:
            land_id = land["id"]
        land_paddles = await _admit(conn, ctx, staff, f"lot:{land_id}", orgs)
        plates = await conn.fetchrow(
            "SELECT s.id FROM auction_sessions s JOIN auction_lots l ON l.session_id = s.id "
            "WHERE l.description LIKE $1 AND l.status <> 'closed' AND s.starts_at > $2::timestamptz - interval '1 hour' "
            "ORDER BY s.id DESC LIMIT 1",
            PLATE_MARK + "%",
            now,
        )
        if plates is None:
            session = await service.create_plate_session(
                conn,
                ctx.audit,
                staff,
                now,
                title="2026 年第 3 期特殊号牌网络竞价 Special plates, session 3",
                starts_at=now + timedelta(minutes=2),
                countdown_s=60,
                lots=[
                    {
                        "title": plate,
                        "description": f"{PLATE_MARK} 小型汽车号牌",
                        "starting_price_fen": 1_000_000,
                        "increment_fen": 50_000,
                        "deposit_fen": 500_000,
                    }
                    for plate in PLATES
                ],
            )
            session_id = session["id"]
            await service.schedule_session(conn, ctx.audit, staff, now, session_id=session_id)
        else:
            session_id = plates["id"]
        session = await service.get_session(conn, session_id)
        land_lot = await service.get_lot(conn, land_id)
        plate_paddles = await _admit(conn, ctx, staff, f"session:{session_id}", orgs)
    users = {
        org: name
        for name, org in zip(("bidder1", "bidder2", "bidder3", "bidder4"), orgs, strict=True)
    }
    ctx.lines.append(
        f"Auctions: land lot {land_id} (listing open until {land_lot['listing_ends_at']}, no listing bids in its "
        "last 5 minutes, then a 4-minute timed phase)"
    )
    ctx.lines.append(
        f"          plate session {session_id}, lots {[lot['id'] for lot in session['lots']]}, "
        f"starts {session['starts_at']:%H:%M:%S} UTC, 60 s countdowns"
    )
    for org in orgs:
        ctx.lines.append(
            f"          {users[org]:<8} paddle {land_paddles[org]} (land)  {plate_paddles[org]} (plates)"
        )
    ctx.lines.append(
        "          watch and bid: docs/auction.md (websocket /api/v1/auctions/ws, `sunlit auction watch`)"
    )


async def _admit(
    conn: asyncpg.Connection, ctx: DemoContext, staff: Actor, scope: str, orgs: list[int]
) -> dict[int, str]:
    for org in orgs:
        await admission.flag_confirmed(
            conn,
            ctx.audit,
            staff,
            ctx.now,
            org_id=org,
            project_ref=service.deposit_ref(scope),
            note="demo deposit",
        )
    admitted = await service.admit(conn, ctx.audit, staff, ctx.now, scope=scope, org_ids=orgs)
    return {a["org_id"]: a["paddle"] for a in admitted}
