"""Deposits, bank messages, payouts and suspense: the ledger's aggregates beside its
accounts (re-exported by ``trading.ledger.model``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum

# -- deposits -------------------------------------------------------------------------------


class ProjectKind(Enum):
    TENDER = "tender"  # 招标: bid deposit (投标保证金)
    AUCTION = "auction"  # 拍卖/挂牌: bidding deposit (竞买保证金)


@dataclass(frozen=True, slots=True)
class DepositPolicy:
    """Limits that law leaves to configuration (RULES T14, A7)."""

    tender_cap_bp: int = 200
    """Bid deposit ≤ 2 % of the estimate (IR 26)."""
    works_cap_fen: int = 80_000_000
    """Bid deposit for works ≤ 800,000 yuan (cfg)."""
    land_floor_bp: int = 2_000
    """Land deposit ≥ 20 % of the starting price (cfg)."""


@dataclass(frozen=True, slots=True)
class DepositTerms:
    """What a project asks of every bidder's deposit."""

    project_id: str
    project_no: int
    """A small integer unique to the project: part of every sub-account number."""
    kind: ProjectKind
    required_fen: int
    deadline_at: datetime
    """Money must arrive strictly before this (by the bank's value time)."""
    interest_rate_bp: int = 0
    """Annual rate paid on refunds after the contract (tenders), in basis points."""
    accept_guarantees: bool = True
    """Bank guarantees and e-guarantees accepted instead of cash (D7, cfg)."""
    estimate_fen: int | None = None
    """Tenders: the estimated price (估算价) the 2 % cap applies to."""
    works: bool = False
    """Tenders: a construction works project (the absolute cap applies)."""
    starting_price_fen: int | None = None
    """Auctions: the starting price (起始价)."""
    land: bool = False
    """Auctions: a land-use right sale (the 20 % floor applies)."""
    opening_at: datetime | None = None
    """Tenders: the bid opening, until which who paid stays sealed (D1); None means the
    deadline (the opening is at the deadline unless announced otherwise, BL 34)."""

    @property
    def unsealed_at(self) -> datetime | None:
        """When payers become visible: tenders at the opening; auctions never sealed."""
        if self.kind is not ProjectKind.TENDER:
            return None
        return self.opening_at or self.deadline_at


class DepositState(Enum):
    AWAITING = "awaiting"
    CONFIRMED = "confirmed"
    REFUND_PENDING = "refund_pending"
    REFUNDED = "refunded"
    FORFEIT_PENDING = "forfeit_pending"
    FORFEITED = "forfeited"
    CONVERTED = "converted"


class DepositEvent(Enum):
    CONFIRM = "confirm"
    REVERSE = "reverse"  # the bank reversed the confirming credit
    REQUEST_REFUND = "request_refund"
    RELEASE = "release"  # a guarantee handed back: refunded without money
    PAYOUT_POSTED = "payout_posted"
    PAYOUT_VOIDED = "payout_voided"
    PAYOUT_REISSUED = "payout_reissued"
    REQUEST_FORFEIT = "request_forfeit"
    APPROVE_FORFEIT = "approve_forfeit"
    REJECT_FORFEIT = "reject_forfeit"
    CONVERT = "convert"


class DepositForm(Enum):
    CASH = "cash"
    GUARANTEE = "guarantee"  # bank guarantee or e-guarantee (保函 / 电子保函)


class RefundCause(Enum):
    LOST = "lost"
    """Auction: the bidder did not win (or there was no sale); within 5 working days."""
    WITHDRAWN_BEFORE_DEADLINE = "withdrawn_before_deadline"
    """The bid was withdrawn before the deadline; within 5 days (IR 35)."""
    CONTRACT_SIGNED = "contract_signed"
    """Tender: the contract is signed; within 5 days, with interest (IR 57)."""
    TERMINATED = "terminated"
    """Tender: terminated or failed (终止, 流标 with fewer than 3 bids): refund promptly — within
    5 days (cfg) — with interest (IR 31)."""


class ForfeitCause(Enum):
    WITHDRAWN_AFTER_DEADLINE = "withdrawn_after_deadline"  # IR 35
    REFUSED_TO_SIGN = "refused_to_sign"  # IR 74
    NO_PERFORMANCE_BOND = "no_performance_bond"  # IR 74


@dataclass(frozen=True, slots=True)
class Guarantee:
    """A bank guarantee or e-guarantee standing for the deposit (D7)."""

    ref: str
    issuer: str
    amount_fen: int
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class ForfeitRequest:
    """A forfeiture asked for by one staff member, waiting for a second one."""

    command_id: str
    cause: ForfeitCause
    note: str
    requested_by: str
    requested_at: datetime
    transfer_id: str | None
    """The pending FORFEIT transfer (None for a guarantee: no money moves here)."""
    approved_by: str | None = None


@dataclass(frozen=True, slots=True)
class Deposit:
    """One bidder's deposit in one project: the aggregate the lifecycle drives. Replaced on
    every change, ``version`` incremented (optimistic concurrency in the store)."""

    project_id: str
    bidder_id: str
    bidder_no: int
    sub_account: str
    account_id: str
    state: DepositState = DepositState.AWAITING
    form: DepositForm | None = None
    amount_fen: int = 0
    """Cash held, or the guarantee's amount."""
    bank_ref: str | None = None
    """The bank credit that confirmed it."""
    payer_account: str | None = None
    payer_name: str | None = None
    received_at: datetime | None = None
    """The bank's value time of the confirming credit."""
    guarantee: Guarantee | None = None
    refund_cause: RefundCause | None = None
    refund_due_on: date | None = None
    interest_fen: int = 0
    payout_id: str | None = None
    forfeit: ForfeitRequest | None = None
    version: int = 0


# -- bank messages --------------------------------------------------------------------------


class NotificationKind(Enum):
    CREDIT = "credit"  # money received (到账通知)
    REVERSAL = "reversal"  # the bank takes back an earlier credit (冲正)


@dataclass(frozen=True, slots=True)
class BankNotification:
    """A signed message from the bank about a movement on a virtual sub-account.

    ``seq`` numbers the bank's messages without gaps; ``bank_ref`` is the bank's own
    reference of the movement and identifies it: the same movement notified twice carries
    the same ``bank_ref`` (and may carry a new ``seq``)."""

    seq: int
    bank_ref: str
    kind: NotificationKind
    sub_account: str
    amount_fen: int
    value_at: datetime
    payer_account: str = ""
    payer_name: str = ""
    reverses_ref: str | None = None
    currency: str | None = None
    """ISO 4217 code as the bank sent it; ``None`` when the bank sent none (CNY). Only CNY is
    booked: any other currency goes to suspense (``CURRENCY_NOT_CNY``), never into the books."""


CNY = "CNY"


class SuspenseReason(Enum):
    UNKNOWN_SUB_ACCOUNT = "unknown_sub_account"
    AFTER_DEADLINE = "after_deadline"
    DEPOSIT_NOT_AWAITING = "deposit_not_awaiting"
    AMOUNT_INSUFFICIENT = "amount_insufficient"
    STATEMENT_UNMATCHED = "statement_unmatched"
    """On the bank's statement, never notified: put in suspense by reconciliation (D9)."""
    CURRENCY_NOT_CNY = "currency_not_cny"
    """Money in another currency than CNY: held aside, never booked (no CNY transfer); staff
    return it with the bank by hand."""


class NotificationVerdict(Enum):
    """What a notification does, once its signature, form and sequence are accepted."""

    CONFIRM = "confirm"  # credit: the deposit is confirmed
    SUSPENSE = "suspense"  # credit: held in suspense, with a reason
    DUPLICATE = "duplicate"  # already processed: nothing changes
    REVERSE_DEPOSIT = "reverse_deposit"  # reversal of a confirming credit
    REVERSE_SUSPENSE = "reverse_suspense"  # reversal of a credit held in suspense
    UNAPPLIED = "unapplied"  # reversal the ledger cannot apply; staff must look


@dataclass(frozen=True, slots=True)
class NotificationOutcome:
    """What a notification did. A repeat of a processed notification returns the first
    outcome with ``replayed=True``, and changes nothing."""

    bank_ref: str
    verdict: NotificationVerdict
    suspense_reason: SuspenseReason | None = None
    project_id: str | None = None
    bidder_id: str | None = None
    transfer_id: str | None = None
    detail: str = ""
    replayed: bool = False


class SuspenseState(Enum):
    OPEN = "open"
    RETURN_PENDING = "return_pending"
    RETURNED = "returned"
    REVERSED = "reversed"


@dataclass(frozen=True, slots=True)
class SuspenseItem:
    bank_ref: str
    reason: SuspenseReason
    amount_fen: int
    sub_account: str
    payer_account: str
    payer_name: str
    value_at: datetime
    state: SuspenseState = SuspenseState.OPEN
    payout_id: str | None = None


class PayoutPurpose(Enum):
    DEPOSIT_REFUND = "deposit_refund"
    SUSPENSE_RETURN = "suspense_return"


class PayoutState(Enum):
    PENDING = "pending"  # in a batch file, waiting for the bank
    POSTED = "posted"  # the bank paid it
    VOIDED = "voided"  # the bank rejected it; the money is back in refunds payable


@dataclass(frozen=True, slots=True)
class Payout:
    """A refund instruction: one line of a bank batch file, backed by a pending PAYOUT
    transfer whose id is the payout's id."""

    id: str
    purpose: PayoutPurpose
    payee_account: str
    payee_name: str
    amount_fen: int
    due_on: date
    project_id: str | None = None
    bidder_id: str | None = None
    source_ref: str | None = None
    """Suspense returns: the bank reference of the money returned."""
    state: PayoutState = PayoutState.PENDING
    bank_ref: str | None = None
    """The bank's reference of the payment once confirmed."""


@dataclass(frozen=True, slots=True)
class PayoutResult:
    """The bank's answer to one line of a batch: paid (``ok``) or rejected."""

    payout_id: str
    ok: bool
    bank_ref: str
    value_at: datetime
    failure: str = ""


@dataclass(frozen=True, slots=True)
class BankMovement:
    """A posted movement of the bank account as the ledger sees it: ``amount_fen`` is signed,
    positive into the centre's account, negative out of it."""

    transfer_id: str
    bank_ref: str
    amount_fen: int
    value_on: date


@dataclass(frozen=True, slots=True)
class CollusionAlert:
    """Deposits of different bidders paid from one bank account (IR 40(6))."""

    project_id: str | None
    """None when grouped across projects."""
    payer_account: str
    bidder_ids: tuple[str, ...]
    bank_refs: tuple[str, ...] = field(default=())
