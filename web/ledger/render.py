"""The JSON form of ledger records as the API answers them (payers sealed where they must
be)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from trading.context import Actor
from trading.ledger import service, store
from trading.ledger.model import (
    Account,
    Deposit,
    DepositTerms,
    NotificationOutcome,
    Payout,
    SuspenseItem,
    TrialBalance,
)
from trading.ledger.reconcile import format_fen


def terms_json(t: DepositTerms) -> dict[str, Any]:
    return {
        "project_ref": t.project_id,
        "project_no": t.project_no,
        "kind": t.kind.value,
        "required_fen": t.required_fen,
        "required_yuan": format_fen(t.required_fen),
        "deadline_at": t.deadline_at,
        "opening_at": t.opening_at,
        "payers_sealed_until": t.unsealed_at,
        "interest_rate_bp": t.interest_rate_bp,
        "accept_guarantees": t.accept_guarantees,
        "estimate_fen": t.estimate_fen,
        "works": t.works,
        "starting_price_fen": t.starting_price_fen,
        "land": t.land,
    }


def deposit_json(d: Deposit, terms: DepositTerms, actor: Actor, now: datetime) -> dict[str, Any]:
    shown = service.visible_deposit(d, terms, actor, now)
    sealed = shown is not d and d.payer_account is not None
    return {
        "project_ref": d.project_id,
        "org_id": int(d.bidder_id),
        "bidder_no": d.bidder_no,
        "sub_account": d.sub_account,
        "account_id": d.account_id,
        "state": d.state.value,
        "admitted": d.state.value == "confirmed",
        "form": d.form.value if d.form else None,
        "required_fen": terms.required_fen,
        "amount_fen": d.amount_fen,
        "deadline_at": terms.deadline_at,
        "bank_ref": d.bank_ref,
        "payer_account": service.SEALED if sealed else shown.payer_account,
        "payer_name": service.SEALED if sealed else shown.payer_name,
        "payers_sealed_until": terms.unsealed_at if sealed else None,
        "received_at": d.received_at,
        "guarantee": store.guarantee_json(d.guarantee),
        "refund_cause": d.refund_cause.value if d.refund_cause else None,
        "refund_due_on": d.refund_due_on,
        "interest_fen": d.interest_fen,
        "payout_id": d.payout_id,
        "forfeit": store.forfeit_json(d.forfeit),
        "version": d.version,
    }


def account_json(a: Account) -> dict[str, Any]:
    return {
        "id": a.id,
        "kind": a.kind.value,
        "project_ref": a.project_id,
        "org_id": int(a.bidder_id) if a.bidder_id and a.bidder_id.isdigit() else a.bidder_id,
        "debits_pending": a.debits_pending,
        "debits_posted": a.debits_posted,
        "credits_pending": a.credits_pending,
        "credits_posted": a.credits_posted,
        "net_debit_fen": a.debits_posted - a.credits_posted,
    }


def trial_balance_json(tb: TrialBalance) -> dict[str, Any]:
    return {
        "balanced": tb.balanced,
        "net_fen": tb.net_fen,
        "debits_posted": tb.debits_posted,
        "credits_posted": tb.credits_posted,
        "debits_pending": tb.debits_pending,
        "credits_pending": tb.credits_pending,
        "by_kind": {k.value: v for k, v in tb.by_kind().items()},
        "rows": [
            {
                "account_id": r.account_id,
                "kind": r.kind.value,
                "debits_posted": r.debits_posted,
                "credits_posted": r.credits_posted,
                "debits_pending": r.debits_pending,
                "credits_pending": r.credits_pending,
                "net_debit_fen": r.net_debit_fen,
            }
            for r in tb.rows
        ],
    }


def outcome_json(o: NotificationOutcome) -> dict[str, Any]:
    return store.outcome_json(o) | {"replayed": o.replayed}


def payout_json(p: Payout, *, sealed: bool = False) -> dict[str, Any]:
    body = store.payout_json(p)
    if sealed:
        body |= {"payee_account": service.SEALED, "payee_name": service.SEALED}
    return body


def suspense_json(s: SuspenseItem, *, sealed: bool = False) -> dict[str, Any]:
    return {
        "bank_ref": s.bank_ref,
        "reason": s.reason.value,
        "amount_fen": s.amount_fen,
        "sub_account": s.sub_account,
        "payer_account": service.SEALED if sealed else s.payer_account,
        "payer_name": service.SEALED if sealed else s.payer_name,
        "value_at": s.value_at,
        "state": s.state.value,
        "payout_id": s.payout_id,
    }
