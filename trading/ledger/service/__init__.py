"""The deposit ledger's use cases, as the web layer, the CLI, ``bidding`` and ``auction`` call
them: ``(conn, audit, actor, now, ...)``, one transaction each — the ledger's writes, the audit
entry, notices, supervision alerts and timed events commit together or not at all.

Each use case loads what it decides on under lock (``store``), decides with a pure function
(``rules.decisions``), writes the decision's ``Effects`` (``transfers.write``), then audits,
notifies and schedules. The ledger's part of each is a function of its own over a ``Ledger``
(a connection and the time) — ``refund``, ``take_notification``, ``reserve_forfeit``… — which
other use cases compose (``refund_all`` refunds each deposit with ``refund``) and the
model-based test drives directly.

=============================  ======================  =====================================
use case (at the edge)         the ledger's part       what else happens
=============================  ======================  =====================================
register_project               record_terms            audit
amend_project_dates            —                       only before the current deadline (T4)
open_deposit                   open_deposit_account    a notice with the sub-account number
receive_notification           take_notification       confirm → notice, collusion check
                                                       (D3); suspense → notice, a return-due
                                                       event; reversal → notice and an alert
confirm_guarantee              accept_guarantee        D7
request_refund / refund_all    refund                  a ``ledger.refund_due`` event
request_/approve_/reject_      reserve_/post_/         D6 (two staff members), notices
forfeit                        void_forfeit
convert                        convert_deposit         A7
(settlement, reconciling)      confirm_payout,         the bank's answers, reissues,
                               reissue_payout,         suspense returns, a statement's
                               return_suspense,        unmatched credits (D9)
                               record_unmatched_credit
=============================  ======================  =====================================

Modules, one per use case: ``deposits``, ``notifications``, ``refunds``, ``payouts``,
``forfeits``; ``transfers`` (batches of transfers, a use case's chain, writing effects) and
``context`` (the ``Ledger``, command ids, names at the edge: a project is its reference
``"tender:12"``, a bidder its organisation id, inside the ledger ``str(org_id)``).
"""

# ruff: noqa: F401 (the use cases, re-exported: callers write ``service.<use case>``)
from .context import (
    REFUND_DUE,
    SEALED,
    UNSEAL,
    Ledger,
    _check_ref,
    bidder_id,
    end_of_china_day,
    get_deposit,
    get_terms,
    is_sealed,
    visible_deposit,
)
from .deposits import (
    amend_project_dates,
    confirm_guarantee,
    open_deposit,
    register_project,
)
from .forfeits import approve_forfeit, convert, reject_forfeit, request_forfeit
from .notifications import on_unseal, receive_notification, register_bank_key
from .refunds import on_refund_due, refund_all, request_refund
from .transfers import set_calendar_day, trial_balance
