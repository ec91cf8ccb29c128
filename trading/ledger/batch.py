"""A batch of transfers decided against a loaded view of the ledger: pure, no I/O.

Theory of operation
===================

A store cannot ask "what is this account's balance?" once per transfer and stay fast. So it
loads, under lock and in one round trip each, exactly what a batch can touch (``ids_to_load``):
the accounts it names (locked in id order), the transfers recorded under its ids and its
``pending_id`` s, the posts and voids already recorded against those pending transfers, and the
failures recorded under its ids. ``execute_batch`` then decides the whole batch in memory, in
order, with the rules of ``trading.ledger.rules`` — the semantics of deciding the transfers one
at a time (which the tests' reference ledger does, and holds this module to):

- one ``TransferOutcome`` per transfer, in order;
- a chain of ``LINKED`` transfers (closed by one without the flag) is applied whole or not
  at all: on a failure the failing transfer gets its code, the rest of the chain
  ``LINKED_EVENT_FAILED``; an unclosed chain at the end fails with ``LINKED_EVENT_CHAIN_OPEN``;
- a known id with the same content answers its first result (``replayed``), changing nothing;
- a state-dependent failure (``TransferResult.is_transient``) is recorded under its id so that a
  retry gets the same answer.

The answer (``BatchResult``) says what to write: the accepted transfers in order, the failures
to record and the final sums of every account that changed. The store writes them in a few
statements; the database's own constraints (balance limits by kind, one settlement per pending
transfer, append-only transfers) stand behind the rules as a second line of defence.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .model import Account, Transfer, TransferFlags, TransferOutcome, TransferResult
from .rules.transfers import sum_changes, validate_transfer

__all__ = [
    "BATCH_MAX",
    "BatchResult",
    "LedgerView",
    "execute_batch",
    "ids_to_load",
    "split_at_chains",
]

BATCH_MAX = 8_190
"""Most transfers in one batch (TigerBeetle's limit): bounds a transaction's locks and memory."""

_R = TransferResult
_LINKED = TransferFlags.LINKED.value
_SETTLE = TransferFlags.POST_PENDING.value | TransferFlags.VOID_PENDING.value


@dataclass
class LedgerView:
    """What a store loaded for one batch (mutable: ``execute_batch`` works on a copy)."""

    accounts: dict[str, Account] = field(default_factory=dict)
    transfers: dict[str, Transfer] = field(default_factory=dict)
    """Accepted transfers by id: those named by the batch's ids and pending ids."""
    failures: dict[str, tuple[Transfer, TransferResult]] = field(default_factory=dict)
    """Recorded state-dependent failures by id."""
    resolutions: dict[str, Transfer] = field(default_factory=dict)
    """The post or void recorded against each pending transfer, by the pending id."""


@dataclass(frozen=True)
class BatchResult:
    outcomes: list[TransferOutcome]
    accepted: list[Transfer]
    """To insert, in this order."""
    failures: list[tuple[Transfer, TransferResult]]
    """To record (their ids are new)."""
    accounts: dict[str, Account]
    """Final sums of every account that changed."""
    after: LedgerView
    """The view with this batch applied: what the next part of a split batch is decided on."""

    @property
    def ok(self) -> bool:
        return all(o.ok for o in self.outcomes)


def ids_to_load(transfers: Sequence[Transfer]) -> tuple[list[str], list[str], list[str]]:
    """(account ids, transfer ids, pending ids) a batch may touch, sorted and without
    duplicates. Values that are not text name nothing (their transfer fails on its own)."""
    try:  # the common case: every value hashable (sets, then the few that are not text out)
        accounts = {t.debit_account_id for t in transfers}
        accounts.update([t.credit_account_id for t in transfers])
        pending = {t.pending_id for t in transfers}
        ids = {t.id for t in transfers}
    except TypeError:  # an unhashable value somewhere: one at a time
        accounts, ids, pending = set(), set(), set()
        for t in transfers:
            for value, into in (
                (t.debit_account_id, accounts),
                (t.credit_account_id, accounts),
                (t.id, ids),
                (t.pending_id, pending),
            ):
                if isinstance(value, str):
                    into.add(value)
    pending = {p for p in pending if isinstance(p, str)}
    return (
        sorted(a for a in accounts if isinstance(a, str)),
        sorted({i for i in ids if isinstance(i, str)} | pending),
        sorted(pending),
    )


def _is_linked(t: Transfer) -> bool:
    return isinstance(t.flags, TransferFlags) and bool(t.flags._value_ & _LINKED)


_Undo = tuple["_Sums | None", Any, Any, int, int]
"""A chain's undo log entry: an account's sums before the chain touched it, or (None, the
id, the pending id, 0, 0) of a transfer the chain recorded."""


class _Sums:
    """An account's running sums while a batch is decided: one mutable object per account
    touched, where applying transfers to frozen ``Account`` s built two objects per transfer.
    ``validate_transfer`` reads it as it reads an ``Account`` (``rules.transfers.AccountSums``)."""

    __slots__ = (
        "account",
        "id",
        "kind",
        "debits_pending",
        "debits_posted",
        "credits_pending",
        "credits_posted",
    )

    def __init__(self, a: Account) -> None:
        self.account = a
        self.id = a.id
        self.kind = a.kind
        self.debits_pending = a.debits_pending
        self.debits_posted = a.debits_posted
        self.credits_pending = a.credits_pending
        self.credits_posted = a.credits_posted

    def snapshot(self) -> _Undo:
        return (
            self,
            self.debits_pending,
            self.debits_posted,
            self.credits_pending,
            self.credits_posted,
        )

    def changed(self) -> Account | None:
        """The account with these sums, or None when they are its own."""
        a = self.account
        dp, dq, cp, cq = (
            self.debits_pending,
            self.debits_posted,
            self.credits_pending,
            self.credits_posted,
        )
        if (dp, dq, cp, cq) == (
            a.debits_pending,
            a.debits_posted,
            a.credits_pending,
            a.credits_posted,
        ):
            return None
        return Account(a.id, a.kind, a.project_id, a.bidder_id, dp, dq, cp, cq)


def execute_batch(transfers: Sequence[Transfer], view: LedgerView) -> BatchResult:
    """Decide ``transfers`` in order against ``view`` (see the module docstring)."""
    loaded = view.accounts
    sums: dict[str, _Sums] = {}
    known = dict(view.transfers)
    failed = dict(view.failures)
    resolutions = dict(view.resolutions)
    accepted: list[Transfer] = []
    new_failures: list[tuple[Transfer, TransferResult]] = []

    def working(account_id: object) -> _Sums | None:
        if not isinstance(account_id, str):  # a value that is not text names nothing
            return None
        s = sums.get(account_id)
        if s is None:
            a = loaded.get(account_id)
            if a is None:
                return None
            s = sums[account_id] = _Sums(a)
        return s

    def create_one(t: Transfer, undo: list[_Undo] | None) -> TransferOutcome:
        # ``undo`` is None for a transfer on its own: it is applied whole or not at all.
        tid, pid = t.id, t.pending_id
        text_id = isinstance(tid, str)
        recorded = known.get(tid) if text_id else None
        failure = failed.get(tid) if text_id else None
        prior = recorded if recorded is not None else (failure[0] if failure else None)
        text_pid = isinstance(pid, str)
        pending = known.get(pid) if text_pid else None
        d_id, c_id = t.debit_account_id, t.credit_account_id
        debit = sums.get(d_id) if isinstance(d_id, str) else None
        if debit is None:
            debit = working(d_id)
        credit = sums.get(c_id) if isinstance(c_id, str) else None
        if credit is None:
            credit = working(c_id)
        result = validate_transfer(
            t,
            prior=prior,
            debit=debit,
            credit=credit,
            pending=pending,
            pending_resolution=resolutions.get(pid) if text_pid else None,
        )
        if result is _R.EXISTS:
            first = _R.OK if recorded is not None else failure[1]  # type: ignore[index]
            return TransferOutcome(tid, first, replayed=True)
        if result is not _R.OK:
            return TransferOutcome(str(tid), result)
        assert debit is not None and credit is not None
        assert not t.flags._value_ & _SETTLE or (
            pending is not None and pending.amount_fen == t.amount_fen
        ), "settles its pending"
        if undo is not None:
            undo.append(debit.snapshot())
            undo.append(credit.snapshot())
            undo.append((None, tid, pid, 0, 0))
        dp, dq, cp, cq = sum_changes(t)
        debit.debits_pending += dp
        debit.debits_posted += dq
        credit.credits_pending += cp
        credit.credits_posted += cq
        known[tid] = t
        accepted.append(t)
        if pid is not None:
            resolutions[pid] = t
        return TransferOutcome(tid, _R.OK)

    def rollback(undo: list[_Undo]) -> None:
        # In reverse: an account touched twice gets back the sums it had first.
        for s, a, b, c, d in reversed(undo):
            if s is None:  # a transfer the chain recorded: a is its id, b its pending id
                gone = accepted.pop()
                assert gone.id == a
                del known[a]
                if b is not None:
                    del resolutions[b]
            else:
                s.debits_pending, s.debits_posted, s.credits_pending, s.credits_posted = a, b, c, d

    def remember(t: Transfer, outcome: TransferOutcome) -> None:
        # A failure that depends on the ledger's state answers a retry of its id the same.
        if outcome.result.is_transient and not outcome.replayed:
            failed[t.id] = (t, outcome.result)
            new_failures.append((t, outcome.result))

    n = len(transfers)
    out: list[TransferOutcome] = []
    i = 0
    while i < n:
        t = transfers[i]
        flags = t.flags
        if not (isinstance(flags, TransferFlags) and flags._value_ & _LINKED):
            # On its own (the common case): no undo log.
            outcome = create_one(t, None)
            out.append(outcome)
            if outcome.result is not _R.OK:
                remember(t, outcome)
            i += 1
            continue
        j = i  # the chain is transfers[i..j]: every one linked but the last
        while j < n and _is_linked(transfers[j]):
            j += 1
        if j == n:  # the last transfer is linked: the chain is never closed
            out += [TransferOutcome(str(x.id), _R.LINKED_EVENT_FAILED) for x in transfers[i:]]
            out[-1] = TransferOutcome(str(transfers[-1].id), _R.LINKED_EVENT_CHAIN_OPEN)
            break
        undo: list[_Undo] = []
        chain: list[TransferOutcome] = []
        for k in range(i, j + 1):
            outcome = create_one(transfers[k], undo)
            if not outcome.ok:
                rollback(undo)
                chain = [
                    outcome
                    if x == k
                    else TransferOutcome(str(transfers[x].id), _R.LINKED_EVENT_FAILED)
                    for x in range(i, j + 1)
                ]
                remember(transfers[k], outcome)
                break
            chain.append(outcome)
        out += chain
        i = j + 1

    changed: dict[str, Account] = {}
    after = loaded
    for account_id in sorted(sums):
        a = sums[account_id].changed()
        if a is not None:
            changed[account_id] = a
    if changed:
        after = {**loaded, **changed}
    return BatchResult(
        outcomes=out,
        accepted=accepted,
        failures=new_failures,
        accounts=changed,
        after=LedgerView(after, known, failed, resolutions),
    )


def split_at_chains(transfers: Sequence[Transfer], size: int) -> list[Sequence[Transfer]]:
    """Consecutive parts of about ``size`` transfers, each ending where a chain ends. Deciding
    the parts one after the other, each on the ``after`` view of the one before, gives exactly
    the answers of deciding the whole batch at once: a chain is never cut."""
    parts: list[Sequence[Transfer]] = []
    start = 0
    n = len(transfers)
    while n - start > size:
        end = start + size
        while end < n and _is_linked(transfers[end - 1]):
            end += 1
        parts.append(transfers[start:end])
        start = end
    if start < n or not parts:
        parts.append(transfers[start:])
    return parts
