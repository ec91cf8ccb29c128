"""The deposit ledger (保证金账簿): double-entry, idempotent, reconciled with the bank.

Laid out like ``auction``: a pure core, one store, the use cases.

The pure core (no I/O, no clock, no randomness):

- ``model``: accounts, transfers, result codes (``model``); deposits, bank messages, payouts,
  suspense (``model.deposits``) — frozen dataclasses.
- ``rules``: one module per concept — transfer validation in TigerBeetle's order of
  precedence (``transfers``), the deposit lifecycle table (``lifecycle``), sub-account
  numbers, interest and working days (``dates``), refunds, caps (``terms``), notification
  classification, collusion (``payers``) — and ``decisions``: each operation's decision, a
  pure function over the rows its use case loaded under lock, returning the ``Effects`` to
  write (deposit lifecycle, confirmations, refunds with interest, payouts, forfeits,
  conversion, suspense).
- ``batch``: a batch of transfers decided against what the store loaded under lock.
- ``reconcile``: matching the bank's statement; the bank's file formats.
- ``bank``: the bank channel's wire format and a bank simulator.
- ``errors``: ``LedgerReason`` and ``LedgerRejected``.

The adapter and the use cases:

- ``store``: every SQL statement, one module per aggregate (accounts and transfers,
  deposits, bank, payouts, reports).
- ``service``: the use cases, one module per use case: load (``store``), decide
  (``rules.decisions``), write, then audit, notices, alerts and timed events — one
  transaction. ``settlement`` (bank batches, the bank's answers) and ``reconciling`` (the
  statement) are use cases too; ``admission``: the check ``trading.admission`` asks.
- ``demo``: the demo's bank key pair and a demo land sale.

How the ledger is tested, and why so. There is one implementation of each rule. The
properties of the rules are stated over the pure functions (``tests/unit/test_ledger_*``).
The model-based test (``tests/integration/test_ledger_model.py``) drives the PostgreSQL
use cases and a reference ledger in ``tests/ledger_reference.py`` with the same commands
and compares every answer and the whole state. The reference keeps its rows in plain
dictionaries and calls the same decisions, so what the comparison can find is what the
PostgreSQL side adds: loading the right rows, locks, idempotent command ids, the journal
written in batches, savepoints, the database's own constraints. Transfers are the one place
where the reference decides independently (one transfer at a time, with an undo list)
against ``batch.execute_batch`` (a whole batch on a loaded view): that is where a store's
cleverness lives. (Until issue 17 a second implementation of every operation lived in the
product, ``MemoryLedger``, kept in step by hand: every change to a rule touched four places.)

See docs/ledger.md.
"""

from .errors import LedgerReason, LedgerRejected

__all__ = ["LedgerReason", "LedgerRejected"]
