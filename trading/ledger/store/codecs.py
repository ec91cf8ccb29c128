"""Between rows (and JSON columns) and the model's frozen dataclasses; the fingerprint of a
command. No SQL here."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from ..model import (
    Account,
    AccountKind,
    BankNotification,
    Deposit,
    DepositForm,
    DepositState,
    DepositTerms,
    ForfeitCause,
    ForfeitRequest,
    Guarantee,
    NotificationKind,
    NotificationOutcome,
    NotificationVerdict,
    Payout,
    PayoutPurpose,
    PayoutState,
    ProjectKind,
    RefundCause,
    SuspenseItem,
    SuspenseReason,
    SuspenseState,
    Transfer,
    TransferCode,
    TransferFlags,
)

# == codecs ===================================================================================


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).isoformat()


def _dt(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def account_from_row(r: asyncpg.Record) -> Account:
    return Account(
        r["id"],
        AccountKind(r["kind"]),
        r["project_id"],
        r["bidder_id"],
        r["debits_pending"],
        r["debits_posted"],
        r["credits_pending"],
        r["credits_posted"],
    )


def transfer_from_row(r: asyncpg.Record) -> Transfer:
    return Transfer(
        r["id"],
        r["debit_account_id"],
        r["credit_account_id"],
        r["amount_fen"],
        TransferCode(r["code"]),
        TransferFlags(r["flags"]),
        r["pending_id"],
        r["reference"],
    )


def terms_from_row(r: asyncpg.Record) -> DepositTerms:
    return DepositTerms(
        project_id=r["project_id"],
        project_no=r["project_no"],
        kind=ProjectKind(r["kind"]),
        required_fen=r["required_fen"],
        deadline_at=r["deadline_at"],
        interest_rate_bp=r["interest_rate_bp"],
        accept_guarantees=r["accept_guarantees"],
        estimate_fen=r["estimate_fen"],
        works=r["works"],
        starting_price_fen=r["starting_price_fen"],
        land=r["land"],
        opening_at=r["opening_at"],
    )


def guarantee_json(g: Guarantee | None) -> dict[str, Any] | None:
    if g is None:
        return None
    return {
        "ref": g.ref,
        "issuer": g.issuer,
        "amount_fen": g.amount_fen,
        "valid_until": _iso(g.valid_until),
    }


def guarantee_from_json(d: dict[str, Any] | None) -> Guarantee | None:
    if d is None:
        return None
    valid_until = _dt(d["valid_until"])
    assert valid_until is not None
    return Guarantee(d["ref"], d["issuer"], d["amount_fen"], valid_until)


def forfeit_json(f: ForfeitRequest | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {
        "command_id": f.command_id,
        "cause": f.cause.value,
        "note": f.note,
        "requested_by": f.requested_by,
        "requested_at": _iso(f.requested_at),
        "transfer_id": f.transfer_id,
        "approved_by": f.approved_by,
    }


def forfeit_from_json(d: dict[str, Any] | None) -> ForfeitRequest | None:
    if d is None:
        return None
    requested_at = _dt(d["requested_at"])
    assert requested_at is not None
    return ForfeitRequest(
        d["command_id"],
        ForfeitCause(d["cause"]),
        d["note"],
        d["requested_by"],
        requested_at,
        d["transfer_id"],
        d["approved_by"],
    )


def deposit_from_row(r: asyncpg.Record | dict[str, Any]) -> Deposit:
    return Deposit(
        project_id=r["project_id"],
        bidder_id=r["bidder_id"],
        bidder_no=r["bidder_no"],
        sub_account=r["sub_account"],
        account_id=r["account_id"],
        state=DepositState(r["state"]),
        form=DepositForm(r["form"]) if r["form"] else None,
        amount_fen=r["amount_fen"],
        bank_ref=r["bank_ref"],
        payer_account=r["payer_account"],
        payer_name=r["payer_name"],
        received_at=r["received_at"],
        guarantee=guarantee_from_json(r["guarantee"]),
        refund_cause=RefundCause(r["refund_cause"]) if r["refund_cause"] else None,
        refund_due_on=r["refund_due_on"],
        interest_fen=r["interest_fen"],
        payout_id=r["payout_id"],
        forfeit=forfeit_from_json(r["forfeit"]),
        version=r["version"],
    )


def deposit_json(d: Deposit) -> dict[str, Any]:
    """A deposit as JSON values (for the command log); ``deposit_from_json`` inverts it."""
    return {
        "project_id": d.project_id,
        "bidder_id": d.bidder_id,
        "bidder_no": d.bidder_no,
        "sub_account": d.sub_account,
        "account_id": d.account_id,
        "state": d.state.value,
        "form": d.form.value if d.form else None,
        "amount_fen": d.amount_fen,
        "bank_ref": d.bank_ref,
        "payer_account": d.payer_account,
        "payer_name": d.payer_name,
        "received_at": _iso(d.received_at),
        "guarantee": guarantee_json(d.guarantee),
        "refund_cause": d.refund_cause.value if d.refund_cause else None,
        "refund_due_on": d.refund_due_on.isoformat() if d.refund_due_on else None,
        "interest_fen": d.interest_fen,
        "payout_id": d.payout_id,
        "forfeit": forfeit_json(d.forfeit),
        "version": d.version,
    }


def deposit_from_json(d: dict[str, Any]) -> Deposit:
    row = dict(d)
    row["received_at"] = _dt(d["received_at"])
    row["refund_due_on"] = date.fromisoformat(d["refund_due_on"]) if d["refund_due_on"] else None
    return deposit_from_row(row)


def payout_from_row(r: asyncpg.Record | dict[str, Any]) -> Payout:
    return Payout(
        id=r["id"],
        purpose=PayoutPurpose(r["purpose"]),
        payee_account=r["payee_account"],
        payee_name=r["payee_name"],
        amount_fen=r["amount_fen"],
        due_on=r["due_on"],
        project_id=r["project_id"],
        bidder_id=r["bidder_id"],
        source_ref=r["source_ref"],
        state=PayoutState(r["state"]),
        bank_ref=r["bank_ref"],
    )


def payout_json(p: Payout) -> dict[str, Any]:
    return {
        "id": p.id,
        "purpose": p.purpose.value,
        "payee_account": p.payee_account,
        "payee_name": p.payee_name,
        "amount_fen": p.amount_fen,
        "due_on": p.due_on.isoformat(),
        "project_id": p.project_id,
        "bidder_id": p.bidder_id,
        "source_ref": p.source_ref,
        "state": p.state.value,
        "bank_ref": p.bank_ref,
    }


def payout_from_json(d: dict[str, Any]) -> Payout:
    return payout_from_row({**d, "due_on": date.fromisoformat(d["due_on"])})


def answer_json(answer: Deposit | Payout) -> dict[str, Any]:
    if isinstance(answer, Deposit):
        return {"deposit": deposit_json(answer)}
    return {"payout": payout_json(answer)}


def answer_from_json(d: dict[str, Any]) -> Deposit | Payout:
    if "deposit" in d:
        return deposit_from_json(d["deposit"])
    return payout_from_json(d["payout"])


def outcome_json(o: NotificationOutcome) -> dict[str, Any]:
    return {
        "bank_ref": o.bank_ref,
        "verdict": o.verdict.value,
        "suspense_reason": o.suspense_reason.value if o.suspense_reason else None,
        "project_id": o.project_id,
        "bidder_id": o.bidder_id,
        "transfer_id": o.transfer_id,
        "detail": o.detail,
    }


def outcome_from_json(d: dict[str, Any]) -> NotificationOutcome:
    return NotificationOutcome(
        d["bank_ref"],
        NotificationVerdict(d["verdict"]),
        SuspenseReason(d["suspense_reason"]) if d["suspense_reason"] else None,
        d["project_id"],
        d["bidder_id"],
        d["transfer_id"],
        d["detail"],
    )


def notification_from_row(r: asyncpg.Record) -> BankNotification:
    return BankNotification(
        r["seq"],
        r["bank_ref"],
        NotificationKind(r["kind"]),
        r["sub_account"],
        r["amount_fen"],
        r["value_at"],
        r["payer_account"],
        r["payer_name"],
        r["reverses_ref"],
        r["currency"],
    )


def suspense_from_row(r: asyncpg.Record) -> SuspenseItem:
    return SuspenseItem(
        r["bank_ref"],
        SuspenseReason(r["reason"]),
        r["amount_fen"],
        r["sub_account"],
        r["payer_account"],
        r["payer_name"],
        r["value_at"],
        SuspenseState(r["state"]),
        r["payout_id"],
    )


def fingerprint(values: Iterable[Any]) -> str:
    """A command's arguments as one canonical string (enums by value, times in UTC)."""

    def plain(v: Any) -> Any:
        if isinstance(v, datetime):
            return {"t": v.astimezone(UTC).isoformat()} if v.tzinfo else {"naive": v.isoformat()}
        if isinstance(v, date):
            return {"d": v.isoformat()}
        if hasattr(v, "value") and not isinstance(v, bool | int | str):
            return {"e": type(v).__name__, "v": v.value}
        if isinstance(v, bool | int | str) or v is None:
            return v
        return {"r": repr(v)}

    return json.dumps([plain(v) for v in values], sort_keys=True, separators=(",", ":"))
