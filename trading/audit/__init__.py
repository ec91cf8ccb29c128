"""The tamper-evident audit log: an append-only, hash-chained table with signed checkpoints."""

from trading.audit.chain import GENESIS_HASH, Entry, entry_hash
from trading.audit.log import AuditLog, Finding, VerifyReport

__all__ = ["GENESIS_HASH", "AuditLog", "Entry", "Finding", "VerifyReport", "entry_hash"]
