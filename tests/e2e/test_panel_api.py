"""The panel drawn for a tender and its reading of the opened bids, through the HTTP API and
``sunlit experts verify-draw`` (issue 12, items 3–4).

Sources (RULES.md): T15 (BL 37, O12 9: odd, ≥ 5, experts ≥ 2/3), E3 (O12 12, GPR 9, IR 46:
each exclusion recorded with its reason), E4 (BL 37, O12 8, IR 41: the list secret until
the result is fixed — bidders and other staff get 403), E7 (RFC 3797: the draw verifies),
T19 (IR 48: a replaced member no longer sits), T3 (EM 26, 28: no plaintext at rest — after
the opening too), T12 (A4(g): every read and every denied attempt in the audit log).
"""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bidding.client import seal_bid_bytes, signing_key_from
from crypto.keys import b64url_decode
from experts.csvio import write_csv
from tests.e2e.test_bidding_api import Centre, cli_in_thread
from tests.helpers import Party, login, make_org, problem, user_headers
from tests.service.test_bidding_vault import holds, pg_dump
from tests.service.test_experts_pool import expert_input
from trading.context import Role
from trading.parties.model import OrgKind
from web import cli, keys
from web import panels as web_panels

DOC_MARKER = "PANEL-API-DOCUMENT-7c1e"
PLACE = "湖州市公共资源交易中心 3号评标室"


class Panel:
    """A centre (staff, custodians, three bidders) plus the expert pool, the tenderee and a
    supervising department, and one login per expert."""

    def __init__(self, centre: Centre) -> None:
        self.centre = centre
        self.client = centre.client
        self.experts: dict[str, tuple[Party, dict[str, str]]] = {}

    @property
    def app(self) -> Any:
        return self.client.server.app

    async def start(self) -> None:
        app = self.app
        async with app[keys.POOL].acquire() as conn:
            audit, clock = app[keys.AUDIT], app[keys.CLOCK]
            self.tenderee = await make_org(conn, audit, clock, OrgKind.TENDEREE, region="330500")
            self.supervising = await make_org(conn, audit, clock, OrgKind.SUPERVISOR_DEPT)
            code_of = {
                r["id"]: r["credit_code"]
                for r in await conn.fetch("SELECT id, credit_code FROM organisations")
            }
        self.bidder_org = self.centre.bidders[0][0].org_id
        inputs = [expert_input(n, "A030101" if n % 2 else "A0302") for n in range(1, 13)]
        inputs += [expert_input(n, "C04") for n in range(13, 17)]
        inputs += [
            expert_input(20, "A030101", employer_code=code_of[self.bidder_org]),
            expert_input(21, "A0302", employer_code=code_of[self.tenderee]),
        ]
        staff_h = self.centre.staff_h
        r = await self.client.post("/api/v1/experts/import", data=write_csv(inputs).encode(),
                                   headers={**staff_h, "Content-Type": "text/csv"})  # fmt: skip
        assert r.status == 201, await r.text()
        for e in inputs:
            assert e.expert_id is not None
            party, headers = await user_headers(self.client, Role.EXPERT)
            r = await self.client.put(f"/api/v1/experts/{e.expert_id}/user",
                                      json={"user_id": party.user_id}, headers=staff_h)  # fmt: skip
            assert r.status == 200, await r.text()
            self.experts[e.expert_id] = (party, headers)
        self.other_staff, self.other_staff_h = await user_headers(self.client, Role.STAFF)
        self.supervisor, self.sup_h = await user_headers(self.client, Role.SUPERVISOR)

    def requirements(self, **kw: Any) -> dict[str, Any]:
        return {
            "tenderee_org_id": self.tenderee,
            "supervising_org_ids": [self.supervising],
            "lines": [{"code": "A03", "count": 4, "reserve": 3}, {"code": "C04", "count": 1}],
            **kw,
        }

    def sitting(self, tender: dict[str, Any]) -> dict[str, Any]:
        now = self.app[keys.CLOCK].now()
        return {
            "evaluation_date": (now + timedelta(days=22)).date().isoformat(),
            "evaluation_time": "09:30",
            "evaluation_place": PLACE,
        }

    async def members(self, tid: int) -> list[dict[str, Any]]:
        r = await self.client.get(f"/api/v1/tenders/{tid}/panel", headers=self.centre.staff_h)
        assert r.status == 200, await r.text()
        return (await r.json())["members"]

    async def answer(self, expert_id: str, command: str, **body: Any) -> None:
        _, headers = self.experts[expert_id]
        mine = await (await self.client.get("/api/v1/me/summons", headers=headers)).json()
        open_ = [s for s in mine if s["status"] in ("summoned", "confirmed")]
        r = await self.client.post(f"/api/v1/me/summons/{open_[0]['summons_id']}/{command}",
                                   json=body or None, headers=headers)  # fmt: skip
        assert r.status == 200, await r.text()

    async def relogin(self) -> None:
        """Sessions expire: after the clock jumps weeks ahead everybody logs in again."""
        c = self.centre
        c.staff_h = await login(self.client, c.staff.username)
        c.custodians = [(p, await login(self.client, p.username), f) for p, _, f in c.custodians]
        c.bidders = [(p, await login(self.client, p.username), f) for p, _, f in c.bidders]
        for eid, (p, _) in list(self.experts.items()):
            self.experts[eid] = (p, await login(self.client, p.username))
        self.other_staff_h = await login(self.client, self.other_staff.username)
        self.sup_h = await login(self.client, self.supervisor.username)

    async def confirm_everyone(self, tid: int) -> None:
        for m in await self.members(tid):
            if m["status"] == "summoned":
                await self.answer(m["expert_id"], "confirm")


async def test_t15_the_tender_panel_composition_is_refused_when_even_small_or_short_of_experts(
    panel: Panel,
) -> None:
    """T15 (BL 37, O12 9): 4 members, 6 members, and 3 experts with 2 of the tenderee's
    representatives (below two thirds) are refused with their own codes; nothing is kept."""
    client, staff_h = panel.client, panel.centre.staff_h
    tid = (await panel.centre.tender())["id"]
    url = f"/api/v1/tenders/{tid}/panel-requirements"
    body = await problem(
        await client.put(url, json=panel.requirements(lines=[{"code": "A03", "count": 4}]),
                         headers=staff_h), 422, "committee_even")  # fmt: skip
    assert {e["code"] for e in body["errors"]} == {"committee_even", "committee_too_small"}
    await problem(
        await client.put(url, json=panel.requirements(lines=[{"code": "A03", "count": 6}]),
                         headers=staff_h), 422, "committee_even")  # fmt: skip
    await problem(
        await client.put(url, json=panel.requirements(lines=[{"code": "A03", "count": 3}],
                                                      tenderee_representatives=2),
                         headers=staff_h), 422, "experts_below_two_thirds")  # fmt: skip
    await problem(
        await client.put(url, json=panel.requirements(lines=[{"code": "Z99", "count": 5}]),
                         headers=staff_h), 422, "unknown_specialty")  # fmt: skip
    await problem(await client.get(url, headers=staff_h), 409, "panel_requirements_missing")
    await problem(
        await client.post(f"/api/v1/tenders/{tid}/panel", json=panel.sitting({}), headers=staff_h),
        409,
        "panel_requirements_missing",
    )


async def test_the_panel_is_drawn_from_the_tender_and_reads_the_bids_only_while_it_sits(
    panel: Panel, tmp_path: Path, db_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E3 exclusions computed (a bidder's employee and the tenderee's, each with its reason),
    typed-in exclusions refused, E4 secrecy, reading by sitting members only while the
    evaluation is open (T19: not a replaced member), every read audited, no document in a
    dump after the opening, and E7: the fixed draw names the tender and verifies."""
    client, app, centre = panel.client, panel.app, panel.centre
    staff_h = centre.staff_h
    tender = await centre.tender()
    tid = tender["id"]
    r = await client.put(f"/api/v1/tenders/{tid}/panel-requirements",
                         json=panel.requirements(), headers=staff_h)  # fmt: skip
    assert r.status == 200, await r.text()

    # the exclusions are computed; a typed-in one is refused on this path
    for field, value in (("extra_exclusions", [{"expert_id": "E001", "detail": "x"}]),
                         ("bidder_org_ids", [panel.bidder_org]), ("tenderee_org_id", 1)):  # fmt: skip
        body = await problem(
            await client.post(f"/api/v1/tenders/{tid}/panel",
                              json={**panel.sitting(tender), field: value}, headers=staff_h),
            422, "validation_failed",
        )  # fmt: skip
        assert field in json.dumps(body), body
    r = await client.post(
        f"/api/v1/tenders/{tid}/panel", json=panel.sitting(tender), headers=staff_h
    )
    assert r.status == 201, await r.text()
    draw = await r.json()
    assert draw["tender_id"] == tid and draw["tender_ref"] == f"tender:{tid}"
    assert sorted(draw["bidder_org_ids"]) == sorted(p.org_id for p, _, _ in centre.bidders)
    reasons = {(x["expert_id"], x["reason"]) for x in draw["exclusions"]}
    assert ("E020", "bidder_staff") in reasons and ("E021", "tenderee_staff") in reasons
    await problem(
        await client.post(f"/api/v1/tenders/{tid}/panel", json=panel.sitting(tender), headers=staff_h),
        409, "panel_exists",
    )  # fmt: skip
    await problem(
        await client.put(f"/api/v1/tenders/{tid}/panel-requirements", json=panel.requirements(),
                         headers=staff_h), 409, "panel_requirements_fixed",
    )  # fmt: skip
    r = await client.post(f"/api/v1/draws/{draw['id']}/run", json={}, headers=staff_h)
    assert r.status == 200, await r.text()
    await panel.confirm_everyone(tid)

    # E4: the list is secret until the result is fixed
    _, bidder_h, _ = centre.bidders[0]
    some_expert_h = next(iter(panel.experts.values()))[1]
    for headers in (bidder_h, panel.other_staff_h, some_expert_h):
        await problem(await client.get(f"/api/v1/tenders/{tid}/panel", headers=headers), 403,
                      "panel_secret")  # fmt: skip
    assert (await client.get(f"/api/v1/tenders/{tid}/panel", headers=panel.sup_h)).status == 200
    members = await panel.members(tid)
    sitting = [m["expert_id"] for m in members if m["status"] == "confirmed"]
    assert len(sitting) == 5
    reader_h = panel.experts[sitting[0]][1]

    # before the opening nothing can be read, not even by a member
    await problem(await client.get(f"/api/v1/tenders/{tid}/evaluation/bids", headers=reader_h),
                  403, "evaluation_not_open")  # fmt: skip

    # sealed bids, the deadline, the opening with the custodians' shares
    for i, (party, headers, key_file) in enumerate(centre.bidders):
        envelope = seal_bid_bytes(
            tender_public=b64url_decode(tender["opening_public_key"]), tender_id=tid,
            bidder_org_id=party.org_id, signing_key=signing_key_from(key_file.read_text()),
            price_schedule=json.dumps({"amount_fen": 700_000_000 + i, "duration_days": 400,
                                       "confidential_items": {"分项": f"明细 {i}"}}).encode(),
            documents={"技术标.pdf": f"{DOC_MARKER} technical {i} ".encode() * 50,
                       "商务标.txt": f"{DOC_MARKER} commercial {i}".encode()},
            chunk_size=1024,
        )  # fmt: skip
        r = await client.put(f"/api/v1/tenders/{tid}/bid", data=envelope,
                             headers={**headers, "Content-Type": "application/octet-stream"})  # fmt: skip
        assert r.status == 201, await r.text()
    clock = app[keys.CLOCK]
    clock.set(clock.now() + timedelta(days=21))
    await app[keys.SCHEDULER].run_due()
    clock.set(clock.now() + timedelta(minutes=30))
    await app[keys.SCHEDULER].run_due()
    await panel.relogin()
    staff_h, bidder_h = centre.staff_h, centre.bidders[0][1]
    reader_h = panel.experts[sitting[0]][1]
    for _party, headers, key_file in centre.custodians[:2]:
        token = headers["Authorization"].split()[1]
        assert await cli_in_thread("bid", "share", "--url", centre.url, f"--token={token}",
                                   "--tender-id", str(tid), "--key", str(key_file)) == 0  # fmt: skip
    dump = await pg_dump(db_dsn)
    assert not holds(dump, DOC_MARKER), "a bid document is readable in the database"

    # a sitting member reads the price schedules and the documents; each read audited
    r = await client.get(f"/api/v1/tenders/{tid}/evaluation/bids", headers=reader_h)
    assert r.status == 200, await r.text()
    listed = (await r.json())["bids"]
    assert sorted(b["amount_fen"] for b in listed) == [700_000_000, 700_000_001, 700_000_002]
    second = next(b for b in listed if b["amount_fen"] == 700_000_001)
    assert second["confidential_items"] == {"分项": "明细 1"}
    assert sorted(d["name"] for d in second["documents"]) == ["商务标.txt", "技术标.pdf"]
    r = await client.get(
        f"/api/v1/tenders/{tid}/evaluation/bids/{second['bid_id']}/documents/商务标.txt",
        headers=reader_h,
    )
    assert r.status == 200 and await r.read() == f"{DOC_MARKER} commercial 1".encode()
    await problem(
        await client.get(f"/api/v1/tenders/{tid}/evaluation/bids/{second['bid_id']}/documents/nope.pdf",
                         headers=reader_h), 404, "document_not_found",
    )  # fmt: skip
    async with app[keys.POOL].acquire() as conn:
        reads = await conn.fetch(
            "SELECT action, actor_user_id, object_id, detail FROM audit_log "
            "WHERE action IN ('tender.evaluation_list', 'tender.evaluation_read') ORDER BY seq"
        )
    reader = panel.experts[sitting[0]][0]
    assert [(x["action"], x["actor_user_id"]) for x in reads] == [
        ("tender.evaluation_list", reader.user_id), ("tender.evaluation_read", reader.user_id)]  # fmt: skip
    assert reads[1]["detail"]["document"] == "商务标.txt"
    assert not holds(await pg_dump(db_dsn), DOC_MARKER), "a read left the document at rest"

    # not a bidder, not staff, not a supervisor; a replaced member no longer (T19)
    doc_url = f"/api/v1/tenders/{tid}/evaluation/bids/{second['bid_id']}/documents/商务标.txt"
    for headers in (bidder_h, staff_h, panel.sup_h):
        await problem(await client.get(f"/api/v1/tenders/{tid}/evaluation/bids", headers=headers),
                      403, "not_seated")  # fmt: skip
        await problem(await client.get(doc_url, headers=headers), 403, "not_seated")
    leaving = sitting[1]
    await panel.answer(leaving, "recuse", reason="a relative joined a bidder")
    await problem(await client.get(doc_url, headers=panel.experts[leaving][1]), 403, "not_seated")
    await panel.confirm_everyone(tid)
    replacement = next(m for m in await panel.members(tid) if m["expert_id"] not in sitting
                       and m["status"] == "confirmed")["expert_id"]  # fmt: skip
    r = await client.get(doc_url, headers=panel.experts[replacement][1])
    assert r.status == 200, await r.text()

    # the evaluation is over: the panel is fixed, the list published, the bids closed
    if web_panels._evaluation_service() is not None and hasattr(
        web_panels._evaluation_service(), "concluded_result"
    ):
        await problem(await client.post(f"/api/v1/tenders/{tid}/panel/fix", headers=staff_h),
                      409, "evaluation_not_concluded")  # fmt: skip
        monkeypatch.setattr(web_panels, "_evaluation_service", lambda: None)
    await problem(await client.post(f"/api/v1/draws/{draw['id']}/fix-result", headers=staff_h),
                  409, "wrong_draw_state")  # fmt: skip
    r = await client.post(f"/api/v1/tenders/{tid}/panel/fix", headers=staff_h)
    assert r.status == 200 and (await r.json())["status"] == "fixed", await r.text()
    await problem(await client.get(doc_url, headers=reader_h), 403, "evaluation_not_open")
    assert (await client.get(f"/api/v1/tenders/{tid}/panel", headers=bidder_h)).status == 200
    async with app[keys.POOL].acquire() as conn:
        wiped = await conn.fetchrow(
            "SELECT wrapped_key, wiped_at FROM tender_evaluation_keys WHERE tender_id = $1", tid
        )
        denied = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE outcome = 'denied' AND action LIKE '%evaluation%'"
        )
    assert wiped["wrapped_key"] is None and wiped["wiped_at"] is not None
    assert denied >= 8

    # E7: the draw record names the tender and verifies, from the database with the CLI
    r = await client.get(f"/api/v1/draws/{draw['id']}/record", headers=panel.sup_h)
    assert (await r.json())["record"]["request"]["tender_id"] == f"tender:{tid}"
    config = app[keys.CONFIG]
    monkeypatch.setenv("DATABASE_URL", config.database_url or "")
    monkeypatch.setenv("SUNLIT_DATA", str(config.data_dir))
    assert await asyncio.to_thread(cli.main, ["experts", "verify-draw", str(draw["id"])]) == 0
