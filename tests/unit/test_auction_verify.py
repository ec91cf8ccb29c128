"""Issue 16, item 9: an auction's result is verifiable offline like a draw — the pure replay
of an exported lot log through the published rules (auction/verify.py).

A good log with the server's key passes; a wrong key, a log that breaks a rule (a bid below
the minimum, from a paddle not admitted, a close at the wrong time), a changed digest, or a
confirmation that does not match the replay is refused. RULES A1, A2, A4, A5, A6."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auction.model import (
    Admit,
    LotConfig,
    Pause,
    PlaceBid,
    Resume,
    RevealReserve,
    SealReserve,
    Start,
    Tick,
    config_to_dict,
    event_to_dict,
)
from auction.rules import decide, initial_state, reserve_commitment
from auction.verify import SIGNED_NOTE, log_digest, log_document, verify_auction
from crypto.signing import canonical_json, generate_signing_key, public_key_bytes
from trading.clock import iso_ms

KEY = generate_signing_key()
PUBLIC = public_key_bytes(KEY)
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
START, INC = 100_000_000, 1_000_000
SALT = b"s" * 16
RESERVE = START + INC


def _land_log() -> tuple[LotConfig, list[dict[str, Any]], list[tuple[str, datetime]]]:
    config = LotConfig.land(lot_id="7", starting_price_fen=START, increment_fen=INC, deposit_fen=START // 5,
                            listing_starts_at=T0, listing_ends_at=T0 + timedelta(days=10))  # fmt: skip
    state = initial_state(config)
    events: list[Any] = []

    def do(command: Any, at: datetime, admitted: frozenset[str] = frozenset()) -> None:
        nonlocal state
        decision = decide(state, command, at, admitted=admitted)
        state = decision.state
        events.extend(decision.events)

    do(SealReserve(reserve_commitment(RESERVE, SALT)), T0 - timedelta(hours=1))
    do(Start(), T0)
    do(Admit("000001"), T0 + timedelta(hours=1))
    do(PlaceBid("a", "000001", START), T0 + timedelta(days=1))
    do(Pause("power cut"), T0 + timedelta(days=2))
    do(Resume(), T0 + timedelta(days=3))  # the listing's end moves a day later
    outside = [("000002", T0 + timedelta(minutes=30))]  # admitted outside the log
    do(PlaceBid("b", "000002", START + 2 * INC), T0 + timedelta(days=5), frozenset({"000002"}))
    do(Tick(), T0 + timedelta(days=12))  # listing end (moved) → countdown → its end → awaiting reserve
    do(RevealReserve(RESERVE, SALT), T0 + timedelta(days=12, hours=1))
    return config, [event_to_dict(e) for e in events], outside


def _export(config: LotConfig, events: list[dict[str, Any]], admitted: list[tuple[str, datetime]],
            key: Any = KEY, reserve: bool = True) -> dict[str, Any]:  # fmt: skip
    doc = log_document(
        lot_id=int(config.lot_id), kind=config.kind.value, title="地块", session_id=None,
        config=config_to_dict(config), admitted=admitted,
        reserve={"reserve_fen": RESERVE, "salt_hex": SALT.hex(), "commitment": reserve_commitment(RESERVE, SALT)}
        if reserve else None,
        events=events, exported_at=T0 + timedelta(days=13),
    )  # fmt: skip
    return {"log": doc, "signature": key.sign(canonical_json(doc)).hex(), "key_id": "srv-k",
            "public_key": public_key_bytes(key).hex(), "signed": SIGNED_NOTE}  # fmt: skip


def _confirmation(events: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    closed = events[-1]
    doc = {"document": "auction_confirmation", "lot": {"id": 7, "kind": "land", "title": "地块", "session_id": None},
           "winner": {"paddle": closed["winner"], "org_id": 3, "name": "甲公司"}, "price_fen": closed["price_fen"],
           "basis": closed["basis"], "closed_at": closed["at"], "log_seq": closed["seq"],
           "log_sha256": log_digest(events), "issued_at": iso_ms(T0 + timedelta(days=13)), **changes}  # fmt: skip
    return {"confirmation": doc, "signature": KEY.sign(canonical_json(doc)).hex()}


def test_item9_a_good_log_and_confirmation_verify() -> None:
    """Issue 16 item 9: the replay through the rules agrees event by event (with a pause,
    an admission outside the log and a sealed reserve), and the confirmation matches."""
    config, events, admitted = _land_log()
    report = verify_auction(_export(config, events, admitted), PUBLIC, confirmation=_confirmation(events))
    assert report.ok, report.problems
    result = report.as_dict()["result"]
    assert result["outcome"] == "sold" and result["winner_paddle"] == "000002"
    assert result["price_fen"] == START + 2 * INC and result["reserve_fen"] == RESERVE


def test_item9_a_wrong_key_is_refused() -> None:
    """Issue 16 item 9: a log signed by another key (or checked with one) is not OK."""
    config, events, admitted = _land_log()
    assert not verify_auction(_export(config, events, admitted), public_key_bytes(generate_signing_key())).ok
    forged = _export(config, events, admitted, key=generate_signing_key())
    report = verify_auction(forged, PUBLIC)
    assert not report.ok and not report.signature_ok


def _bid_index(events: list[dict[str, Any]], bid_id: str) -> int:
    return next(i for i, e in enumerate(events) if e.get("bid_id") == bid_id)


@pytest.mark.parametrize("tamper", ["below_minimum", "not_admitted", "early_close", "dropped_event", "no_salt"])
def test_item9_a_log_that_breaks_the_rules_is_refused(tamper: str) -> None:
    """Issue 16 item 9 (A1, A5, A6): even signed by the server's key, a log whose events the
    rules would not produce is refused, with the event named."""
    config, events, admitted = _land_log()
    bad = copy.deepcopy(events)
    reserve = True
    if tamper == "below_minimum":
        bad[_bid_index(bad, "b")]["amount_fen"] = START + INC // 2
    elif tamper == "not_admitted":
        admitted = []
    elif tamper == "early_close":
        ended = next(e for e in bad if e["type"] == "bidding_ended")  # the countdown's end
        ended["at"] = iso_ms(datetime.fromisoformat(ended["at"]) - timedelta(seconds=1))
    elif tamper == "dropped_event":
        del bad[_bid_index(bad, "a")]
    elif tamper == "no_salt":
        reserve = False
    report = verify_auction(_export(config, bad, admitted, reserve=reserve), PUBLIC)
    assert report.signature_ok and not report.ok and report.problems, report.problems


def test_item9_a_changed_event_breaks_the_digest() -> None:
    """Issue 16 item 9: an event changed after export fails the signature and the digest."""
    config, events, admitted = _land_log()
    export = _export(config, events, admitted)
    export["log"]["events"][_bid_index(events, "b")]["amount_fen"] += INC
    report = verify_auction(export, PUBLIC)
    assert not report.ok and any("log_sha256" in p for p in report.problems)


@pytest.mark.parametrize("change", [{"price_fen": START}, {"log_sha256": "0" * 64}, {"winner": {"paddle": "000001"}}])
def test_item9_a_confirmation_that_differs_from_the_replay_is_refused(change: dict[str, Any]) -> None:
    """Issue 16 item 9: the confirmation's winner, price and log digest are the replay's."""
    config, events, admitted = _land_log()
    report = verify_auction(_export(config, events, admitted), PUBLIC, confirmation=_confirmation(events, **change))
    assert not report.ok and any(p.startswith("confirmation") for p in report.problems)
