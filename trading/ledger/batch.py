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

from .model import Account, Transfer, TransferFlags, TransferOutcome, TransferResult
from .rules.transfers import apply_transfer, validate_transfer

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
    accounts: set[str] = set()
    ids: set[str] = set()
    pending: set[str] = set()
    for t in transfers:
        if isinstance(t.debit_account_id, str):
            accounts.add(t.debit_account_id)
        if isinstance(t.credit_account_id, str):
            accounts.add(t.credit_account_id)
        if isinstance(t.id, str):
            ids.add(t.id)
        if isinstance(t.pending_id, str):
            pending.add(t.pending_id)
    return sorted(accounts), sorted(ids | pending), sorted(pending)


def _is_linked(t: Transfer) -> bool:
    return isinstance(t.flags, TransferFlags) and bool(t.flags._value_ & _LINKED)


def execute_batch(transfers: Sequence[Transfer], view: LedgerView) -> BatchResult:
    """Decide ``transfers`` in order against ``view`` (see the module docstring)."""
    accounts = dict(view.accounts)
    known = dict(view.transfers)
    failed = dict(view.failures)
    resolutions = dict(view.resolutions)
    accepted: list[Transfer] = []
    new_failures: list[tuple[Transfer, TransferResult]] = []
    changed: set[str] = set()

    def create_one(t: Transfer, undo: list[tuple[str, str, object]]) -> TransferOutcome:
        # Lookups inline (a value that is not text names nothing).
        tid, pid = t.id, t.pending_id
        text_id = isinstance(tid, str)
        recorded = known.get(tid) if text_id else None
        failure = failed.get(tid) if text_id else None
        prior = recorded if recorded is not None else (failure[0] if failure else None)
        text_pid = isinstance(pid, str)
        pending = known.get(pid) if text_pid else None
        d_id, c_id = t.debit_account_id, t.credit_account_id
        debit = accounts.get(d_id) if isinstance(d_id, str) else None
        credit = accounts.get(c_id) if isinstance(c_id, str) else None
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
        new_debit, new_credit = apply_transfer(t, debit, credit, pending)
        undo.append(("account", d_id, debit))
        undo.append(("account", c_id, credit))
        accounts[d_id] = new_debit
        accounts[c_id] = new_credit
        known[tid] = t
        accepted.append(t)
        undo.append(("transfer", tid, None))
        if pid is not None:
            resolutions[pid] = t
            undo.append(("resolution", pid, None))
        return TransferOutcome(tid, _R.OK)

    def rollback(undo: list[tuple[str, str, object]]) -> None:
        for what, key, old in reversed(undo):
            if what == "account":
                accounts[key] = old  # type: ignore[assignment]
            elif what == "transfer":
                gone = accepted.pop()
                assert gone.id == key
                del known[key]
            else:
                del resolutions[key]

    n = len(transfers)
    out: list[TransferOutcome | None] = [None] * n
    i = 0
    while i < n:
        j = i
        while j < n and _is_linked(transfers[j]):
            j += 1
        if j == n:  # the last transfer is linked: the chain is never closed
            for k in range(i, n):
                out[k] = TransferOutcome(str(transfers[k].id), _R.LINKED_EVENT_FAILED)
            out[n - 1] = TransferOutcome(str(transfers[n - 1].id), _R.LINKED_EVENT_CHAIN_OPEN)
            break
        undo: list[tuple[str, str, object]] = []
        failed_at = None
        for k in range(i, j + 1):
            outcome = create_one(transfers[k], undo)
            out[k] = outcome
            if not outcome.ok:
                failed_at = k
                break
        if failed_at is None:
            changed.update(key for what, key, _ in undo if what == "account")
        else:
            rollback(undo)
            for k in range(i, j + 1):
                if k != failed_at:
                    out[k] = TransferOutcome(str(transfers[k].id), _R.LINKED_EVENT_FAILED)
            bad = out[failed_at]
            assert bad is not None
            if bad.result.is_transient and not bad.replayed:
                t = transfers[failed_at]
                failed[t.id] = (t, bad.result)
                new_failures.append((t, bad.result))
        i = j + 1
    return BatchResult(
        outcomes=[o for o in out if o is not None],
        accepted=accepted,
        failures=new_failures,
        accounts={a: accounts[a] for a in sorted(changed) if accounts[a] != view.accounts.get(a)},
        after=LedgerView(accounts, known, failed, resolutions),
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
