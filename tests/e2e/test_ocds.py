"""Open data: every OCDS release validates against the official OCDS 1.1 release-package
schema (vendored under tests/data/ocds, Apache-2.0, no network); nothing sealed appears
before its opening; a bad date range is refused.

Source: RULES.md S6 (OCDS 1.1); T3/T11 (nothing sealed before the opening; the public
opening record is what is published).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.service.test_bidding_support import (
    World,
    hand_in,
    make_world,
    schedule_json,
    seal_for,
    submit,
    to_deadline,
    to_opening,
)
from web import cli, keys
from web.ocds import lot_releases, package, releases_between, tender_releases

SCHEMAS = Path(__file__).resolve().parents[1] / "data" / "ocds"
_release = json.loads((SCHEMAS / "release-schema.json").read_text())
_package = json.loads((SCHEMAS / "release-package-schema.json").read_text())
_registry = Registry().with_resource(_release["id"], Resource.from_contents(_release, default_specification=DRAFT4))
VALIDATOR = Draft4Validator(_package, registry=_registry, format_checker=FormatChecker())
NOW = datetime(2026, 3, 1, tzinfo=UTC)


def valid(doc: dict[str, Any]) -> dict[str, Any]:
    errors = sorted(VALIDATOR.iter_errors(doc), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors[:5]]
    return doc


def pkg(releases: list[dict[str, Any]]) -> dict[str, Any]:
    return valid(package(releases, uri="https://sunlit.test/ocds/1", published_at=NOW, publisher="Sunlit test"))


def test_a_tender_from_publication_to_contract_validates_against_ocds_1_1() -> None:
    """S6: tender, opening (bids extension), award and contract releases validate."""
    at = datetime(2026, 1, 5, 1, tzinfo=UTC)
    t = {"id": 7, "code": "HZ-2026-7", "project_name": "道路改造", "procedure": "open", "category": "works",
         "estimated_price_fen": 1_000_000_050, "published_at": at, "bid_deadline_at": at + timedelta(days=20),
         "opened_at": at + timedelta(days=20, hours=1), "state": "opened"}  # fmt: skip
    orgs = {1: {"name": "招标人", "credit_code": "91330500MA3000001X"},
            2: {"name": "甲公司", "credit_code": "91330500MA30000026"}, 3: {"name": "乙公司", "credit_code": "91330500MA3000003Y"}}  # fmt: skip
    opening = {"entries": [{"leaf_index": 0, "bidder_org_id": 2, "bidder_name": "甲公司", "outcome": "opened",
                            "amount_fen": 900_000_000}, {"leaf_index": 1, "bidder_org_id": 3, "bidder_name": "乙公司",
                            "outcome": "revoked"}]}  # fmt: skip
    award = {"id": 4, "org_id": 2, "price_fen": 900_000_000, "awarded_at": at + timedelta(days=30)}
    contract = {"amount_fen": 900_000_000, "signed_at": at + timedelta(days=40)}
    rels = tender_releases("ocds-test", t, buyer=orgs[1], opening=opening, orgs=orgs, award=award, contract=contract)
    assert [r["tag"] for r in rels] == [["tender"], ["tenderUpdate"], ["award"], ["contract"]]
    pkg(rels)
    first = rels[0]
    assert "bids" not in first and "tenderers" not in first["tender"] and first["tender"]["value"]["amount"] == 10000000.5
    assert rels[1]["bids"]["details"][0]["value"]["amount"] == 9_000_000
    assert rels[3]["contracts"][0]["awardID"] == rels[2]["awards"][0]["id"]
    assert {r["ocid"] for r in rels} == {"ocds-test-tender-7"}


def test_auction_lots_sold_and_unsold_validate_against_ocds_1_1() -> None:
    at = datetime(2026, 2, 1, tzinfo=UTC)
    sold = {"id": 3, "kind": "plate", "title": "浙E·88888", "status": "closed", "outcome": "sold", "price_fen": 29_560_000,
            "start_fen": 10_000_000, "scheduled_at": at, "closed_at": at + timedelta(hours=1)}  # fmt: skip
    unsold = sold | {"id": 4, "outcome": "no_sale", "price_fen": None}
    winner = {"name": "丙", "credit_code": "91330500MA3000004A"}
    rels = lot_releases("ocds-test", sold, winner=winner) + lot_releases("ocds-test", unsold)
    pkg(rels)
    assert rels[1]["awards"][0]["value"]["amount"] == 295_600
    assert rels[3]["tender"]["status"] == "unsuccessful"
    open_lot = sold | {"status": "scheduled", "closed_at": None}
    (only,) = lot_releases("ocds-test", open_lot, winner=winner)
    assert "awards" not in only and "parties" not in only  # no bidder before the close


@pytest.fixture
async def world(pool, audit, clock) -> World:
    return await make_world(pool, audit, clock)


async def test_nothing_sealed_appears_before_the_opening(world: World) -> None:
    """T3, T11, S6: before the opening a tender's releases name no bidder and no price; after
    it, the bids come from the public opening record; every package validates."""
    for i, bidder in enumerate(world.bidders[:3]):
        await submit(world, bidder, seal_for(world, bidder, schedule_json(1_000_000 + i)))
    start, end = world.clock.now() - timedelta(days=60), world.clock.now() + timedelta(days=90)

    async def released() -> list[dict[str, Any]]:
        async with world.pool.acquire() as conn:
            return await releases_between(conn, "ocds-test", start, end)

    before = await released()
    text = json.dumps(before, ensure_ascii=False)
    assert before and all("bids" not in r for r in before)
    for b in world.bidders[:3]:
        async with world.pool.acquire() as conn:
            name = await conn.fetchval("SELECT name FROM organisations WHERE id = $1", b.org_id)
        assert name not in text
    assert "1000000" not in text and "10000.0" not in text
    pkg(before)
    await to_deadline(world)
    await to_opening(world)
    await hand_in(world, world.custodians[0])
    await hand_in(world, world.custodians[1])
    after = await released()
    pkg(after)
    (opening,) = [r for r in after if r["tag"] == ["tenderUpdate"]]
    assert sorted(d["value"]["amount"] for d in opening["bids"]["details"]) == [10_000, 10_000.01, 10_000.02]
    assert "confidential" not in json.dumps(after)


async def test_the_api_pages_by_date_refuses_a_bad_range_and_the_export_writes_a_valid_package(
    client: TestClient, tmp_path: Path, monkeypatch: Any
) -> None:
    """S6 over HTTP and ``sunlit export ocds``; bad input: a reversed or over-long range."""
    at = datetime(2026, 1, 5, 2, tzinfo=UTC)
    async with client.server.app[keys.POOL].acquire() as conn:
        for i in range(3):
            await conn.execute(
                "INSERT INTO auction_lots (kind, title, config, status, created_at, scheduled_at, outcome, price_fen, "
                "closed_at) VALUES ('land', $1, $2, 'closed', $3, $3, 'sold', 150000, $4)",
                f"plot {i}", {"starting_price_fen": 100_000}, at + timedelta(days=i), at + timedelta(days=i, hours=2),
            )
    r = await client.get("/api/v1/public/ocds/releases?from_date=2026-01-01&to_date=2026-01-31&limit=4")
    assert r.status == 200, await r.text()
    first = await r.json()
    assert len(first["releases"]) == 4 and first["links"]["next"]
    valid({k: v for k, v in first.items() if k != "links"})
    r = await client.get("/api/v1/public/ocds/releases?from_date=2026-01-31&to_date=2026-01-01")
    assert r.status == 422 and (await r.json())["code"] == "invalid_date_range"
    r = await client.get("/api/v1/public/ocds/releases?from_date=2000-01-01&to_date=2026-01-01")
    assert r.status == 422
    r = await client.get("/api/v1/public/ocds/releases?from_date=2026-01-01")
    assert r.status == 422
    r = await client.get("/api/v1/public/ocds/releases?from_date=2025-01-01&to_date=2025-01-31")
    assert r.status == 404 and (await r.json())["code"] == "no_releases_in_range"  # never an invalid package

    monkeypatch.setenv("SUNLIT_URL", str(client.make_url("")).rstrip("/"))
    out = tmp_path / "ocds.json"
    code = await asyncio.to_thread(cli.main, ["export", "ocds", "--from", "2026-01-01", "--to", "2026-01-31",
                                              "--out", str(out)])  # fmt: skip
    assert code == 0
    doc = valid(json.loads(out.read_text()))
    assert len(doc["releases"]) == 6 and len({r["id"] for r in doc["releases"]}) == 6
    code = await asyncio.to_thread(cli.main, ["export", "ocds", "--from", "2026-02-01", "--to", "2026-01-01"])
    assert code == 2
    code = await asyncio.to_thread(cli.main, ["export", "ocds", "--from", "2025-01-01", "--to", "2025-01-31"])
    assert code == 2
