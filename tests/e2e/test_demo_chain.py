"""The demo's opened tender (``HZJT-2026-002``) is ready for the panel to score: its
history lies in the past (published 26 days before the load, frozen at its deadline 5 days
before, opened by two custodians' shares), its panel drawn for it and confirmed, each
seated member with a login and an Ed25519 key, and its evaluation started; the timed
events due in that past fire as catch-ups and change nothing; a second load changes
nothing. docs/evaluation.md's walk-through starts from here.

Sources (RULES.md): T1 (BL 24: ≥ 20 days to the deadline), T8/T9 (the opening), T15 (the
panel: 5 members), E4, T17.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bidding import demo as bidding_demo
from tests.helpers import login
from web import keys
from web.demo import load_demo


def credentials(data_dir: Path) -> dict[str, str]:
    lines = (data_dir / "demo-credentials.txt").read_text().splitlines()
    return {line.split("\t")[0]: line.split("\t")[2] for line in lines if line.strip()}


async def test_the_demo_opened_tender_is_ready_for_evaluation_and_loads_once(make_client: Any) -> None:
    """T1, T8, T15: a past tender, opened, its panel seated and its evaluation open. As in
    ``sunlit serve --demo``: the demo loads first, then the scheduler starts and runs the
    catch-ups of the tender's past."""
    client = await make_client(load_demo=True)
    app = client.server.app
    config = app[keys.CONFIG]
    first = await load_demo(app)  # the second load: nothing new
    async with app[keys.POOL].acquire() as conn:
        counts = await conn.fetchrow(
            "SELECT (SELECT count(*) FROM tenders) AS tenders, (SELECT count(*) FROM evaluations) AS evaluations,"
            " (SELECT count(*) FROM expert_draws) AS draws, (SELECT count(*) FROM users) AS users"
        )
    again = await load_demo(app)  # a third
    async with app[keys.POOL].acquire() as conn:
        assert (
            await conn.fetchrow(
                "SELECT (SELECT count(*) FROM tenders) AS tenders, (SELECT count(*) FROM evaluations) AS evaluations,"
                " (SELECT count(*) FROM expert_draws) AS draws, (SELECT count(*) FROM users) AS users"
            )
            == counts
        )
    assert first[-1] == again[-1]
    await app[keys.SCHEDULER].run_due()  # the catch-ups of the past: nothing runs twice
    async with app[keys.POOL].acquire() as conn:
        tid = await conn.fetchval("SELECT id FROM tenders WHERE code = $1", bidding_demo.OPENED_CODE)
        row = await conn.fetchrow("SELECT state, published_at, closed_at FROM tenders WHERE id = $1", tid)
        assert row["state"] == "opened"
        now = app[keys.CLOCK].now()
        assert (now - row["published_at"]).days >= 25 and (row["closed_at"] - row["published_at"]).days >= 20
        assert await conn.fetchval("SELECT count(*) FROM bid_tree_heads WHERE tender_id = $1", tid) == 1
        events = await conn.fetch("SELECT kind, ref, status, last_error FROM timed_events WHERE due_at <= $1", now)
        print(sorted((e["kind"], e["ref"], e["status"]) for e in events))
        assert not [e for e in events if e["status"] in ("failed", "pending")], events
        assert await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'tender.close' AND object_id = $1", str(tid)
        ) == 1  # frozen once: the catch-up found it frozen
    pw = credentials(config.data_dir)
    staff = await login(client, "staff1", pw["staff1"])
    state = await (await client.get(f"/api/v1/tenders/{tid}/evaluation", headers=staff)).json()
    assert state["state"] == "evaluating", state
    members = [m for m in state["members"] if not m["replaced"]]
    assert len(members) == 5
    panel = [line.split("\t") for line in (config.data_dir / "demo-panel.txt").read_text().splitlines()]
    assert sorted(eid for _, eid in panel) == sorted(m["expert_id"] for m in members)
    usernames = [u for u, _ in panel]
    assert len(usernames) == 5
    for username in usernames:
        assert (config.data_dir / "demo-keys" / f"{username}.ed25519").exists()
        headers = await login(client, username, pw[username])
        r = await client.get(f"/api/v1/tenders/{tid}/evaluation/bids", headers=headers)
        assert r.status == 200, await r.text()
        assert len((await r.json())["bids"]) == 4
