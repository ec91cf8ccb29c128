"""The websocket protocol without a socket (auction.protocol): every bad frame has its code,
the wire framing is RFC 6455's, and the hot-path encoders say exactly what the generic codec
says.

Sources: issue 4 (Bad input; Websocket protocol); RFC 6455 §5.2; RULES.md A6 (paddles only).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from auction import protocol
from auction.errors import AuctionRejected, StreamRejected
from auction.model import BidAccepted, _to_dict, event_to_dict
from auction.protocol import (
    BidOp,
    SubscribeOp,
    ack_frame,
    event_frame,
    parse_frame,
    ws_payload,
    ws_text,
)

T = datetime(2026, 3, 2, 1, 0, 0, 123_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("", "malformed_frame"),
        ("nope", "malformed_frame"),
        ("[]", "malformed_frame"),
        ("x" * 9000, "malformed_frame"),
        ('{"op": 1}', "unknown_op"),
        ('{"op": "sell"}', "unknown_op"),
        ('{"op": "subscribe", "lots": []}', "bad_field"),
        ('{"op": "subscribe", "lots": [true]}', "bad_field"),
        ('{"op": "subscribe", "lots": [{"lot_id": 1, "after_seq": -1}]}', "bad_field"),
        ('{"op": "bid", "lot_id": "7", "bid_id": "a", "amount_fen": 1}', "bad_field"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "", "amount_fen": 1}', "bad_field"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a\\u0000", "amount_fen": 1}', "bad_field"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a"}', "bad_field"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": 1.0}', "bad_amount"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": "1"}', "bad_amount"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": -1}', "bad_amount"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": 1000000000000001}', "bad_amount"),
        (
            '{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": ' + "9" * 5000 + "}",
            "bad_amount",
        ),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": NaN}', "bad_amount"),
        ('{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": false}', "bad_amount"),
        ('{"op": "auth", "token": ""}', "bad_field"),
        ('{"op": "ping", "req": ""}', "bad_field"),
    ],
)
def test_every_bad_frame_is_refused_with_its_code(text: str, code: str) -> None:
    """Issue 4 (Bad input): malformed frames, unknown operations, floats, strings, negative
    or absurd amounts — each refused with its own code."""
    with pytest.raises((StreamRejected, AuctionRejected)) as refused:
        parse_frame(text)
    assert refused.value.code == code


def test_a_refusal_names_the_request_it_answers() -> None:
    with pytest.raises(AuctionRejected) as refused:
        parse_frame('{"op": "bid", "lot_id": 7, "bid_id": "b-9", "amount_fen": 1.5, "req": "r1"}')
    assert refused.value.details["bid_id"] == "b-9" and refused.value.details["lot_id"] == 7


def test_good_frames_parse_to_operations() -> None:
    assert parse_frame(
        '{"op": "bid", "lot_id": 7, "bid_id": "b", "amount_fen": 125000000}'
    ) == BidOp(None, 7, "b", 125_000_000)
    sub = parse_frame(
        '{"op": "subscribe", "lots": [7, {"lot_id": 8, "after_seq": 41}, 7], "req": "x"}'
    )
    assert sub == SubscribeOp("x", ((7, None), (8, 41)))


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=70_000))
def test_ws_text_is_an_rfc6455_text_frame(payload: bytes) -> None:
    """RFC 6455 §5.2: FIN, opcode text, unmasked, 7/16/64-bit lengths — as the websockets
    library reads it."""
    reader = StreamReader()
    reader.feed_data(ws_text(payload))
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        frame = done.value
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == payload
    assert ws_payload(ws_text(payload)) == payload


@pytest.mark.parametrize("size", [0, 125, 126, 65_535, 65_536])
def test_ws_text_lengths_at_the_edges(size: int) -> None:
    test_ws_text_is_an_rfc6455_text_frame.hypothesis.inner_test(b"x" * size)  # type: ignore[attr-defined]


@given(
    st.integers(1, 10**6),
    st.text(min_size=1, max_size=64),
    st.integers(1, 10**15),
    st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_the_hot_path_encoders_agree_with_the_codec(
    seq: int, bid_id: str, amount: int, ends: datetime | None
) -> None:
    """The hand-written encodings of a bid say exactly what the generic codec says; the
    broadcast leaves out the bidder's own bid id (A6)."""
    if ends is not None:
        ends = ends.replace(microsecond=ends.microsecond // 1000 * 1000)
    event = BidAccepted(
        seq=seq, at=T, bid_id=bid_id, paddle="100001", amount_fen=amount, countdown_ends_at=ends
    )
    generic = {"type": "bid_accepted", **_to_dict(event)}
    assert event_to_dict(event) == generic
    ack = json.loads(ack_frame(7, event, req="r"))
    assert ack == {
        "type": "ack",
        "lot_id": 7,
        "req": "r",
        **{k: generic[k] for k in ("bid_id", "seq", "at", "amount_fen", "countdown_ends_at")},
    }
    broadcast = json.loads(event_frame(7, event))
    assert "bid_id" not in broadcast["event"] and broadcast["event"]["paddle"] == "100001"




def _outcome(read: object, text: str) -> object:
    """What a reading of ``text`` gives, comparable: the value (a number the protocol never
    takes as its text) or the refusal's code."""

    def plain(value: object) -> object:
        if isinstance(value, protocol._Unusable):
            return ("unusable", value.text)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return (type(value).__name__, value)

    try:
        return plain(read(text, {}))  # type: ignore[operator]
    except StreamRejected as exc:
        return exc.code


_json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**40), 10**40)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(
    _json_values.map(json.dumps)
    | st.sampled_from(
        [
            '{"amount_fen": NaN}',
            '{"amount_fen": -Infinity}',
            '{"a": 1, "a": 2.5}',
            '{"a": 1e400}',
            '"\\ud800"',
            "[" * 2000 + "]" * 2000,
            '{"op": "bid", "lot_id": 7, "bid_id": "a", "amount_fen": 18446744073709551616}',
        ]
    )
)
def test_the_fast_reading_of_a_frame_is_the_exact_reading(text: str) -> None:
    """Issue 15 item 6: the gateway reads frames with orjson first; whatever it gives, or
    refuses, is what the standard library with the protocol's number hooks gives (so 1.5,
    NaN or 10**30 as an amount stay ``bad_amount``, never a float taken as fen)."""
    assert _outcome(protocol._loads, text) == _outcome(protocol._loads_exactly, text)
