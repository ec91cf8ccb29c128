"""The foundation through its HTTP API: login, roles and scope, every kind of bad input, the
OpenAPI document kept in step with the routes, health and metrics."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient

from crypto.signing import generate_signing_key, public_key_bytes
from tests.helpers import PASSWORD, credit_code, login, user_headers
from trading.context import Role
from web import keys


async def audit_count(client: TestClient, **where: str) -> int:
    async with client.server.app[keys.POOL].acquire() as conn:
        if "outcome" in where:
            return await conn.fetchval("SELECT count(*) FROM audit_log WHERE outcome = $1", where["outcome"])
        return await conn.fetchval("SELECT count(*) FROM audit_log")


async def problem(resp, status: int, code: str) -> dict:
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body = await resp.json()
    assert body["code"] == code and body["status"] == status and body["detail"] and body["type"].endswith(code)
    return body


async def test_healthz_reports_database_and_migrations(client) -> None:
    r = await client.get("/healthz")
    assert r.status == 200 and (await r.json())["migrations"] == "current"


async def test_metrics_are_prometheus_text_with_request_counts(client) -> None:
    await client.get("/healthz")
    r = await client.get("/metrics")
    text = await r.text()
    assert r.status == 200 and "sunlit_http_requests_total{" in text and 'route="/healthz"' in text
    assert "sunlit_http_request_duration_seconds_bucket" in text


async def test_login_returns_a_token_that_identifies_the_user(client) -> None:
    party, headers = await user_headers(client, Role.STAFF)
    r = await client.get("/api/v1/me", headers=headers)
    assert r.status == 200 and (await r.json())["username"] == party.username
    assert r.headers["X-Request-Id"]


async def test_wrong_password_is_refused_and_logged_as_denied(client) -> None:
    party, _ = await user_headers(client, Role.STAFF)
    before = await audit_count(client, outcome="denied")
    r = await client.post("/api/v1/sessions", json={"username": party.username, "password": "not-the-password"})
    await problem(r, 401, "bad_credentials")
    r = await client.post("/api/v1/sessions", json={"username": "nobody-here", "password": "whatever12"})
    await problem(r, 401, "bad_credentials")
    assert await audit_count(client, outcome="denied") == before + 2


async def test_forged_and_missing_tokens_are_refused(client) -> None:
    await problem(await client.get("/api/v1/me"), 401, "unauthenticated")
    await problem(await client.get("/api/v1/me", headers={"Authorization": "Bearer forged"}), 401, "invalid_token")
    await problem(await client.get("/api/v1/me", headers={"Authorization": "Basic abc"}), 401, "unauthenticated")


async def test_an_expired_session_is_refused(client, clock) -> None:
    _, headers = await user_headers(client, Role.STAFF)
    clock.advance(timedelta(hours=8, seconds=1))
    await problem(await client.get("/api/v1/me", headers=headers), 401, "session_expired")


async def test_logout_ends_the_session(client) -> None:
    _, headers = await user_headers(client, Role.BIDDER)
    assert (await client.delete("/api/v1/sessions/current", headers=headers)).status == 200
    await problem(await client.get("/api/v1/me", headers=headers), 401, "session_expired")


async def test_a_role_outside_its_scope_gets_403_and_the_attempt_is_audited(client) -> None:
    """RULES T4/T12: other roles → 403, and the denied attempt is in the audit log."""
    _, bidder = await user_headers(client, Role.BIDDER)
    before = await audit_count(client, outcome="denied")
    body = {"name": "X Co", "kind": "bidder", "credit_code": credit_code()}
    await problem(await client.post("/api/v1/organisations", json=body, headers=bidder), 403, "role_forbidden")
    await problem(await client.get("/api/v1/audit", headers=bidder), 403, "role_forbidden")
    assert await audit_count(client, outcome="denied") == before + 2
    async with client.server.app[keys.POOL].acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM organisations WHERE name = 'X Co'") == 0


async def test_a_supervisor_reads_everything_and_writes_nothing(client) -> None:
    _, sup = await user_headers(client, Role.SUPERVISOR)
    for path in ("/api/v1/audit", "/api/v1/users", "/api/v1/organisations", "/api/v1/alerts", "/api/v1/events",
                 "/api/v1/audit/verify"):
        assert (await client.get(path, headers=sup)).status == 200, path
    body = {"name": "Y Co", "kind": "bidder", "credit_code": credit_code()}
    await problem(await client.post("/api/v1/organisations", json=body, headers=sup), 403, "role_forbidden")
    body2 = {"username": "newuser", "full_name": "N", "role": "staff", "password": PASSWORD}
    await problem(await client.post("/api/v1/users", json=body2, headers=sup), 403, "role_forbidden")


async def test_staff_register_an_organisation_and_admin_creates_its_user(client) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    _, admin = await user_headers(client, Role.ADMIN)
    r = await client.post("/api/v1/organisations", headers=staff,
                          json={"name": "浙江某建设有限公司", "kind": "bidder", "credit_code": credit_code()})
    assert r.status == 201
    org = await r.json()
    r = await client.post("/api/v1/users", headers=admin, json={"username": "zhang.san", "full_name": "张三",
                                                                "role": "bidder", "password": PASSWORD, "org_id": org["id"]})
    assert r.status == 201
    headers = await login(client, "zhang.san")
    assert (await (await client.get("/api/v1/me", headers=headers)).json())["org_id"] == org["id"]


async def test_a_bad_credit_code_is_refused_with_what_to_fix(client) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    good = credit_code()
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    body = await problem(await client.post("/api/v1/organisations", headers=staff,
                                           json={"name": "Bad", "kind": "bidder", "credit_code": bad}),
                         422, "invalid_credit_code")
    assert "check character" in body["detail"]


async def test_a_bidder_registers_an_ed25519_key(client) -> None:
    party, headers = await user_headers(client, Role.BIDDER)
    pub = public_key_bytes(generate_signing_key())
    r = await client.post("/api/v1/me/keys", headers=headers, json={"public_key": pub.hex(), "label": "CA cert"})
    assert r.status == 201
    r = await client.get(f"/api/v1/organisations/{party.org_id}/keys", headers=headers)
    assert [k["public_key_hex"] for k in await r.json()] == [pub.hex()]
    await problem(await client.post("/api/v1/me/keys", headers=headers, json={"public_key": pub.hex()}), 409, "key_exists")
    await problem(await client.post("/api/v1/me/keys", headers=headers, json={"public_key": "zz" * 32}), 422,
                  "invalid_public_key")


@pytest.mark.parametrize(
    ("payload", "code", "status"),
    [
        (b"{not json", "malformed_json", 400),
        (b"[1, 2]", "malformed_json", 400),
        (b'{"name": "A"}', "validation_failed", 422),  # missing fields
        (b'{"name": "A", "kind": "bidder", "credit_code": "x", "extra": 1}', "validation_failed", 422),  # unknown
        (b'{"name": 5, "kind": "bidder", "credit_code": "91330500MA3000001X"}', "validation_failed", 422),  # type
        (b'{"name": "' + b"a" * 201 + b'", "kind": "bidder", "credit_code": "91330500MA3000001X"}', "validation_failed", 422),
        (b'{"name": "A", "kind": "emperor", "credit_code": "91330500MA3000001X"}', "validation_failed", 422),
    ],
)
async def test_bad_bodies_get_a_problem_and_write_nothing(client, payload: bytes, code: str, status: int) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    before = await audit_count(client)
    r = await client.post("/api/v1/organisations", data=payload, headers={**staff, "Content-Type": "application/json"})
    body = await problem(r, status, code)
    if code == "validation_failed":
        assert body["errors"] and all("field" in e for e in body["errors"])
    assert await audit_count(client) == before


async def test_an_oversized_body_is_refused_with_413(make_client) -> None:
    client = await make_client(max_body_bytes=2048)
    _, staff = await user_headers(client, Role.STAFF)
    r = await client.post("/api/v1/organisations", data=b'{"name": "' + b"a" * 5000 + b'"}',
                          headers={**staff, "Content-Type": "application/json"})
    await problem(r, 413, "body_too_large")
    assert (await client.get("/healthz")).status == 200  # still serving


async def test_wrong_content_type_unknown_route_wrong_method_and_unknown_query(client) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    r = await client.post("/api/v1/organisations", data="name=x", headers={**staff, "Content-Type": "text/plain"})
    await problem(r, 415, "unsupported_media_type")
    await problem(await client.get("/api/v1/no-such-thing"), 404, "not_found")
    r = await client.put("/api/v1/me", headers=staff)
    await problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers["Allow"]
    await problem(await client.get("/api/v1/me?x=1", headers=staff), 422, "unknown_query_parameter")
    await problem(await client.get("/api/v1/audit?limit=abc", headers=staff), 403, "role_forbidden")
    _, sup = await user_headers(client, Role.SUPERVISOR)
    await problem(await client.get("/api/v1/audit?limit=abc", headers=sup), 422, "validation_failed")
    await problem(await client.get("/api/v1/organisations/abc", headers=sup), 422, "invalid_path_parameter")
    await problem(await client.get("/api/v1/organisations/999999", headers=sup), 404, "organisation_not_found")


async def test_errors_speak_chinese_when_asked(client) -> None:
    r = await client.get("/api/v1/me", headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})
    body = await problem(r, 401, "unauthenticated")
    assert "登录" in body["detail"] and r.headers["Content-Language"] == "zh-CN"
    r = await client.get("/api/v1/me", headers={"Accept-Language": "en-GB,zh;q=0.5"})
    assert "log in" in (await r.json())["detail"]


async def test_request_ids_are_echoed_and_recorded(client) -> None:
    _, staff = await user_headers(client, Role.STAFF)
    r = await client.post("/api/v1/organisations", headers={**staff, "X-Request-Id": "trace-42"},
                          json={"name": "Traced", "kind": "agency", "credit_code": credit_code()})
    assert r.status == 201 and r.headers["X-Request-Id"] == "trace-42"
    async with client.server.app[keys.POOL].acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM audit_log WHERE action = 'organisation.create' ORDER BY seq DESC LIMIT 1")
    assert row["request_id"] == "trace-42" and row["client_addr"] == "127.0.0.1"


async def test_supervisor_reads_the_audit_log_with_filters_and_verifies_it(client) -> None:
    staff_party, staff = await user_headers(client, Role.STAFF)
    _, sup = await user_headers(client, Role.SUPERVISOR)
    await client.post("/api/v1/organisations", headers=staff,
                      json={"name": "Filtered", "kind": "agency", "credit_code": credit_code()})
    r = await client.get(f"/api/v1/audit?actor_user_id={staff_party.user_id}&action=organisation.create", headers=sup)
    entries = (await r.json())["entries"]
    assert len(entries) == 1 and entries[0]["actor_name"] == staff_party.username
    r = await client.get("/api/v1/audit/verify", headers=sup)
    assert (await r.json())["ok"] is True


def test_openapi_document_is_in_step_with_the_routes(client) -> None:
    """Every /api/v1 route the app serves is in the OpenAPI document, and nothing else is."""
    app = client.server.app
    doc = app[keys.API].openapi()
    from web.api import openapi_path

    served = set()
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if path and path.startswith("/api/v1/") and path != "/api/v1/openapi.json" and route.method != "HEAD":
            served.add((openapi_path(path), route.method.lower()))
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert served == documented
    for ops in doc["paths"].values():
        for op in ops.values():
            assert op["summary"] and op["responses"]


async def test_openapi_is_served(client) -> None:
    r = await client.get("/api/v1/openapi.json")
    doc = await r.json()
    assert doc["openapi"].startswith("3.") and "/api/v1/sessions" in doc["paths"]
    assert doc["components"]["schemas"]["LoginBody"]["additionalProperties"] is False
