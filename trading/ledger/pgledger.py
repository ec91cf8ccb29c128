"""The deposit ledger in PostgreSQL: the operations of ``MemoryLedger``, with the same answers.

``PgLedger`` wraps one connection. Every operation runs in one transaction (a savepoint when
the caller already holds one, so a use case can add its audit entry, alerts and timed events
and commit them all together) and is all-or-nothing: it checks, writes, or raises
``LedgerRejected`` having written nothing.

How it stays correct under concurrency:

- transfers are decided in batches (``batch.execute_batch``) against the accounts locked
  ``FOR UPDATE`` in id order, so two batches touching one account run one after the other and
  each sees the other's sums; ``UNIQUE (pending_id)`` settles a pending transfer once;
- a use case first takes its command id's advisory lock, then the rows of its aggregate
  (payout, deposit, suspense item — always in that order), then the accounts; the bank's
  message counter is locked before anything else, so notifications are taken one at a time;
- a deposit is saved with ``WHERE version = <the version loaded>``: a lost update would fail
  loudly, never silently;
- the database's CHECK constraints repeat the balance limits of each account kind.

The hypothesis test ``tests/integration/test_ledger_model.py`` drives this class and
``MemoryLedger`` with the same commands and compares every answer and the whole state.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime
from typing import Any

import asyncpg

from crypto.signing import verify

from . import store
from .batch import BATCH_MAX, LedgerView, execute_batch, ids_to_load
from .errors import LedgerReason
from .memory.core import COMMAND_ID_MAX_LEN
from .model import (
    SYSTEM_ACCOUNTS,
    Account,
    AccountKind,
    AccountResult,
    BankMovement,
    BankNotification,
    CollusionAlert,
    Deposit,
    DepositEvent,
    DepositForm,
    DepositPolicy,
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
    PayoutResult,
    PayoutState,
    RefundCause,
    SuspenseItem,
    SuspenseReason,
    SuspenseState,
    Transfer,
    TransferCode,
    TransferFlags,
    TransferOutcome,
    TransferResult,
    TrialBalance,
    WorkCalendar,
    deposit_account_id,
)
from .rules.dates import china_date
from .rules.lifecycle import (
    check_conversion,
    check_forfeit,
    check_guarantee,
    check_refund,
    check_second_approver,
    next_deposit_state,
)
from .rules.notifications import (
    check_sequence,
    classify_notification,
    classify_reversal,
    notification_problems,
)
from .rules.notifications import notification_message as _message
from .rules.payers import detect_collusion, normalize_bank_account
from .rules.refunds import refund_due_on, refund_plan, suspense_return_plan
from .rules.subaccounts import sub_account_number
from .rules.terms import check_deposit_terms
from .rules.transfers import post_of, validate_account, void_of
from .rules.values import is_valid_id, reason_for_result

__all__ = ["DEFAULT_SUB_ACCOUNT_PREFIX", "PgLedger"]

DEFAULT_SUB_ACCOUNT_PREFIX = "3305"
"""The centre's digits in front of every virtual sub-account number (Huzhou's area code)."""

_BANK = SYSTEM_ACCOUNTS[AccountKind.BANK]
_SUSPENSE = SYSTEM_ACCOUNTS[AccountKind.SUSPENSE]
_PAYABLE = SYSTEM_ACCOUNTS[AccountKind.REFUNDS_PAYABLE]
_FORFEITED = SYSTEM_ACCOUNTS[AccountKind.FORFEITED]
_PRICE = SYSTEM_ACCOUNTS[AccountKind.PRICE_RECEIVABLE]
_INTEREST = SYSTEM_ACCOUNTS[AccountKind.INTEREST_EXPENSE]
_LINKED = TransferFlags.LINKED
_R = TransferResult
_V = NotificationVerdict
_RETRIES = 3


def _chain(transfers: Sequence[Transfer]) -> list[Transfer]:
    last = len(transfers) - 1
    return [replace(t, flags=t.flags | _LINKED) if i < last else t for i, t in enumerate(transfers)]


def verify_with_any(n: BankNotification, signature: bytes, keys: Iterable[bytes]) -> bool:
    """True when one of the bank's active keys signed ``notification_message(n)``."""
    if not isinstance(signature, bytes | bytearray):
        return False
    try:
        message = _message(n)
    except (TypeError, ValueError):
        return False
    return any(verify(k, bytes(signature), message) for k in keys)


class PgLedger:
    """The ledger on one connection. ``now`` stamps rows whose operation takes no time."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        *,
        now: datetime,
        calendar: WorkCalendar | None = None,
        policy: DepositPolicy | None = None,
        sub_account_prefix: str = DEFAULT_SUB_ACCOUNT_PREFIX,
        bank_keys: Sequence[bytes] | None = None,
    ) -> None:
        self.conn = conn
        self.now = now
        self._calendar = calendar
        self.policy = policy or DepositPolicy()
        self.sub_account_prefix = sub_account_prefix
        self._bank_keys = list(bank_keys) if bank_keys is not None else None

    # == setup ================================================================================

    async def install(self) -> None:
        """Create the system accounts (idempotent)."""
        results = await self.create_accounts([Account(i, k) for k, i in SYSTEM_ACCOUNTS.items()])
        assert all(r in (AccountResult.OK, AccountResult.EXISTS) for r in results), results

    async def calendar(self) -> WorkCalendar:
        if self._calendar is None:
            self._calendar = await store.work_calendar(self.conn)
        return self._calendar

    # == the double-entry core ===============================================================

    async def create_accounts(self, accounts: Iterable[Account]) -> list[AccountResult]:
        out = []
        async with self.conn.transaction():
            for a in accounts:
                result = validate_account(a, None)
                if result is AccountResult.OK:
                    existing = await store.get_account(self.conn, a.id)
                    result = validate_account(a, existing)
                    if result is AccountResult.OK:
                        await store.insert_accounts(self.conn, [a], self.now)
                out.append(result)
        return out

    async def create_transfers(
        self, transfers: Sequence[Transfer], at: datetime
    ) -> list[TransferOutcome]:
        """One outcome per transfer, as ``MemoryLedger.create_transfers`` answers."""
        if len(transfers) > BATCH_MAX:
            raise LedgerReason.INVALID_INPUT.reject(f"at most {BATCH_MAX} transfers in a batch")
        for attempt in range(_RETRIES):
            try:
                async with self.conn.transaction():
                    return await self._create_transfers(transfers, at)
            except asyncpg.UniqueViolationError:
                # Another transaction recorded one of these ids (on other accounts) meanwhile:
                # decide again, seeing it.
                if attempt == _RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def _create_transfers(
        self, transfers: Sequence[Transfer], at: datetime
    ) -> list[TransferOutcome]:
        account_ids, ids, pending_ids = ids_to_load(transfers)
        conn = self.conn
        view = LedgerView(
            accounts=await store.lock_accounts(conn, account_ids),
            transfers=await store.load_transfers(conn, ids),
            failures=await store.load_failures(conn, ids),
            resolutions=await store.load_resolutions(conn, pending_ids),
        )
        result = execute_batch(transfers, view)
        await store.update_accounts(conn, result.accounts.values())
        await store.insert_transfers(conn, result.accepted, at)
        await store.insert_failures(conn, result.failures, at)
        return result.outcomes

    async def _commit(self, transfers: Sequence[Transfer], at: datetime) -> None:
        """A use case's transfers as one chain, or ``LedgerRejected``."""
        if not transfers:
            return
        outcomes = await self.create_transfers(_chain(transfers), at)
        for o in outcomes:
            if not o.ok and o.result is not _R.LINKED_EVENT_FAILED:
                raise reason_for_result(o.result).reject(
                    f"transfer {o.id}: {o.result.value}", transfer_id=o.id, result=o.result.value
                )
        assert all(o.ok for o in outcomes)

    # -- reads --

    async def account(self, account_id: str) -> Account | None:
        if not isinstance(account_id, str):
            return None
        return await store.get_account(self.conn, account_id)

    async def accounts(self) -> list[Account]:
        return await store.list_accounts(self.conn, limit=10**9)

    async def transfer(self, transfer_id: str) -> Transfer | None:
        return await store.get_transfer(self.conn, transfer_id)

    async def journal(self) -> list[Transfer]:
        return await store.journal(self.conn)

    async def first_result(self, transfer_id: str) -> TransferResult | None:
        if await store.get_transfer(self.conn, transfer_id) is not None:
            return _R.OK
        return await store.first_failure(self.conn, transfer_id)

    async def resolution(self, pending_id: str) -> Transfer | None:
        return await store.resolution(self.conn, pending_id)

    async def trial_balance(self) -> TrialBalance:
        return await store.trial_balance(self.conn)

    # == commands =============================================================================

    async def _command(self, command_id: str, fingerprint: tuple[Any, ...]) -> tuple[bool, Any]:
        """Inside the use case's transaction: (True, first answer) when this command ran."""
        if not is_valid_id(command_id) or len(command_id) > COMMAND_ID_MAX_LEN:
            raise LedgerReason.ID_INVALID.reject("command_id", field="command_id")
        await store.lock_command(self.conn, command_id)
        seen = await store.get_command(self.conn, command_id)
        if seen is None:
            return False, None
        if seen[0] != store.fingerprint(fingerprint):
            raise LedgerReason.COMMAND_ID_REUSED.reject(command_id, command_id=command_id)
        return True, store.answer_from_json(seen[1])

    async def _remember(self, command_id: str, fingerprint: tuple[Any, ...], answer: Any) -> Any:
        await store.insert_command(
            self.conn,
            command_id,
            store.fingerprint(fingerprint),
            store.answer_json(answer),
            self.now,
        )
        return answer

    # == deposits =============================================================================

    async def register_project(self, terms: DepositTerms) -> DepositTerms:
        """Record a project's deposit terms (idempotent; other values are refused)."""
        check_deposit_terms(terms, self.policy)
        async with self.conn.transaction():
            await store.lock_command(self.conn, f"project:{terms.project_id}")
            known = await store.get_project(self.conn, terms.project_id)
            if known is not None:
                if known != terms:
                    raise LedgerReason.PROJECT_CONFLICT.reject(terms.project_id)
                return known
            if await store.project_no_taken(self.conn, terms.project_no):
                raise LedgerReason.PROJECT_CONFLICT.reject(
                    f"project_no {terms.project_no} is taken", project_no=terms.project_no
                )
            await store.insert_project(self.conn, terms, self.now)
        return terms

    async def terms(self, project_id: str, *, for_update: bool = False) -> DepositTerms:
        terms = (
            await store.get_project(self.conn, project_id, for_update=for_update)
            if isinstance(project_id, str)
            else None
        )
        if terms is None:
            raise LedgerReason.PROJECT_NOT_FOUND.reject(str(project_id))
        return terms

    async def open_deposit(self, project_id: str, bidder_id: str, bidder_no: int) -> Deposit:
        """The bidder's deposit in the project, awaiting money, with its sub-account
        (idempotent; ``bidder_no`` is unique within the project)."""
        async with self.conn.transaction():
            terms = await self.terms(project_id, for_update=True)
            if not is_valid_id(bidder_id):
                raise LedgerReason.ID_INVALID.reject("bidder_id", field="bidder_id")
            known = await store.get_deposit(self.conn, project_id, bidder_id)
            if known is not None:
                if known.bidder_no != bidder_no:
                    raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no}")
                return known
            owner = (
                await store.bidder_no_owner(self.conn, project_id, bidder_no)
                if isinstance(bidder_no, int) and not isinstance(bidder_no, bool)
                else None
            )
            if owner not in (None, bidder_id):
                raise LedgerReason.DEPOSIT_CONFLICT.reject(f"bidder_no {bidder_no} is taken")
            number = sub_account_number(terms.project_no, bidder_no, prefix=self.sub_account_prefix)
            account_id = deposit_account_id(project_id, bidder_id)
            if not is_valid_id(account_id):
                raise LedgerReason.ID_INVALID.reject("project_id and bidder_id are too long")
            [result] = await self.create_accounts(
                [Account(account_id, AccountKind.DEPOSIT_HELD, project_id, bidder_id)]
            )
            assert result is AccountResult.OK, result
            deposit = Deposit(project_id, bidder_id, bidder_no, number, account_id)
            await store.insert_deposit(self.conn, deposit, self.now)
        return deposit

    async def deposit(
        self, project_id: str, bidder_id: str, *, for_update: bool = False
    ) -> Deposit:
        deposit = None
        if isinstance(project_id, str) and isinstance(bidder_id, str):
            deposit = await store.get_deposit(
                self.conn, project_id, bidder_id, for_update=for_update
            )
        if deposit is None:
            raise LedgerReason.DEPOSIT_NOT_FOUND.reject(f"{bidder_id} in {project_id}")
        return deposit

    async def deposits(self, project_id: str | None = None) -> list[Deposit]:
        return await store.list_deposits(self.conn, project_id=project_id)

    async def deposit_by_sub_account(
        self, sub_account: str, *, for_update: bool = False
    ) -> Deposit | None:
        if not isinstance(sub_account, str):
            return None
        return await store.get_deposit_by_sub_account(self.conn, sub_account, for_update=for_update)

    async def is_admitted(self, project_id: str, bidder_id: str) -> bool:
        """A6: a bidder may bid only with a confirmed deposit."""
        return await store.deposit_confirmed(self.conn, project_id, bidder_id)

    async def _save(
        self, deposit: Deposit, event: DepositEvent | None = None, **changes: Any
    ) -> Deposit:
        state = next_deposit_state(deposit.state, event) if event else deposit.state
        new = replace(deposit, state=state, version=deposit.version + 1, **changes)
        norm = normalize_bank_account(new.payer_account) if new.payer_account else None
        await store.save_deposit(
            self.conn,
            new,
            expected_version=deposit.version,
            at=self.now,
            payer_account_norm=norm or None,
        )
        return new

    # == bank notifications ===================================================================

    async def bank_keys(self) -> list[bytes]:
        if self._bank_keys is None:
            self._bank_keys = await store.bank_keys(self.conn)
        return self._bank_keys

    async def receive_notification(
        self, n: BankNotification, signature: bytes, at: datetime
    ) -> NotificationOutcome:
        """A bank message, checked in this order: signature, form, duplicate (the first
        outcome again), sequence; then a credit confirms or goes to suspense, a reversal takes
        back the credit it names."""
        keys = await self.bank_keys()
        if not keys:
            raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(
                "no bank key is trusted yet: set SUNLIT_BANK_PUBLIC_KEY or POST /api/v1/ledger/bank-keys",
                "尚未登记银行公钥：请设置 SUNLIT_BANK_PUBLIC_KEY 或调用 POST /api/v1/ledger/bank-keys",
            )
        if not verify_with_any(n, signature, keys):
            raise LedgerReason.NOTIFICATION_BAD_SIGNATURE.reject(str(n.bank_ref))
        problems = notification_problems(n)
        if problems:
            raise LedgerReason.NOTIFICATION_MALFORMED.reject("; ".join(problems), errors=problems)
        async with self.conn.transaction():
            last = await store.lock_last_seq(self.conn)
            seen = await store.get_notification(self.conn, n.bank_ref)
            if seen is not None:
                verdict, _ = classify_notification(n, seen=seen[0], terms=None, deposit=None)
                assert verdict is _V.DUPLICATE
                if n.seq == last + 1:
                    await store.set_last_seq(self.conn, n.seq)
                return replace(seen[1], replayed=True)
            refused = check_sequence(last, n.seq)
            if refused is not None:
                raise refused.reject(f"seq {n.seq} after {last}", last_seq=last)
            if n.kind is NotificationKind.CREDIT:
                outcome = await self._credit(n, at)
            else:
                outcome = await self._reversal(n, at)
            await store.insert_notification(self.conn, n, bytes(signature), outcome, at)
            await store.set_last_seq(self.conn, n.seq)
        return outcome

    async def _credit(self, n: BankNotification, at: datetime) -> NotificationOutcome:
        transfer_id = f"bn:{n.bank_ref}"
        held = await store.get_suspense(self.conn, n.bank_ref, for_update=True)
        if held is not None:
            # Reconciliation already put this movement in suspense from the bank's statement:
            # the money is in the ledger once; staff return or apply it.
            return NotificationOutcome(
                n.bank_ref,
                _V.SUSPENSE,
                held.reason,
                transfer_id=f"st:{n.bank_ref}",
                detail="already in suspense from the bank statement",
            )
        deposit = await self.deposit_by_sub_account(n.sub_account, for_update=True)
        terms = await store.get_project(self.conn, deposit.project_id) if deposit else None
        verdict, reason = classify_notification(n, seen=None, terms=terms, deposit=deposit)
        if verdict is _V.CONFIRM:
            assert deposit is not None
            t = Transfer(
                transfer_id,
                _BANK,
                deposit.account_id,
                n.amount_fen,
                TransferCode.DEPOSIT_RECEIVED,
                reference=n.bank_ref,
            )
            await self._commit([t], at)
            await self._save(
                deposit,
                DepositEvent.CONFIRM,
                form=DepositForm.CASH,
                amount_fen=n.amount_fen,
                bank_ref=n.bank_ref,
                payer_account=n.payer_account,
                payer_name=n.payer_name,
                received_at=n.value_at,
            )
        else:
            assert verdict is _V.SUSPENSE and reason is not None
            t = Transfer(
                transfer_id,
                _BANK,
                _SUSPENSE,
                n.amount_fen,
                TransferCode.SUSPENSE_RECEIVED,
                reference=n.bank_ref,
            )
            await self._commit([t], at)
            await store.insert_suspense(
                self.conn,
                SuspenseItem(
                    n.bank_ref,
                    reason,
                    n.amount_fen,
                    n.sub_account,
                    n.payer_account,
                    n.payer_name,
                    n.value_at,
                ),
                at,
            )
        await store.insert_movement(
            self.conn, BankMovement(transfer_id, n.bank_ref, n.amount_fen, china_date(n.value_at))
        )
        return NotificationOutcome(
            n.bank_ref,
            verdict,
            reason,
            deposit.project_id if deposit else None,
            deposit.bidder_id if deposit else None,
            transfer_id,
        )

    async def _reversal(self, n: BankNotification, at: datetime) -> NotificationOutcome:
        assert n.reverses_ref is not None
        seen = await store.get_notification(self.conn, n.reverses_ref)
        original = seen[0] if seen else None
        deposit = (
            await self.deposit_by_sub_account(original.sub_account, for_update=True)
            if original
            else None
        )
        suspense = await store.get_suspense(self.conn, n.reverses_ref, for_update=True)
        verdict, detail = classify_reversal(
            n, original=original, deposit=deposit, suspense=suspense
        )
        transfer_id = f"bn:{n.bank_ref}"
        if verdict is _V.REVERSE_DEPOSIT:
            assert deposit is not None
            t = Transfer(
                transfer_id,
                deposit.account_id,
                _BANK,
                n.amount_fen,
                TransferCode.BANK_REVERSAL,
                reference=n.bank_ref,
            )
            await self._commit([t], at)
            await self._save(
                deposit,
                DepositEvent.REVERSE,
                form=None,
                amount_fen=0,
                bank_ref=None,
                payer_account=None,
                payer_name=None,
                received_at=None,
            )
        elif verdict is _V.REVERSE_SUSPENSE:
            assert suspense is not None
            t = Transfer(
                transfer_id,
                _SUSPENSE,
                _BANK,
                n.amount_fen,
                TransferCode.BANK_REVERSAL,
                reference=n.bank_ref,
            )
            await self._commit([t], at)
            await store.update_suspense(self.conn, replace(suspense, state=SuspenseState.REVERSED))
        else:
            return NotificationOutcome(n.bank_ref, verdict, detail=detail)
        await store.insert_movement(
            self.conn, BankMovement(transfer_id, n.bank_ref, -n.amount_fen, china_date(n.value_at))
        )
        return NotificationOutcome(
            n.bank_ref,
            verdict,
            project_id=deposit.project_id if deposit and verdict is _V.REVERSE_DEPOSIT else None,
            bidder_id=deposit.bidder_id if deposit and verdict is _V.REVERSE_DEPOSIT else None,
            transfer_id=transfer_id,
        )

    async def notification(self, bank_ref: str) -> NotificationOutcome | None:
        seen = await store.get_notification(self.conn, bank_ref)
        return seen[1] if seen else None

    async def last_seq(self) -> int:
        return await store.last_seq(self.conn)

    # == guarantees ===========================================================================

    async def confirm_guarantee(
        self, project_id: str, bidder_id: str, guarantee: Guarantee, at: datetime
    ) -> Deposit:
        """D7: the guarantee confirms the deposit; no money moves (idempotent)."""
        async with self.conn.transaction():
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            if deposit.form is DepositForm.GUARANTEE and deposit.guarantee == guarantee:
                return deposit
            check_guarantee(await self.terms(project_id), guarantee, at)
            if await store.guarantee_owner(self.conn, guarantee.ref) is not None:
                raise LedgerReason.GUARANTEE_IN_USE.reject(guarantee.ref)
            new = await self._save(
                deposit,
                DepositEvent.CONFIRM,
                form=DepositForm.GUARANTEE,
                amount_fen=guarantee.amount_fen,
                guarantee=guarantee,
            )
            await store.insert_guarantee(self.conn, guarantee.ref, project_id, bidder_id)
        return new

    # == refunds and payouts ==================================================================

    async def request_refund(
        self,
        command_id: str,
        project_id: str,
        bidder_id: str,
        cause: RefundCause,
        cause_at: datetime,
        at: datetime,
    ) -> Deposit:
        """Refund a confirmed deposit (D4, D5, A7): as ``MemoryLedger.request_refund``."""
        fingerprint = ("refund", project_id, bidder_id, cause, cause_at)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            terms = await self.terms(project_id)
            event = (
                DepositEvent.RELEASE
                if deposit.form is DepositForm.GUARANTEE
                else DepositEvent.REQUEST_REFUND
            )
            next_deposit_state(deposit.state, event)
            check_refund(terms, cause, cause_at)
            due_on = refund_due_on(cause, cause_at, await self.calendar())
            if deposit.form is DepositForm.GUARANTEE:
                new = await self._save(deposit, event, refund_cause=cause, refund_due_on=due_on)
                return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]
            assert deposit.payer_account is not None
            transfers, interest = refund_plan(command_id, deposit, terms, cause, at)
            payout_id = transfers[-1].id
            await self._commit(transfers, at)
            await store.insert_payout(
                self.conn,
                Payout(
                    payout_id,
                    PayoutPurpose.DEPOSIT_REFUND,
                    deposit.payer_account,
                    deposit.payer_name or "",
                    deposit.amount_fen + interest,
                    due_on,
                    project_id=project_id,
                    bidder_id=bidder_id,
                ),
                at,
            )
            new = await self._save(
                deposit,
                event,
                refund_cause=cause,
                refund_due_on=due_on,
                interest_fen=interest,
                payout_id=payout_id,
            )
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    async def payout(self, payout_id: str, *, for_update: bool = False) -> Payout:
        payout = (
            await store.get_payout(self.conn, payout_id, for_update=for_update)
            if isinstance(payout_id, str)
            else None
        )
        if payout is None:
            raise LedgerReason.PAYOUT_NOT_FOUND.reject(str(payout_id))
        return payout

    async def payouts(self, state: PayoutState | None = None) -> list[Payout]:
        rows = await store.list_payouts(self.conn, state=state.value if state else None)
        return [store.payout_from_row(r) for r in rows]

    async def confirm_payout(self, result: PayoutResult, at: datetime) -> Payout:
        """The bank paid (post) or rejected (void) a payout; the same answer twice changes
        nothing; another answer to a settled payout is refused."""
        async with self.conn.transaction():
            payout = await self.payout(result.payout_id, for_update=True)
            if not is_valid_id(result.bank_ref) or not isinstance(result.value_at, datetime):
                raise LedgerReason.INVALID_INPUT.reject("bank_ref or value_at", field="bank_ref")
            china_date(result.value_at)
            if payout.state is not PayoutState.PENDING:
                same = (payout.state is PayoutState.POSTED) == bool(
                    result.ok
                ) and payout.bank_ref == result.bank_ref
                if same:
                    return payout
                raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(
                    payout.id, state=payout.state.value
                )
            deposit = item = None
            if payout.purpose is PayoutPurpose.DEPOSIT_REFUND:
                assert payout.project_id is not None and payout.bidder_id is not None
                deposit = await self.deposit(payout.project_id, payout.bidder_id, for_update=True)
            else:
                assert payout.source_ref is not None
                item = await store.get_suspense(self.conn, payout.source_ref, for_update=True)
            pending = await store.get_transfer(self.conn, payout.id)
            assert pending is not None
            if result.ok:
                await self._commit([post_of(pending, f"{payout.id}/post", result.bank_ref)], at)
                new = replace(payout, state=PayoutState.POSTED, bank_ref=result.bank_ref)
                await store.insert_movement(
                    self.conn,
                    BankMovement(
                        f"{payout.id}/post",
                        result.bank_ref,
                        -payout.amount_fen,
                        china_date(result.value_at),
                    ),
                )
            else:
                await self._commit([void_of(pending, f"{payout.id}/void", result.bank_ref)], at)
                new = replace(payout, state=PayoutState.VOIDED, bank_ref=result.bank_ref)
            await store.settle_payout(self.conn, new, at)
            if deposit is not None:
                await self._save(
                    deposit, DepositEvent.PAYOUT_POSTED if result.ok else DepositEvent.PAYOUT_VOIDED
                )
            elif result.ok:
                assert item is not None
                await store.update_suspense(self.conn, replace(item, state=SuspenseState.RETURNED))
        return new

    async def reissue_payout(
        self,
        command_id: str,
        payout_id: str,
        at: datetime,
        *,
        payee_account: str | None = None,
        payee_name: str | None = None,
    ) -> Payout:
        """A new pending payout for one the bank rejected (the rejected one stays voided)."""
        fingerprint = ("reissue", payout_id, payee_account, payee_name)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            old = await self.payout(payout_id, for_update=True)
            if old.state is not PayoutState.VOIDED:
                raise LedgerReason.PAYOUT_NOT_VOIDED.reject(payout_id, state=old.state.value)
            deposit = item = None
            if old.purpose is PayoutPurpose.DEPOSIT_REFUND:
                assert old.project_id is not None and old.bidder_id is not None
                deposit = await self.deposit(old.project_id, old.bidder_id, for_update=True)
                current = deposit.payout_id
            else:
                assert old.source_ref is not None
                item = await store.get_suspense(self.conn, old.source_ref, for_update=True)
                assert item is not None
                current = item.payout_id
            if current != payout_id:
                raise LedgerReason.PAYOUT_ALREADY_SETTLED.reject(f"{payout_id} was reissued")
            if payee_account is not None and (
                not isinstance(payee_account, str) or not payee_account.strip()
            ):
                raise LedgerReason.INVALID_INPUT.reject("payee_account", field="payee_account")
            new_id = f"{command_id}/payout"
            pending = await store.get_transfer(self.conn, payout_id)
            assert pending is not None
            await self._commit(
                [replace(pending, id=new_id, flags=TransferFlags.PENDING, reference=command_id)], at
            )
            new = replace(
                old,
                id=new_id,
                state=PayoutState.PENDING,
                bank_ref=None,
                payee_account=payee_account or old.payee_account,
                payee_name=payee_name if payee_name is not None else old.payee_name,
            )
            await store.insert_payout(self.conn, new, at)
            if deposit is not None:
                await self._save(deposit, DepositEvent.PAYOUT_REISSUED, payout_id=new_id)
            else:
                assert item is not None
                await store.update_suspense(self.conn, replace(item, payout_id=new_id))
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    # == forfeiture ===========================================================================

    async def request_forfeit(
        self,
        command_id: str,
        project_id: str,
        bidder_id: str,
        cause: ForfeitCause,
        note: str,
        requested_by: str,
        cause_at: datetime,
        at: datetime,
    ) -> Deposit:
        """D6: one staff member asks; the held cash is reserved by a pending FORFEIT transfer."""
        fingerprint = ("forfeit", project_id, bidder_id, cause, note, requested_by, cause_at)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.REQUEST_FORFEIT)
            check_forfeit(await self.terms(project_id), cause, note, cause_at)
            if not is_valid_id(requested_by):
                raise LedgerReason.ID_INVALID.reject("requested_by", field="requested_by")
            transfer_id = None
            if deposit.form is DepositForm.CASH:
                transfer_id = f"{command_id}/forfeit"
                await self._commit(
                    [
                        Transfer(
                            transfer_id,
                            deposit.account_id,
                            _FORFEITED,
                            deposit.amount_fen,
                            TransferCode.FORFEIT,
                            TransferFlags.PENDING,
                            reference=command_id,
                        )
                    ],
                    at,
                )
            request = ForfeitRequest(command_id, cause, note, requested_by, at, transfer_id)
            new = await self._save(deposit, DepositEvent.REQUEST_FORFEIT, forfeit=request)
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    async def approve_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, approved_by: str, at: datetime
    ) -> Deposit:
        """D6: a second staff member approves; the forfeiture is posted."""
        fingerprint = ("approve_forfeit", project_id, bidder_id, approved_by)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.APPROVE_FORFEIT)
            request = deposit.forfeit
            assert request is not None
            check_second_approver(request.requested_by, approved_by)
            if request.transfer_id is not None:
                pending = await store.get_transfer(self.conn, request.transfer_id)
                assert pending is not None
                await self._commit(
                    [post_of(pending, f"{request.transfer_id}/post", command_id)], at
                )
            new = await self._save(
                deposit,
                DepositEvent.APPROVE_FORFEIT,
                forfeit=replace(request, approved_by=approved_by),
            )
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    async def reject_forfeit(
        self, command_id: str, project_id: str, bidder_id: str, rejected_by: str, at: datetime
    ) -> Deposit:
        """Not approved: the reservation is voided, the deposit confirmed again."""
        fingerprint = ("reject_forfeit", project_id, bidder_id, rejected_by)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.REJECT_FORFEIT)
            if not is_valid_id(rejected_by):
                raise LedgerReason.ID_INVALID.reject("rejected_by", field="rejected_by")
            request = deposit.forfeit
            assert request is not None
            if request.transfer_id is not None:
                pending = await store.get_transfer(self.conn, request.transfer_id)
                assert pending is not None
                await self._commit(
                    [void_of(pending, f"{request.transfer_id}/void", command_id)], at
                )
            new = await self._save(deposit, DepositEvent.REJECT_FORFEIT, forfeit=None)
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    # == conversion ===========================================================================

    async def convert(
        self, command_id: str, project_id: str, bidder_id: str, at: datetime
    ) -> Deposit:
        """A7: the auction winner's deposit becomes part of the price."""
        fingerprint = ("convert", project_id, bidder_id)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            deposit = await self.deposit(project_id, bidder_id, for_update=True)
            next_deposit_state(deposit.state, DepositEvent.CONVERT)
            check_conversion(await self.terms(project_id), deposit)
            await self._commit(
                [
                    Transfer(
                        f"{command_id}/conversion",
                        deposit.account_id,
                        _PRICE,
                        deposit.amount_fen,
                        TransferCode.CONVERSION,
                        reference=command_id,
                    )
                ],
                at,
            )
            new = await self._save(deposit, DepositEvent.CONVERT)
            return await self._remember(command_id, fingerprint, new)  # type: ignore[no-any-return]

    # == suspense =============================================================================

    async def suspense_items(self, state: SuspenseState | None = None) -> list[SuspenseItem]:
        return await store.list_suspense(self.conn, state=state.value if state else None)

    async def return_suspense(self, command_id: str, bank_ref: str, at: datetime) -> Payout:
        """Send money that matched nothing back to its payer within 5 days."""
        fingerprint = ("return_suspense", bank_ref)
        async with self.conn.transaction():
            done, answer = await self._command(command_id, fingerprint)
            if done:
                return answer  # type: ignore[no-any-return]
            item = (
                await store.get_suspense(self.conn, bank_ref, for_update=True)
                if isinstance(bank_ref, str)
                else None
            )
            if item is None or item.state is not SuspenseState.OPEN:
                raise LedgerReason.SUSPENSE_ITEM_NOT_FOUND.reject(str(bank_ref))
            transfers, payout = suspense_return_plan(command_id, item, at)
            payout_id = payout.id
            await self._commit(transfers, at)
            await store.insert_payout(self.conn, payout, at)
            await store.update_suspense(
                self.conn, replace(item, state=SuspenseState.RETURN_PENDING, payout_id=payout_id)
            )
            return await self._remember(command_id, fingerprint, payout)  # type: ignore[no-any-return]

    async def record_unmatched_credit(
        self,
        bank_ref: str,
        amount_fen: int,
        value_at: datetime,
        payer_account: str,
        payer_name: str,
        at: datetime,
    ) -> SuspenseItem | None:
        """D9: money on the bank's statement that no notification told: into suspense, once.
        None when the reference is already known (a notification or an earlier import)."""
        async with self.conn.transaction():
            await store.lock_last_seq(self.conn)  # one writer of bank movements at a time
            if await store.get_notification(self.conn, bank_ref) is not None:
                return None
            if await store.get_suspense(self.conn, bank_ref) is not None:
                return None
            transfer_id = f"st:{bank_ref}"
            await self._commit(
                [
                    Transfer(
                        transfer_id,
                        _BANK,
                        _SUSPENSE,
                        amount_fen,
                        TransferCode.SUSPENSE_RECEIVED,
                        reference=bank_ref,
                    )
                ],
                at,
            )
            item = SuspenseItem(
                bank_ref,
                SuspenseReason.STATEMENT_UNMATCHED,
                amount_fen,
                "",
                payer_account,
                payer_name,
                value_at,
            )
            await store.insert_suspense(self.conn, item, at)
            await store.insert_movement(
                self.conn, BankMovement(transfer_id, bank_ref, amount_fen, china_date(value_at))
            )
        return item

    # == reports ==============================================================================

    async def bank_movements(
        self, *, from_on: date | None = None, to_on: date | None = None
    ) -> list[BankMovement]:
        return await store.movements(self.conn, from_on=from_on, to_on=to_on)

    async def collusion_alerts(self, *, across_projects: bool = False) -> list[CollusionAlert]:
        return detect_collusion(
            await store.list_deposits(self.conn), across_projects=across_projects
        )

    async def refunds_due(self, on: date) -> list[Deposit]:
        """Deposits whose refund is still unpaid and due on or before ``on``."""
        return [
            d
            for d in await store.list_deposits(self.conn, state=DepositState.REFUND_PENDING.value)
            if d.refund_due_on is not None and d.refund_due_on <= on
        ]
