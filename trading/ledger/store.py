"""Every SQL statement of the deposit ledger (asyncpg, ``$n`` parameters), and the codecs
between rows and the model's frozen dataclasses. No rules here: ``pgledger`` decides.

Locking: callers take row locks in one fixed order — the bank's message counter, payouts,
deposits, suspense items, then accounts in id order (``lock_accounts``) — so two use cases
never wait on each other in a circle.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime
from typing import Any

import asyncpg

from .model import (
    Account,
    AccountKind,
    BankMovement,
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
    TransferResult,
    TrialBalance,
    TrialBalanceRow,
    WorkCalendar,
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


# == accounts and transfers =====================================================================

_ACCOUNT_COLS = "id, kind, project_id, bidder_id, debits_pending, debits_posted, credits_pending, credits_posted"
_TRANSFER_COLS = (
    "id, debit_account_id, credit_account_id, amount_fen, code, flags, pending_id, reference"
)


async def lock_accounts(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, Account]:
    """The named accounts that exist, locked in id order (the one order every path uses)."""
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {_ACCOUNT_COLS} FROM ledger_accounts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        list(ids),
    )
    return {r["id"]: account_from_row(r) for r in rows}


async def get_account(conn: asyncpg.Connection, account_id: str) -> Account | None:
    r = await conn.fetchrow(
        f"SELECT {_ACCOUNT_COLS} FROM ledger_accounts WHERE id = $1", account_id
    )
    return account_from_row(r) if r else None


async def list_accounts(
    conn: asyncpg.Connection,
    *,
    after_id: str = "",
    kind: str | None = None,
    project_id: str | None = None,
    limit: int = 1000,
) -> list[Account]:
    rows = await conn.fetch(
        f"""SELECT {_ACCOUNT_COLS} FROM ledger_accounts
            WHERE id > $1 AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR project_id = $3)
            ORDER BY id LIMIT $4""",
        after_id,
        kind,
        project_id,
        limit,
    )
    return [account_from_row(r) for r in rows]


async def insert_accounts(
    conn: asyncpg.Connection, accounts: Sequence[Account], at: datetime
) -> None:
    await conn.executemany(
        "INSERT INTO ledger_accounts (id, kind, project_id, bidder_id, created_at) VALUES ($1, $2, $3, $4, $5)",
        [(a.id, a.kind.value, a.project_id, a.bidder_id, at) for a in accounts],
    )


async def load_transfers(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, Transfer]:
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {_TRANSFER_COLS} FROM ledger_transfers WHERE id = ANY($1::text[])", list(ids)
    )
    return {r["id"]: transfer_from_row(r) for r in rows}


async def load_resolutions(
    conn: asyncpg.Connection, pending_ids: Sequence[str]
) -> dict[str, Transfer]:
    if not pending_ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {_TRANSFER_COLS} FROM ledger_transfers WHERE pending_id = ANY($1::text[])",
        list(pending_ids),
    )
    return {r["pending_id"]: transfer_from_row(r) for r in rows}


async def load_failures(
    conn: asyncpg.Connection, ids: Sequence[str]
) -> dict[str, tuple[Transfer, TransferResult]]:
    if not ids:
        return {}
    rows = await conn.fetch(
        f"SELECT {_TRANSFER_COLS}, result FROM ledger_transfer_failures WHERE id = ANY($1::text[])",
        list(ids),
    )
    return {r["id"]: (transfer_from_row(r), TransferResult(r["result"])) for r in rows}


async def load_for_batch(
    conn: asyncpg.Connection, ids: Sequence[str], pending_ids: Sequence[str]
) -> tuple[dict[str, Transfer], dict[str, tuple[Transfer, TransferResult]], dict[str, Transfer]]:
    """In one round trip, what a batch's ids and pending ids name: (accepted transfers by id,
    recorded failures by id, the post or void of each pending transfer by its pending id).
    Run after ``lock_accounts``, so that it sees everything committed before the lock."""
    transfers: dict[str, Transfer] = {}
    failures: dict[str, tuple[Transfer, TransferResult]] = {}
    resolutions: dict[str, Transfer] = {}
    if not ids:
        return transfers, failures, resolutions
    rows = await conn.fetch(
        f"""SELECT 't' AS src, {_TRANSFER_COLS}, NULL AS result FROM ledger_transfers WHERE id = ANY($1::text[])
            UNION ALL
            SELECT 'r', {_TRANSFER_COLS}, NULL FROM ledger_transfers WHERE pending_id = ANY($2::text[])
            UNION ALL
            SELECT 'f', {_TRANSFER_COLS}, result FROM ledger_transfer_failures WHERE id = ANY($1::text[])""",
        list(ids),
        list(pending_ids),
    )
    for r in rows:
        src = r["src"]
        if src == "t":
            transfers[r["id"]] = transfer_from_row(r)
        elif src == "r":
            resolutions[r["pending_id"]] = transfer_from_row(r)
        else:
            failures[r["id"]] = (transfer_from_row(r), TransferResult(r["result"]))
    return transfers, failures, resolutions


async def write_batch(
    conn: asyncpg.Connection,
    accounts: Sequence[Account],
    accepted: Sequence[Transfer],
    failures: Sequence[tuple[Transfer, TransferResult]],
    at: datetime,
) -> None:
    """A decided batch in one statement: the accounts' new sums, the accepted transfers in the
    batch's order (``seq`` follows it) and the failures to remember. The database checks the
    balance limits (CHECK), one settlement per pending transfer and unique ids (UNIQUE), and
    that every account exists (a statement trigger)."""
    failed = [t for t, _ in failures]
    await conn.execute(
        f"""WITH accounts AS (
                UPDATE ledger_accounts a SET debits_pending = v.dp, debits_posted = v.dq,
                                             credits_pending = v.cp, credits_posted = v.cq
                FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
                     AS v(id, dp, dq, cp, cq)
                WHERE a.id = v.id
            ), accepted AS (
                INSERT INTO ledger_transfers ({_TRANSFER_COLS}, created_at)
                SELECT u.id, u.d, u.c, u.a, u.code, u.f, u.p, u.r, $23::timestamptz
                FROM unnest($6::text[], $7::text[], $8::text[], $9::bigint[], $10::text[], $11::int[],
                            $12::text[], $13::text[]) WITH ORDINALITY AS u(id, d, c, a, code, f, p, r, ord)
                ORDER BY u.ord
            )
            INSERT INTO ledger_transfer_failures ({_TRANSFER_COLS}, result, created_at)
            SELECT *, $23::timestamptz FROM unnest($14::text[], $15::text[], $16::text[], $17::bigint[],
                                                   $18::text[], $19::int[], $20::text[], $21::text[], $22::text[])
            ON CONFLICT (id) DO NOTHING""",
        [a.id for a in accounts],
        [a.debits_pending for a in accounts],
        [a.debits_posted for a in accounts],
        [a.credits_pending for a in accounts],
        [a.credits_posted for a in accounts],
        *_transfer_columns(accepted),
        *_transfer_columns(failed),
        [r.value for _, r in failures],
        at,
    )


def _transfer_columns(transfers: Sequence[Transfer]) -> list[list[Any]]:
    # One pass over the batch (this is on the hot path): eight columns for ``unnest``.
    cols: list[list[Any]] = [[], [], [], [], [], [], [], []]
    i, d, c, a, code, f, p, r = cols
    for t in transfers:
        i.append(t.id)
        d.append(t.debit_account_id)
        c.append(t.credit_account_id)
        a.append(t.amount_fen)
        code.append(t.code._value_)
        f.append(t.flags._value_)
        p.append(t.pending_id)
        r.append(t.reference)
    return cols


async def insert_transfers(
    conn: asyncpg.Connection, transfers: Sequence[Transfer], at: datetime
) -> None:
    """One statement for the whole batch, in the batch's order (seq follows it)."""
    if not transfers:
        return
    await conn.execute(
        f"""INSERT INTO ledger_transfers ({_TRANSFER_COLS}, created_at)
            SELECT u.id, u.d, u.c, u.a, u.code, u.f, u.p, u.r, $9::timestamptz
            FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[],
                        $8::text[]) WITH ORDINALITY AS u(id, d, c, a, code, f, p, r, ord)
            ORDER BY u.ord""",
        *_transfer_columns(transfers),
        at,
    )


async def insert_failures(
    conn: asyncpg.Connection, failures: Sequence[tuple[Transfer, TransferResult]], at: datetime
) -> None:
    if not failures:
        return
    transfers = [t for t, _ in failures]
    await conn.execute(
        f"""INSERT INTO ledger_transfer_failures ({_TRANSFER_COLS}, result, created_at)
            SELECT *, $10::timestamptz FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[],
                                                $6::int[], $7::text[], $8::text[], $9::text[])
            ON CONFLICT (id) DO NOTHING""",
        *_transfer_columns(transfers),
        [r.value for _, r in failures],
        at,
    )


async def update_accounts(conn: asyncpg.Connection, accounts: Iterable[Account]) -> None:
    """Write the new sums of the accounts a batch changed (all locked by this transaction)."""
    accounts = list(accounts)
    if not accounts:
        return
    await conn.execute(
        """UPDATE ledger_accounts a SET debits_pending = v.dp, debits_posted = v.dq,
                                        credits_pending = v.cp, credits_posted = v.cq
           FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[]) AS v(id, dp, dq, cp, cq)
           WHERE a.id = v.id""",
        [a.id for a in accounts],
        [a.debits_pending for a in accounts],
        [a.debits_posted for a in accounts],
        [a.credits_pending for a in accounts],
        [a.credits_posted for a in accounts],
    )


async def journal(conn: asyncpg.Connection) -> list[Transfer]:
    rows = await conn.fetch(f"SELECT {_TRANSFER_COLS} FROM ledger_transfers ORDER BY seq")
    return [transfer_from_row(r) for r in rows]


async def list_transfers(
    conn: asyncpg.Connection,
    *,
    after_seq: int = 0,
    account_id: str | None = None,
    limit: int = 1000,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        f"""SELECT seq, {_TRANSFER_COLS}, created_at FROM ledger_transfers
            WHERE seq > $1 AND ($2::text IS NULL OR debit_account_id = $2 OR credit_account_id = $2)
            ORDER BY seq LIMIT $3""",
        after_seq,
        account_id,
        limit,
    )
    return [dict(r) for r in rows]


async def get_transfer(conn: asyncpg.Connection, transfer_id: str) -> Transfer | None:
    r = await conn.fetchrow(
        f"SELECT {_TRANSFER_COLS} FROM ledger_transfers WHERE id = $1", transfer_id
    )
    return transfer_from_row(r) if r else None


async def first_failure(conn: asyncpg.Connection, transfer_id: str) -> TransferResult | None:
    result = await conn.fetchval(
        "SELECT result FROM ledger_transfer_failures WHERE id = $1", transfer_id
    )
    return TransferResult(result) if result else None


async def resolution(conn: asyncpg.Connection, pending_id: str) -> Transfer | None:
    r = await conn.fetchrow(
        f"SELECT {_TRANSFER_COLS} FROM ledger_transfers WHERE pending_id = $1", pending_id
    )
    return transfer_from_row(r) if r else None


async def trial_balance(conn: asyncpg.Connection) -> TrialBalance:
    rows = await conn.fetch(f"SELECT {_ACCOUNT_COLS} FROM ledger_accounts ORDER BY id")
    tb_rows = tuple(
        TrialBalanceRow(
            r["id"],
            AccountKind(r["kind"]),
            r["debits_posted"],
            r["credits_posted"],
            r["debits_pending"],
            r["credits_pending"],
        )
        for r in rows
    )
    return TrialBalance(
        rows=tb_rows,
        debits_posted=sum(r.debits_posted for r in tb_rows),
        credits_posted=sum(r.credits_posted for r in tb_rows),
        debits_pending=sum(r.debits_pending for r in tb_rows),
        credits_pending=sum(r.credits_pending for r in tb_rows),
    )


async def journal_totals(conn: asyncpg.Connection) -> dict[str, int]:
    """Sums straight from the journal, to check the accounts' running sums against."""
    r = await conn.fetchrow(
        """SELECT count(*) AS transfers, coalesce(sum(amount_fen) FILTER (WHERE flags & 14 = 0), 0) AS posted_direct
           FROM ledger_transfers"""
    )
    return {"transfers": r["transfers"], "posted_direct_fen": int(r["posted_direct"])}


# == projects and deposits ======================================================================


async def next_project_no(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval("SELECT nextval('ledger_project_no_seq')")
    return n


async def get_project(
    conn: asyncpg.Connection, project_id: str, *, for_update: bool = False
) -> DepositTerms | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_projects WHERE project_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        project_id,
    )
    return terms_from_row(r) if r else None


async def project_no_taken(conn: asyncpg.Connection, project_no: int) -> bool:
    return bool(
        await conn.fetchval("SELECT true FROM ledger_projects WHERE project_no = $1", project_no)
    )


async def insert_project(conn: asyncpg.Connection, t: DepositTerms, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_projects (project_id, project_no, kind, required_fen, deadline_at, opening_at,
               interest_rate_bp, accept_guarantees, estimate_fen, works, starting_price_fen, land, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        t.project_id,
        t.project_no,
        t.kind.value,
        t.required_fen,
        t.deadline_at,
        t.opening_at,
        t.interest_rate_bp,
        t.accept_guarantees,
        t.estimate_fen,
        t.works,
        t.starting_price_fen,
        t.land,
        at,
    )


async def update_project_dates(
    conn: asyncpg.Connection, project_id: str, deadline_at: datetime, opening_at: datetime | None
) -> None:
    await conn.execute(
        "UPDATE ledger_projects SET deadline_at = $2, opening_at = $3 WHERE project_id = $1",
        project_id,
        deadline_at,
        opening_at,
    )


async def list_projects(conn: asyncpg.Connection, *, limit: int = 1000) -> list[DepositTerms]:
    rows = await conn.fetch(
        "SELECT * FROM ledger_projects ORDER BY created_at, project_id LIMIT $1", limit
    )
    return [terms_from_row(r) for r in rows]


async def get_deposit(
    conn: asyncpg.Connection, project_id: str, bidder_id: str, *, for_update: bool = False
) -> Deposit | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_deposits WHERE project_id = $1 AND bidder_id = $2"
        + (" FOR UPDATE" if for_update else ""),
        project_id,
        bidder_id,
    )
    return deposit_from_row(r) if r else None


async def get_deposit_by_sub_account(
    conn: asyncpg.Connection, sub_account: str, *, for_update: bool = False
) -> Deposit | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_deposits WHERE sub_account = $1"
        + (" FOR UPDATE" if for_update else ""),
        sub_account,
    )
    return deposit_from_row(r) if r else None


async def bidder_no_owner(conn: asyncpg.Connection, project_id: str, bidder_no: int) -> str | None:
    owner: str | None = await conn.fetchval(
        "SELECT bidder_id FROM ledger_deposits WHERE project_id = $1 AND bidder_no = $2",
        project_id,
        bidder_no,
    )
    return owner


async def next_bidder_no(conn: asyncpg.Connection, project_id: str) -> int:
    n: int = await conn.fetchval(
        "SELECT coalesce(max(bidder_no), 0) + 1 FROM ledger_deposits WHERE project_id = $1",
        project_id,
    )
    return n


async def insert_deposit(conn: asyncpg.Connection, d: Deposit, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_deposits (project_id, bidder_id, bidder_no, sub_account, account_id, state, version,
                                        created_at, updated_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)""",
        d.project_id,
        d.bidder_id,
        d.bidder_no,
        d.sub_account,
        d.account_id,
        d.state.value,
        d.version,
        at,
    )


async def save_deposit(
    conn: asyncpg.Connection,
    d: Deposit,
    *,
    expected_version: int,
    at: datetime,
    payer_account_norm: str | None,
) -> None:
    """Replace the deposit's state; the version must be the one it was loaded with."""
    status = await conn.execute(
        """UPDATE ledger_deposits SET state = $3, form = $4, amount_fen = $5, bank_ref = $6, payer_account = $7,
               payer_account_norm = $8, payer_name = $9, received_at = $10, guarantee = $11, refund_cause = $12,
               refund_due_on = $13, interest_fen = $14, payout_id = $15, forfeit = $16, version = $17, updated_at = $18
           WHERE project_id = $1 AND bidder_id = $2 AND version = $19""",
        d.project_id,
        d.bidder_id,
        d.state.value,
        d.form.value if d.form else None,
        d.amount_fen,
        d.bank_ref,
        d.payer_account,
        payer_account_norm,
        d.payer_name,
        d.received_at,
        guarantee_json(d.guarantee),
        d.refund_cause.value if d.refund_cause else None,
        d.refund_due_on,
        d.interest_fen,
        d.payout_id,
        forfeit_json(d.forfeit),
        d.version,
        at,
        expected_version,
    )
    assert status == "UPDATE 1", f"deposit {d.project_id}/{d.bidder_id} changed under its lock"


async def list_deposits(
    conn: asyncpg.Connection,
    *,
    project_id: str | None = None,
    bidder_id: str | None = None,
    state: str | None = None,
    limit: int = 10_000,
) -> list[Deposit]:
    rows = await conn.fetch(
        """SELECT * FROM ledger_deposits
           WHERE ($1::text IS NULL OR project_id = $1) AND ($2::text IS NULL OR bidder_id = $2)
             AND ($3::text IS NULL OR state = $3)
           ORDER BY no LIMIT $4""",
        project_id,
        bidder_id,
        state,
        limit,
    )
    return [deposit_from_row(r) for r in rows]


async def lock_project_deposits(conn: asyncpg.Connection, project_id: str) -> list[Deposit]:
    """Every deposit of the project, locked in creation order: a use case over many deposits
    takes them all before it touches any account (see the module docstring)."""
    rows = await conn.fetch(
        "SELECT * FROM ledger_deposits WHERE project_id = $1 ORDER BY no FOR UPDATE", project_id
    )
    return [deposit_from_row(r) for r in rows]


async def lock_payouts_and_owners(conn: asyncpg.Connection, payout_ids: Sequence[str]) -> None:
    """Lock the payouts (by id), then the deposits and suspense items they pay out (in creation
    order): the order a single payout's use case takes them in, for many at once."""
    await conn.execute(
        "SELECT 1 FROM ledger_payouts WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE",
        list(payout_ids),
    )
    await conn.execute(
        """SELECT 1 FROM ledger_deposits d WHERE EXISTS (
               SELECT 1 FROM ledger_payouts p WHERE p.id = ANY($1::text[])
                 AND p.project_id = d.project_id AND p.bidder_id = d.bidder_id)
           ORDER BY d.no FOR UPDATE OF d""",
        list(payout_ids),
    )
    await conn.execute(
        """SELECT 1 FROM ledger_suspense s WHERE s.bank_ref IN (
               SELECT source_ref FROM ledger_payouts WHERE id = ANY($1::text[]) AND source_ref IS NOT NULL)
           ORDER BY s.no FOR UPDATE OF s""",
        list(payout_ids),
    )


async def same_payer_deposits(
    conn: asyncpg.Connection, project_id: str, payer_account_norm: str
) -> list[Deposit]:
    rows = await conn.fetch(
        """SELECT * FROM ledger_deposits WHERE project_id = $1 AND payer_account_norm = $2 AND form = 'cash'
           ORDER BY no""",
        project_id,
        payer_account_norm,
    )
    return [deposit_from_row(r) for r in rows]


async def deposit_confirmed(conn: asyncpg.Connection, project_id: str, bidder_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM ledger_deposits WHERE project_id = $1 AND bidder_id = $2 AND state = 'confirmed'",
            project_id,
            bidder_id,
        )
    )


async def organisation_exists(conn: asyncpg.Connection, org_id: int) -> bool:
    return bool(await conn.fetchval("SELECT true FROM organisations WHERE id = $1", org_id))


async def guarantee_owner(conn: asyncpg.Connection, ref: str) -> tuple[str, str] | None:
    r = await conn.fetchrow(
        "SELECT project_id, bidder_id FROM ledger_guarantees WHERE ref = $1", ref
    )
    return (r["project_id"], r["bidder_id"]) if r else None


async def insert_guarantee(
    conn: asyncpg.Connection, ref: str, project_id: str, bidder_id: str
) -> None:
    await conn.execute(
        "INSERT INTO ledger_guarantees (ref, project_id, bidder_id) VALUES ($1, $2, $3)",
        ref,
        project_id,
        bidder_id,
    )


# == the bank ===================================================================================


async def bank_keys(conn: asyncpg.Connection) -> list[bytes]:
    rows = await conn.fetch(
        "SELECT public_key FROM ledger_bank_keys WHERE revoked_at IS NULL ORDER BY created_at"
    )
    return [bytes(r["public_key"]) for r in rows]


async def list_bank_keys(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT * FROM ledger_bank_keys ORDER BY created_at")]


async def insert_bank_key(
    conn: asyncpg.Connection, key_id: str, public_key: bytes, label: str, at: datetime
) -> bool:
    status = await conn.execute(
        "INSERT INTO ledger_bank_keys (key_id, public_key, label, created_at) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        key_id,
        public_key,
        label,
        at,
    )
    return status == "INSERT 0 1"


async def revoke_bank_key(conn: asyncpg.Connection, key_id: str, at: datetime) -> bool:
    status = await conn.execute(
        "UPDATE ledger_bank_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL",
        key_id,
        at,
    )
    return status == "UPDATE 1"


async def lock_last_seq(conn: asyncpg.Connection) -> int:
    """The number of the last bank message processed, locked: messages are taken one at a time."""
    n: int = await conn.fetchval("SELECT last_seq FROM ledger_bank_state WHERE id = 1 FOR UPDATE")
    return n


async def last_seq(conn: asyncpg.Connection) -> int:
    n: int = await conn.fetchval("SELECT last_seq FROM ledger_bank_state WHERE id = 1")
    return n


async def set_last_seq(conn: asyncpg.Connection, seq: int) -> None:
    await conn.execute("UPDATE ledger_bank_state SET last_seq = $1 WHERE id = 1", seq)


async def get_notification(
    conn: asyncpg.Connection, bank_ref: str
) -> tuple[BankNotification, NotificationOutcome] | None:
    r = await conn.fetchrow("SELECT * FROM ledger_notifications WHERE bank_ref = $1", bank_ref)
    return (notification_from_row(r), outcome_from_json(r["outcome"])) if r else None


async def insert_notification(
    conn: asyncpg.Connection,
    n: BankNotification,
    signature: bytes,
    outcome: NotificationOutcome,
    at: datetime,
) -> None:
    await conn.execute(
        """INSERT INTO ledger_notifications (bank_ref, seq, kind, sub_account, amount_fen, value_at, payer_account,
               payer_name, reverses_ref, signature, outcome, received_at, currency)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)""",
        n.bank_ref,
        n.seq,
        n.kind.value,
        n.sub_account,
        n.amount_fen,
        n.value_at,
        n.payer_account,
        n.payer_name,
        n.reverses_ref,
        signature,
        outcome_json(outcome),
        at,
        n.currency,
    )


async def insert_movement(conn: asyncpg.Connection, m: BankMovement) -> None:
    await conn.execute(
        "INSERT INTO ledger_bank_movements (transfer_id, bank_ref, amount_fen, value_on) VALUES ($1, $2, $3, $4)",
        m.transfer_id,
        m.bank_ref,
        m.amount_fen,
        m.value_on,
    )


async def movements(
    conn: asyncpg.Connection, *, from_on: date | None = None, to_on: date | None = None
) -> list[BankMovement]:
    rows = await conn.fetch(
        """SELECT transfer_id, bank_ref, amount_fen, value_on FROM ledger_bank_movements
           WHERE ($1::date IS NULL OR value_on >= $1) AND ($2::date IS NULL OR value_on <= $2)
           ORDER BY transfer_id""",
        from_on,
        to_on,
    )
    return [
        BankMovement(r["transfer_id"], r["bank_ref"], r["amount_fen"], r["value_on"]) for r in rows
    ]


async def movement_refs(conn: asyncpg.Connection, refs: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "SELECT bank_ref FROM ledger_bank_movements WHERE bank_ref = ANY($1::text[])", list(refs)
    )
    return {r["bank_ref"] for r in rows}


# == suspense ===================================================================================


async def get_suspense(
    conn: asyncpg.Connection, bank_ref: str, *, for_update: bool = False
) -> SuspenseItem | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_suspense WHERE bank_ref = $1" + (" FOR UPDATE" if for_update else ""),
        bank_ref,
    )
    return suspense_from_row(r) if r else None


async def insert_suspense(conn: asyncpg.Connection, s: SuspenseItem, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_suspense (bank_ref, reason, amount_fen, sub_account, payer_account, payer_name,
               value_at, state, payout_id, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)""",
        s.bank_ref,
        s.reason.value,
        s.amount_fen,
        s.sub_account,
        s.payer_account,
        s.payer_name,
        s.value_at,
        s.state.value,
        s.payout_id,
        at,
    )


async def update_suspense(conn: asyncpg.Connection, s: SuspenseItem) -> None:
    await conn.execute(
        "UPDATE ledger_suspense SET state = $2, payout_id = $3 WHERE bank_ref = $1",
        s.bank_ref,
        s.state.value,
        s.payout_id,
    )


async def list_suspense(
    conn: asyncpg.Connection, *, state: str | None = None, limit: int = 10_000
) -> list[SuspenseItem]:
    rows = await conn.fetch(
        "SELECT * FROM ledger_suspense WHERE ($1::text IS NULL OR state = $1) ORDER BY no LIMIT $2",
        state,
        limit,
    )
    return [suspense_from_row(r) for r in rows]


# == payouts and batches ========================================================================


async def get_payout(
    conn: asyncpg.Connection, payout_id: str, *, for_update: bool = False
) -> Payout | None:
    r = await conn.fetchrow(
        "SELECT * FROM ledger_payouts WHERE id = $1" + (" FOR UPDATE" if for_update else ""),
        payout_id,
    )
    return payout_from_row(r) if r else None


async def insert_payout(conn: asyncpg.Connection, p: Payout, at: datetime) -> None:
    await conn.execute(
        """INSERT INTO ledger_payouts (id, purpose, payee_account, payee_name, amount_fen, due_on, project_id,
               bidder_id, source_ref, state, bank_ref, created_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)""",
        p.id,
        p.purpose.value,
        p.payee_account,
        p.payee_name,
        p.amount_fen,
        p.due_on,
        p.project_id,
        p.bidder_id,
        p.source_ref,
        p.state.value,
        p.bank_ref,
        at,
    )


async def settle_payout(conn: asyncpg.Connection, p: Payout, at: datetime) -> None:
    await conn.execute(
        "UPDATE ledger_payouts SET state = $2, bank_ref = $3, settled_at = $4 WHERE id = $1",
        p.id,
        p.state.value,
        p.bank_ref,
        at,
    )


async def list_payouts(
    conn: asyncpg.Connection,
    *,
    state: str | None = None,
    batch_id: int | None = None,
    limit: int = 10_000,
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT * FROM ledger_payouts WHERE ($1::text IS NULL OR state = $1) AND ($2::bigint IS NULL OR batch_id = $2)
           ORDER BY no LIMIT $3""",
        state,
        batch_id,
        limit,
    )
    return [dict(r) for r in rows]


async def create_batch(
    conn: asyncpg.Connection, created_by: str, at: datetime
) -> tuple[int, list[Payout]] | None:
    """Put every pending payout not yet in a batch into a new batch. None when there are none."""
    rows = await conn.fetch(
        "SELECT id FROM ledger_payouts WHERE state = 'pending' AND batch_id IS NULL ORDER BY no FOR UPDATE"
    )
    if not rows:
        return None
    ids = [r["id"] for r in rows]
    total = await conn.fetchval(
        "SELECT sum(amount_fen) FROM ledger_payouts WHERE id = ANY($1::text[])", ids
    )
    batch_id: int = await conn.fetchval(
        "INSERT INTO ledger_refund_batches (created_at, created_by, lines, total_fen) VALUES ($1, $2, $3, $4) RETURNING id",
        at,
        created_by,
        len(ids),
        total,
    )
    await conn.execute(
        "UPDATE ledger_payouts SET batch_id = $1 WHERE id = ANY($2::text[])", batch_id, ids
    )
    payouts = await conn.fetch(
        "SELECT * FROM ledger_payouts WHERE batch_id = $1 ORDER BY no", batch_id
    )
    return batch_id, [payout_from_row(r) for r in payouts]


async def get_batch(
    conn: asyncpg.Connection, batch_id: int
) -> tuple[dict[str, Any], list[Payout]] | None:
    r = await conn.fetchrow("SELECT * FROM ledger_refund_batches WHERE id = $1", batch_id)
    if r is None:
        return None
    rows = await conn.fetch(
        "SELECT * FROM ledger_payouts WHERE batch_id = $1 ORDER BY no", batch_id
    )
    return dict(r), [payout_from_row(p) for p in rows]


async def list_batches(conn: asyncpg.Connection, *, limit: int = 100) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in await conn.fetch(
            "SELECT * FROM ledger_refund_batches ORDER BY id DESC LIMIT $1", limit
        )
    ]


# == commands, calendar, reconciliations =========================================================


async def lock_command(conn: asyncpg.Connection, command_id: str) -> None:
    """Serialise two runs of one command id (the second then sees the first's answer)."""
    await conn.execute(
        "SELECT pg_advisory_xact_lock(hashtextextended('ledger:' || $1, 0))", command_id
    )


async def get_command(
    conn: asyncpg.Connection, command_id: str
) -> tuple[str, dict[str, Any]] | None:
    r = await conn.fetchrow(
        "SELECT fingerprint, answer FROM ledger_commands WHERE command_id = $1", command_id
    )
    return (r["fingerprint"], r["answer"]) if r else None


async def insert_command(
    conn: asyncpg.Connection,
    command_id: str,
    fingerprint_: str,
    answer: dict[str, Any],
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO ledger_commands (command_id, fingerprint, answer, created_at) VALUES ($1, $2, $3, $4)",
        command_id,
        fingerprint_,
        answer,
        at,
    )


async def work_calendar(conn: asyncpg.Connection) -> WorkCalendar:
    rows = await conn.fetch("SELECT day, working FROM ledger_calendar_days")
    return WorkCalendar(
        holidays=frozenset(r["day"] for r in rows if not r["working"]),
        workdays=frozenset(r["day"] for r in rows if r["working"]),
    )


async def set_calendar_day(conn: asyncpg.Connection, day: date, working: bool, note: str) -> None:
    await conn.execute(
        "INSERT INTO ledger_calendar_days (day, working, note) VALUES ($1, $2, $3) "
        "ON CONFLICT (day) DO UPDATE SET working = EXCLUDED.working, note = EXCLUDED.note",
        day,
        working,
        note,
    )


async def list_calendar_days(conn: asyncpg.Connection) -> list[dict[str, Any]]:
    return [dict(r) for r in await conn.fetch("SELECT * FROM ledger_calendar_days ORDER BY day")]


async def insert_reconciliation(conn: asyncpg.Connection, row: dict[str, Any]) -> int:
    rid: int = await conn.fetchval(
        """INSERT INTO ledger_reconciliations (statement_sha256, from_on, to_on, lines, matched, differences,
               missing_in_ledger, missing_in_bank, to_suspense_fen, report, imported_at, imported_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id""",
        row["statement_sha256"],
        row["from_on"],
        row["to_on"],
        row["lines"],
        row["matched"],
        row["differences"],
        row["missing_in_ledger"],
        row["missing_in_bank"],
        row["to_suspense_fen"],
        row["report"],
        row["imported_at"],
        row["imported_by"],
    )
    return rid


async def get_reconciliation(conn: asyncpg.Connection, rid: int) -> dict[str, Any] | None:
    r = await conn.fetchrow("SELECT * FROM ledger_reconciliations WHERE id = $1", rid)
    return dict(r) if r else None


async def list_reconciliations(
    conn: asyncpg.Connection, *, limit: int = 100
) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT id, statement_sha256, from_on, to_on, lines, matched, differences, missing_in_ledger,
                  missing_in_bank, to_suspense_fen, imported_at, imported_by
           FROM ledger_reconciliations ORDER BY id DESC LIMIT $1""",
        limit,
    )
    return [dict(r) for r in rows]
