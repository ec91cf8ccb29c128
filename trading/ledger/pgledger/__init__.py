"""The deposit ledger in PostgreSQL: the operations of ``MemoryLedger``, with the same answers.

``PgLedger`` wraps one connection. Every operation runs in one transaction (a savepoint when
the caller already holds one, so a use case can add its audit entry, alerts and timed events
and commit them all together) and is all-or-nothing: it checks, writes, or raises
``LedgerRejected`` having written nothing.

How it stays correct under concurrency:

- transfers are decided in batches (``batch.execute_batch``) against the accounts locked
  ``FOR UPDATE`` in id order, so two batches touching one account run one after the other and
  each sees the other's sums; ``UNIQUE (pending_id)`` settles a pending transfer once;
- a use case first takes its command id's advisory lock, then the rows of its aggregate
  (payout, deposit, suspense item — always in that order), then the accounts; the bank's
  message counter is locked before anything else, so notifications are taken one at a time;
- a deposit is saved with ``WHERE version = <the version loaded>``: a lost update would fail
  loudly, never silently;
- the database's CHECK constraints repeat the balance limits of each account kind.

The hypothesis test ``tests/integration/test_ledger_model.py`` drives this class and
``MemoryLedger`` with the same commands and compares every answer and the whole state.

``PgLedger`` is put together from one class per concept, like ``MemoryLedger``: ``core``
(setup, accounts and transfers, command ids, projects and deposits, reports), ``confirmations``
(bank notifications, guarantees), ``refunds`` (refunds, payouts, suspense), ``forfeits``
(forfeiture, conversion).
"""

from __future__ import annotations

from .confirmations import Confirmations
from .forfeits import Forfeits
from .refunds import Refunds

__all__ = ["PgLedger"]


class PgLedger(Confirmations, Refunds, Forfeits):
    """The ledger on one connection. ``now`` stamps rows whose operation takes no time."""
