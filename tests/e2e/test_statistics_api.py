"""Statistics through HTTP and ``sunlit stats``: the figures, CSV per chart, bad input.

Source: RULES.md S5 (seed 000); issue 14 "Bad input" (a period of more than 10 years, an
unknown category).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.service.test_statistics import NOW, seed_trades
from trading.statistics import store
from web import cli, keys

Q = "from_month=2007-01&to_month=2007-06"


async def loaded(client: TestClient) -> None:
    async with client.server.app[keys.POOL].acquire() as conn, conn.transaction():
        await store.record_trades(conn, seed_trades(), NOW)


async def test_public_statistics_and_csv_without_login(client: TestClient) -> None:
    """S5: the figures without login; each chart's numbers as CSV."""
    await loaded(client)
    r = await client.get(f"/api/v1/public/statistics?{Q}&category=plates")
    assert r.status == 200, await r.text()
    doc = await r.json()
    assert doc["trades"] == 555 and doc["sales"]["premium_rate_mean_percent"] == "48.00"
    r = await client.get(f"/api/v1/public/statistics?{Q}")
    doc = await r.json()
    assert doc["trades"] == 6073 and doc["amount_yuan"] == "5130000000.00"
    assert doc["purchases"]["savings_rate_percent"] == "14.50"
    r = await client.get(f"/api/v1/public/statistics/months.csv?{Q}")
    assert r.status == 200 and r.content_type == "text/csv"
    lines = (await r.text()).splitlines()
    assert lines[0] == "month,trades,amount_yuan,failed" and len(lines) == 7
    assert sum(int(line.split(",")[1]) for line in lines[1:]) == 6073
    for chart in ("premium", "savings", "deposits"):
        r = await client.get(f"/api/v1/public/statistics/{chart}.csv?{Q}")
        assert r.status == 200, chart
    r = await client.get(f"/api/v1/public/statistics/nothing.csv?{Q}")
    assert r.status == 422


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from_month=1990-01&to_month=2007-06", "query.to"),
        ("from_month=2007-06&to_month=2007-01", "query.to"),
        ("category=jewellery", "category"),
        ("from_month=2007-13", "from_month"),
        ("to_month=0001-01", "query.to_month"),
    ],
)
async def test_bad_statistics_queries_are_refused(client: TestClient, query: str, field: str) -> None:
    """Bad input: over ten years, reversed, an unknown category, a malformed month → 422."""
    r = await client.get(f"/api/v1/public/statistics?{query}")
    assert r.status == 422, await r.text()
    body = await r.json()
    assert any(e["field"].startswith(field) for e in body["errors"]), body


async def test_sunlit_stats_prints_the_same_figures(client: TestClient, monkeypatch: Any, capsys: Any) -> None:
    await loaded(client)
    monkeypatch.setenv("SUNLIT_URL", str(client.make_url("")).rstrip("/"))
    code = await asyncio.to_thread(cli.main, ["stats", "--from", "2007-01", "--to", "2007-06", "--category", "plates"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "555" in out and "48.00" in out and "295.60" in out
    code = await asyncio.to_thread(cli.main, ["stats", "--from", "1990-01", "--to", "2007-06"])
    assert code == 2 and "invalid_period" in capsys.readouterr().err

