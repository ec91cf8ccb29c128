"""Public notices and the tender documents through the HTTP API and the CLI, on real
PostgreSQL with a fake clock: the public list without login (paging, filters, search), the
download record, questions (the asker never shown to other bidders), a clarification
reaching every downloader and moving the deadline (W1), objections (W2).

Sources (RULES.md): W1 (BL 23, IR 21), W2 (IR 22), T1 (BL 24), T11 (EM 30), S4.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_bidding_api import CONFIG, Centre, cli_in_thread, problem
from web import keys

DAY = timedelta(days=1)


@pytest.fixture
async def centre(make_client: Any, tmp_path: Path) -> Centre:
    client = await make_client(**CONFIG)
    c = Centre(client, tmp_path)
    await c.start(bidders=3)
    return c


def at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_the_public_list_needs_no_login_pages_filters_and_searches(centre: Centre) -> None:
    """Issue 12 item 1: the public notices without login, newest first, paged by a sequence
    cursor; filters by kind and category; title search in Chinese and English; a stable
    URL per notice that names no custodian."""
    client = centre.client
    ids = [(await centre.tender(code=f"PUB-{i}"))["id"] for i in range(3)]
    r = await client.get("/api/v1/public/notices?limit=2")
    assert r.status == 200
    first = await r.json()
    assert [n["tender_id"] for n in first["items"]] == [ids[2], ids[1]]
    assert first["next"] is not None
    second = await (await client.get(first["next_url"])).json()
    assert [n["tender_id"] for n in second["items"]] == [ids[0]] and second["next"] is None
    found = await (await client.get("/api/v1/public/notices?q=环城北路&kind=tender")).json()
    assert len(found["items"]) == 3
    assert (await (await client.get("/api/v1/public/notices?category=goods")).json())["items"] == []
    today = client.server.app[keys.CLOCK].now().date()
    by_day = await (await client.get(f"/api/v1/public/notices?published_from={today}&published_to={today}")).json()
    assert len(by_day["items"]) == 3
    before = await (await client.get(f"/api/v1/public/notices?published_to={today - DAY}")).json()
    assert before["items"] == []
    detail = await (await client.get(first["items"][0]["url"])).json()
    assert detail["data"]["code"] == "PUB-2" and "custodians" not in detail["data"]
    await problem(await client.get("/api/v1/public/notices?kind=gossip"), 422, "validation_failed")
    await problem(await client.get("/api/v1/public/notices/999999"), 404, "notice_not_found")
    assert await cli_in_thread("notices", "list", "--url", centre.url, "--q", "环城") == 0


async def test_downloads_questions_and_a_clarification_reach_every_downloader(
    centre: Centre, tmp_path: Path
) -> None:
    """W1 (BL 23, IR 21): every download recorded; the asker never shown to other bidders;
    a clarification 10 days before the deadline moves it and reaches every downloader."""
    client = centre.client
    tender = await centre.tender()
    tid = tender["id"]
    doc_id = tender_docs = (
        await (await client.get(f"/api/v1/tenders/{tid}/documents", headers=centre.staff_h)).json()
    )[0]["id"]
    del tender_docs
    (b0, b0_h, _), (b1, b1_h, _), (b2, b2_h, _) = centre.bidders
    token0 = b0_h["Authorization"].split()[1]
    out = tmp_path / "doc.pdf"
    assert await cli_in_thread(
        "tender", "download", "--url", centre.url, f"--token={token0}",
        "--tender-id", str(tid), "--document-id", str(doc_id), "--out", str(out),
    ) == 0
    assert out.read_bytes() == b"%PDF tender documents"
    r = await client.get(f"/api/v1/tenders/{tid}/documents/{doc_id}", headers=b1_h)
    assert r.status == 200 and r.headers["X-Document-Version"] == "1"
    rows = await (await client.get(f"/api/v1/tenders/{tid}/downloads", headers=centre.staff_h)).json()
    assert sorted(row["org_id"] for row in rows) == sorted([b0.org_id, b1.org_id])
    assert all(len(row["sha256"]) == 64 and row["version"] == 1 for row in rows)

    token2 = b2_h["Authorization"].split()[1]
    assert await cli_in_thread(
        "tender", "ask", "--url", centre.url, f"--token={token2}", "--tender-id", str(tid),
        "--text", "工期能否延长至 500 日？",
    ) == 0
    assert await (await client.get(f"/api/v1/tenders/{tid}/questions", headers=b0_h)).json() == []
    staff_view = await (await client.get(f"/api/v1/tenders/{tid}/questions", headers=centre.staff_h)).json()
    assert staff_view[0]["asked_by"]["org_id"] == b2.org_id
    qid = staff_view[0]["id"]

    clock = client.server.app[keys.CLOCK]
    deadline = at(tender["bid_deadline_at"])
    clock.set(deadline - 10 * DAY)
    r = await client.post(
        f"/api/v1/tenders/{tid}/clarifications",
        json={"kind": "clarification", "text": "工期不变。The duration stays.", "answers": [qid]},
        headers=centre.staff_h,
    )
    assert r.status == 201, await r.text()
    result = await r.json()
    assert result["deadline_moved"] and result["notified_orgs"] == 2
    assert at(result["bid_deadline_at"]) == deadline + 5 * DAY
    seen = await (await client.get(f"/api/v1/tenders/{tid}/questions", headers=b0_h)).json()
    assert [(q["text"], q["answered"]) for q in seen] == [("工期能否延长至 500 日？", True)]
    assert "asked_by" not in seen[0]
    notice = await (await client.get(result["notice_url"])).json()
    assert notice["kind"] == "clarification"
    assert f'"org_id": {b2.org_id}' not in json.dumps(notice) and b2.username not in json.dumps(notice)
    async with client.server.app[keys.POOL].acquire() as conn:
        told = await conn.fetch(
            "SELECT org_id FROM notices WHERE subject LIKE 'Clarification no. 1%' ORDER BY org_id"
        )
    assert [t["org_id"] for t in told] == sorted([b0.org_id, b1.org_id])

    soon = (clock.now() + 14 * DAY).isoformat()
    await problem(
        await client.post(
            f"/api/v1/tenders/{tid}/clarifications",
            json={"text": "again", "bid_deadline_at": soon, "opening_at": soon},
            headers=centre.staff_h,
        ),
        422,
        "deadline_too_soon_after_change",
    )
    await problem(
        await client.post(
            f"/api/v1/tenders/{tid}/clarifications", json={"text": "x"}, headers=b0_h
        ),
        403,
        "role_forbidden",
    )


async def test_objections_late_refused_unanswered_alerted_once(centre: Centre) -> None:
    """W2 (IR 22), S4: an objection later than 10 days before the deadline is refused; one
    left unanswered 3 days raises exactly one supervision alert."""
    client = centre.client
    app = client.server.app
    tender = await centre.tender()
    tid = tender["id"]
    _, b0_h, _ = centre.bidders[0]
    token0 = b0_h["Authorization"].split()[1]
    assert await cli_in_thread(
        "tender", "object", "--url", centre.url, f"--token={token0}", "--tender-id", str(tid),
        "--text", "资格条件排斥潜在投标人",
    ) == 0
    clock = app[keys.CLOCK]
    clock.advance(days=3)
    await app[keys.SCHEDULER].run_due()
    await app[keys.SCHEDULER].run_due()
    async with app[keys.POOL].acquire() as conn:
        alerts = await conn.fetch("SELECT * FROM alerts WHERE kind = 'bidding.objection_unanswered'")
    assert len(alerts) == 1
    mine = await (await client.get(f"/api/v1/tenders/{tid}/objections", headers=b0_h)).json()
    assert len(mine) == 1 and "raised_by" not in mine[0]
    r = await client.post(
        f"/api/v1/tenders/{tid}/objections/{mine[0]['id']}/answer",
        json={"answer": "资格条件符合法律规定"},
        headers=centre.staff_h,
    )
    assert r.status == 200 and (await r.json())["late"] is True
    clock.set(at(tender["bid_deadline_at"]) - 9 * DAY)
    await problem(
        await client.post(f"/api/v1/tenders/{tid}/objections", json={"text": "late"}, headers=b0_h),
        409,
        "objection_too_late",
    )
