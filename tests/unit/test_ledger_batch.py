"""D8: a batch decided against a loaded view (``batch.execute_batch``, what the PostgreSQL
store runs) gives the answers of the reference ledger (``ReferenceLedger.create_transfers``):
the same outcomes, the same accepted transfers, the same recorded failures, the same sums.
Linked chains all or nothing, replays, pending/post/void, overdrafts, garbage."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crypto.signing import generate_signing_key, public_key_bytes
from tests.ledger_reference import ReferenceLedger
from trading.ledger.batch import LedgerView, execute_batch, ids_to_load, split_at_chains
from trading.ledger.model import (
    AMOUNT_MAX_FEN,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferResult,
)

T0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
ACCOUNTS = [
    "bank",
    "suspense",
    "refunds_payable",
    "forfeited",
    "price_receivable",
    "interest_expense",
    "nope",
]
F = TransferFlags


def view_of(ledger: ReferenceLedger, transfers: list[Transfer]) -> LedgerView:
    """What a store would load for ``transfers`` from the ledger's state."""
    account_ids, ids, pending_ids = ids_to_load(transfers)
    return LedgerView(
        accounts={a: acc for a in account_ids if (acc := ledger.account(a)) is not None},
        transfers={i: rec.transfer for i in ids if (rec := ledger.transfer(i)) is not None},
        failures={
            i: (ledger._failed[i][0], ledger._failed[i][1]) for i in ids if i in ledger._failed
        },
        resolutions={p: r for p in pending_ids if (r := ledger.resolution(p)) is not None},
    )


@st.composite
def transfers(draw: st.DrawFn, known: list[Transfer]) -> Transfer:
    n = draw(st.integers(0, 10_000))
    kind = draw(st.sampled_from(["plain", "pending", "settle", "replay", "garbage"]))
    linked = F.LINKED if draw(st.booleans()) else F.NONE
    if kind == "replay" and known:
        t = draw(st.sampled_from(known))
        return replace(t, amount_fen=t.amount_fen + 1) if draw(st.booleans()) else t
    if kind == "settle" and known:
        p = draw(st.sampled_from(known))
        how = draw(st.sampled_from([F.POST_PENDING, F.VOID_PENDING]))
        return replace(p, id=f"t{n}", flags=how | linked, pending_id=p.id, reference="s")
    debit = draw(st.sampled_from(ACCOUNTS))
    credit = draw(st.sampled_from(ACCOUNTS))
    amount = draw(st.one_of(st.integers(1, 5_000), st.sampled_from([0, -1, AMOUNT_MAX_FEN + 1])))
    flags = linked | (F.PENDING if kind == "pending" else F.NONE)
    if kind == "garbage":
        flags = draw(st.sampled_from([F.PENDING | F.POST_PENDING, F.POST_PENDING, F.NONE]))
    return Transfer(f"t{n}", debit, credit, amount, TransferCode.ADJUSTMENT, flags)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_batch_decided_against_a_view_answers_as_the_reference_ledger(
    data: st.DataObject,
) -> None:
    """D8 (TigerBeetle): outcomes, journal, failures and balances equal the reference's."""
    ledger = ReferenceLedger(bank_public_key=public_key_bytes(generate_signing_key()))
    known: list[Transfer] = []
    for _ in range(data.draw(st.integers(1, 4))):
        batch = data.draw(st.lists(transfers(known), min_size=1, max_size=8))
        view = view_of(ledger, batch)
        before = {a.id: a for a in ledger.accounts()}
        journal_len = len(ledger.journal())
        failed_before = set(ledger._failed)
        result = execute_batch(batch, view)
        expected = ledger.create_transfers(batch, T0)
        assert result.outcomes == expected
        assert result.accepted == [r.transfer for r in ledger.journal()[journal_len:]]
        assert [t.id for t, _ in result.failures] == [
            i for i in ledger._failed if i not in failed_before
        ]
        after = {a.id: a for a in ledger.accounts()}
        changed = {a: acc for a, acc in after.items() if before.get(a) != acc}
        assert result.accounts == changed
        known += [t for t, o in zip(batch, expected, strict=True) if o.ok and F.PENDING in t.flags]
        known += [t for t, o in zip(batch, expected, strict=True) if o.result is TransferResult.OK]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(1, 6))
def test_a_batch_decided_in_parts_answers_as_the_whole_batch(
    data: st.DataObject, size: int
) -> None:
    """D8: the store decides a long batch in parts (``split_at_chains``), each on the view the
    part before left, writing one while deciding the next; a linked chain is never cut, and
    the answers, the accepted transfers, the failures and the final sums are those of the
    whole batch decided at once."""
    ledger = ReferenceLedger(bank_public_key=public_key_bytes(generate_signing_key()))
    known: list[Transfer] = []
    for _ in range(data.draw(st.integers(1, 3))):
        batch = data.draw(st.lists(transfers(known), min_size=0, max_size=16))
        start = view = view_of(ledger, batch)
        whole = execute_batch(batch, view)
        parts = split_at_chains(batch, size)
        assert [t for p in parts for t in p] == list(batch)
        for p in parts[:-1]:  # every part but the last ends where a chain ends
            assert not (isinstance(p[-1].flags, TransferFlags) and F.LINKED in p[-1].flags)
        outcomes, accepted, failures, changed = [], [], [], {}
        for p in parts:
            result = execute_batch(p, view)
            view = result.after
            outcomes += result.outcomes
            accepted += result.accepted
            failures += result.failures
            changed.update(result.accounts)
        assert outcomes == whole.outcomes
        assert accepted == whole.accepted and failures == whole.failures
        assert {
            a: acc for a, acc in changed.items() if acc != start.accounts.get(a)
        } == whole.accounts
        expected = ledger.create_transfers(batch, T0)
        assert outcomes == expected
        known += [t for t, o in zip(batch, expected, strict=True) if o.ok and F.PENDING in t.flags]
