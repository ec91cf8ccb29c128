"""The supervisor reads the audit log from the newest entry down, a page at a time (issue 13,
item 7: the console showed #1000…#951 rather than the newest). Source: RULES.md T12 (every
act in the audit log, readable by supervision)."""

from __future__ import annotations

from tests.helpers import credit_code, user_headers
from trading.context import Role


async def test_the_audit_log_reads_newest_first_and_pages_down_without_gaps(client) -> None:
    """T12: ``order=desc`` starts at the newest entry; ``before_seq`` pages down; the pages
    together are every entry, once, newest first."""
    _, staff = await user_headers(client, Role.STAFF)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    for i in range(7):
        r = await client.post("/api/v1/organisations", headers=staff,
                              json={"name": f"Org {i}", "kind": "agency", "credit_code": credit_code()})
        assert r.status == 201
    everything = (await (await client.get("/api/v1/audit?limit=1000", headers=sup)).json())["entries"]
    newest = max(e["seq"] for e in everything)
    seen: list[int] = []
    url = "/api/v1/audit?order=desc&limit=4"
    while url:
        r = await client.get(url, headers=sup)
        assert r.status == 200, await r.text()
        page = await r.json()
        seen += [e["seq"] for e in page["entries"]]
        nxt = page["next_before_seq"]
        url = f"/api/v1/audit?order=desc&limit=4&before_seq={nxt}" if nxt else ""
    assert seen[0] >= newest  # reading appends entries too: never older than the newest before
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert set(e["seq"] for e in everything) <= set(seen)


async def test_the_newest_first_page_keeps_the_filters(client) -> None:
    """T12: the filters by actor and action apply newest first too."""
    staff_party, staff = await user_headers(client, Role.STAFF)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    names = [f"Filtered {i}" for i in range(3)]
    for name in names:
        await client.post("/api/v1/organisations", headers=staff,
                          json={"name": name, "kind": "agency", "credit_code": credit_code()})
    r = await client.get(f"/api/v1/audit?order=desc&actor_user_id={staff_party.user_id}"
                         "&action=organisation.create&limit=2", headers=sup)
    page = await r.json()
    assert [e["action"] for e in page["entries"]] == ["organisation.create"] * 2
    assert page["entries"][0]["seq"] > page["entries"][1]["seq"] and page["next_before_seq"]
