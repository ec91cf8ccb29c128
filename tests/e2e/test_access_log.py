"""The access log (docs/operations.md): a line for every write, refusal, error and slow
request; a successful quick read is counted in the metrics only, unless
``SUNLIT_ACCESS_LOG=all`` (issue 17: the line was a third of a read's cost)."""

from __future__ import annotations

import logging

import pytest

from tests.helpers import user_headers
from trading.context import Role


def request_lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str, int]]:
    return [(r.method, r.path, r.status) for r in caplog.records  # type: ignore[attr-defined]
            if r.name == "sunlit.web" and r.getMessage() == "request"]


async def test_a_quick_successful_read_has_no_line_but_a_refusal_and_a_write_have(client, caplog) -> None:
    _, headers = await user_headers(client, Role.STAFF)
    caplog.set_level(logging.INFO, logger="sunlit.web")
    caplog.clear()
    assert (await client.get("/api/v1/me", headers=headers)).status == 200
    assert (await client.get("/api/v1/me")).status == 401
    assert (await client.delete("/api/v1/sessions/current", headers=headers)).status == 200
    assert request_lines(caplog) == [("GET", "/api/v1/me", 401), ("DELETE", "/api/v1/sessions/current", 200)]


async def test_every_request_has_a_line_with_access_log_all(make_client, caplog) -> None:
    client = await make_client(access_log="all")
    _, headers = await user_headers(client, Role.STAFF)
    caplog.set_level(logging.INFO, logger="sunlit.web")
    caplog.clear()
    assert (await client.get("/api/v1/me", headers=headers)).status == 200
    assert request_lines(caplog) == [("GET", "/api/v1/me", 200)]
