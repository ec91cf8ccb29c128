"""The tamper-evident audit log: an append-only, hash-chained table with signed checkpoints and
signed heads (``trading.audit.head``)."""

from trading.audit.chain import GENESIS_HASH, Entry, SignedHead, entry_hash
from trading.audit.log import AuditLog, Finding, VerifyReport

__all__ = ["GENESIS_HASH", "AuditLog", "Entry", "Finding", "SignedHead", "VerifyReport", "entry_hash"]
