"""Expert panels through HTTP and the CLI: import, request, draw, summon, decline,
replacement, fix, verification by a supervisor (API and ``sunlit experts verify-draw``),
secrecy, bad input, and the route table (no path names an expert into a panel).

Sources: RULES.md E1 (IR 46, O12 10), E4 (BL 37, O12 8, IR 41), E5 (IR 46, 48), E6
(practice), E7 (RFC 3797, DB35/T 2223—2024), T15 (BL 37, O12 9).
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from experts.csvio import write_csv
from experts.notify import MemoryChannel
from tests.helpers import make_org, user_headers
from tests.service.test_experts_pool import expert_input, ident
from trading.context import Role
from trading.parties.model import OrgKind
from web import cli, keys
from web.experts import OUTBOX

PLACE = "湖州市公共资源交易中心 5号评标室"
TENDER = "HZJT-2026-042"


async def problem(resp, status: int, code: str) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    body = await resp.json()
    assert body["code"] == code, body
    return body


async def denied_count(client: TestClient) -> int:
    async with client.server.app[keys.POOL].acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM audit_log WHERE outcome = 'denied'")


async def orgs(client: TestClient) -> dict[str, int]:
    app = client.server.app
    async with app[keys.POOL].acquire() as conn:
        await app[keys.AUDIT].register_key(conn, app[keys.CLOCK].now())
        return {
            "tenderee": await make_org(
                conn, app[keys.AUDIT], app[keys.CLOCK], OrgKind.TENDEREE, region="330500"
            ),
            "b1": await make_org(conn, app[keys.AUDIT], app[keys.CLOCK], OrgKind.BIDDER),
            "b2": await make_org(conn, app[keys.AUDIT], app[keys.CLOCK], OrgKind.BIDDER),
            "sup": await make_org(conn, app[keys.AUDIT], app[keys.CLOCK], OrgKind.SUPERVISOR_DEPT),
        }


def pool_csv(bidder_code: str) -> str:
    inputs = [expert_input(n, "A030101" if n % 2 else "A0302") for n in range(1, 13)]
    inputs += [expert_input(n, "C04") for n in range(13, 17)]
    inputs += [expert_input(20, "A030101", employer_code=bidder_code)]
    return write_csv(inputs)


def draw_body(o: dict[str, int], **kw: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tender_ref": TENDER,
        "tenderee_org_id": o["tenderee"],
        "bidder_org_ids": [o["b1"], o["b2"]],
        "supervising_org_ids": [o["sup"]],
        "demands": [{"code": "A.03", "count": 4}, {"code": "C04", "count": 1}],
        "evaluation_date": "2026-01-15",
        "evaluation_time": "09:30",
        "evaluation_place": PLACE,
    }
    body.update(kw)
    return body


def name_of(expert_id: str) -> str:
    return f"专家{int(expert_id[1:])}"


@pytest.fixture
async def expert_client(make_client) -> TestClient:
    return await make_client(
        extra={"SUNLIT_EXPERTS_CHANNEL": "memory", "SUNLIT_PUBLIC_URL": "https://sunlit.test"}
    )


async def sent(client: TestClient) -> MemoryChannel:
    outbox = client.server.app[OUTBOX]
    await outbox.flush()
    channel = outbox.channel
    assert isinstance(channel, MemoryChannel)
    return channel


async def test_request_draw_summon_decline_replace_fix_and_verify(
    expert_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """E1, E5, E6, E7 end to end: a supervisor verifies the draw through the API and the CLI
    (from the database and offline from the downloaded record)."""
    client = expert_client
    o = await orgs(client)
    async with client.server.app[keys.POOL].acquire() as conn:
        bidder_code = await conn.fetchval(
            "SELECT credit_code FROM organisations WHERE id = $1", o["b1"]
        )
    staff, staff_h = await user_headers(client, Role.STAFF)
    _, other_h = await user_headers(client, Role.STAFF)
    _, sup_h = await user_headers(client, Role.SUPERVISOR)
    _, bidder_h = await user_headers(client, Role.BIDDER, org_id=o["b1"])

    r = await client.post("/api/v1/experts/import", data=pool_csv(bidder_code).encode(),
                          headers={**staff_h, "Content-Type": "text/csv"})  # fmt: skip
    assert r.status == 201, await r.text()
    assert (await r.json())["imported"] == 17

    r = await client.post("/api/v1/draws", json=draw_body(o), headers=staff_h)
    assert r.status == 201, await r.text()
    draw = await r.json()
    draw_id = draw["id"]
    assert draw["status"] == "committed" and re.fullmatch(r"[0-9a-f]{64}", draw["record_hash"])

    before = await denied_count(client)
    await problem(
        await client.get(f"/api/v1/draws/{draw_id}/panel", headers=other_h), 403, "panel_secret"
    )
    await problem(
        await client.get(f"/api/v1/draws/{draw_id}/panel", headers=bidder_h), 403, "panel_secret"
    )
    await problem(
        await client.get(f"/api/v1/draws/{draw_id}/record", headers=bidder_h), 403, "panel_secret"
    )
    await problem(
        await client.get(f"/api/v1/draws/{draw_id}", headers=bidder_h), 403, "role_forbidden"
    )
    await problem(
        await client.post(f"/api/v1/draws/{draw_id}/run", json={}, headers=other_h),
        403,
        "not_draw_owner",
    )
    assert await denied_count(client) == before + 5

    r = await client.post(f"/api/v1/draws/{draw_id}/run", json={}, headers=staff_h)
    assert r.status == 200, await r.text()
    assert (await r.json())["status"] == "drawn"
    channel = await sent(client)
    assert len(channel.sent) == 5
    for text in channel.texts():
        assert PLACE in text and "2026-01-15 09:30" in text and TENDER not in text

    r = await client.get(f"/api/v1/draws/{draw_id}/panel", headers=staff_h)
    panel = await r.json()
    order = panel["result"]["lines"][0]["order"]
    first = order[0]
    token = channel.token_of(name_of(first))
    r = await client.get(f"/api/v1/summons/{token}")
    shown = await r.json()
    assert r.status == 200 and shown["place"] == PLACE and shown["answerable"] is True
    assert TENDER not in json.dumps(shown, ensure_ascii=False)
    r = await client.post(f"/api/v1/summons/{token}/decline", json={"reason": "abroad that week"})
    assert r.status == 200 and (await r.json())["status"] == "declined"
    await problem(await client.post(f"/api/v1/summons/{token}/confirm"), 409, "token_used")
    await problem(
        await client.post("/api/v1/summons/not-a-real-token-at-all/confirm"),
        404,
        "summons_not_found",
    )

    channel = await sent(client)
    replacement = channel.sent[-1].expert_name
    assert replacement == name_of(order[4])  # the next position of line 0's order (E5)
    for m in (await (await client.get(f"/api/v1/draws/{draw_id}/panel", headers=sup_h)).json())[
        "members"
    ]:
        if m["status"] == "summoned":
            r = await client.post(
                f"/api/v1/summons/{channel.token_of(name_of(m['expert_id']))}/confirm"
            )
            assert r.status == 200, await r.text()
    r = await client.get(f"/api/v1/draws/{draw_id}", headers=staff_h)
    assert (await r.json())["status"] == "full"
    await problem(
        await client.get(f"/api/v1/draws/{draw_id}/verify", headers=sup_h), 409, "draw_not_fixed"
    )
    r = await client.post(f"/api/v1/draws/{draw_id}/fix-result", headers=staff_h)
    assert r.status == 200 and (await r.json())["status"] == "fixed"

    r = await client.get(f"/api/v1/draws/{draw_id}/verify", headers=sup_h)
    report = await r.json()
    assert r.status == 200 and report["ok"] is True, report
    r = await client.get(f"/api/v1/draws/{draw_id}/panel", headers=bidder_h)
    assert r.status == 200  # published once the result is fixed

    r = await client.get(f"/api/v1/draws/{draw_id}/record", headers=sup_h)
    assert r.status == 200
    bundle = await r.json()
    assert bundle["seed"] and bundle["published_record_hash"] == draw["record_hash"]
    path = tmp_path / "draw.json"
    path.write_text(json.dumps(bundle, ensure_ascii=False))
    public_key = client.server.app[keys.AUDIT].public_key.hex()
    assert (
        cli.main(["experts", "verify-draw", "--record", str(path), "--public-key", public_key]) == 0
    )
    wrong_seed = "00" * 32
    assert cli.main(["experts", "verify-draw", "--record", str(path), "--seed", wrong_seed]) == 1
    bundle["result"]["lines"][0]["order"][5], bundle["result"]["lines"][0]["order"][6] = (
        bundle["result"]["lines"][0]["order"][6], bundle["result"]["lines"][0]["order"][5])  # fmt: skip
    path.write_text(json.dumps(bundle, ensure_ascii=False))
    assert (
        cli.main(["experts", "verify-draw", str(path)]) == 1
    )  # the file as the positional argument

    config = client.server.app[keys.CONFIG]
    monkeypatch.setenv("DATABASE_URL", config.database_url or "")
    monkeypatch.setenv("SUNLIT_DATA", str(config.data_dir))
    assert await asyncio.to_thread(cli.main, ["experts", "verify-draw", str(draw_id)]) == 0


async def test_bad_input_gets_a_clear_4xx_and_nothing_is_written(expert_client: TestClient) -> None:
    """T15 and bad input through HTTP: an even committee, an unknown code, too few eligible
    (which specialty, short by how many), a malformed CSV row (row and field named)."""
    client = expert_client
    o = await orgs(client)
    _, staff_h = await user_headers(client, Role.STAFF)
    r = await client.post("/api/v1/experts/import", data=pool_csv("91330500MA2ZZZZZ0X").encode(),
                          headers={**staff_h, "Content-Type": "text/csv"})  # fmt: skip
    assert r.status == 201
    bad = "name,id_number,specialties,region\n好人,{good},A0302,330500\n坏人,{bad},A0302,330500\n".format(
        good=ident(40), bad=ident(41)[:-1] + ("0" if ident(41)[-1] != "0" else "1"))  # fmt: skip
    body = await problem(await client.post("/api/v1/experts/import", data=bad.encode(),
                                           headers={**staff_h, "Content-Type": "text/csv"}), 422, "import_rejected")  # fmt: skip
    assert [(e["row"], e["field"], e["code"]) for e in body["errors"]] == [
        (3, "id_number", "invalid_id_number")
    ]
    r = await client.get("/api/v1/experts", params={"name": "好人"}, headers=staff_h)
    assert (await r.json())["experts"] == []

    even = draw_body(o, demands=[{"code": "A03", "count": 4}, {"code": "C04", "count": 2}])
    await problem(
        await client.post("/api/v1/draws", json=even, headers=staff_h), 422, "committee_even"
    )
    unknown = draw_body(o, demands=[{"code": "A03", "count": 4}, {"code": "A09", "count": 1}])
    await problem(
        await client.post("/api/v1/draws", json=unknown, headers=staff_h), 422, "unknown_specialty"
    )
    malformed = draw_body(o, demands=[{"code": "A3", "count": 5}])
    await problem(
        await client.post("/api/v1/draws", json=malformed, headers=staff_h),
        422,
        "invalid_specialty_code",
    )
    short = draw_body(o, demands=[{"code": "A03", "count": 2}, {"code": "C04", "count": 5}])
    body = await problem(
        await client.post("/api/v1/draws", json=short, headers=staff_h), 422, "not_enough_eligible"
    )
    assert body["specialty"] == "C04" and body["short_by"] == 1
    small = draw_body(o, demands=[{"code": "A03", "count": 3}])
    await problem(
        await client.post("/api/v1/draws", json=small, headers=staff_h), 422, "committee_too_small"
    )
    async with client.server.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM expert_draws") == 0


async def test_the_cli_import_is_all_or_nothing(
    expert_client: TestClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``sunlit experts import``: a bad row rejects the file (exit 1, every row listed)."""
    client = expert_client
    config = client.server.app[keys.CONFIG]
    monkeypatch.setenv("DATABASE_URL", config.database_url or "")
    monkeypatch.setenv("SUNLIT_DATA", str(config.data_dir))
    good = tmp_path / "good.csv"
    good.write_text(write_csv([expert_input(n, "C04") for n in range(1, 4)]))
    bad = tmp_path / "bad.csv"
    bad.write_text(
        write_csv([expert_input(n, "C04") for n in range(4, 6)] + [expert_input(6, "Q01")])
    )
    assert await asyncio.to_thread(cli.main, ["experts", "import", str(bad)]) == 1
    assert await asyncio.to_thread(cli.main, ["experts", "import", str(good)]) == 0
    async with client.server.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT array_agg(expert_id ORDER BY expert_id) FROM experts") == [
            "E001", "E002", "E003"]  # fmt: skip
    codes = tmp_path / "codes.csv"
    codes.write_text(
        "code,name_zh,name_en\nA05,水运工程,Waterways\nA0501,港口,Ports\nQ0101,无上级,Orphan\n"
    )
    assert (
        await asyncio.to_thread(cli.main, ["experts", "codes", str(codes)]) == 1
    )  # Q01 is unknown
    codes.write_text("code,name_zh,name_en\nA05,水运工程,Waterways\nA.05.01,港口,Ports\n")
    assert await asyncio.to_thread(cli.main, ["experts", "codes", str(codes)]) == 0
    async with client.server.app[keys.POOL].acquire() as conn:
        assert (
            await conn.fetchval("SELECT name_en FROM expert_specialty_codes WHERE code = 'A0501'")
            == "Ports"
        )


# a field that could carry who sits: an expert id or a list of people (counts like
# ``min_members`` are fine)
_NAMES_AN_EXPERT = re.compile(
    r"(^|\.)(experts?(_ids?)?|members?(_ids?)?|panel(_ids?)?|seats?|people|persons?)$",
    re.IGNORECASE,
)


def _property_names(schema: dict[str, Any], defs: dict[str, Any], path: str = "") -> list[str]:
    out: list[str] = []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _property_names(defs[name], defs, path)
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            out += _property_names(sub, defs, path)
    if "items" in schema:
        out += _property_names(schema["items"], defs, path + "[]")
    for name, sub in schema.get("properties", {}).items():
        out.append(f"{path}.{name}" if path else name)
        out += _property_names(sub, defs, f"{path}.{name}" if path else name)
    return out


async def test_no_api_path_names_an_expert_into_a_panel(expert_client: TestClient) -> None:
    """E1 (IR 46, O12 10): walk the route table; no endpoint of draws or summons takes an
    expert id (in the path, the query or the body) — except the tender's extra exclusions,
    which can only leave an expert out."""
    doc = await (await expert_client.get("/api/v1/openapi.json")).json()
    defs = doc["components"]["schemas"]
    checked = 0
    for path, ops in doc["paths"].items():
        if not path.startswith(("/api/v1/draws", "/api/v1/summons", "/api/v1/me/summons")):
            continue
        for method, op in ops.items():
            checked += 1
            for p in op.get("parameters", []):
                assert not re.search(r"expert", p["name"], re.IGNORECASE), (method, path, p["name"])
            body = (
                op.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("schema")
            )
            if body is None:
                continue
            for name in _property_names(body, defs):
                if name.startswith("extra_exclusions[]"):
                    continue
                assert not _NAMES_AN_EXPERT.search(name), (method, path, name)
    assert checked >= 12
    # and the one place an expert id appears in a draw request can only exclude
    assert _property_names(defs["DrawBody"], defs).count("extra_exclusions[].expert_id") == 1
    assert "ExtraExclusionBody" in defs and "exclu" in defs["ExtraExclusionBody"]["description"]


async def test_a_logged_in_expert_sees_only_their_own_summons(expert_client: TestClient) -> None:
    """E4: experts see their own summons (time and place), answer them, and nothing else."""
    client = expert_client
    o = await orgs(client)
    _, staff_h = await user_headers(client, Role.STAFF)
    inputs = [expert_input(n, "A0302") for n in range(1, 6)]  # exactly five: all are drawn
    r = await client.post("/api/v1/experts/import", data=write_csv(inputs).encode(),
                          headers={**staff_h, "Content-Type": "text/csv"})  # fmt: skip
    assert r.status == 201
    me, me_h = await user_headers(client, Role.EXPERT)
    r = await client.put("/api/v1/experts/E003/user", json={"user_id": me.user_id}, headers=staff_h)
    assert r.status == 200 and (await r.json())["user_id"] == me.user_id
    r = await client.post("/api/v1/draws", json=draw_body(o, demands=[{"code": "A03", "count": 5, "reserve": 0}]),
                          headers=staff_h)  # fmt: skip
    draw_id = (await r.json())["id"]
    await client.post(f"/api/v1/draws/{draw_id}/run", json={}, headers=staff_h)
    r = await client.get("/api/v1/me/summons", headers=me_h)
    mine = await r.json()
    assert (
        len(mine) == 1
        and mine[0]["place"] == PLACE
        and TENDER not in json.dumps(mine, ensure_ascii=False)
    )
    await problem(
        await client.get(f"/api/v1/draws/{draw_id}/panel", headers=me_h), 403, "panel_secret"
    )
    async with client.server.app[keys.POOL].acquire() as conn:
        other = await conn.fetchval(
            "SELECT id FROM expert_draw_members WHERE expert_id <> 'E003' LIMIT 1"
        )
    await problem(await client.post(f"/api/v1/me/summons/{other}/decline", json={}, headers=me_h), 403,
                  "not_summoned")  # fmt: skip
    r = await client.post(
        f"/api/v1/me/summons/{mine[0]['summons_id']}/decline", json={"reason": "ill"}, headers=me_h
    )
    assert r.status == 200
    r = await client.get(f"/api/v1/draws/{draw_id}", headers=staff_h)
    draw = await r.json()
    assert draw["status"] == "short" and draw["short_lines"][0]["code"] == "A03"
    r = await client.get("/api/v1/me/notices", headers=staff_h)
    assert any("A03" in n["body"] for n in await r.json())
    r = await client.get("/api/v1/me/expert", headers=me_h)
    assert (await r.json())["expert_id"] == "E003"
    assert date.fromisoformat(mine[0]["evaluation_date"]) == date(2026, 1, 15)


async def test_silence_through_the_server_scheduler_calls_the_next_expert(
    expert_client: TestClient, clock
) -> None:
    """E5 wired through the app: the ``experts.summons_timeout`` handler is registered and
    the server's scheduler replaces a silent member at the deadline; JSON import works too."""
    client = expert_client
    o = await orgs(client)
    _, staff_h = await user_headers(client, Role.STAFF)
    items = [json.loads(json.dumps({"expert_id": f"J{n}", "name": f"专家J{n}", "id_number": ident(60 + n),
                                    "specialties": ["A0302"], "region": "330500"})) for n in range(7)]  # fmt: skip
    bad = {**items[0], "expert_id": "J9", "experience_years": "ten"}
    r = await client.post(
        "/api/v1/experts/import", json={"experts": [*items, bad]}, headers=staff_h
    )
    body = await problem(r, 422, "import_rejected")
    assert [(e["row"], e["field"]) for e in body["errors"]] == [(8, "experience_years")]
    r = await client.post("/api/v1/experts/import", json={"experts": items}, headers=staff_h)
    assert r.status == 201 and (await r.json())["imported"] == 7
    r = await client.post("/api/v1/draws", headers=staff_h,
                          json=draw_body(o, demands=[{"code": "A03", "count": 5, "reserve": 2}],
                                         answer_within_minutes=30))  # fmt: skip
    draw_id = (await r.json())["id"]
    r = await client.post(f"/api/v1/draws/{draw_id}/run", json={}, headers=staff_h)
    order = (await (await client.get(f"/api/v1/draws/{draw_id}/panel", headers=staff_h)).json())[
        "result"
    ]["lines"][0]
    channel = await sent(client)
    for expert_id in order["order"][1:5]:
        r = await client.post(f"/api/v1/summons/{channel.token_of('专家' + expert_id)}/confirm")
        assert r.status == 200
    clock.advance(minutes=30)
    ran = await client.server.app[keys.SCHEDULER].run_due()
    assert [e.kind for e in ran] == ["experts.summons_timeout"]
    members = (await (await client.get(f"/api/v1/draws/{draw_id}/panel", headers=staff_h)).json())[
        "members"
    ]
    assert [(m["position"], m["status"]) for m in members] == [
        (0, "timed_out"), (1, "confirmed"), (2, "confirmed"), (3, "confirmed"), (4, "confirmed"), (5, "summoned")]  # fmt: skip
    channel = await sent(client)
    assert channel.sent[-1].expert_name == "专家" + order["order"][5]
