"""The deposit ledger's rules: pure functions, no I/O, no clock, no randomness.

Theory of operation
===================

Money. Every amount is an ``int`` of fen, ``0 < amount_fen <= AMOUNT_MAX_FEN``; a ``bool``,
a float or a decimal is refused with its own code (``amount_problem``). Every transfer moves
one amount from one account to another, so every transfer balances and the whole ledger
sums to zero (``trial_balance``).

Transfers (TigerBeetle's model). ``validate_transfer`` decides one transfer against exactly
what a store has to load for it, under lock:

- ``prior``: what was recorded before under the same id (accepted, or a state-dependent
  failure). Same content → ``EXISTS`` (the caller answers the first result); other
  content → ``EXISTS_WITH_DIFFERENT_*``.
- ``debit``/``credit``: the two accounts with their running sums.
- ``pending`` and ``pending_resolution``: for a post or void, the pending transfer and the
  post or void already recorded against it, if any — at most one ever exists, so a pending
  transfer is posted or voided exactly once (a store enforces it with a unique index on
  ``pending_id``).

It returns the first ``TransferResult`` that applies, in the declared order of precedence;
``apply_transfer`` then computes the two accounts' new sums. Balance limits come from the
account's kind: a deposit held, refunds payable, suspense and forfeited may never be
debited beyond their posted credits (pending debits count: a reservation is a promise).

Deposits (保证金). A ``Deposit`` moves through ``DEPOSIT_TRANSITIONS``::

    awaiting    --confirm-->          confirmed      (cash credit in time, or a guarantee)
    confirmed   --reverse-->          awaiting       (the bank took the credit back)
    confirmed   --request_refund-->   refund_pending (cash to refunds payable, payout pending)
    confirmed   --release-->          refunded       (a guarantee handed back)
    refund_pending --payout_voided / payout_reissued--> refund_pending
    refund_pending --payout_posted--> refunded       (the bank paid)
    confirmed   --request_forfeit-->  forfeit_pending (cash reserved, waiting for approval)
    forfeit_pending --approve_forfeit--> forfeited   (a second staff member)
    forfeit_pending --reject_forfeit-->  confirmed
    confirmed   --convert-->          converted      (auction winner: part of the price)

``next_deposit_state`` is a table lookup; a missing entry raises and changes nothing. The
three ends (refunded, forfeited, converted) have no way out: a deposit is resolved once.

Bank notifications. A credit is matched to a deposit by its virtual sub-account number
(``sub_account_number``: the project and bidder numbers plus ISO 7064 MOD 97-10 check
digits, so a mistyped number is caught). It confirms the deposit when the sub-account is
known, the bank's value time is strictly before the deadline (IR 26), the deposit is still
awaiting and the amount suffices; otherwise the money goes to suspense with the first
reason that applies, in that order (``classify_credit``). The bank numbers its messages;
``check_sequence`` refuses a gap or a number already used.

Dates. Refund deadlines and interest are counted on China dates (UTC+8). Interest is simple
interest on a 365-day year, rounded half-up to the fen (``interest_fen``); days held count
the day of value and not the day of refund (算头不算尾). "Within 5 working days" counts
Monday to Friday less holidays plus adjusted working days (``add_working_days``).

Sources: IR 26 (cap 2 %, value time), IR 35 (withdrawal), IR 40(6) (same payer account),
IR 57 (refund with interest within 5 days of the contract), IR 74 (forfeiture); O39 and land
practice (A7: ≥ 20 %, winner's deposit into the price, losers within 5 working days).

Modules
=======

``values`` (ids, amounts), ``transfers``, ``lifecycle`` (the table and the checks its commands
pass), ``subaccounts``, ``dates`` (China dates, working days, interest), ``refunds``,
``terms`` (caps and floors), ``notifications``, ``payers`` (payer secrecy, collusion), and
``decisions``: each operation's decision over the rows its use case loaded under lock — the
``Effects`` to write (transfers, the deposit's next version, a payout, a suspense item, a
bank movement). Import a rule from its module.
"""
