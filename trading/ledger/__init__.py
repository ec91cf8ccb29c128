"""The deposit ledger (保证金账簿): double-entry, idempotent, reconciled with the bank.

The pure core:

- ``model``: accounts, transfers, result codes, deposits, bank messages (frozen dataclasses).
- ``rules``: pure rules, one module per concept — transfer validation in TigerBeetle's order
  of precedence (``transfers``), the deposit lifecycle table (``lifecycle``), sub-account
  numbers, interest and working days (``dates``), refunds, caps (``terms``), notification
  classification, collusion detection (``payers``).
- ``batch``: a batch of transfers decided against what a store loaded under lock.
- ``reconcile``: matching the bank's statement; the bank's file formats.
- ``bank``: the bank channel's wire format and a bank simulator.
- ``memory``: ``MemoryLedger``, the in-memory reference implementation of every operation
  (``core``, ``confirmations``, ``refunds``, ``forfeits``).
- ``errors``: ``LedgerReason`` and ``LedgerRejected``.

The adapters:

- ``store``: every SQL statement; ``pgledger``: ``PgLedger``, the same operations as
  ``MemoryLedger`` on PostgreSQL (a model-based test holds them to the same answers).
- ``service``: the use cases other packages and the web layer call, with audit, notices,
  alerts and timed events; ``admission``: the check ``trading.admission`` asks.
- ``demo``: the demo's bank key pair and a demo land sale.

See docs/ledger.md.
"""

from .errors import LedgerReason, LedgerRejected
from .memory import MemoryLedger

__all__ = ["LedgerReason", "LedgerRejected", "MemoryLedger"]
