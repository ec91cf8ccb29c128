"""What every ledger handler shares: the route table, who may call, the field types, the
command body, and reading a project reference, a command id or an uploaded file."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from trading.context import Role
from trading.errors import ValidationFailed
from trading.ledger import service, store
from trading.ledger.model import AMOUNT_MAX_FEN
from web.api import Api, Body, Call, refuse_control_bytes

STAFF = {Role.STAFF, Role.ADMIN}
READERS = {Role.STAFF, Role.ADMIN, Role.SUPERVISOR}
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}
UPLOAD_MAX_BYTES = 64 * 1024 * 1024
"""Largest statement or result file accepted (a 100,000-line statement is about 8 MB)."""

Fen = Annotated[int, Field(ge=1, le=AMOUNT_MAX_FEN)]
ProjectRef = Annotated[str, StringConstraints(pattern=r"^[a-z_]+:[0-9]{1,18}$", max_length=40)]
CommandId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:/-]{1,80}$")]
Text = Annotated[str, StringConstraints(max_length=200)]

api_ledger = Api()
route = api_ledger.route


class CommandBody(Body):
    command_id: CommandId | None = None


def _command_id(call: Call, given: str | None, what: str) -> str:
    """The client's command id, else one made from the request id: a retry that repeats
    ``X-Request-Id`` is then answered with the first answer."""
    return given or f"{what}-{call.actor.request_id}"


def _project_ref(call: Call) -> str:
    ref = call.request.match_info["project_ref"]
    service._check_ref(ref)
    return ref


async def _sealed_project(
    conn: Any, project_ref: str | None, now: datetime, cache: dict[str, bool]
) -> bool:
    if not project_ref:
        return False
    if project_ref not in cache:
        terms = await store.get_project(conn, project_ref)
        cache[project_ref] = terms is not None and service.is_sealed(terms, now)
    return cache[project_ref]


async def _read_upload(call: Call) -> str:
    """A streamed CSV upload, bounded by ``UPLOAD_MAX_BYTES``, as UTF-8 text."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in call.request.content.iter_chunked(1 << 16):
        size += len(chunk)
        if size > UPLOAD_MAX_BYTES:
            raise ValidationFailed(
                f"the file is larger than {UPLOAD_MAX_BYTES} bytes",
                f"文件超过 {UPLOAD_MAX_BYTES} 字节",
                code="body_too_large",
                status_hint=413,
            )
        chunks.append(chunk)
    data = b"".join(chunks)
    refuse_control_bytes(data, "file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationFailed(
            "the file must be UTF-8 text (CSV)",
            "文件须为 UTF-8 编码的 CSV 文本",
            code="invalid_encoding",
        ) from None
