"""Shared test helpers: seed parties straight through the service layer, log in through the API."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from trading.audit import AuditLog
from trading.clock import Clock
from trading.context import Actor, Role
from trading.parties import service as parties
from trading.parties.model import OrgKind, uscc_check_char

PASSWORD = "correct-horse-battery"
_seq = iter(range(1, 10**6))


def credit_code(n: int | None = None) -> str:
    first17 = f"91330500MA3{(n if n is not None else next(_seq)):06d}"
    return first17 + uscc_check_char(first17)


@dataclass
class Party:
    user_id: int
    username: str
    role: Role
    org_id: int | None

    @property
    def actor(self) -> Actor:
        return Actor(self.user_id, self.username, self.role, self.org_id)


async def make_org(conn: asyncpg.Connection, audit: AuditLog, clock: Clock, kind: OrgKind = OrgKind.BIDDER,
                   name: str | None = None, **kw: Any) -> int:
    code = credit_code()
    org = await parties.create_organisation(
        conn, audit, Actor.system("test"), clock.now(), name=name or f"{kind} {code[-6:]}", kind=kind,
        credit_code=code, **kw,
    )
    return org.id


async def make_user(conn: asyncpg.Connection, audit: AuditLog, clock: Clock, role: Role, *,
                    org_id: int | None = None, username: str | None = None) -> Party:
    if role == Role.BIDDER and org_id is None:
        org_id = await make_org(conn, audit, clock, OrgKind.BIDDER)
    name = username or f"{role.value}{next(_seq)}"
    u = await parties.create_user(conn, audit, Actor.system("test"), clock.now(), username=name, full_name=name,
                                  role=role, password=PASSWORD, org_id=org_id)
    return Party(u.id, u.username, u.role, u.org_id)


async def login(client: TestClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    r = await client.post("/api/v1/sessions", json={"username": username, "password": password})
    assert r.status == 201, await r.text()
    token = (await r.json())["token"]
    return {"Authorization": f"Bearer {token}"}


async def problem(resp: Any, status: int, code: str) -> dict[str, Any]:
    """The problem+json body of an error response, after checking its status and code."""
    assert resp.status == status, await resp.text()
    assert resp.content_type == "application/problem+json"
    body: dict[str, Any] = await resp.json()
    assert body["code"] == code, body
    return body


async def user_headers(client: TestClient, role: Role, *, org_id: int | None = None) -> tuple[Party, dict[str, str]]:
    """Create a user of ``role`` in the app's database and log in as them."""
    from web import keys

    app = client.server.app
    async with app[keys.POOL].acquire() as conn:
        party = await make_user(conn, app[keys.AUDIT], app[keys.CLOCK], role, org_id=org_id)
    return party, await login(client, party.username)
