"""Sealed tendering end to end through the HTTP API and the ``sunlit bid`` client commands:
from publication to the opening record; and every bad input answered with its own code.

Sources (RULES.md): T1–T14 of the sealed-tender table — BL 24, 28, 29, 34, 36; IR 26, 35,
44; EM 23, 26–31, 48–49; A4 (a)–(g); PT (2 of 3).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bidding.client import seal_bid_bytes, signing_key_from
from crypto.keys import b64url_decode
from crypto.signing import generate_signing_key
from tests.helpers import Party, login, make_org, make_user, problem, user_headers
from trading.context import Role
from trading.parties.model import OrgKind
from web import cli, keys

CONFIG = {"extra": {"bidding.store_chunk_bytes": "4096"}, "session_ttl_s": 60 * 86400}


def run_cli(*argv: str) -> int:
    return cli.main(list(argv))


async def cli_in_thread(*argv: str) -> int:
    """Client commands that call the server run their own event loop: in a thread."""
    return await asyncio.to_thread(run_cli, *argv)


async def audit_rows(client: TestClient, where: str, *args: Any) -> list[Any]:
    async with client.server.app[keys.POOL].acquire() as conn:
        return await conn.fetch(
            f"SELECT action, outcome, detail FROM audit_log WHERE {where} ORDER BY seq", *args
        )


class Centre:
    """Staff, three custodians (X25519 key files made by ``sunlit bid keygen``) and bidders."""

    def __init__(self, client: TestClient, tmp: Path) -> None:
        self.client = client
        self.tmp = tmp
        self.custodians: list[tuple[Party, dict[str, str], Path]] = []
        self.bidders: list[tuple[Party, dict[str, str], Path]] = []

    @property
    def url(self) -> str:
        return str(self.client.make_url("")).rstrip("/")

    async def start(self, bidders: int = 3) -> None:
        self.staff, self.staff_h = await user_headers(self.client, Role.STAFF)
        for i in range(3):
            party, headers = await user_headers(self.client, Role.CUSTODIAN)
            assert run_cli("bid", "keygen", "--out-dir", str(self.tmp), "--name", f"c{i}") == 0
            pub = (self.tmp / f"c{i}.x25519.pub").read_text().strip()
            r = await self.client.post(
                "/api/v1/me/keys", json={"public_key": pub, "algorithm": "x25519"}, headers=headers
            )
            assert r.status == 201, await r.text()
            self.custodians.append((party, headers, self.tmp / f"c{i}.x25519"))
        for i in range(bidders):
            party, headers = await user_headers(self.client, Role.BIDDER)
            assert run_cli("bid", "keygen", "--out-dir", str(self.tmp), "--name", f"b{i}") == 0
            pub = (self.tmp / f"b{i}.ed25519.pub").read_text().strip()
            r = await self.client.post("/api/v1/me/keys", json={"public_key": pub}, headers=headers)
            assert r.status == 201, await r.text()
            self.bidders.append((party, headers, self.tmp / f"b{i}.ed25519"))

    async def tender(self, **overrides: Any) -> dict[str, Any]:
        now = self.client.server.app[keys.CLOCK].now()
        body = {
            "code": f"E2E-{now.timestamp():.0f}-{len(overrides)}",
            "project_name": "湖州市环城北路改造工程施工",
            "category": "works",
            "lots": ["第一标段", "第二标段"],
            "estimated_price_fen": 860_000_000,
            "deposit_fen": 8_000_000,
            "bid_deadline_at": (now + timedelta(days=21)).isoformat(),
            "opening_at": (now + timedelta(days=21, minutes=30)).isoformat(),
            "place": "开标室 1",
            "custodians": [p.user_id for p, _, _ in self.custodians],
            "threshold_k": 2,
            "max_bid_bytes": 64 * 1024,
            **overrides,
        }
        r = await self.client.post("/api/v1/tenders", json=body, headers=self.staff_h)
        assert r.status == 201, await r.text()
        tender = await r.json()
        r = await self.client.post(
            f"/api/v1/tenders/{tender['id']}/documents?name=招标文件.pdf",
            data=b"%PDF tender documents",
            headers=self.staff_h,
        )
        assert r.status == 201, await r.text()
        r = await self.client.post(f"/api/v1/tenders/{tender['id']}/publish", headers=self.staff_h)
        assert r.status == 200, await r.text()
        tender = await r.json()
        for party, headers, _ in self.bidders:
            r = await self.client.post(
                f"/api/v1/tenders/{tender['id']}/registrations", headers=headers
            )
            assert r.status == 201, await r.text()
            r = await self.client.post(
                "/api/v1/admission-flags",
                headers=self.staff_h,
                json={
                    "org_id": party.org_id,
                    "project_ref": f"tender:{tender['id']}",
                    "note": "deposit received",
                },
            )
            assert r.status == 201, await r.text()
        return tender


@pytest.fixture
async def centre(make_client: Any, tmp_path: Path) -> Centre:
    client = await make_client(**CONFIG)
    c = Centre(client, tmp_path)
    await c.start()
    return c


async def test_one_tender_from_publication_to_the_opening_record_through_the_api_and_the_cli(
    centre: Centre, tmp_path: Path
) -> None:
    """The whole of issue 3 in one walk: publish, download the documents, seal and submit
    with the client, verify receipts offline, move the deadline, freeze, prove inclusion,
    hand in shares with the client, read the signed record."""
    client, app = centre.client, centre.client.server.app
    tender = await centre.tender()
    tid = tender["id"]
    key_server = await (await client.get("/api/v1/bidding/server-key")).json()

    # documents: registered bidders download them, with their SHA-256
    _, bidder_h, _ = centre.bidders[0]
    docs = await (await client.get(f"/api/v1/tenders/{tid}/documents", headers=bidder_h)).json()
    r = await client.get(f"/api/v1/tenders/{tid}/documents/{docs[0]['id']}", headers=bidder_h)
    assert (
        hashlib.sha256(await r.read()).hexdigest()
        == docs[0]["sha256"]
        == r.headers["X-Content-SHA256"]
    )

    # each bidder seals on its own machine and submits with the client
    receipts = []
    for i, (party, headers, key_file) in enumerate(centre.bidders):
        schedule = tmp_path / f"schedule{i}.json"
        schedule.write_text(
            json.dumps(
                {
                    "amount_fen": 800_000_000 + i,
                    "duration_days": 500 + i,
                    "declared_items": {"质量": "合格"},
                    "confidential_items": {"breakdown": f"secret {i}"},
                }
            ),
            "utf-8",
        )
        doc = tmp_path / f"tech{i}.pdf"
        doc.write_bytes(b"technical proposal " * 500)
        envelope = tmp_path / f"bid{i}.env"
        assert (
            run_cli(
                "bid",
                "seal",
                "--tender-public-key",
                tender["opening_public_key"],
                "--tender-id",
                str(tid),
                "--bidder-org",
                str(party.org_id),
                "--signing-key",
                str(key_file),
                "--price-schedule",
                str(schedule),
                "--document",
                str(doc),
                "--out",
                str(envelope),
                "--chunk-size",
                "1024",
            )
            == 0
        )
        receipt = tmp_path / f"receipt{i}.json"
        token = headers["Authorization"].split()[1]
        assert (
            await cli_in_thread(
                "bid",
                "submit",
                "--url",
                centre.url,
                f"--token={token}",  # a token may start with "-"
                "--tender-id",
                str(tid),
                "--envelope",
                str(envelope),
                "--receipt-out",
                str(receipt),
            )
            == 0
        )
        assert (
            run_cli(
                "bid",
                "verify-receipt",
                "--receipt",
                str(receipt),
                "--server-public-key",
                key_server["public_key_hex"],
                "--envelope",
                str(envelope),
            )
            == 0
        )
        receipts.append(json.loads(receipt.read_text()))
    tampered = tmp_path / "tampered.json"
    receipts[0]["document"]["received_at"] = "2020-01-01T00:00:00.000Z"
    tampered.write_text(json.dumps(receipts[0]))
    assert (
        run_cli(
            "bid",
            "verify-receipt",
            "--receipt",
            str(tampered),
            "--server-public-key",
            key_server["public_key_hex"],
        )
        == 1
    )

    # staff move the deadline (T1: still 20 days after publication), then it passes
    clock = app[keys.CLOCK]
    deadline = clock.now() + timedelta(days=22)
    r = await client.patch(
        f"/api/v1/tenders/{tid}/dates",
        headers=centre.staff_h,
        json={
            "bid_deadline_at": deadline.isoformat(),
            "opening_at": (deadline + timedelta(minutes=1)).isoformat(),
            "reason": "walk-through",
        },
    )
    assert r.status == 200, await r.text()
    clock.set(deadline)
    await app[keys.SCHEDULER].run_due()
    head = await (await client.get(f"/api/v1/tenders/{tid}/bid-tree")).json()
    assert head["document"]["tree_size"] == 3
    proof_file = tmp_path / "proof.json"
    r = await client.get(f"/api/v1/tenders/{tid}/bid/proof", headers=bidder_h)
    proof_file.write_text(await r.text())
    assert (
        run_cli(
            "bid",
            "verify-proof",
            "--proof",
            str(proof_file),
            "--server-public-key",
            key_server["public_key_hex"],
        )
        == 0
    )

    # the opening time: the session starts; the custodians hand in shares with the client
    clock.set(deadline + timedelta(minutes=1))
    await app[keys.SCHEDULER].run_due()
    status = await (
        await client.get(f"/api/v1/tenders/{tid}/opening", headers=centre.staff_h)
    ).json()
    assert status["state"] == "opening" and len(status["missing"]) == 3
    for _party, headers, key_file in centre.custodians[:2]:
        token = headers["Authorization"].split()[1]
        assert (
            await cli_in_thread(
                "bid",
                "share",
                "--url",
                centre.url,
                f"--token={token}",  # a token may start with "-"
                "--tender-id",
                str(tid),
                "--key",
                str(key_file),
            )
            == 0
        )

    public = await (await client.get(f"/api/v1/tenders/{tid}/opening-record/public")).json()
    entries = public["document"]["entries"]
    assert [(e["amount_fen"], e["duration_days"]) for e in entries] == [
        (800_000_000, 500),
        (800_000_001, 501),
        (800_000_002, 502),
    ]
    assert "secret" not in json.dumps(public, ensure_ascii=False)
    full = await (
        await client.get(f"/api/v1/tenders/{tid}/opening-record", headers=centre.staff_h)
    ).json()
    assert full["document"]["entries"][1]["confidential_items"] == {"breakdown": "secret 1"}
    assert (
        await client.get(f"/api/v1/tenders/{tid}/opening-record", headers=bidder_h)
    ).status == 403
    tender_now = await (await client.get(f"/api/v1/tenders/{tid}", headers=bidder_h)).json()
    assert tender_now["state"] == "opened" and len(tender_now["date_changes"]) == 1


async def test_every_bad_upload_gets_its_own_code_over_http(centre: Centre) -> None:
    """T3/T5 and the issue's bad inputs: each a clear 4xx, nothing stored."""
    client = centre.client
    tender = await centre.tender()
    tid = tender["id"]
    party, headers, _ = centre.bidders[0]
    put = f"/api/v1/tenders/{tid}/bid"
    octet = {**headers, "Content-Type": "application/octet-stream"}
    await problem(
        await client.put(put, data=b"plain bid", headers={**headers, "Content-Type": "text/plain"}),
        415,
        "unsupported_media_type",
    )
    await problem(
        await client.put(put, data=b"plain text bid: 100 yuan", headers=octet),
        422,
        "not_an_envelope",
    )
    key = generate_signing_key()
    envelope = seal_bid_bytes(
        tender_public=b64url_decode(tender["opening_public_key"]),
        tender_id=tid,
        bidder_org_id=party.org_id,
        signing_key=key,
        price_schedule=b'{"amount_fen": 1, "duration_days": 1}',
        chunk_size=64,
    )
    await problem(await client.put(put, data=envelope, headers=octet), 422, "bad_signature")
    await problem(
        await client.put(put, data=b"x" * (64 * 1024 + 1), headers=octet), 413, "bid_too_large"
    )
    await problem(
        await client.put(f"/api/v1/tenders/{tid + 999}/bid", data=b"x", headers=octet),
        404,
        "tender_not_found",
    )
    _, stranger_h = await user_headers(client, Role.BIDDER)
    await problem(
        await client.put(
            put, data=b"x", headers={**stranger_h, "Content-Type": "application/octet-stream"}
        ),
        403,
        "not_registered",
    )
    _, custodian_h, _ = centre.custodians[0]
    await problem(
        await client.put(
            put, data=b"x", headers={**custodian_h, "Content-Type": "application/octet-stream"}
        ),
        403,
        "role_forbidden",
    )
    await problem(await client.delete(put, headers=headers), 409, "no_current_bid")
    async with client.server.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM bids") == 0
        assert await conn.fetchval("SELECT count(*) FROM blobs WHERE kind = 'bid_envelope'") == 0


async def test_bad_tender_input_gets_its_own_code_over_http(centre: Centre) -> None:
    """T1, T4, T13, T14 over HTTP: 2.01 % deposit, float money, 19 days, other roles, the
    platform's affiliate, a date change after the deadline (409, audited)."""
    client = centre.client
    base = {
        "code": "BAD-1",
        "project_name": "x",
        "lots": ["a"],
        "estimated_price_fen": 100_000_000,
        "deposit_fen": 2_010_000,
        "bid_deadline_at": "2026-03-01T00:00:00Z",
        "opening_at": "2026-03-01T00:00:00Z",
        "custodians": [p.user_id for p, _, _ in centre.custodians],
        "threshold_k": 2,
    }
    await problem(
        await client.post("/api/v1/tenders", json=base, headers=centre.staff_h),
        422,
        "deposit_over_two_percent",
    )
    await problem(
        await client.post(
            "/api/v1/tenders", json={**base, "deposit_fen": 2_000_000.0}, headers=centre.staff_h
        ),
        422,
        "validation_failed",
    )
    _, bidder_h, _ = centre.bidders[0]
    await problem(
        await client.post("/api/v1/tenders", json={**base, "deposit_fen": 1}, headers=bidder_h),
        403,
        "role_forbidden",
    )
    r = await client.post(
        "/api/v1/tenders",
        json={
            **base,
            "deposit_fen": 1,
            "bid_deadline_at": "2026-01-24T01:00:00Z",
            "opening_at": "2026-01-24T01:00:00Z",
        },
        headers=centre.staff_h,
    )
    assert r.status == 201
    short = await r.json()
    await client.post(
        f"/api/v1/tenders/{short['id']}/documents?name=a.pdf", data=b"doc", headers=centre.staff_h
    )
    await problem(
        await client.post(f"/api/v1/tenders/{short['id']}/publish", headers=centre.staff_h),
        422,
        "period_too_short",
    )

    tender = await centre.tender()
    tid = tender["id"]
    async with client.server.app[keys.POOL].acquire() as conn:
        app = client.server.app
        org = await make_org(
            conn, app[keys.AUDIT], app[keys.CLOCK], OrgKind.BIDDER, platform_affiliate=True
        )
        affiliate = await make_user(conn, app[keys.AUDIT], app[keys.CLOCK], Role.BIDDER, org_id=org)
    await problem(
        await client.post(
            f"/api/v1/tenders/{tid}/registrations", headers=await login(client, affiliate.username)
        ),
        403,
        "platform_affiliate_may_not_bid",
    )
    dates = {
        "bid_deadline_at": "2026-06-01T00:00:00Z",
        "opening_at": "2026-06-01T00:00:00Z",
        "reason": "x",
    }
    await problem(
        await client.patch(f"/api/v1/tenders/{tid}/dates", json=dates, headers=bidder_h),
        403,
        "role_forbidden",
    )
    client.server.app[keys.CLOCK].set(
        datetime.fromisoformat(tender["bid_deadline_at"].replace("Z", "+00:00"))
    )
    staff_h = await login(client, centre.staff.username)  # 21 days on: a new session
    await problem(
        await client.patch(f"/api/v1/tenders/{tid}/dates", json=dates, headers=staff_h),
        409,
        "deadline_passed",
    )
    rows = await audit_rows(client, "object_id = $1 AND outcome = 'denied'", str(tid))
    assert ("tender.dates_change", "denied") in [(r["action"], r["outcome"]) for r in rows]
    role_denials = await audit_rows(client, "action LIKE 'denied PATCH%' AND outcome = 'denied'")
    assert role_denials and role_denials[0]["detail"]["code"] == "role_forbidden"


async def test_early_attempts_to_fetch_or_hand_in_shares_are_refused_and_audited(
    centre: Centre,
) -> None:
    """T12 (A4(g)): denied early access is in the audit log — 409 included — and a
    non-custodian gets 403, also logged."""
    client = centre.client
    tender = await centre.tender()
    tid = tender["id"]
    _, custodian_h, _ = centre.custodians[0]
    await problem(
        await client.get(f"/api/v1/tenders/{tid}/shares/mine", headers=custodian_h),
        409,
        "opening_not_started",
    )
    await problem(
        await client.post(
            f"/api/v1/tenders/{tid}/shares",
            json={"share": "S1-2-1-" + "00" * 32},
            headers=custodian_h,
        ),
        409,
        "opening_not_started",
    )
    await problem(
        await client.get(f"/api/v1/tenders/{tid}/shares/mine", headers=centre.staff_h),
        403,
        "role_forbidden",
    )
    rows = await audit_rows(
        client, "outcome = 'denied' AND (object_id = $1 OR action LIKE 'denied%')", str(tid)
    )
    actions = [r["action"] for r in rows]
    assert "tender.share_fetch" in actions and "tender.share_hand_in" in actions
    assert any(a.startswith("denied GET") and "shares/mine" in a for a in actions)
    status = await (await client.get(f"/api/v1/tenders/{tid}/opening", headers=custodian_h)).json()
    assert status["state"] == "published" and status["shares_received"] == 0


async def wait_for(probe: Any, want: Any, *, timeout_s: float = 15.0) -> Any:
    """Poll ``probe()`` until it returns ``want`` (the server works on its own schedule)."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while (got := await probe()) != want:
        assert asyncio.get_running_loop().time() < deadline, f"still {got!r}, want {want!r}"
        await asyncio.sleep(0.02)
    return got


async def test_a_bid_upload_paused_halfway_holds_no_transaction_and_one_cut_off_leaves_nothing(
    centre: Centre, db_dsn: str
) -> None:
    """STYLE (no network await inside a transaction), T6 (EM 27): a bidder sends half its
    bid and pauses; while the server waits for the rest, no backend of the database is
    idle in a transaction, and what arrived is staged (committed). The rest comes: 201 and
    a receipt. Another bidder's upload is cut off halfway: its staged rows go at once."""
    client = centre.client
    tender = await centre.tender()
    tid = tender["id"]
    observer = await asyncpg.connect(db_dsn)

    async def staged_chunks() -> int:
        chunks: int = await observer.fetchval("SELECT count(*) FROM bid_upload_chunks")
        return chunks

    def envelope_of(bidder: int) -> bytes:
        party, _, key_file = centre.bidders[bidder]
        return seal_bid_bytes(
            tender_public=b64url_decode(tender["opening_public_key"]),
            tender_id=tid,
            bidder_org_id=party.org_id,
            signing_key=signing_key_from(key_file),
            price_schedule=b'{"amount_fen": 860000000, "duration_days": 300}',
            documents={"tech.pdf": os.urandom(40_000)},
            chunk_size=1024,
        )

    def put(bidder: int, body: Any) -> Any:
        _, headers, _ = centre.bidders[bidder]
        return client.put(
            f"/api/v1/tenders/{tid}/bid",
            data=body,
            headers={**headers, "Content-Type": "application/octet-stream"},
        )

    async def half_then(envelope: bytes, resume: asyncio.Event) -> Any:
        half = len(envelope) // 2
        for i in range(0, half, 1000):
            yield envelope[i : min(i + 1000, half)]
        await resume.wait()
        yield envelope[half:]

    try:
        envelope = envelope_of(0)
        resume = asyncio.Event()
        upload = asyncio.create_task(put(0, half_then(envelope, resume)))
        await wait_for(staged_chunks, len(envelope) // 2 // 4096)
        in_transaction = await observer.fetch(
            """SELECT pid, query FROM pg_stat_activity
                WHERE datname = current_database() AND state LIKE 'idle in transaction%'"""
        )
        assert in_transaction == [], in_transaction
        resume.set()
        response = await upload
        assert response.status == 201, await response.text()
        receipt = await response.json()
        assert receipt["document"]["envelope_sha256"] == hashlib.sha256(envelope).hexdigest()
        assert await staged_chunks() == 0

        cut = envelope_of(1)
        never = asyncio.Event()
        upload = asyncio.create_task(put(1, half_then(cut, never)))
        await wait_for(staged_chunks, len(cut) // 2 // 4096)
        upload.cancel()  # the client goes away mid-body
        with pytest.raises(asyncio.CancelledError):
            await upload
        await wait_for(staged_chunks, 0)
        assert await observer.fetchval("SELECT count(*) FROM bid_uploads") == 0
        assert await observer.fetchval("SELECT count(*) FROM bids") == 1
    finally:
        await observer.close()
