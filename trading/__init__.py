"""The shared core of Sunlit: database and migrations, parties, users and roles, the
clock and calendar of timed events, the tamper-evident audit log, the deposit ledger,
supervision and statistics."""
