"""The websocket protocol of live auctions, without a socket: text in, typed operations out;
events and answers in, frames (UTF-8 JSON bytes) out.

Theory of operation
===================

A client sends JSON objects, one per text frame, each with an ``op``::

    {"op": "auth", "token": "<bearer token>"}                 (or ?token= on the URL)
    {"op": "subscribe", "lots": [7, {"lot_id": 8, "after_seq": 41}]}
    {"op": "unsubscribe", "lots": [7]}
    {"op": "bid", "lot_id": 7, "bid_id": "b-0001", "amount_fen": 125000000}
    {"op": "accept_cap", "lot_id": 7, "req": "r1"}
    {"op": "ping", "req": "r2"}

The server answers with frames that each carry a ``type``::

    hello      on connect: server time, limits, who you are (null: a watcher)
    snapshot   the lot as it stands (``auction.rules.public_view``), its ``seq``, the server
               time, and your paddle on that lot if you hold one
    resumed    after ``after_seq``: the events you missed follow, in order
    event      one event of a lot's log, with its ``seq`` (encoded once for every watcher)
    ack        your bid is durable: its ``seq`` and the new countdown end
    error      a frame was refused: ``code``, ``message``, ``message_zh``, and ``bid_id`` /
               ``lot_id`` / ``req`` when the frame had them; the connection goes on
    pong       answer to ping, with the server time

A text frame from the server holds one such object, or — when several were waiting to be
sent to a client that is behind — a JSON array of them, in order. A broadcast's websocket
frame (RFC 6455, unmasked, uncompressed) is built once, byte for byte, for every watcher
(``ws_text``).

Ordering: per lot, a subscriber receives the snapshot (at ``seq`` S) and then every public
event with seq > S in order; sequence numbers may skip the events that are not public
(admissions, suspensions, the reserve commitment). A client that reconnects subscribes with
``after_seq`` = the last seq it saw and receives ``resumed`` and the events it missed, or a
fresh ``snapshot`` when those are no longer at hand.

Identities never appear in a frame: bidders are paddles (竞买号). The client-chosen
``bid_id`` of an accepted bid is told only to its bidder (in the ack), never broadcast.

Every refusal is an ``error`` frame with its code (``auction.errors``): what the frame was
(``malformed_frame``, ``binary_frame``, ``unknown_op``, ``bad_field``, ``bad_amount``), who
sent it (``unauthenticated``, ``role_cannot_bid``, ``not_admitted``), where (``lot_not_found``,
``not_subscribed``), how often (``rate_limited``, ``too_many_in_flight``), and every rule of
the lot (``below_minimum``, ``closed``…).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from auction.errors import AuctionReason, StreamReason, StreamRejected
from auction.model import MAX_BID_ID_LEN, BidAccepted, Event, event_to_dict
from auction.rules import check_amount
from trading.clock import iso_ms
from trading.errors import DomainError

__all__ = [
    "MAX_FRAME_CHARS",
    "MAX_LOTS_PER_FRAME",
    "AcceptCapOp",
    "AuthOp",
    "BidOp",
    "Op",
    "PingOp",
    "SubscribeOp",
    "UnsubscribeOp",
    "ack_frame",
    "encode",
    "error_frame",
    "event_frame",
    "hello_frame",
    "parse_frame",
    "pong_frame",
    "public_event_dict",
    "resumed_frame",
    "snapshot_frame",
    "ws_payload",
    "ws_text",
]

MAX_FRAME_CHARS = 8192
MAX_LOTS_PER_FRAME = 500
MAX_TOKEN_CHARS = 200
MAX_REQ_CHARS = 64
_MAX_INT_DIGITS = 30
_MAX_LOT_ID = 2**63 - 1


class _Unusable:
    """Stands for a JSON number the protocol will never take (a float, NaN, 10**30+), so
    that a bad amount is refused as ``bad_amount`` rather than as a malformed frame."""

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text[:40] + ("…" if len(self.text) > 40 else "")


def _parse_int(text: str) -> int | _Unusable:
    return int(text) if len(text.lstrip("-")) <= _MAX_INT_DIGITS else _Unusable(text)


# -- client → server --------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    req: str | None


@dataclass(frozen=True)
class AuthOp(Op):
    token: str


@dataclass(frozen=True)
class SubscribeOp(Op):
    lots: tuple[tuple[int, int | None], ...]
    """(lot id, after_seq or None for a fresh snapshot)."""


@dataclass(frozen=True)
class UnsubscribeOp(Op):
    lot_ids: tuple[int, ...]


@dataclass(frozen=True)
class BidOp(Op):
    lot_id: int
    bid_id: str
    amount_fen: int


@dataclass(frozen=True)
class AcceptCapOp(Op):
    lot_id: int


@dataclass(frozen=True)
class PingOp(Op):
    pass


def _refuse(reason: StreamReason, detail: str, context: dict[str, Any]) -> StreamRejected:
    return StreamRejected(reason, detail, details=context)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _lot_id(value: object, context: dict[str, Any], name: str = "lot_id") -> int:
    if not _is_int(value) or not 0 < value <= _MAX_LOT_ID:  # type: ignore[operator]
        raise _refuse(StreamReason.BAD_FIELD, f"{name} must be a positive integer", context)
    return value  # type: ignore[return-value]


def _text(value: object, name: str, limit: int, context: dict[str, Any]) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit or not value.isprintable():
        raise _refuse(
            StreamReason.BAD_FIELD, f"{name} must be 1 to {limit} printable characters", context
        )
    return value


def _plain(data: Any) -> bool:
    """No float anywhere in ``data`` (orjson's reading of a non-integer number, or of an
    integer too large for 64 bits): the fast reading holds only when this is true."""
    stack = [data]
    while stack:
        value = stack.pop()
        kind = type(value)
        if kind is float:
            return False
        if kind is dict:
            values = value.values()
        elif kind is list:
            values = value
        else:
            continue
        for item in values:
            kind = type(item)
            if kind is float:
                return False
            if kind is dict or kind is list:
                stack.append(item)
    return True


def _loads(text: str, context: dict[str, Any]) -> Any:
    """The frame's JSON. orjson first (a twentieth of the standard library's time, and the
    gateway reads every bid); a frame it refuses, or one holding a number it read as a
    float, is read again by the standard library with the protocol's number hooks, so
    refusals (``bad_amount`` for 1.5, NaN or 10**30; ``malformed_frame`` for the rest) are
    exactly what they were."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    else:
        if _plain(data):
            return data
    return _loads_exactly(text, context)


def _loads_exactly(text: str, context: dict[str, Any]) -> Any:
    """The standard library's reading, every number through the protocol's hooks."""
    try:
        return json.loads(
            text, parse_int=_parse_int, parse_float=_Unusable, parse_constant=_Unusable
        )
    except (ValueError, RecursionError) as exc:
        raise _refuse(StreamReason.MALFORMED_FRAME, f"not JSON: {exc}"[:200], context) from None


def parse_frame(text: str) -> Op:
    """One text frame → one operation, or ``StreamRejected``/``AuctionRejected`` whose
    ``details`` carry what could be read of the frame (``op``, ``req``, ``lot_id``,
    ``bid_id``) so the error frame can say which request it answers."""
    context: dict[str, Any] = {}
    if len(text) > MAX_FRAME_CHARS:
        raise _refuse(
            StreamReason.MALFORMED_FRAME, f"longer than {MAX_FRAME_CHARS} characters", context
        )
    data = _loads(text, context)
    if not isinstance(data, dict):
        raise _refuse(StreamReason.MALFORMED_FRAME, "a frame is a JSON object", context)
    op = data.get("op")
    req = data.get("req")
    if isinstance(op, str) and len(op) <= 32:
        context["op"] = op
    if isinstance(req, str) and 0 < len(req) <= MAX_REQ_CHARS:
        context["req"] = req
    elif req is not None:
        raise _refuse(
            StreamReason.BAD_FIELD, f"req must be 1 to {MAX_REQ_CHARS} characters", context
        )
    if isinstance(data.get("bid_id"), str) and len(data["bid_id"]) <= MAX_BID_ID_LEN:
        context["bid_id"] = data["bid_id"]
    if _is_int(data.get("lot_id")):
        context["lot_id"] = data["lot_id"]
    parser = _PARSERS.get(op) if isinstance(op, str) else None
    if parser is None:
        raise _refuse(StreamReason.UNKNOWN_OP, f"{op!r}"[:60], context)
    fields, build = parser
    unknown = set(data) - fields - {"op", "req"}
    if unknown:
        raise _refuse(StreamReason.BAD_FIELD, f"unknown fields {sorted(unknown)[:5]}", context)
    return build(data, context.get("req"), context)


def _auth(data: dict[str, Any], req: str | None, context: dict[str, Any]) -> Op:
    return AuthOp(req, _text(data.get("token"), "token", MAX_TOKEN_CHARS, context))


def _lots(data: dict[str, Any], context: dict[str, Any], allow_resume: bool) -> list[Any]:
    lots = data.get("lots")
    if not isinstance(lots, list) or not 0 < len(lots) <= MAX_LOTS_PER_FRAME:
        raise _refuse(
            StreamReason.BAD_FIELD, f"lots must be a list of 1 to {MAX_LOTS_PER_FRAME}", context
        )
    return lots


def _subscribe(data: dict[str, Any], req: str | None, context: dict[str, Any]) -> Op:
    out: list[tuple[int, int | None]] = []
    for item in _lots(data, context, True):
        if isinstance(item, dict):
            if set(item) - {"lot_id", "after_seq"}:
                raise _refuse(StreamReason.BAD_FIELD, "a lot is {lot_id, after_seq}", context)
            after = item.get("after_seq")
            if after is not None and (not _is_int(after) or not 0 <= after < 2**31):
                raise _refuse(
                    StreamReason.BAD_FIELD, "after_seq must be a whole number ≥ 0", context
                )
            out.append((_lot_id(item.get("lot_id"), context), after))
        else:
            out.append((_lot_id(item, context), None))
    return SubscribeOp(req, tuple(dict.fromkeys(out)))


def _unsubscribe(data: dict[str, Any], req: str | None, context: dict[str, Any]) -> Op:
    return UnsubscribeOp(
        req, tuple(dict.fromkeys(_lot_id(x, context) for x in _lots(data, context, False)))
    )


def _bid(data: dict[str, Any], req: str | None, context: dict[str, Any]) -> Op:
    lot_id = _lot_id(data.get("lot_id"), context)
    bid_id = _text(data.get("bid_id"), "bid_id", MAX_BID_ID_LEN, context)
    if "amount_fen" not in data:
        raise _refuse(
            StreamReason.BAD_FIELD, "amount_fen is required (a whole number of fen)", context
        )
    try:
        amount = check_amount(data["amount_fen"])
    except DomainError as exc:
        exc.details = {**context, "amount": repr(data["amount_fen"])[:60]}
        raise
    return BidOp(req, lot_id, bid_id, amount)


def _accept_cap(data: dict[str, Any], req: str | None, context: dict[str, Any]) -> Op:
    return AcceptCapOp(req, _lot_id(data.get("lot_id"), context))


def _ping(data: dict[str, Any], req: str | None, context: dict[str, Any]) -> Op:
    return PingOp(req)


_PARSERS: dict[str, tuple[set[str], Any]] = {
    "auth": ({"token"}, _auth),
    "subscribe": ({"lots"}, _subscribe),
    "unsubscribe": ({"lots"}, _unsubscribe),
    "bid": ({"lot_id", "bid_id", "amount_fen"}, _bid),
    "accept_cap": ({"lot_id"}, _accept_cap),
    "ping": (set(), _ping),
}


# -- server → client --------------------------------------------------------------------------


def encode(frame: dict[str, Any]) -> bytes:
    """The one encoding of a frame: compact UTF-8 JSON (orjson: on the hot path, a tenth of
    the standard library's time; the same bytes for what frames hold)."""
    return orjson.dumps(frame)


def public_event_dict(event: Event) -> dict[str, Any]:
    """An event as watchers see it: the log's form less the bidder's own ``bid_id``."""
    data = event_to_dict(event)
    data.pop("bid_id", None)
    return data


def event_frame(lot_id: int, event: Event) -> bytes:
    return encode(
        {"type": "event", "lot_id": lot_id, "seq": event.seq, "event": public_event_dict(event)}
    )


def event_frame_from_dict(lot_id: int, seq: int, data: dict[str, Any]) -> bytes:
    """The same frame from the encoded event (``data`` as ``event_to_dict`` wrote it)."""
    if "bid_id" in data:
        data = data.copy()  # the log row keeps it
        del data["bid_id"]
    return encode({"type": "event", "lot_id": lot_id, "seq": seq, "event": data})


def snapshot_frame(
    lot_id: int, view: dict[str, Any], *, title: str, server_time: datetime, paddle: str | None
) -> bytes:
    return encode(
        {
            "type": "snapshot",
            "lot_id": lot_id,
            "seq": view["seq"],
            "server_time": iso_ms(server_time),
            "title": title,
            "lot": view,
            "paddle": paddle,
        }
    )


def resumed_frame(
    lot_id: int, after_seq: int, to_seq: int, count: int, server_time: datetime
) -> bytes:
    return encode(
        {
            "type": "resumed",
            "lot_id": lot_id,
            "after_seq": after_seq,
            "seq": to_seq,
            "missed": count,
            "server_time": iso_ms(server_time),
        }
    )


def ack_frame(lot_id: int, event: BidAccepted, *, req: str | None = None) -> bytes:
    """The ack of a durable bid."""
    at, ends = event.times_text  # formatted once, for its log row
    frame = {
        "type": "ack",
        "lot_id": lot_id,
        "bid_id": event.bid_id,
        "seq": event.seq,
        "at": at,
        "amount_fen": event.amount_fen,
        "countdown_ends_at": ends,
    }
    if req is not None:
        frame["req"] = req
    return orjson.dumps(frame)


def ws_payload(frame: bytes) -> bytes:
    """The payload of a frame built by ``ws_text`` (to coalesce several into one)."""
    size = frame[1]
    return frame[2 + (2 if size == 126 else 8 if size == 127 else 0) :]


def ws_text(payload: bytes) -> bytes:
    """``payload`` as one websocket text frame from a server (RFC 6455 §5.2: FIN, opcode 1,
    no mask, no extension): built once, it can be written to any number of clients."""
    size = len(payload)
    if size < 126:
        return bytes((0x81, size)) + payload
    if size < 1 << 16:
        return bytes((0x81, 126)) + size.to_bytes(2, "big") + payload
    return bytes((0x81, 127)) + size.to_bytes(8, "big") + payload


def frame_bytes(frame: dict[str, Any]) -> bytes:
    return encode(frame)


def error_frame(error: DomainError, context: dict[str, Any] | None = None) -> bytes:
    """An error frame for any domain error: its code and both messages, plus what the frame
    named (``op``, ``req``, ``lot_id``, ``bid_id``) and the rule's own details."""
    frame: dict[str, Any] = {
        "type": "error",
        "code": error.code,
        "message": error.message_en,
        "message_zh": error.message_zh,
    }
    details = dict(error.details or {})
    for key in ("op", "req", "lot_id", "bid_id"):
        if context and key in context:
            frame[key] = context[key]
        elif key in details:
            frame[key] = details.pop(key)
    details = {k: v for k, v in details.items() if k not in frame}
    if details:
        frame["details"] = details
    return encode(frame)


def hello_frame(
    server_time: datetime, user: dict[str, Any] | None, limits: dict[str, Any]
) -> bytes:
    return encode(
        {"type": "hello", "server_time": iso_ms(server_time), "user": user, "limits": limits}
    )


def pong_frame(server_time: datetime, req: str | None) -> bytes:
    frame: dict[str, Any] = {"type": "pong", "server_time": iso_ms(server_time)}
    if req is not None:
        frame["req"] = req
    return encode(frame)


def reason_codes() -> dict[str, str]:
    """Every code an error frame may carry, with its English message (for the docs)."""
    codes = {r.code: r.message_en for r in StreamReason}
    codes.update({r.code: r.message_en for r in AuctionReason})
    return codes
