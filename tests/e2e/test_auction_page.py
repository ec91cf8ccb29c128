"""The live auction page in a real browser: a bidder logs in, watches the demo land lot,
bids in yuan (turned into integer fen at the edge), gets the durable answer; a watcher in
another browser sees the same bid in the stream, by paddle only (A2, A6)."""

from __future__ import annotations

from tests.e2e.browser import browser_page
from web import keys


def demo_password(app, username: str) -> str:
    text = (app[keys.CONFIG].data_dir / "demo-credentials.txt").read_text()
    return {line.split("\t")[0]: line.split("\t")[2] for line in text.splitlines()}[username]


async def test_a_bidder_bids_from_the_page_and_a_watcher_sees_it(make_client) -> None:
    client = await make_client(load_demo=True)
    app = client.server.app
    lots = await (await client.get("/api/v1/auctions/lots")).json()
    land = next(lot for lot in lots if lot["kind"] == "land")
    base = str(client.make_url("/auctions?lang=en"))
    amount_yuan = land["starting_price_fen"] // 100

    async with browser_page("en-US") as watcher, browser_page("en-US") as bidder:
        await watcher.goto(base)
        await watcher.click(f"button.watch[data-lot='{land['id']}']")
        await watcher.wait_for_function("document.getElementById('lot-state').textContent === 'listing'")

        await bidder.goto(base)
        await bidder.fill("input[name=username]", "bidder1")
        await bidder.fill("input[name=password]", demo_password(app, "bidder1"))
        await bidder.click("#login-form button[type=submit]")
        await bidder.wait_for_selector("#logout")
        await bidder.click(f"button.watch[data-lot='{land['id']}']")
        await bidder.wait_for_function("document.getElementById('lot-title').textContent.includes('#')")
        paddle = (await bidder.text_content("#lot-title") or "").rsplit("#", 1)[1].strip()

        await bidder.fill("input[name=amount]", "12.345")  # three decimals: refused at the edge
        await bidder.click("#bid-form button[type=submit]")
        assert "at most two decimals" in (await bidder.text_content("#bid-error") or "")

        await bidder.fill("input[name=amount]", f"{amount_yuan:,}.00")
        await bidder.click("#bid-form button[type=submit]")
        await bidder.wait_for_function("document.getElementById('bid-error').textContent.startsWith('✓')")

        await watcher.wait_for_function(
            "document.getElementById('lot-leader').textContent !== '—'"
            " && document.getElementById('stream').children.length > 0"
        )
        assert (await watcher.text_content("#lot-leader")) == paddle
        stream = await watcher.text_content("#stream") or ""
        assert "bid_accepted" in stream and paddle in stream and "bidder1" not in stream

        await bidder.fill("input[name=amount]", f"{amount_yuan:,}.00")  # not above the leader
        await bidder.click("#bid-form button[type=submit]")
        await bidder.wait_for_function("!document.getElementById('bid-error').textContent.startsWith('✓')"
                                       " && document.getElementById('bid-error').textContent !== '…'")
