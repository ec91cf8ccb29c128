"""Public notices and the tender documents after publication, against PostgreSQL with a fake
clock: the notice of each step, paging by the commit-ordered sequence, downloads recorded,
questions, clarifications reaching every downloader (W1), objections (W2), T1 on date
changes.

Sources (RULES.md): W1 (BL 23, IR 21), W2 (IR 22), T1 (BL 24), T7 (BL 28, IR 44), T11 (BL 36,
EM 30), S4 (an overdue step raises one alert).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bidding import public_store as pstore
from bidding.errors import BidRejected
from bidding.public import OBJECTION_DUE_EVENT, ClarificationKind, NoticeKind, PublicSettings
from bidding.service import public, tenders
from tests.service.test_bidding_support import (
    World,
    make_world,
    pieces,
    registry_for,
)
from trading.calendar import EventContext, Scheduler
from trading.calendar import events as calendar
from trading.notices import list_notices
from trading.supervision import list_alerts

SETTINGS = PublicSettings()
DAY = timedelta(days=1)


@pytest.fixture
async def world(pool, audit, clock) -> World:
    return await make_world(pool, audit, clock, bidders=3)


async def rejected(coro: object) -> BidRejected:
    with pytest.raises(BidRejected) as info:
        await coro  # type: ignore[misc]
    return info.value


async def page(world: World, f: pstore.NoticeFilter | None = None, cursor: int | None = None,
               limit: int = 20) -> dict:
    async with world.pool.acquire() as conn:
        return await public.list_public_notices(
            conn, f or pstore.NoticeFilter(), cursor=cursor, limit=limit
        )


async def download(world: World, bidder_index: int) -> int:
    async with world.pool.acquire() as conn:
        docs = await tenders.store.list_documents(conn, world.tender_id)
        _, version = await public.record_download(
            conn, world.audit, world.bidders[bidder_index].party.actor, world.clock.now(),
            tender_id=world.tender_id, document_id=docs[0].id,
        )
    return version


async def clarify(world: World, **kw: object) -> dict:
    async with world.pool.acquire() as conn:
        return await public.publish_clarification(
            conn, world.audit, world.staff.actor, world.clock.now(),
            tender_id=world.tender_id, settings=SETTINGS,
            **{"kind": ClarificationKind.CLARIFICATION, "text": "答疑 Answer", **kw},  # type: ignore[arg-type]
        )


async def test_publishing_a_tender_publishes_its_notice(world: World) -> None:
    """BL 16 (公告): the published tender is a public notice with a stable URL; it names no
    custodian and no bidder (T11, BL 22)."""
    got = await page(world)
    assert [n["kind"] for n in got["items"]] == ["tender"]
    notice = got["items"][0]
    assert notice["tender_id"] == world.tender_id and notice["category"] == "works"
    assert notice["url"] == f"/api/v1/public/notices/{notice['id']}"
    async with world.pool.acquire() as conn:
        full = await public.get_public_notice(conn, notice["id"])
    assert full["data"]["code"] == world.tender.code
    assert "custodians" not in full["data"] and "estimated_price_fen" not in full["data"]


async def test_notices_page_newest_first_by_sequence_with_filters_and_search(world: World) -> None:
    """Public feeds page by a commit-ordered sequence, never by a timestamp (STYLE): every
    notice exactly once across pages, even when they share a timestamp."""
    for n in range(4):  # four more tenders, all at the same instant
        from tests.service.test_bidding_support import new_tender

        await new_tender(world, register=False, confirm=False)
        del n
    seen: list[int] = []
    cursor = None
    while True:
        got = await page(world, cursor=cursor, limit=2)
        seen += [n["seq"] for n in got["items"]]
        cursor = got["next"]
        if cursor is None:
            break
    assert seen == [5, 4, 3, 2, 1]
    got = await page(world, pstore.NoticeFilter(kind=NoticeKind.AMENDMENT))
    assert got["items"] == [] and got["next"] is None
    got = await page(world, pstore.NoticeFilter(q="ROAD WORKS"))
    assert len(got["items"]) == 5
    got = await page(world, pstore.NoticeFilter(q="道路改造"))
    assert len(got["items"]) == 5
    got = await page(world, pstore.NoticeFilter(q="no such title"))
    assert got["items"] == []
    got = await page(world, pstore.NoticeFilter(category="goods"))
    assert got["items"] == []


async def test_every_download_is_recorded_with_its_version_hash(world: World) -> None:
    """Issue 12 item 2: who, which version's hash, when."""
    assert await download(world, 0) == 1
    async with world.pool.acquire() as conn:
        rows = await public.list_downloads(conn, world.tender_id)
    assert len(rows) == 1
    row = rows[0]
    assert row["org_id"] == world.bidders[0].org_id and row["version"] == 1
    assert row["downloaded_at"] == world.clock.now() and len(row["sha256"]) == 64


async def test_a_clarification_reaches_every_downloader(world: World) -> None:
    """W1 (BL 23): one notice to each organisation that downloaded the documents, and one
    public notice; the question's asker is named nowhere public."""
    await download(world, 0)
    await download(world, 1)
    await download(world, 1)
    async with world.pool.acquire() as conn:
        q = await public.ask_question(
            conn, world.audit, world.bidders[2].party.actor, world.clock.now(),
            tender_id=world.tender_id, text="工期是否可以调整？",
        )
        # another bidder does not see an unanswered question
        assert await public.list_questions(conn, world.bidders[0].party.actor, world.tender_id) == []
    world.clock.advance(days=1)
    result = await clarify(world, question_ids=[q["id"]])
    assert result["notified_orgs"] == 2 and not result["deadline_moved"]
    async with world.pool.acquire() as conn:
        for i, expected in ((0, 1), (1, 1), (2, 0)):
            notes = await list_notices(conn, org_id=world.bidders[i].org_id)
            assert sum("Clarification no. 1" in n["subject"] for n in notes) == expected
        seen = await public.list_questions(conn, world.bidders[0].party.actor, world.tender_id)
        assert [(s["text"], s["answered"]) for s in seen] == [("工期是否可以调整？", True)]
        assert "asked_by" not in seen[0]
        notice = await public.get_public_notice(conn, result["notice_id"])
    assert notice["kind"] == "clarification"
    assert notice["data"]["questions"] == [{"text": "工期是否可以调整？"}]
    assert str(world.bidders[2].org_id) not in str(notice["data"])
    assert "asked_by" not in str(notice["data"])


async def test_a_change_10_days_before_moves_the_deadline(world: World) -> None:
    """W1 (BL 23, IR 21): a change 10 days before the deadline moves it (and the opening,
    and their timed events) to 15 days after the change; downloaders are told."""
    await download(world, 0)
    old = world.tender
    world.clock.set(old.bid_deadline_at - 10 * DAY)
    result = await clarify(world, kind=ClarificationKind.AMENDMENT, text="修改技术参数")
    assert result["deadline_moved"] and result["moved_automatically"]
    tender = await world.reload()
    assert tender.bid_deadline_at == old.bid_deadline_at + 5 * DAY
    assert tender.opening_at == old.opening_at + 5 * DAY
    async with world.pool.acquire() as conn:
        pending = {e.kind: e.due_at for e in await calendar.pending(conn, ref=str(world.tender_id))}
        notes = await list_notices(conn, org_id=world.bidders[0].org_id)
    assert pending["tender.deadline"] == tender.bid_deadline_at
    assert any("顺延" in n["body"] for n in notes)
    kinds = [n["kind"] for n in (await page(world))["items"]]
    assert kinds == ["amendment", "tender"]  # one notice for the amendment, dates included


async def test_a_given_deadline_under_15_days_after_the_change_is_refused(world: World) -> None:
    """W1 (BL 23): staff's own new deadline must be 15 days after the change; nothing written."""
    world.clock.set(world.tender.bid_deadline_at - 10 * DAY)
    new = world.clock.now() + 14 * DAY
    err = await rejected(clarify(world, bid_deadline_at=new, opening_at=new))
    assert err.code == "deadline_too_soon_after_change" and err.status_hint == 422
    assert len((await page(world))["items"]) == 1
    assert (await world.reload()).bid_deadline_at == world.tender.bid_deadline_at


async def test_a_date_change_below_the_minimum_period_is_refused(world: World) -> None:
    """T1 (BL 24): every date change re-checks 20 days from publication (it used to skip it)."""
    async with world.pool.acquire() as conn:
        err = await rejected(
            tenders.change_dates(
                conn, world.audit, world.staff.actor, world.clock.now(), world.tender_id,
                bid_deadline_at=world.clock.now() + 19 * DAY,
                opening_at=world.clock.now() + 19 * DAY, reason="shorter",
            )
        )
        assert err.code == "period_too_short"
        await tenders.change_dates(
            conn, world.audit, world.staff.actor, world.clock.now(), world.tender_id,
            bid_deadline_at=world.clock.now() + 30 * DAY,
            opening_at=world.clock.now() + 30 * DAY, reason="longer",
        )
    assert [n["kind"] for n in (await page(world))["items"]] == ["amendment", "tender"]


async def test_an_amendment_publishes_a_new_document_version(world: World) -> None:
    """W1: a new version reaches the downloaders; the next download records version 2."""
    await download(world, 0)
    async with world.pool.acquire() as conn:
        docs = await tenders.store.list_documents(conn, world.tender_id)
        staged = await public.stage_document_version(
            conn, world.audit, world.staff.actor, world.clock.now(),
            tender_id=world.tender_id, document_id=docs[0].id, source=pieces(b"v2 " * 50),
            content_length=None, settings=world.settings,
        )
    assert await download(world, 1) == 1  # staged: not yet what bidders get
    result = await clarify(world, kind=ClarificationKind.AMENDMENT, version_ids=[staged["version_id"]])
    assert result["documents"] == [
        {"document_id": docs[0].id, "version": 2, "sha256": staged["sha256"]}
    ]
    assert result["notified_orgs"] == 2
    assert await download(world, 2) == 2
    err = await rejected(clarify(world, version_ids=[staged["version_id"]]))
    assert err.code == "document_version_not_staged"


async def test_late_objection_is_refused(world: World) -> None:
    """W2 (IR 22): an objection later than 10 days before the deadline is refused."""
    world.clock.set(world.tender.bid_deadline_at - 10 * DAY + timedelta(milliseconds=1))
    async with world.pool.acquire() as conn:
        err = await rejected(
            public.raise_objection(
                conn, world.audit, world.bidders[0].party.actor, world.clock.now(),
                tender_id=world.tender_id, text="late", settings=SETTINGS,
            )
        )
    assert err.code == "objection_too_late" and err.status_hint == 409


def registry_with_objections(world: World):  # type: ignore[no-untyped-def]
    registry = registry_for(world.audit)

    async def on_due(ctx: EventContext) -> None:
        await public.objection_due(ctx.conn, ctx.now, int(ctx.event.ref))

    registry.register(OBJECTION_DUE_EVENT, on_due)
    return registry


async def test_unanswered_objection_raises_one_alert_after_3_days(world: World) -> None:
    """W2 (IR 22), S4: an objection unanswered 3 days on raises exactly one supervision
    alert (a timed event held in PostgreSQL: it survives a restart); an answered one none."""
    async with world.pool.acquire() as conn:
        first = await public.raise_objection(
            conn, world.audit, world.bidders[0].party.actor, world.clock.now(),
            tender_id=world.tender_id, text="资格条件排斥潜在投标人", settings=SETTINGS,
        )
        second = await public.raise_objection(
            conn, world.audit, world.bidders[1].party.actor, world.clock.now(),
            tender_id=world.tender_id, text="评分标准不明确", settings=SETTINGS,
        )
        await public.answer_objection(
            conn, world.audit, world.staff.actor, world.clock.now(),
            tender_id=world.tender_id, objection_id=second["id"], answer="已澄清",
        )
    registry = registry_with_objections(world)
    world.clock.advance(days=3, milliseconds=-1)
    await Scheduler(world.pool, world.clock, registry).run_due()
    async with world.pool.acquire() as conn:
        assert await list_alerts(conn, kind="bidding.objection_unanswered") == []
    world.clock.advance(milliseconds=1)
    await Scheduler(world.pool, world.clock, registry).run_due()  # a new scheduler: a restart
    await Scheduler(world.pool, world.clock, registry).run_due()
    async with world.pool.acquire() as conn:
        alerts = await list_alerts(conn, kind="bidding.objection_unanswered")
        assert [a["detail"]["objection_id"] for a in alerts] == [first["id"]]
        late = await public.answer_objection(
            conn, world.audit, world.staff.actor, world.clock.now(),
            tender_id=world.tender_id, objection_id=first["id"], answer="迟复",
        )
        assert late["late"] is True
        err = await rejected(
            public.answer_objection(
                conn, world.audit, world.staff.actor, world.clock.now(),
                tender_id=world.tender_id, objection_id=first["id"], answer="again",
            )
        )
        assert err.code == "objection_already_answered"


async def test_a_failed_tender_is_announced(world: World) -> None:
    """T7 (BL 28, IR 44): too few bids at the deadline → a public notice of the failure."""
    world.clock.set(world.tender.bid_deadline_at)
    await Scheduler(world.pool, world.clock, registry_with_objections(world)).run_due()
    got = await page(world, pstore.NoticeFilter(kind=NoticeKind.FAILED))
    assert [n["tender_id"] for n in got["items"]] == [world.tender_id]
    async with world.pool.acquire() as conn:
        notice = await public.get_public_notice(conn, got["items"][0]["id"])
    assert notice["data"]["bid_count"] == 0


async def test_the_opening_record_notice_is_the_signed_public_view(world: World) -> None:
    """T11 (BL 36, EM 30): the opening record's notice carries the signed public view — the
    bidders, prices and declared items, never the confidential items, the bid documents or
    the custodians; and no notice before the opening names a bidder."""
    import json

    from bidding.records import PUBLIC_RECORD_TYPE
    from tests.service.test_bidding_support import (
        hand_in,
        schedule_json,
        seal_for,
        submit,
        to_deadline,
        to_opening,
    )

    await download(world, 0)
    await clarify(world)
    for i, bidder in enumerate(world.bidders[:3]):
        schedule = schedule_json(7000 + i, confidential_items={"分项报价": f"secret-{i}"})
        await submit(world, bidder, seal_for(world, bidder, schedule, {"技术标.pdf": b"t" * 50}))
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    await hand_in(world, world.custodians[1])
    got = await page(world, pstore.NoticeFilter(tender_id=world.tender_id))
    assert [n["kind"] for n in got["items"]] == ["opening_record", "clarification", "tender"]
    async with world.pool.acquire() as conn:
        record = await public.get_public_notice(conn, got["items"][0]["id"])
        before = [await public.get_public_notice(conn, n["id"]) for n in got["items"][1:]]
    document = record["data"]["record"]["document"]
    assert document["type"] == PUBLIC_RECORD_TYPE
    assert [e["amount_fen"] for e in document["entries"]] == [7000, 7001, 7002]
    text = json.dumps(record, ensure_ascii=False, default=str)
    assert "secret-" not in text and "技术标.pdf" not in text and "custodian" not in text
    for b in world.bidders:
        party = b.party
        assert all(party.username not in json.dumps(n, ensure_ascii=False, default=str) for n in before)
