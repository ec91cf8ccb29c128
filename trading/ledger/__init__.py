"""The deposit ledger (保证金账簿): double-entry, idempotent, reconciled with the bank.

- ``model``: accounts, transfers, result codes, deposits, bank messages (frozen dataclasses).
- ``rules``: pure rules — transfer validation in TigerBeetle's order of precedence, the
  deposit lifecycle table, sub-account numbers, interest, working days, caps, notification
  classification, collusion detection.
- ``reconcile``: matching the bank's statement; the bank's file formats.
- ``memory``: ``MemoryLedger``, the in-memory reference implementation of every operation.
- ``errors``: ``LedgerReason`` and ``LedgerRejected``.

The store (PostgreSQL) and service build on these and must give the same answers as
``MemoryLedger`` for the same commands.
"""

from .errors import LedgerReason, LedgerRejected
from .memory import MemoryLedger

__all__ = ["LedgerReason", "LedgerRejected", "MemoryLedger"]
