"""The bid path's shortcuts give what the general code gives (issue 15 item 6): the clock's
millisecond truncation for UTC times, the log's time format, a bid's times formatted once
for its log row and its ack, the flush's rows as one JSON text.

Sources: DESIGN.md "Auctions" (times to the millisecond, UTC; every accepted bid durable in
the lot's log before it is acknowledged); RULES.md A2 (the server's time of arrival decides).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from auction.lot_log import log_row
from auction.model import BidAccepted, event_from_dict, event_to_dict, iso_time
from auction.protocol import ack_frame
from auction.store import rows_json
from trading.clock import iso_ms, utc_ms

ZONES = st.sampled_from([UTC, timezone(timedelta(0)), timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
TIMES = st.datetimes(min_value=datetime(1970, 1, 2), max_value=datetime(2200, 1, 1), timezones=ZONES)


def _truncated(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(microsecond=(when.microsecond // 1000) * 1000)


@given(TIMES)
def test_utc_ms_truncates_every_aware_time_to_the_utc_millisecond(when: datetime) -> None:
    """DESIGN.md: times are UTC, to the millisecond at the edges — the UTC shortcut included."""
    got = utc_ms(when)
    assert got == _truncated(when)
    assert got.tzinfo is UTC
    assert got.microsecond % 1000 == 0
    assert utc_ms(got) == got


@given(TIMES)
def test_the_logs_time_format_is_iso_ms(when: datetime) -> None:
    """DESIGN.md: one time format in the log and on the wire (``…T01:00:00.000Z``)."""
    assert iso_time(when) == iso_ms(when)
    assert iso_time(utc_ms(when)) == iso_ms(when)


@given(TIMES, st.booleans())
def test_a_bids_times_are_formatted_once_and_alike_in_its_log_row_and_its_ack(
    when: datetime, countdown: bool
) -> None:
    """A2: the ack names the time the log holds. The kept text changes neither equality
    nor the codec."""
    at = utc_ms(when)
    ends = at + timedelta(seconds=60) if countdown else None
    event = BidAccepted(seq=3, at=at, bid_id="b1", paddle="100001", amount_fen=10_500, countdown_ends_at=ends)
    twin = BidAccepted(seq=3, at=at, bid_id="b1", paddle="100001", amount_fen=10_500, countdown_ends_at=ends)
    data = event_to_dict(event)
    assert event.times_text == (iso_ms(at), None if ends is None else iso_ms(ends))
    assert event == twin and repr(event) == repr(twin)
    assert event_from_dict(data) == event
    ack = json.loads(ack_frame(7, event, req="r1"))
    assert (ack["at"], ack["countdown_ends_at"]) == (data["at"], data["countdown_ends_at"])
    assert json.loads(log_row(7, event, data)[7]) == data


def test_a_bids_times_are_right_however_long_ago_they_were_formatted() -> None:
    """A2: a repeat's ack, long after, names the same time (the formatted text is kept only
    for the latest bids; an older one is formatted again)."""
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    events = [
        BidAccepted(seq=i, at=at + i * timedelta(milliseconds=1), bid_id=f"b{i}", paddle="100001",
                    amount_fen=10_000 + i, countdown_ends_at=None)
        for i in range(1, 20_001)
    ]  # fmt: skip
    texts = [event.times_text for event in events]
    assert [event.times_text for event in events] == texts
    assert texts[0] == ("2026-03-02T01:00:00.001Z", None)
    assert texts[-1] == ("2026-03-02T01:00:20.000Z", None)


def test_the_flushs_rows_go_as_one_json_text_of_row_arrays() -> None:
    """DESIGN.md "Architecture": one statement per flush; each row keeps its columns and its
    event (the data set in as JSON, not as a string)."""
    at = datetime(2026, 3, 2, 1, 0, 0, 123000, tzinfo=UTC)
    event = BidAccepted(seq=1, at=at, bid_id='b"1', paddle="100001", amount_fen=10_000, countdown_ends_at=None)
    rows = [log_row(5, event), (5, 2, at, "lot_paused", True, None, None, '{"type":"lot_paused"}')]
    decoded = json.loads(rows_json(rows))
    assert decoded[0][:7] == [5, 1, "2026-03-02T01:00:00.123000+00:00", "bid_accepted", True, "100001", 'b"1']
    assert decoded[0][7] == event_to_dict(event)
    assert decoded[1] == [5, 2, "2026-03-02T01:00:00.123000+00:00", "lot_paused", True, None, None, {"type": "lot_paused"}]
    assert json.loads(rows_json([])) == []
