"""Issue 16 items 1 and 2: one validation layer at the edge (web/api.py ``_wrap``), every
refusal a 4xx problem+json as the OpenAPI Problem schema describes. Each class of bad input
is tried on at least three endpoints, through the real app and database."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, make_mocked_request
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from tests.helpers import login, user_headers
from trading.context import Role
from trading.errors import Conflict, ValidationFailed
from web import keys
from web.api import INT32_MAX, INT64_MAX, Api, Body, Call, Text, parse_path_id
from web.errors import RESERVED, domain_problem

TOO_BIG = INT64_MAX + 1


async def refused(resp: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """A problem exactly as the OpenAPI Problem schema says: the members, ``status`` equal to
    the HTTP status, ``errors`` (when present) a list of ``{field, problem, type}`` objects."""
    text = await resp.text()
    assert resp.status == status, text
    assert resp.content_type == "application/problem+json", text
    body = json.loads(text)
    assert {"type", "title", "status", "detail", "code"} <= set(body), body
    assert body["status"] == resp.status and isinstance(body["status"], int)
    assert isinstance(body["code"], str) and body["type"].endswith(body["code"])
    if code is not None:
        assert body["code"] == code, body
    for e in body.get("errors", []):
        assert isinstance(e, dict), body
        assert {"field", "problem", "type"} <= set(e) and all(isinstance(e[k], str) for k in ("field", "problem", "type"))
    return body


@pytest.fixture
async def staff(client: TestClient) -> dict[str, str]:
    return (await user_headers(client, Role.STAFF))[1]


@pytest.fixture
async def admin(client: TestClient) -> dict[str, str]:
    return (await user_headers(client, Role.ADMIN))[1]


@pytest.fixture
async def supervisor(client: TestClient) -> dict[str, str]:
    return (await user_headers(client, Role.SUPERVISOR))[1]


# --- item 1: ids and integers --------------------------------------------------------------


async def test_non_ascii_digits_in_path_ids_are_refused(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: path ids are plain ASCII decimal digits, never a Unicode digit read as a number."""
    for raw in ("²", "١", "５", "1²", "٣٤", "+1", "-1", "1_0", "%201", "0x1"):
        for path in (f"/api/v1/tenders/{raw}", f"/api/v1/organisations/{raw}", f"/api/v1/draws/{raw}",
                     f"/api/v1/auctions/lots/{raw}/bidders", f"/api/v1/tenders/1/documents/{raw}"):  # fmt: skip
            body = await refused(await client.get(path, headers=staff), 422, "invalid_path_parameter")
            assert body["errors"][0]["field"].startswith("path.")


def test_path_int_takes_ascii_digits_only() -> None:
    """Issue 16 item 1: ``Call.path_int`` (``str.isdigit`` took '²') reads ASCII digits in int64."""
    assert parse_path_id("n", "0") == 0 and parse_path_id("n", str(INT64_MAX)) == INT64_MAX
    for raw in ("²", "١", "５", "", "-1", str(TOO_BIG), "1" * 20):
        with pytest.raises(ValidationFailed) as err:
            parse_path_id("n", raw)
        assert err.value.code == "invalid_path_parameter"


async def test_non_ascii_digits_in_query_integers_are_refused(
    client: TestClient, staff: dict[str, str], supervisor: dict[str, str]
) -> None:
    """Issue 16 item 1: an integer query parameter is ASCII digits, whatever pydantic would coerce."""
    for raw in ("²", "٣", "５", "+5", "5.0", "1_0", " 5"):
        for name, path, headers in (("limit", "/api/v1/tenders", staff), ("after_seq", "/api/v1/audit", supervisor),
                                    ("after_id", "/api/v1/auctions/lots", staff), ("before", "/api/v1/draws", staff)):  # fmt: skip
            body = await refused(await client.get(path, params={name: raw}, headers=headers), 422)
            assert body["errors"][0]["field"].split(".")[-1] == name


async def test_int64_overflow_is_refused_in_path_query_and_body(
    client: TestClient, staff: dict[str, str], admin: dict[str, str], supervisor: dict[str, str]
) -> None:
    """Issue 16 item 1: every integer bounded by its column: bigint ids and cursors at int64."""
    for path in (f"/api/v1/tenders/{TOO_BIG}", f"/api/v1/organisations/{TOO_BIG}", f"/api/v1/draws/{TOO_BIG}"):
        await refused(await client.get(path, headers=staff), 422, "invalid_path_parameter")
    assert (await client.get(f"/api/v1/tenders/{INT64_MAX}", headers=staff)).status == 404
    for path, headers in ((f"/api/v1/tenders?after_id={TOO_BIG}", staff),
                          (f"/api/v1/audit?actor_user_id={TOO_BIG}", supervisor),
                          (f"/api/v1/users?org_id={TOO_BIG}", admin)):  # fmt: skip
        await refused(await client.get(path, headers=headers), 422)
    for path, payload, headers in (
        ("/api/v1/admission-flags", {"org_id": TOO_BIG, "project_ref": "tender:1", "note": "x"}, staff),
        ("/api/v1/users", {"username": "abcd", "full_name": "A", "role": "bidder", "password": "x" * 12,
                           "org_id": TOO_BIG}, admin),
        ("/api/v1/auctions/lots/1/admissions", {"org_id": 10**40}, staff),
        ("/api/v1/draws", {"tender_ref": "t1", "tenderee_org_id": -(10**30)}, staff),
    ):
        body = await refused(await client.post(path, json=payload, headers=headers), 422)
        assert any(e["type"] == "int64_range" for e in body["errors"]), body


async def test_int32_columns_are_bounded_at_int32(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: an ``integer`` column (a version, a seat's line and position) at int32."""
    r = await client.patch("/api/v1/experts/E1", json={"version": INT32_MAX + 1, "title": "x"}, headers=staff)
    await refused(r, 422)
    r = await client.post(f"/api/v1/draws/1/seats/{INT32_MAX + 1}/0/recuse", json={"reason": "x"}, headers=staff)
    await refused(r, 422, "invalid_path_parameter")
    r = await client.post(f"/api/v1/draws/1/seats/0/{INT32_MAX + 1}/recuse", json={"reason": "x"}, headers=staff)
    await refused(r, 422, "invalid_path_parameter")


# --- item 1: text --------------------------------------------------------------------------


async def test_overlong_strings_are_refused(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: over-long strings refused in body, query and path."""
    r = await client.post("/api/v1/organisations", headers=staff,
                          json={"name": "名" * 201, "kind": "bidder", "credit_code": "9" * 18})  # fmt: skip
    await refused(r, 422)
    await refused(await client.post("/api/v1/tenders/1/cancel", json={"reason": "x" * 501}, headers=staff), 422)
    await refused(await client.get("/api/v1/experts?name=" + "x" * 101, headers=staff), 422)
    await refused(await client.get("/api/v1/ledger/projects/" + "a" * 201, headers=staff), 422, "invalid_path_parameter")


async def test_nul_and_control_characters_in_text_are_refused(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: NUL and other control characters refused in any body string, query or path."""
    for bad in ("\x00", "\x07", "\x1b[31m", "\x7f", "\x85"):
        await _refuses_control_characters(client, staff, bad)


async def _refuses_control_characters(client: TestClient, staff: dict[str, str], bad: str) -> None:
    r = await client.post("/api/v1/organisations", headers=staff,
                          json={"name": f"a{bad}b", "kind": "bidder", "credit_code": "9" * 18})  # fmt: skip
    await refused(r, 422)
    await refused(await client.post("/api/v1/tenders/1/cancel", json={"reason": f"r{bad}"}, headers=staff), 422)
    await refused(await client.post("/api/v1/sessions", json={"username": f"u{bad}", "password": "p"}), 422)
    await refused(await client.get("/api/v1/alerts", params={"kind": f"k{bad}"}, headers=staff), 422)
    await refused(await client.get("/api/v1/ledger/accounts/a" + bad, headers=staff), 422, "invalid_path_parameter")


async def test_a_lone_surrogate_in_a_body_is_refused(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: text PostgreSQL cannot store (a lone UTF-16 surrogate) is refused, not a 500."""
    for path, raw in (("/api/v1/organisations", b'{"name": "a\\ud800", "kind": "bidder", "credit_code": "x"}'),
                      ("/api/v1/tenders/1/cancel", b'{"reason": "\\udfff"}'),
                      ("/api/v1/sessions", b'{"username": "\\ud83d", "password": "p"}')):  # fmt: skip
        r = await client.post(path, data=raw, headers={**staff, "Content-Type": "application/json"})
        assert r.status in (400, 422)
        await refused(r, r.status)


async def test_tab_and_newline_are_free_text_only(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1 (decided): tab, CR and LF pass in free text (a reason, a note, a
    description) and are refused in single-line fields (names, codes, titles, usernames)."""
    r = await client.post("/api/v1/tenders/999/cancel", json={"reason": "line one\r\n\tline two"}, headers=staff)
    await refused(r, 404)  # past validation: the tender does not exist
    r = await client.post("/api/v1/organisations", headers=staff,
                          json={"name": "a\tb", "kind": "bidder", "credit_code": "9" * 18})  # fmt: skip
    await refused(r, 422)
    await refused(await client.post("/api/v1/sessions", json={"username": "a\nb", "password": "p"}), 422)
    await refused(await client.get("/api/v1/alerts", params={"kind": "a\tb"}, headers=staff), 422)


# --- item 1: the shape of the body --------------------------------------------------------


async def test_a_body_that_is_not_an_object_is_refused(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: null, a list, a number where an object is expected: 400."""
    headers = {**staff, "Content-Type": "application/json"}
    for payload in (b"null", b"[]", b"[{}]", b"5", b"-1.5", b'"text"', b"true"):
        for path in ("/api/v1/organisations", "/api/v1/tenders/1/cancel", "/api/v1/draws", "/api/v1/sessions"):
            await refused(await client.post(path, data=payload, headers=headers), 400, "malformed_json")


async def test_a_body_sent_to_an_operation_that_takes_none_is_refused(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: a body to a body-less operation is refused before anything runs."""
    for method, path in (("POST", "/api/v1/tenders/1/publish"), ("GET", "/api/v1/me"),
                         ("POST", "/api/v1/draws/1/fix-result"), ("DELETE", "/api/v1/sessions/current")):  # fmt: skip
        r = await client.request(method, path, json={"force": True}, headers=staff)
        await refused(r, 400, "body_not_allowed")
    r = await client.post("/api/v1/tenders/1/publish", data=_chunks(b"{}", 1), headers=staff)
    await refused(r, 400, "body_not_allowed")
    assert (await client.get("/api/v1/me", headers=staff)).status == 200  # the session still works


async def test_unknown_nested_fields_are_refused(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 1: unknown fields refused at every level of a closed schema."""
    cases = [
        ("/api/v1/auctions/sessions", {"title": "s", "starts_at": "2030-01-01T00:00:00Z", "lots": [
            {"title": "A", "starting_price_fen": 1, "increment_fen": 1, "deposit_fen": 1, "colour": "red"}]},
         "lots.0.colour"),
        ("/api/v1/specialty-codes", {"codes": [{"code": "A01", "name_zh": "甲", "extra": 1}]}, "codes.0.extra"),
        ("/api/v1/draws", {"tender_ref": "t", "tenderee_org_id": 1, "evaluation_date": "2030-01-01",
                           "evaluation_time": "09:00", "evaluation_place": "p",
                           "demands": [{"code": "A01", "count": 1, "region_rule": {"scope": "any", "x": 1}}]},
         "demands.0.region_rule.x"),
        ("/api/v1/organisations", {"name": "n", "kind": "bidder", "credit_code": "9" * 18, "admin": True}, "admin"),
    ]
    for path, payload, where in cases:
        body = await refused(await client.post(path, json=payload, headers=staff), 422)
        assert any(e["field"] == where and e["type"] == "extra_forbidden" for e in body["errors"]), body


def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    async def gen() -> AsyncIterator[bytes]:
        for i in range(0, len(data), size):
            yield data[i : i + size]

    return gen()


async def test_a_chunked_body_over_the_limit_is_refused(make_client: Any) -> None:
    """Issue 16 item 1: a body without Content-Length is bounded by the same limit (413), while
    the raw upload endpoints stream under their own larger limit."""
    client = await make_client(max_body_bytes=1024)
    _, staff = await user_headers(client, Role.STAFF)
    big = json.dumps({"name": "x" * 4000, "kind": "bidder", "credit_code": "9" * 18}).encode()
    for path in ("/api/v1/organisations", "/api/v1/sessions", "/api/v1/tenders/1/cancel"):
        r = await client.post(path, data=_chunks(big, 256), headers={**staff, "Content-Type": "application/json"})
        assert "Content-Length" not in r.request_info.headers
        await refused(r, 413, "body_too_large")
        r = await client.post(path, data=big, headers={**staff, "Content-Type": "application/json"})
        await refused(r, 413, "body_too_large")
    # A tender document streams in pieces past the JSON limit, under its own.
    tender_id = await _draft_tender(client, staff)
    doc = b"%PDF " + b"d" * 8000
    r = await client.post(f"/api/v1/tenders/{tender_id}/documents?name=big.pdf", data=_chunks(doc, 1000),
                          headers={**staff, "Content-Type": "application/octet-stream"})  # fmt: skip
    assert r.status == 201, await r.text()
    assert (await r.json())["size_bytes"] == len(doc)


async def _draft_tender(client: TestClient, staff: dict[str, str]) -> int:
    custodians = []
    for _ in range(2):
        party, headers = await user_headers(client, Role.CUSTODIAN)
        pub = X25519PrivateKey.generate().public_key().public_bytes_raw().hex()
        r = await client.post("/api/v1/me/keys", json={"public_key": pub, "algorithm": "x25519"}, headers=headers)
        assert r.status == 201, await r.text()
        custodians.append(party.user_id)
    now = client.server.app[keys.CLOCK].now()
    body = {"code": "V-1", "project_name": "p", "lots": ["一"], "estimated_price_fen": 100_000_000,
            "deposit_fen": 1_000_000, "bid_deadline_at": now.replace(year=now.year + 1).isoformat(),
            "opening_at": now.replace(year=now.year + 1).isoformat(), "custodians": custodians, "threshold_k": 2}  # fmt: skip
    r = await client.post("/api/v1/tenders", json=body, headers=staff)
    assert r.status == 201, await r.text()
    return (await r.json())["id"]


# --- item 2: the problems themselves ---------------------------------------------------------


async def test_errors_are_objects_never_bare_strings(client: TestClient, staff: dict[str, str]) -> None:
    """Issue 16 item 2: ``errors`` is always a list of ``{field, problem, type}`` objects — the
    domain's lists of strings (a plate session's problems) included."""
    r = await client.post("/api/v1/auctions/sessions", headers=staff, json={
        "title": "s", "starts_at": "2030-01-01T00:00:00Z",
        "lots": [{"title": "A", "starting_price_fen": 100, "increment_fen": 1000, "deposit_fen": 1},
                 {"title": "A", "starting_price_fen": 100, "increment_fen": 1, "deposit_fen": 1}]})  # fmt: skip
    body = await refused(r, 422)
    assert body["errors"] and all(isinstance(e, dict) for e in body["errors"])
    body = await refused(await client.post("/api/v1/organisations", json={"kind": "nobody"}, headers=staff), 422)
    assert {e["field"] for e in body["errors"]} >= {"name", "kind", "credit_code"}
    body = await refused(await client.get("/api/v1/me?debug=1", headers=staff), 422, "unknown_query_parameter")
    assert body["errors"] == [{"field": "query.debug", "problem": "unknown query parameter", "type": "extra_forbidden"}]


def test_error_objects_are_normalised_from_every_shape() -> None:
    """Issue 16 item 2: strings, ``{problem}``, ``{code, message}``, expert problems — all objects."""
    from web.errors import error_objects

    out = error_objects(["lots[0]: starting_price_fen must be > 0", "plain", {"problem": "p"},
                         {"code": "c", "message": "m"}, {"code": "x", "message_en": "e", "data": {"line": 1}},
                         {"org_id": 5, "code": "org_not_found"}])  # fmt: skip
    assert out[0] == {"field": "lots[0]", "problem": "starting_price_fen must be > 0", "type": "invalid"}
    assert out[1] == {"field": "", "problem": "plain", "type": "invalid"}
    assert all({"field", "problem", "type"} <= set(e) and all(isinstance(e[k], str) for k in ("field", "problem", "type"))
               for e in out)  # fmt: skip
    assert out[3]["type"] == "c" and out[3]["problem"] == "m" and out[5]["field"] == "org_id=5"


@pytest.mark.parametrize("reserved", sorted(RESERVED))
def test_a_problem_status_is_never_overwritten_by_its_details(reserved: str) -> None:
    """Issue 16 item 2: details named like a Problem member never replace it (a draw in the
    wrong state once answered ``wrong_draw_state`` with ``"status": "drawn"``)."""
    request = make_mocked_request("POST", "/api/v1/draws/1/run")
    err = Conflict("no", "不", code="wrong_draw_state", details={reserved: "drawn", "draw_id": 1})
    response = domain_problem(request, err)
    body = json.loads(response.body)
    assert response.status == 409 and body["status"] == 409 and body["code"] == "wrong_draw_state"
    assert body["draw_id"] == 1 and body["type"].endswith("wrong_draw_state")


async def test_a_draw_in_the_wrong_state_answers_409_with_status_409(make_client: Any) -> None:
    """Issue 16 item 2: running a drawn draw again — ``wrong_draw_state``, status 409 in the
    header and in the body, the draw's own state as ``draw_status``."""
    client = await make_client(load_demo=True)
    config = client.server.app[keys.CONFIG]
    creds = {u: p for u, _, p in (line.split("\t") for line in
             (config.data_dir / "demo-credentials.txt").read_text().splitlines())}  # fmt: skip
    staff = await login(client, "staff1", creds["staff1"])
    request = json.loads((config.data_dir / "demo-draw-request.json").read_text())
    r = await client.post("/api/v1/draws", json=request, headers=staff)
    assert r.status == 201, await r.text()
    draw_id = (await r.json())["id"]
    assert (await client.post(f"/api/v1/draws/{draw_id}/run", json={}, headers=staff)).status == 200
    for _ in range(2):
        body = await refused(await client.post(f"/api/v1/draws/{draw_id}/run", json={}, headers=staff), 409,
                             "wrong_draw_state")  # fmt: skip
        assert body["draw_status"] in ("drawn", "full", "short")


async def test_options_answers_with_the_allowed_methods(client: TestClient) -> None:
    """Issue 16 item 2: OPTIONS on any path answers 204 with a correct ``Allow``: the methods
    the route table declares for the path, and OPTIONS."""
    endpoints = client.server.app[keys.API].endpoints

    def declared(template: str) -> str:
        return ", ".join(sorted({ep.method for ep in endpoints if ep.full_path == template} | {"OPTIONS"}))

    for template, path in (("/api/v1/tenders", "/api/v1/tenders"), ("/api/v1/tenders/{tender_id}", "/api/v1/tenders/1"),
                           ("/api/v1/me/keys", "/api/v1/me/keys"),
                           ("/api/v1/sessions/current", "/api/v1/sessions/current"),
                           ("/api/v1/experts/{expert_id}", "/api/v1/experts/E1")):  # fmt: skip
        r = await client.options(path)
        assert r.status == 204 and r.headers["Allow"] == declared(template), (path, r.headers.get("Allow"))
        assert "GET" in r.headers["Allow"] or "DELETE" in r.headers["Allow"]
    await refused(await client.options("/api/v1/no-such-thing"), 404, "not_found")
    r = await client.put("/api/v1/tenders")
    await refused(r, 405, "method_not_allowed")
    assert r.headers["Allow"] == declared("/api/v1/tenders")


async def test_openapi_states_the_rules_minimums_and_the_errors(client: TestClient) -> None:
    """Issue 16 item 2: the document states what the rules enforce (bidders ≥ 3, quorum ≥ 2),
    ids as integers, and the problems each operation answers."""
    doc = await (await client.get("/api/v1/openapi.json")).json()
    tender = doc["components"]["schemas"]["TenderBody"]["properties"]
    assert tender["min_bidders"]["minimum"] == 3 and tender["threshold_k"]["minimum"] == 2
    assert tender["custodians"]["minItems"] == 2
    get = doc["paths"]["/api/v1/tenders/{tender_id}"]["get"]
    (param,) = get["parameters"]
    assert param["schema"] == {"type": "integer", "format": "int64", "minimum": 0, "maximum": INT64_MAX,
                               "description": "ASCII decimal digits 0-9 only"}  # fmt: skip
    assert {"401", "403", "404", "422"} <= set(get["responses"])
    post = doc["paths"]["/api/v1/tenders"]["post"]["responses"]
    assert {"400", "401", "403", "404", "409", "413", "415", "422"} <= set(post)
    problem = doc["components"]["schemas"]["Problem"]
    assert problem["properties"]["errors"]["items"] == {"$ref": "#/components/schemas/ErrorObject"}
    assert doc["components"]["schemas"]["ErrorObject"]["required"] == ["field", "problem", "type"]
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                if p["in"] == "path" and p["name"].endswith("id") and p["schema"].get("type") != "integer":
                    assert p["name"] in ("expert_id", "account_id"), (method, path, p)


def test_a_new_endpoint_cannot_forget_the_layer() -> None:
    """Issue 16 item 1: the layer comes from the route declaration alone: an ``…id`` path
    parameter is an int64 id, any other is bounded text; a Text field refuses control characters."""
    api = Api()

    class NewBody(Body):
        name: Text(20)

    @api.route("POST", "/widgets/{widget_id}/parts/{slug}", summary="s", tag="t", roles=None, body=NewBody)
    async def handler(call: Call) -> None:
        return None

    (ep,) = api.endpoints
    assert ep.path_params["widget_id"] is not ep.path_params["slug"]
    doc = api.openapi()
    params = {p["name"]: p["schema"] for p in doc["paths"]["/api/v1/widgets/{widget_id}/parts/{slug}"]["post"]["parameters"]}
    assert params["widget_id"]["type"] == "integer" and params["slug"]["maxLength"] == 200
    assert "pattern" in doc["components"]["schemas"]["NewBody"]["properties"]["name"]


async def test_nul_and_control_characters_in_an_uploaded_text_file_are_refused(
    client: TestClient, staff: dict[str, str]
) -> None:
    """Issue 16 item 1: the streamed text uploads (a bank statement, the bank's payout results,
    an expert import) refuse NUL and control characters too (tab, CR, LF are CSV's own)."""
    for bad in ("\x00", "\x1b"):
        for path, data in (
            ("/api/v1/ledger/reconciliations", f"bank_ref,value_on,amount_fen\nR{bad}1,2026-01-01,100\n"),
            ("/api/v1/ledger/payout-results", f"payout_id,status,bank_ref,value_time\nP1,paid,R{bad},x\n"),
            ("/api/v1/experts/import", f"expert_id,name\nE1,A{bad}B\n"),
        ):
            r = await client.post(path, data=data.encode(), headers={**staff, "Content-Type": "text/csv"})
            body = await refused(r, 422, "validation_failed")
            assert body["errors"] == [{"field": "line 2", "problem": "control character", "type": "control_character"}]
    r = await client.post("/api/v1/experts/import", headers=staff,
                          json={"experts": [{"name": "A", "specialties": ["A01\u0000"], "id_number": "1", "region": "1"}]})  # fmt: skip
    body = await refused(r, 422, "validation_failed")
    assert body["errors"][0]["field"] == "experts.0.specialties.0" and body["errors"][0]["type"] == "control_character"


async def test_dates_and_times_outside_the_years_are_refused(
    client: TestClient, staff: dict[str, str], supervisor: dict[str, str]
) -> None:
    """Issue 16 item 1: a time that overflows in UTC (9999-12-31T23:59-05:00) or a date far
    outside the trade's years is refused at the edge, not a 500 in the rules' arithmetic."""
    late, early = "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+01:00"
    for when in (late, early):
        r = await client.post("/api/v1/tenders/1/retender", json={"code": "R", "bid_deadline_at": when,
                              "opening_at": when}, headers=staff)  # fmt: skip
        body = await refused(r, 422)
        assert {e["field"] for e in body["errors"]} == {"bid_deadline_at", "opening_at"}
        r = await client.patch("/api/v1/tenders/1/dates", json={"bid_deadline_at": when, "opening_at": when,
                               "reason": "r"}, headers=staff)  # fmt: skip
        await refused(r, 422)
        r = await client.post("/api/v1/auctions/sessions", headers=staff, json={"title": "s", "starts_at": when,
                              "lots": [{"title": "A", "starting_price_fen": 1, "increment_fen": 1, "deposit_fen": 1}]})  # fmt: skip
        await refused(r, 422)
    await refused(await client.get("/api/v1/audit", params={"since": "0001-01-01T00:00:00Z"}, headers=supervisor), 422)


async def test_a_number_is_not_a_date_or_a_time_in_a_query(client: TestClient, supervisor: dict[str, str]) -> None:
    """Issue 16 item 1: ``since=5`` is not read as Unix time, nor ``from_date=86400`` as 2 January
    1970 (pydantic alone would); the answer names the field and the format to use."""
    for params, path, headers in (
        ({"since": "5"}, "/api/v1/audit", supervisor),
        ({"until": "1700000000"}, "/api/v1/audit", supervisor),
        ({"from_date": "86400", "to_date": "2026-01-31"}, "/api/v1/public/ocds/releases", {}),
    ):
        body = await refused(await client.get(path, params=params, headers=headers), 422)
        assert body["errors"][0]["type"] == "iso_8601" and "ISO 8601" in body["detail"]
    r = await client.get("/api/v1/audit", params={"since": "2026-01-01T00:00:00Z"}, headers=supervisor)
    assert r.status == 200, await r.text()
