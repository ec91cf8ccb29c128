"""An auction's result, verified offline like a draw (issue 16, item 9) — pure.

Theory of operation
===================

After a lot has ended the server exports its whole log (``GET
/api/v1/auctions/lots/{lot_id}/log``, ``sunlit auction export``): one JSON object

    {"log": {...}, "signature": hex, "key_id": "srv-…", "public_key": hex, "signed": "…"}

``log`` (type ``sunlit/auction-log/v1``) holds the lot's configuration as the rules read it
(``auction.model.config_to_dict``), the paddles admitted outside the log with the time of
each admission (a plate session admits once for all its plates; a bid counts only from a
paddle admitted by its time), the revealed reserve with its salt (if one was sealed),
and every event of the log in order, private ones included, as stored
(``auction.model.event_to_dict``). ``log_sha256`` is
``SHA-256(canonical_json(events))`` — the very digest the signed confirmation (成交确认书)
carries — and the server signs ``canonical_json(log)`` with its Ed25519 key, the same key as
the confirmation, the opening records and the draw bundles.

``verify_auction`` replays the log through the published rules (``auction.rules``):

1. the export's signature, with a public key the caller trusts (never the one written in
   the file) — without it nothing is OK;
2. ``log_sha256`` and ``log_seq`` recomputed from the events;
3. every event re-derived: each event names the command that made it (``BidAccepted`` →
   ``PlaceBid``, ``LotStarted`` → ``Start``, ``CapResolved`` → ``DrawLottery`` with its
   published seed or ``DecideByCriterion``, the reserve's ``LotClosed`` → ``RevealReserve``
   with the published salt, ``SeedCommitted`` → ``Start`` with that commitment,
   ``OutagePolicyApplied`` → ``recover``; a deadline's events →
   ``Tick``), that command is judged by ``rules.decide`` at the event's time on the state
   replayed so far, and the events the rules produce must be exactly the next events of the
   log — a bid below the minimum, after the close, from a paddle not admitted, or a close
   at the wrong time is refused by the rules and reported;
4. the replayed state is closed, and ``rules.rebuild`` of the log gives the same state;
   a lottery (A8) used the seed committed before bidding opened: a ``SeedCommitted`` event
   precedes the first bid and the revealed seed hashes to it (``rules.seed_commitment``;
   the replay refuses a mismatch as ``seed_mismatch``), and the draw re-runs to the winner;
   a revealed reserve (A3) was committed (``ReserveSealed``) before the first bid and its
   amount and salt hash to that commitment; a reserve held by custodians (issue 15 item 5;
   ``log.reserve.custody``: the key's public half, k, each custodian's key id and share
   commitment, the sealed box, the key rebuilt from their shares) is checked to be bound by
   that commitment (the salt's second half is ``reserve.custody_digest``), the published
   key to be the committed one, and the box to open to the revealed reserve and salt;
5. with a confirmation: its signature (same trusted key), that it is of this lot, and that
   its winner's paddle, price, basis, close time, ``log_seq`` and ``log_sha256`` are the
   replay's.

Pure: no files, no network, no clock. Never raises on bad input: every problem is listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from auction.errors import AuctionRejected, CorruptLog
from auction.model import (
    AcceptCap,
    Admit,
    Basis,
    BidAccepted,
    BidderAdmitted,
    BidderReinstated,
    BidderSuspended,
    CapAccepted,
    CapResolved,
    Close,
    Command,
    DecideByCriterion,
    DrawLottery,
    Event,
    LotClosed,
    LotPaused,
    LotResumed,
    LotStarted,
    LotState,
    OutagePolicyApplied,
    Outcome,
    Pause,
    Phase,
    PlaceBid,
    Reinstate,
    ReserveSealed,
    Resume,
    RevealReserve,
    SealReserve,
    SeedCommitted,
    Start,
    Suspend,
    Tick,
    config_from_dict,
    event_from_dict,
    event_to_dict,
)
from auction.quota import (
    QUOTA_EVENT_TYPES,
    QuotaBidAccepted,
    QuotaBook,
    QuotaClosed,
    quota_config_from_dict,
)
from auction.reserve import RESERVE_SALT_BYTES, ReserveKey, custody_digest
from auction.rules import (
    decide,
    initial_state,
    lottery_pick,
    rebuild,
    recover,
    reserve_commitment,
    seed_commitment,
)
from crypto.errors import CryptoError
from crypto.keys import key_id, x25519_public
from crypto.signing import canonical_json, sha256_hex
from crypto.signing import verify as verify_signature
from trading.clock import iso_ms, utc_ms
from trading.errors import DomainError

__all__ = [
    "LOG_FORMAT",
    "QUOTA_LOG_FORMAT",
    "AuctionReport",
    "log_digest",
    "log_document",
    "quota_result",
    "signed_export",
    "verify_auction",
    "verify_quota",
]

LOG_FORMAT = "sunlit/auction-log/v1"
QUOTA_LOG_FORMAT = "sunlit/quota-log/v1"
"""A quota session's exported log (``auction.quota_service.export_log``): ``verify_quota``."""
SIGNED_NOTE = "Ed25519 over the canonical JSON (sorted keys, no spaces, UTF-8) of 'log'"


class Signer(Protocol):
    """What signs an export (``trading.audit.AuditLog`` does)."""

    key_id: str
    public_key: bytes

    def sign(self, message: bytes) -> bytes: ...


def signed_export(document: Mapping[str, Any], signer: Signer) -> dict[str, Any]:
    """An exported log as ``verify_auction`` and ``verify_quota`` read it: the document and
    the signer's Ed25519 signature over its canonical JSON, with the key that checks it."""
    return {
        "log": document,
        "signature": signer.sign(canonical_json(document)).hex(),
        "key_id": signer.key_id,
        "public_key": signer.public_key.hex(),
        "signed": SIGNED_NOTE,
    }


def log_digest(events: list[Mapping[str, Any]]) -> str:
    """``log_sha256``: hex SHA-256 of the canonical JSON of the list of event dicts."""
    return sha256_hex(canonical_json(list(events)))


def log_document(
    *,
    lot_id: int,
    kind: str,
    title: str,
    session_id: int | None,
    config: Mapping[str, Any],
    admitted: list[tuple[str, Any]],
    reserve: Mapping[str, Any] | None,
    events: list[Mapping[str, Any]],
    exported_at: Any,
) -> dict[str, Any]:
    """The exported log (the part that is signed). ``admitted`` is (paddle, admitted_at) of
    the scope's admissions; ``reserve`` is ``{reserve_fen, salt_hex, commitment}`` once
    revealed, else ``None``."""
    return {
        "type": LOG_FORMAT,
        "lot_id": lot_id,
        "kind": kind,
        "title": title,
        "session_id": session_id,
        "config": dict(config),
        "admitted": [{"paddle": p, "admitted_at": iso_ms(at)} for p, at in sorted(admitted)],
        "reserve": None if reserve is None else dict(reserve),
        "events": [dict(e) for e in events],
        "log_seq": events[-1]["seq"] if events else 0,
        "log_sha256": log_digest(events),
        "exported_at": iso_ms(exported_at),
    }


@dataclass
class AuctionReport:
    """``ok`` only when the export's signature verified with the trusted key, the replay
    agrees event by event, and (if given) the confirmation matches."""

    signature_ok: bool = False
    problems: list[str] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    state: LotState | None = None
    quota_result: dict[str, Any] | None = None
    """A quota session's result as the replay computes it (``quota_result``)."""

    @property
    def ok(self) -> bool:
        return self.signature_ok and not self.problems

    def as_dict(self) -> dict[str, Any]:
        s = self.state
        if self.quota_result is not None:
            return {
                "ok": self.ok,
                "signature_ok": self.signature_ok,
                "problems": list(self.problems),
                "checked": list(self.checked),
                "result": self.quota_result,
            }
        return {
            "ok": self.ok,
            "signature_ok": self.signature_ok,
            "problems": list(self.problems),
            "checked": list(self.checked),
            "result": None
            if s is None
            else {
                "phase": s.phase.value,
                "outcome": s.outcome.value if s.outcome else None,
                "basis": s.basis.value if s.basis else None,
                "winner_paddle": s.winner,
                "price_fen": s.price_fen,
                "reserve_fen": s.reserve_fen,
                "closed_at": None if s.closed_at is None else iso_ms(s.closed_at),
            },
        }


def _signed_ok(body: object, signature: object, public_key: bytes) -> bool:
    if not isinstance(signature, str):
        return False
    try:
        raw = bytes.fromhex(signature)
        message = canonical_json(body)
    except (ValueError, TypeError):
        return False
    return verify_signature(public_key, raw, message)


def _signed_events(
    export: Mapping[str, Any], doc: Mapping[str, Any], public_key: bytes, report: AuctionReport
) -> list[Mapping[str, Any]] | None:
    """Checks the export's signature over the log (reported either way) and returns its
    events, or ``None`` (reported) when they are not a list of objects."""
    report.signature_ok = _signed_ok(doc, export.get("signature"), public_key)
    if report.signature_ok:
        report.checked.append(f"signature: Ed25519 by key {export.get('key_id')} over the log")
    else:
        report.problems.append("the log's signature does not verify with this public key")
    raw_events = doc.get("events")
    if not isinstance(raw_events, list) or not all(isinstance(e, Mapping) for e in raw_events):
        report.problems.append("events must be a list of objects")
        return None
    return raw_events


def verify_auction(
    export: object, public_key: bytes, *, confirmation: object = None
) -> AuctionReport:
    """Check an exported lot log, and optionally its confirmation (see the module docstring)."""
    report = AuctionReport()
    if not isinstance(export, Mapping) or not isinstance(export.get("log"), Mapping):
        report.problems.append("not an exported lot log: expected {log, signature, key_id, …}")
        return report
    doc = export["log"]
    if doc.get("type") == QUOTA_LOG_FORMAT:
        return verify_quota(export, public_key)
    if doc.get("type") != LOG_FORMAT:
        report.problems.append(f"not an exported lot log: type {doc.get('type')!r}")
        return report
    raw_events = _signed_events(export, doc, public_key, report)
    if raw_events is None:
        return report
    digest = log_digest(raw_events)
    last_seq = raw_events[-1].get("seq") if raw_events else 0
    if digest != doc.get("log_sha256"):
        report.problems.append(f"log_sha256: the events hash to {digest}, the file says {doc.get('log_sha256')}")
    elif last_seq != doc.get("log_seq"):
        report.problems.append(f"log_seq: the last event is {last_seq}, the file says {doc.get('log_seq')}")
    else:
        report.checked.append(f"log_sha256 {digest} over {len(raw_events)} event(s)")

    try:
        config = config_from_dict(dict(doc["config"]))
        events = [event_from_dict(dict(e)) for e in raw_events]
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"the configuration or an event cannot be read: {exc}")
        return report
    if str(doc.get("lot_id")) != config.lot_id:
        report.problems.append(f"lot {doc.get('lot_id')!r}, but the configuration is lot {config.lot_id}")
    try:
        admitted = [(a["paddle"], _time(a["admitted_at"])) for a in doc.get("admitted") or []]
        if not all(isinstance(p, str) for p, _ in admitted):
            raise TypeError("a paddle is a string")
    except (KeyError, TypeError, ValueError) as exc:
        report.problems.append(f"admitted must be a list of {{paddle, admitted_at}}: {exc!r}")
        return report
    state = _replay(config, events, admitted, doc.get("reserve"), report)
    if state is None:
        return report
    _check_seed(events, report)
    _check_reserve(events, doc.get("reserve"), str(doc.get("lot_id")), report)
    report.state = state
    try:
        if rebuild(config, events) != state:
            report.problems.append("rebuild(config, events) differs from the replayed state")
    except (CorruptLog, ValueError, TypeError, AssertionError) as exc:
        report.problems.append(f"the log does not rebuild: {exc}")
    if state.phase is not Phase.CLOSED:
        report.problems.append(f"the lot has not ended: phase {state.phase.value}")
    else:
        report.checked.append(
            f"replayed {len(events)} event(s) through auction.rules: {state.outcome.value if state.outcome else '?'}"
            f" ({state.basis.value if state.basis else '?'})"
            + (f", paddle {state.winner} at {state.price_fen} fen" if state.winner else "")
        )
    if confirmation is not None:
        _check_confirmation(confirmation, public_key, doc, state, digest, report)
    return report


def _check_seed(events: list[Event], report: AuctionReport) -> None:
    """A lottery's seed was committed before the first bid and is the one revealed (A8)."""
    draws = [e for e in events if isinstance(e, CapResolved) and e.basis is Basis.LOTTERY]
    if not draws:
        return
    committed = [e for e in events if isinstance(e, SeedCommitted)]
    first_bid = next((e.seq for e in events if isinstance(e, BidAccepted)), None)
    if len(committed) != 1:
        report.problems.append(
            "lottery: the seed was not committed before bidding opened (no seed_committed event)"
            if not committed
            else "lottery: more than one seed commitment"
        )
        return
    commitment = committed[0]
    if first_bid is not None and commitment.seq > first_bid:
        report.problems.append(
            f"lottery: the seed's commitment (seq {commitment.seq}) follows the first bid (seq {first_bid})"
        )
        return
    for draw in draws:
        try:
            seed = bytes.fromhex(draw.seed_hex or "")
        except ValueError:
            report.problems.append(f"lottery: seq {draw.seq} reveals a seed that is not hex")
            return
        if seed_commitment(seed) != commitment.commitment:
            report.problems.append(
                f"lottery: the seed revealed at seq {draw.seq} does not hash to the commitment "
                f"published at seq {commitment.seq}"
            )
            return
        if not draw.candidates or lottery_pick(seed, draw.candidates) != draw.winner:
            report.problems.append(f"lottery: re-running the draw at seq {draw.seq} does not give its winner")
            return
    report.checked.append(
        f"lottery: SHA-256 of the seed revealed at seq {draws[-1].seq} is the commitment "
        f"{commitment.commitment} published at seq {commitment.seq}, before the first bid; "
        "the draw re-runs to the same winner"
    )


def _check_reserve(events: list[Event], reserve: object, lot_id: str, report: AuctionReport) -> None:
    """A revealed reserve was committed before the first bid and is the one revealed (A3);
    held by custodians, the key that opened it is the one that commitment binds (issue 15
    item 5: the salt's second half is the custody digest of the key and its shares, and the
    published rebuilt key opens the sealed box to the revealed reserve and salt)."""
    sealed = [e for e in events if isinstance(e, ReserveSealed)]
    if not sealed:
        return
    seal = sealed[0]
    first_bid = next((e.seq for e in events if isinstance(e, BidAccepted)), None)
    if first_bid is not None and seal.seq > first_bid:
        report.problems.append(
            f"reserve: its commitment (seq {seal.seq}) follows the first bid (seq {first_bid})"
        )
        return
    closed = next((e for e in events if isinstance(e, LotClosed) and e.reserve_fen is not None), None)
    if closed is None or not isinstance(reserve, Mapping):
        return  # not revealed (no bid, or terminated): nothing to check but the order
    try:
        fen = closed.reserve_fen
        salt = bytes.fromhex(str(reserve["salt_hex"]))
    except (KeyError, ValueError):
        report.problems.append("reserve: the salt is missing or not hex")
        return
    if reserve_commitment(fen, salt) != seal.commitment or reserve.get("commitment") != seal.commitment:
        report.problems.append(
            f"reserve: the revealed reserve and salt do not hash to the commitment logged at seq {seal.seq}"
        )
        return
    said = (
        f"reserve: SHA-256 of the revealed {fen} fen and its salt is the commitment logged at "
        f"seq {seal.seq}, before the first bid"
    )
    custody = reserve.get("custody")
    if custody is None:
        report.checked.append(said + " (sealed to the server's reserve key)")
        return
    problem = _custody_problem(custody, lot_id, fen, salt)
    if problem is not None:
        report.problems.append("reserve: " + problem)
        return
    assert isinstance(custody, Mapping)
    report.checked.append(
        said + f"; its key {custody['key_id']} was split {custody['threshold_k']} of "
        f"{len(custody['custodians'])} among custodians, bound by that commitment, and the "
        "key rebuilt from their shares opens the sealed box to the revealed reserve and salt"
    )


def _custody_problem(custody: object, lot_id: str, fen: int, salt: bytes) -> str | None:
    try:
        assert isinstance(custody, Mapping)
        public = bytes.fromhex(custody["public_key_hex"])
        k = int(custody["threshold_k"])
        shares = [
            (int(c["position"]), str(c["key_id"]), bytes.fromhex(c["share_commitment_hex"]))
            for c in custody["custodians"]
        ]
        box = bytes.fromhex(custody["sealed_box_hex"])
        opened = custody.get("opened_key_hex")
        private = bytes.fromhex(opened) if isinstance(opened, str) else None
        lot = int(lot_id)
    except (AssertionError, KeyError, TypeError, ValueError) as exc:
        return f"the custody block cannot be read: {exc!r}"
    if key_id(public) != custody.get("key_id"):
        return "the custody's key id is not its public key's"
    if len(salt) != 2 * RESERVE_SALT_BYTES or salt[RESERVE_SALT_BYTES:].hex() != custody_digest(
        lot, public, k, shares
    ):
        return "the custodians' key and shares are not the ones the commitment binds"
    if private is None:
        return "the rebuilt key is not published"
    try:
        if x25519_public(private) != public:
            return "the published key is not the committed key"
        if ReserveKey.from_private(private).open(lot, box) != (fen, salt):
            return "the sealed box does not hold the revealed reserve and salt"
    except (CryptoError, KeyError, TypeError, ValueError) as exc:
        return f"the sealed box does not open with the published key: {exc!r}"
    return None


def _time(raw: str) -> datetime:
    when = datetime.fromisoformat(raw)
    if when.tzinfo is None:
        raise ValueError(f"naive time {raw!r}")
    return utc_ms(when)


def _command_for(event: Event, reserve: object) -> Command | None:
    """The command an event records; ``None`` for ``OutagePolicyApplied`` (``recover``)."""
    if isinstance(event, SeedCommitted):
        return Start(seed_commitment=event.commitment)
    if isinstance(event, LotStarted):
        return Start()
    if isinstance(event, BidAccepted):
        return PlaceBid(bid_id=event.bid_id, paddle=event.paddle, amount_fen=event.amount_fen)
    if isinstance(event, BidderAdmitted):
        return Admit(paddle=event.paddle)
    if isinstance(event, BidderSuspended):
        return Suspend(paddle=event.paddle, reason=event.reason)
    if isinstance(event, BidderReinstated):
        return Reinstate(paddle=event.paddle)
    if isinstance(event, ReserveSealed):
        return SealReserve(commitment=event.commitment)
    if isinstance(event, LotPaused):
        return Pause(reason=event.reason)
    if isinstance(event, LotResumed):
        return Resume()
    if isinstance(event, CapAccepted):
        return AcceptCap(paddle=event.paddle)
    if isinstance(event, CapResolved):
        if event.basis is Basis.LOTTERY:
            return DrawLottery(seed=bytes.fromhex(event.seed_hex or ""))
        return DecideByCriterion(winner=event.winner, note=event.note)
    if isinstance(event, LotClosed):
        if event.outcome is Outcome.CANCELLED:
            return Close(reason=event.reason or "")
        if event.reserve_fen is not None:
            if not isinstance(reserve, Mapping) or not isinstance(reserve.get("salt_hex"), str):
                raise ValueError("the log reveals a reserve, but the file has no reserve salt")
            return RevealReserve(reserve_fen=event.reserve_fen, salt=bytes.fromhex(reserve["salt_hex"]))
    if isinstance(event, OutagePolicyApplied):
        return None
    return Tick()  # CountdownStarted, BiddingEnded, a deadline's LotClosed; CapReached follows a bid


def _replay(
    config: Any,
    events: list[Event],
    admitted: list[tuple[str, datetime]],
    reserve: object,
    report: AuctionReport,
) -> LotState | None:
    state = initial_state(config)
    i = 0
    while i < len(events):
        event = events[i]
        try:
            command = _command_for(event, reserve)
            if command is None:
                assert isinstance(event, OutagePolicyApplied)
                decision = recover(state, event.at, down_since=event.down_since)
            else:
                by_then = frozenset(p for p, at in admitted if at <= event.at)
                decision = decide(state, command, event.at, admitted=by_then)
        except AuctionRejected as exc:
            report.problems.append(
                f"event {event.seq} ({event.type_name} at {iso_ms(event.at)}): the rules refuse it — "
                f"[{exc.code}] {exc.message_en}"
            )
            return None
        except (ValueError, AssertionError) as exc:
            report.problems.append(f"event {event.seq} ({event.type_name}): cannot be replayed: {exc}")
            return None
        produced = [event_to_dict(e) for e in decision.events]
        logged = [event_to_dict(e) for e in events[i : i + max(len(produced), 1)]]
        if not produced or produced != logged:
            report.problems.append(
                f"event {event.seq} ({event.type_name} at {iso_ms(event.at)}): the rules produce "
                f"{[p['type'] for p in produced] or 'nothing'}, the log has {[e['type'] for e in logged]}"
                + _first_difference(produced, logged)
            )
            return None
        state = decision.state
        i += len(produced)
    return state


def _first_difference(produced: list[dict[str, Any]], logged: list[dict[str, Any]]) -> str:
    for p, e in zip(produced, logged, strict=False):
        for key in sorted(set(p) | set(e)):
            if p.get(key) != e.get(key):
                return f" (seq {e.get('seq')}: {key} should be {p.get(key)!r}, is {e.get(key)!r})"
    return ""


def _check_confirmation(
    obj: object,
    public_key: bytes,
    doc: Mapping[str, Any],
    state: LotState,
    digest: str,
    report: AuctionReport,
) -> None:
    if not isinstance(obj, Mapping) or not isinstance(obj.get("confirmation"), Mapping):
        report.problems.append("confirmation: expected {confirmation, signature, key_id, …}")
        return
    c = obj["confirmation"]
    if not _signed_ok(c, obj.get("signature"), public_key):
        report.problems.append("confirmation: the signature does not verify with this public key")
    else:
        report.checked.append("confirmation (成交确认书): signature verified")
    lot = c.get("lot") if isinstance(c.get("lot"), Mapping) else {}
    winner = c.get("winner") if isinstance(c.get("winner"), Mapping) else {}
    expected = {
        "lot": (lot.get("id"), doc.get("lot_id")),
        "winner paddle": (winner.get("paddle"), state.winner),
        "price_fen": (c.get("price_fen"), state.price_fen),
        "basis": (c.get("basis"), state.basis.value if state.basis else None),
        "closed_at": (c.get("closed_at"), None if state.closed_at is None else iso_ms(state.closed_at)),
        "log_seq": (c.get("log_seq"), state.seq),
        "log_sha256": (c.get("log_sha256"), digest),
    }
    wrong = [f"{k}: the confirmation says {a!r}, the replay {b!r}" for k, (a, b) in expected.items() if a != b]
    if state.outcome is not Outcome.SOLD:
        wrong.append(f"the replay says {state.outcome.value if state.outcome else 'no result'}, not sold")
    if wrong:
        report.problems.extend(f"confirmation: {w}" for w in wrong)
    else:
        report.checked.append("confirmation: winner, price, basis, close time and log digest are the replay's")


# -- quota sessions ------------------------------------------------------------------------------


def quota_result(book: QuotaBook) -> dict[str, Any]:
    """A quota session's result from its book (the server's, and the verifier's replay):
    winners in rank order (price, then time) with price and time, the cutoff (最低成交价),
    the average winning price (fen, half up), counts."""
    result = book.result()
    n = len(result.winners)
    return {
        "quota": book.config.quota,
        "cutoff_fen": result.cutoff_fen,
        "average_fen": (2 * result.total_fen + n) // (2 * n) if n else None,
        "winner_count": n,
        "bid_count": len(book.bids),
        "closed_at": None if book.closed is None else iso_ms(book.closed.at),
        "winners": [
            {"rank": i, "paddle": b.paddle, "amount_fen": b.amount_fen, "at": iso_ms(b.at), "seq": b.seq}
            for i, b in enumerate(result.winners, start=1)
        ],
    }


def _quota_command(event: Event) -> Command:
    if isinstance(event, QuotaBidAccepted):
        return PlaceBid(bid_id=event.bid_id, paddle=event.paddle, amount_fen=event.amount_fen)
    if isinstance(event, BidderAdmitted):
        return Admit(paddle=event.paddle)
    if isinstance(event, QuotaClosed):
        return Tick()
    raise ValueError(f"{event.type_name} is not a quota session's event")


def verify_quota(export: object, public_key: bytes) -> AuctionReport:
    """Check an exported quota-session log: the signature (with a key the caller trusts),
    ``log_sha256``, every event re-derived by ``QuotaBook.decide`` from the command it records
    at its time (a bid over the warning price in the first half, outside the window, a third
    revision, after the close or from a paddle not admitted is refused and reported), the
    session closed, and the result in the file equal to the replay's (winners, times,
    cutoff, average). Never raises on bad input."""
    report = AuctionReport()
    if not isinstance(export, Mapping) or not isinstance(export.get("log"), Mapping):
        report.problems.append("not an exported quota log: expected {log, signature, key_id, …}")
        return report
    doc = export["log"]
    raw_events = _signed_events(export, doc, public_key, report)
    if raw_events is None:
        return report
    digest = log_digest(raw_events)
    if digest != doc.get("log_sha256"):
        report.problems.append(f"log_sha256: the events hash to {digest}, the file says {doc.get('log_sha256')}")
    else:
        report.checked.append(f"log_sha256 {digest} over {len(raw_events)} event(s)")
    try:
        config = quota_config_from_dict(dict(doc["config"]))
        events = [event_from_dict(dict(e), QUOTA_EVENT_TYPES) for e in raw_events]
    except (KeyError, TypeError, ValueError, DomainError) as exc:
        report.problems.append(f"the configuration or an event cannot be read: {exc}")
        return report
    book = QuotaBook(config)
    for event in events:
        try:
            produced = book.decide(_quota_command(event), event.at)
        except AuctionRejected as exc:
            report.problems.append(
                f"event {event.seq} ({event.type_name} at {iso_ms(event.at)}): the rules refuse it — "
                f"[{exc.code}] {exc.message_en}"
            )
            return report
        except (ValueError, TypeError) as exc:
            report.problems.append(f"event {event.seq} ({event.type_name}): cannot be replayed: {exc}")
            return report
        mine = [event_to_dict(e) for e in produced]
        logged = [event_to_dict(event)]
        if mine != logged:
            report.problems.append(
                f"event {event.seq} ({event.type_name}): the rules produce "
                f"{[p['type'] for p in mine] or 'nothing'}" + _first_difference(mine, logged)
            )
            return report
        try:
            book.apply(event)
        except CorruptLog as exc:
            report.problems.append(f"event {event.seq}: {exc}")
            return report
    if book.closed is None:
        report.problems.append("the session has not ended: no quota_closed in the log")
        return report
    replayed = quota_result(book)
    report.quota_result = replayed
    report.checked.append(
        f"replayed {len(events)} event(s) through auction.quota: {replayed['winner_count']} winner(s), "
        f"cutoff {replayed['cutoff_fen']} fen, average {replayed['average_fen']} fen"
    )
    claimed = doc.get("result")
    if not isinstance(claimed, Mapping):
        report.problems.append("the file has no result")
        return report
    wrong = [
        f"{key}: the file says {claimed.get(key)!r}, the replay {value!r}"
        for key, value in replayed.items()
        if claimed.get(key) != value
    ]
    for key, value in (("log_sha256", digest), ("log_seq", events[-1].seq if events else 0)):
        if claimed.get(key) != value:
            wrong.append(f"{key}: the result says {claimed.get(key)!r}, the log {value!r}")
    if wrong:
        report.problems.extend(f"result: {w}" for w in wrong)
    else:
        report.checked.append("result: winners (price, time), cutoff and average are the replay's")
    return report
