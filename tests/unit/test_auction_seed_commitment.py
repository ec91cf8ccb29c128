"""Issue 15 item 5: the lottery seed that breaks ties at the price cap (RULES A8) is committed
— its SHA-256 published in the lot's log — before bidding opens, revealed at the draw, and
the verifier checks both: the seed hashes to the commitment, the commitment precedes the
first bid, and the draw re-runs to the same winner. The draw is a pure function of (seed,
tied paddles) in ``auction.rules``."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from auction.errors import AuctionReason, AuctionRejected
from auction.model import (
    AcceptCap,
    Admit,
    CapResolved,
    DrawLottery,
    LotConfig,
    LotStarted,
    PlaceBid,
    SeedCommitted,
    Start,
    config_to_dict,
    event_to_dict,
)
from auction.rules import decide, initial_state, lottery_pick, public_view, rebuild, seed_commitment
from auction.verify import SIGNED_NOTE, log_document, verify_auction
from crypto.signing import canonical_json, generate_signing_key, public_key_bytes

KEY = generate_signing_key()
PUBLIC = public_key_bytes(KEY)
T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
START, INC = 1_000_000, 100_000
CAP = START + 5 * INC
SEED = bytes(range(32))
S = timedelta(seconds=1)


def _config() -> LotConfig:
    return LotConfig.plate(lot_id="9", session_id="S-1", starting_price_fen=START, increment_fen=INC,
                           deposit_fen=START // 2, starts_at=T0, price_cap_fen=CAP)  # fmt: skip


def _lottery_log(seed: bytes = SEED, commit: bytes | None = SEED) -> list[Any]:
    """Three paddles; A1 reaches the cap, A2 and A3 accept it, the lottery draws."""
    state = initial_state(_config())
    events: list[Any] = []

    def do(command: Any, at: datetime) -> None:
        nonlocal state
        decision = decide(state, command, at)
        state = decision.state
        events.extend(decision.events)

    for paddle in ("A1", "A2", "A3"):
        do(Admit(paddle), T0 - S)
    do(Start(seed_commitment=None if commit is None else seed_commitment(commit)), T0)
    do(PlaceBid("a", "A1", START), T0 + S)
    do(PlaceBid("b", "A2", CAP), T0 + 2 * S)
    do(AcceptCap("A3"), T0 + 3 * S)
    do(AcceptCap("A1"), T0 + 4 * S)
    do(DrawLottery(seed), T0 + 5 * S)
    return events


def _export(events: list[dict[str, Any]]) -> dict[str, Any]:
    config = _config()
    doc = log_document(
        lot_id=9, kind="plate", title="沪A·88888", session_id=1, config=config_to_dict(config),
        admitted=[], reserve=None, events=events, exported_at=T0 + timedelta(days=1),
    )  # fmt: skip
    return {"log": doc, "signature": KEY.sign(canonical_json(doc)).hex(), "key_id": "srv-k",
            "public_key": PUBLIC.hex(), "signed": SIGNED_NOTE}  # fmt: skip


def test_the_draw_is_a_pure_function_of_the_seed_and_the_tied_paddles() -> None:
    """A8: the same seed and the same tied paddles (in the order they took the cap) give the
    same winner, every time, anywhere; another seed may give another."""
    tied = ("A2", "A3", "A1")
    assert lottery_pick(SEED, tied) == lottery_pick(bytes(SEED), list(tied))
    assert {lottery_pick(i.to_bytes(32, "big"), tied) for i in range(64)} == set(tied)
    (resolved,) = [e for e in _lottery_log() if isinstance(e, CapResolved)]
    assert resolved.candidates == tied and resolved.winner == lottery_pick(SEED, tied)
    assert resolved.seed_hex == SEED.hex()


def test_the_seed_commitment_is_logged_before_the_lot_opens() -> None:
    """Issue 15 item 5: ``Start(seed_commitment)`` logs the plain SHA-256 of the seed before
    ``LotStarted``, so it is public before any bid can be placed; watchers see it."""
    events = _lottery_log()
    committed, started = events[3], events[4]
    assert isinstance(committed, SeedCommitted) and isinstance(started, LotStarted)
    assert committed.commitment == hashlib.sha256(SEED).hexdigest()
    assert committed.public and committed.seq < started.seq
    state = rebuild(_config(), events)
    assert state.seed_commitment == committed.commitment
    assert public_view(state)["seed_commitment"] == committed.commitment


def test_a_seed_that_does_not_match_the_commitment_is_refused() -> None:
    """Issue 15 item 5: the rules draw only with the committed seed (``seed_mismatch``)."""
    with pytest.raises(AuctionRejected) as caught:
        _lottery_log(seed=b"another seed, chosen after the bids")
    assert caught.value.reason is AuctionReason.SEED_MISMATCH
    assert caught.value.code == "seed_mismatch"


def test_a_malformed_seed_commitment_is_refused() -> None:
    """Bad input: the commitment is 64 lowercase hex digits or nothing."""
    with pytest.raises(AuctionRejected) as caught:
        decide(initial_state(_config()), Start(seed_commitment="not-a-hash"), T0)
    assert caught.value.reason is AuctionReason.BAD_COMMAND


def test_the_verifier_checks_the_seed_against_its_commitment() -> None:
    """Issue 15 item 5: the verifier replays the commitment and the draw and says so."""
    report = verify_auction(_export([event_to_dict(e) for e in _lottery_log()]), PUBLIC)
    assert report.ok, report.problems
    assert any(line.startswith("lottery:") and seed_commitment(SEED) in line for line in report.checked)


def test_the_verifier_refuses_a_revealed_seed_that_does_not_match() -> None:
    """Issue 15 item 5: a log (even signed) whose revealed seed is not the committed one is
    refused; so is a winner the seed does not draw."""
    events = [event_to_dict(e) for e in _lottery_log()]
    other = copy.deepcopy(events)
    resolved = next(e for e in other if e["type"] == "cap_resolved")
    resolved["seed_hex"] = (b"x" * 32).hex()
    resolved["winner"] = lottery_pick(b"x" * 32, resolved["candidates"])
    report = verify_auction(_export(other), PUBLIC)
    assert report.signature_ok and not report.ok
    assert any("seed_mismatch" in p for p in report.problems), report.problems


def test_the_verifier_refuses_a_commitment_after_the_first_bid() -> None:
    """Issue 15 item 5: a commitment logged after bidding opened commits to nothing."""
    events = [event_to_dict(e) for e in _lottery_log()]
    commit = next(i for i, e in enumerate(events) if e["type"] == "seed_committed")
    first_bid = next(i for i, e in enumerate(events) if e["type"] == "bid_accepted")
    moved = copy.deepcopy(events)
    entry = moved.pop(commit)
    moved.insert(first_bid, entry)  # just after the first bid
    for seq, e in enumerate(moved, start=1):
        e["seq"] = seq
    entry["at"] = moved[first_bid - 1]["at"]
    report = verify_auction(_export(moved), PUBLIC)
    assert report.signature_ok and not report.ok and report.problems, report.problems


def test_the_verifier_refuses_a_lottery_without_a_commitment() -> None:
    """Issue 15 item 5: a lottery whose seed was never committed before bidding is not OK."""
    events = [event_to_dict(e) for e in _lottery_log(commit=None)]
    report = verify_auction(_export(events), PUBLIC)
    assert report.signature_ok and not report.ok
    assert any("not committed" in p for p in report.problems), report.problems
