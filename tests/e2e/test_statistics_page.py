"""The public statistics page: server-side SVG charts, each with its numbers as a table and
a CSV link, in both languages, without login; the public bad-behaviour list.

Source: RULES.md S5 (seed 000), S1 (public without login); issue 14 item 6.
"""

from __future__ import annotations

from aiohttp.test_utils import TestClient

from tests.e2e.test_statistics_api import loaded


async def test_the_statistics_page_draws_each_chart_with_its_table_and_csv(client: TestClient) -> None:
    await loaded(client)
    r = await client.get("/statistics?from_month=2007-01&to_month=2007-06", headers={"Cookie": "sunlit_lang=en"})
    assert r.status == 200, await r.text()
    html = await r.text()
    assert "Content-Security-Policy" in r.headers and "style=" not in html
    assert 'id="s-trades">6073<' in html and "5130000000.00" in html
    for chart in ("months", "premium", "savings", "deposits"):
        assert f'id="chart-{chart}"' in html
        assert f"/api/v1/public/statistics/{chart}.csv?from_month=2007-01&amp;to_month=2007-06" in html
    assert html.count('<svg class="chart"') == 5 and html.count("<table") == 5
    assert "Premium rate per lot" in html and ">2007-03<" in html
    r = await client.get("/public/statistics?from_month=2007-01&to_month=2007-06&category=plates",
                         headers={"Cookie": "sunlit_lang=zh"})  # fmt: skip
    html = await r.text()
    assert r.status == 200 and "平均溢价率（按宗）" in html and 'id="s-premium">48.00 %<' in html
    r = await client.get("/statistics?from_month=1990-01&to_month=2007-06")
    assert r.status == 200 and 'id="stats-error"' in await r.text()  # said in the page, default period shown


async def test_the_bad_behaviour_list_is_public(client: TestClient) -> None:
    r = await client.get("/public/bad-behaviour?q=nobody")
    assert r.status == 200 and "没有符合条件的记录。" in await r.text()
