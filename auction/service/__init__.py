"""Use cases of live auctions: create and schedule lots and plate sessions, admit bidders
(paddles), seal the reserve, settle a closed lot, and read results and confirmations.

Each takes ``(conn, audit, actor, now, ...)`` and runs in one transaction. Commands to a live
lot (start, pause, bids…) go through the engine (``auction.engine``), which logs them; the
web layer then records the staff action here with ``record_action``. Bids are not in the
audit log: the lot's own append-only log is their record (an audit entry per bid would put
the audit chain's lock on the auction's hot path).

Admission (A6): a paddle (竞买号, six random digits) per organisation per scope — a land lot
(``lot:<id>``, deposit ref ``lot:<id>``) or a whole plate session (``session:<id>``, deposit
ref ``auction_session:<id>``: one deposit covers the session's plates) — only once
``trading.admission.is_deposit_confirmed`` says so. Who holds which paddle is shown to staff
once the lot is closed and, for the winner, to the public in the result.

Deposits (A7) live in the deposit ledger (``auction.deposits``): a land lot's terms are
registered when it is created and settled when it closes; a plate session's are registered
when it is created and settled when its last lot is settled (``settle`` takes the session's
row lock first, so the lots of one session settle one at a time and exactly one sees the
session ended).

The use cases live in one module per group — ``common`` (limits, money, a lot as JSON),
``lots`` (create, read, schedule), ``admission`` (paddles, the reserve, the lottery seed,
staff actions), ``custody`` (a reserve held by custodians: their shares at the close),
``settlement`` (the close) and ``results`` (results, confirmations, the log
export) — and are re-exported here: callers write ``from auction import service``.
"""

from __future__ import annotations

from auction.service.admission import (
    admit,
    enter_reserve,
    lottery_seed_commitments,
    open_lottery_seed,
    open_reserve,
    record_action,
)
from auction.service.common import (
    START_EVENT,
    deposit_ref,
    lot_json,
    yuan,
)
from auction.service.custody import (
    RESERVE_DUE_EVENT,
    HeldByCustodians,
    call_custodians,
    custody_status,
    hand_in_share,
    my_custody,
    my_sealed_share,
    reserve_due,
    reserve_opened,
)
from auction.service.lots import (
    create_land_lot,
    create_plate_session,
    get_lot,
    get_session,
    list_lots,
    schedule_lot,
    schedule_session,
    scope_lot_ids,
)
from auction.service.results import bidders, confirmation, export_log, result, session_results
from auction.service.settlement import settle, settle_session_deposits

__all__ = [
    "RESERVE_DUE_EVENT",
    "START_EVENT",
    "HeldByCustodians",
    "admit",
    "call_custodians",
    "bidders",
    "confirmation",
    "create_land_lot",
    "create_plate_session",
    "custody_status",
    "deposit_ref",
    "enter_reserve",
    "export_log",
    "get_lot",
    "get_session",
    "hand_in_share",
    "list_lots",
    "lot_json",
    "my_custody",
    "my_sealed_share",
    "open_lottery_seed",
    "open_reserve",
    "lottery_seed_commitments",
    "record_action",
    "reserve_due",
    "reserve_opened",
    "result",
    "schedule_lot",
    "schedule_session",
    "scope_lot_ids",
    "session_results",
    "settle",
    "settle_session_deposits",
    "yuan",
]
