"""The SMS / voice gateway channel (web.experts.HttpGatewayChannel) against a stand-in
gateway over HTTP: the summons text is POSTed as JSON with the bearer token; a refusal or
an unreachable gateway is a failed delivery the outbox retries (E6: time and place only)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from experts.notify import DeliveryFailed, Summons
from experts.settings import ExpertSettings
from web.experts import HttpGatewayChannel


def summons(phone: str = "13900000001") -> Summons:
    return Summons(expert_name="许建国", phone=phone, email="", language="zh", evaluation_date=date(2026, 3, 10),
                   evaluation_time=time(9, 0), evaluation_days=1, place="3号评标室",
                   answer_by=datetime(2026, 3, 9, 2, 0, tzinfo=UTC), link="https://sunlit.test/api/v1/summons/t0k3n")  # fmt: skip


async def test_the_gateway_gets_the_text_and_a_refusal_is_a_failed_delivery() -> None:
    received: list[dict[str, Any]] = []
    answers = [web.json_response({"id": "sms-77"}), web.Response(status=503)]

    async def handler(request: web.Request) -> web.Response:
        received.append({"auth": request.headers.get("Authorization"), **await request.json()})
        return answers.pop(0)

    app = web.Application()
    app.router.add_post("/send", handler)
    server = TestServer(app)
    await server.start_server()
    try:
        settings = ExpertSettings(
            gateway_url=str(server.make_url("/send")), gateway_token="s3cret", gateway_kind="voice"
        )
        async with aiohttp.ClientSession() as session:
            channel = HttpGatewayChannel(session, settings)
            assert await channel.send(summons()) == "sms-77"
            with pytest.raises(DeliveryFailed, match="503"):
                await channel.send(summons())
            with pytest.raises(DeliveryFailed, match="no phone"):
                await channel.send(summons(phone=""))
    finally:
        await server.close()
    first = received[0]
    assert (
        first["auth"] == "Bearer s3cret"
        and first["to"] == "13900000001"
        and first["kind"] == "voice"
    )
    assert "3号评标室" in first["text"] and "2026-03-10 09:00" in first["text"]
    async with aiohttp.ClientSession() as session:
        gone = HttpGatewayChannel(session, ExpertSettings(gateway_url="http://127.0.0.1:9/send"))
        with pytest.raises(DeliveryFailed, match="unreachable"):
            await gone.send(summons())
