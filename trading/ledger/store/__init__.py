"""Every SQL statement of the deposit ledger (asyncpg, ``$n`` parameters), and the codecs
between rows and the model's frozen dataclasses. No rules here: the use cases decide.

Locking: callers take row locks in one fixed order — the bank's message counter, payouts,
deposits, suspense items, then accounts in id order (``lock_accounts``) — so two use cases
never wait on each other in a circle.

One module per aggregate: ``accounts`` (accounts and transfers), ``deposits`` (projects,
deposits, guarantees), ``bank`` (keys, notifications, movements, suspense), ``payouts``
(payouts and bank batches), ``reports`` (commands, calendar, trial balance, reconciliations);
``codecs`` maps rows to the model. Callers use ``store.<function>``: every name is here.
"""

# ruff: noqa: F401 (this module re-exports the package's functions)
from .accounts import (
    _ACCOUNT_COLS,
    _TRANSFER_COLS,
    _transfer_columns,
    get_account,
    get_transfer,
    insert_accounts,
    journal,
    list_accounts,
    list_transfers,
    load_for_batch,
    lock_accounts,
    resolution,
    write_batch,
)
from .bank import (
    bank_keys,
    get_notification,
    get_suspense,
    insert_bank_key,
    insert_movement,
    insert_notification,
    insert_suspense,
    last_seq,
    list_bank_keys,
    list_suspense,
    lock_last_seq,
    movements,
    revoke_bank_key,
    set_last_seq,
    update_suspense,
)
from .codecs import (
    account_from_row,
    answer_from_json,
    answer_json,
    deposit_from_json,
    deposit_from_row,
    deposit_json,
    fingerprint,
    forfeit_from_json,
    forfeit_json,
    guarantee_from_json,
    guarantee_json,
    notification_from_row,
    outcome_from_json,
    outcome_json,
    payout_from_json,
    payout_from_row,
    payout_json,
    suspense_from_row,
    terms_from_row,
    transfer_from_row,
)
from .deposits import (
    bidder_no_owner,
    deposit_confirmed,
    get_deposit,
    get_deposit_by_sub_account,
    get_project,
    guarantee_owner,
    insert_deposit,
    insert_guarantee,
    insert_project,
    list_deposits,
    list_projects,
    lock_payouts_and_owners,
    lock_project_deposits,
    next_bidder_no,
    next_project_no,
    organisation_exists,
    project_no_taken,
    same_payer_deposits,
    save_deposit,
    update_project_dates,
)
from .payouts import (
    create_batch,
    get_batch,
    get_payout,
    insert_payout,
    list_batches,
    list_payouts,
    settle_payout,
)
from .reports import (
    get_command,
    get_reconciliation,
    insert_command,
    insert_reconciliation,
    list_calendar_days,
    list_reconciliations,
    lock_command,
    set_calendar_day,
    trial_balance,
    work_calendar,
)
