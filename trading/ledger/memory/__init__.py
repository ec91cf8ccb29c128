"""An in-memory deposit ledger: the reference implementation of every ledger operation.

A fake in the cosmicpython sense: it holds everything in dicts and lists, applies exactly
the rules of ``trading.ledger.rules``, and is what the PostgreSQL store is tested against
(a stateful test drives both with the same commands and compares them). It is also the
executable specification of the use cases the service will offer:

=========================  ==================================================================
operation                  effect
=========================  ==================================================================
create_accounts            accounts by id, idempotently
create_transfers           TigerBeetle-style batch: one ``TransferOutcome`` per transfer;
                           ``LINKED`` chains are all-or-nothing
register_project           deposit terms of a project (T14, A7 checked)
open_deposit               a bidder's deposit: its held account and virtual sub-account
receive_notification       a signed bank credit or reversal → confirm / suspense / reverse
confirm_guarantee          D7: a bank guarantee confirms without cash
request_refund             refund (+ interest) → a pending payout for the bank batch
confirm_payout             the bank paid (post) or rejected (void) a payout
reissue_payout             a new payout after the bank rejected one
request_forfeit            a pending forfeiture, waiting for a second approver
approve_forfeit            the second staff member posts it
reject_forfeit             the reservation is voided; the deposit is confirmed again
convert                    an auction winner's deposit becomes part of the price
return_suspense            money in suspense goes back to its payer
=========================  ==================================================================

Every use case is all-or-nothing: it checks, then commits one linked chain of transfers and
its state changes, or raises ``LedgerRejected`` having changed nothing. Use cases take a
client-chosen ``command_id``: the same command again returns the first answer; the same id
with other arguments is refused. Time comes in as ``at``; nothing here reads a clock.

``MemoryLedger`` is put together from one class per concept, each adding its operations to
the state ``core.LedgerCore`` holds (none overrides another's methods): ``core`` (accounts,
transfers, command ids, projects and deposits, reports), ``confirmations`` (bank notifications,
guarantees), ``refunds`` (refunds, payouts, suspense returns), ``forfeits`` (forfeiture,
conversion). ``trading.ledger.pgledger`` is laid out the same way.
"""

from __future__ import annotations

from ..rules.refunds import SUSPENSE_RETURN_DAYS
from .confirmations import Confirmations
from .forfeits import Forfeits
from .refunds import Refunds

__all__ = ["SUSPENSE_RETURN_DAYS", "MemoryLedger"]


class MemoryLedger(Confirmations, Refunds, Forfeits):
    """The deposit ledger in memory. Not thread-safe; one instance per test or process."""
