"""What a sealed tender is: its lifecycle states, the tender as drafted and as stored, bids,
custodians of the opening key, and the settings a centre configures.

Conventions:
- money is ``int`` fen (分), never float; ``0 <= amount <= MAX_AMOUNT_FEN``;
- times are aware UTC ``datetime``; receipts and records carry them to the millisecond;
- a bid is identified to the outside by its envelope's SHA-256 (hex), the value on the
  receipt and the leaf of the Merkle tree frozen at the deadline;
- the envelope header names the tender as ``str(tender.id)`` and the bidder as
  ``str(org_id)`` (:func:`envelope_tender_id`, :func:`envelope_bidder_id`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from types import MappingProxyType

from bidding.evaluation.model import Criterion, EvaluationMethod, MethodSpec, PriceBenchmark

__all__ = [
    "DEFAULT_MIN_BIDDERS",
    "MAX_AMOUNT_FEN",
    "STATUTORY_MIN_PERIOD_DAYS",
    "Bid",
    "BidOutcome",
    "BidStatus",
    "BiddingSettings",
    "Category",
    "Custodian",
    "FailureCause",
    "OpeningMode",
    "Procedure",
    "ReceiptAction",
    "Registration",
    "Tender",
    "TenderDocument",
    "TenderDraft",
    "TenderState",
    "envelope_bidder_id",
    "envelope_tender_id",
    "share_context",
]

MAX_AMOUNT_FEN = 10**15
DEFAULT_MIN_BIDDERS = 3
"""BL 28: fewer than three bids and the tender must be re-tendered."""
DEFAULT_DEPOSIT_INTEREST_BP = 35
"""D5 (IR 57): deposits are refunded with the bank's interest for the period; by default the
demand-deposit benchmark rate (活期存款基准利率), 0.35 % a year. Per tender (cfg)."""


class TenderState(StrEnum):
    """draft → published → closed (at the deadline) → opening (at the opening time) → opened;
    published → failed (too few bids at the deadline); draft/published → cancelled."""

    DRAFT = "draft"
    PUBLISHED = "published"
    CLOSED = "closed"
    OPENING = "opening"
    OPENED = "opened"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Category(StrEnum):
    """What is bought: works (工程), goods (货物), services (服务)."""

    WORKS = "works"
    GOODS = "goods"
    SERVICES = "services"


class Procedure(StrEnum):
    """Open tendering (公开招标) or invited tendering (邀请招标)."""

    OPEN = "open"
    INVITED = "invited"


STATUTORY_MIN_PERIOD_DAYS: Mapping[Procedure, int] = MappingProxyType(
    {Procedure.OPEN: 20, Procedure.INVITED: 20}
)
"""BL 24: at least 20 days from the issue of the tender documents to the bid deadline."""


class OpeningMode(StrEnum):
    """How bids are opened. ``custodians``: k of n custodians hand in key shares.
    ``bidder_decrypt`` (each bidder decrypts its own bid) is declared, not implemented."""

    CUSTODIANS = "custodians"
    BIDDER_DECRYPT = "bidder_decrypt"


class BidStatus(StrEnum):
    CURRENT = "current"
    SUPERSEDED = "superseded"
    WITHDRAWN = "withdrawn"


class BidOutcome(StrEnum):
    """What the opening made of a frozen bid (EM 31, RULES T10)."""

    OPENED = "opened"
    REVOKED = "revoked"
    """It failed to open through the bidder's own fault (撤销)."""
    WITHDRAWN = "withdrawn"
    """It failed to open through another cause: treated as withdrawn, with an incident."""


class FailureCause(StrEnum):
    BIDDER = "bidder"
    OTHER = "other"


class ReceiptAction(StrEnum):
    SUBMIT = "submit"
    REPLACE = "replace"
    WITHDRAW = "withdraw"


def envelope_tender_id(tender_id: int) -> str:
    """How an envelope header names the tender."""
    return str(tender_id)


def envelope_bidder_id(org_id: int) -> str:
    """How an envelope header names the bidder: its organisation id."""
    return str(org_id)


def share_context(tender_id: int) -> bytes:
    """The sealed-box context of a custodian's key share: a box for one tender does not
    open as a share of another."""
    return b"sunlit/opening-key-share/" + envelope_tender_id(tender_id).encode()


@dataclass(frozen=True)
class TenderDraft:
    """A tender as staff create it, before any rule has looked at it."""

    code: str
    project_name: str
    category: Category
    procedure: Procedure
    lots: tuple[str, ...]
    estimated_price_fen: int
    deposit_fen: int
    bid_deadline_at: datetime
    opening_at: datetime
    place: str
    custodian_user_ids: tuple[int, ...]
    threshold_k: int
    max_bid_bytes: int
    min_bidders: int = DEFAULT_MIN_BIDDERS
    min_period_days: int | None = None
    """``None``: the procedure's statutory minimum."""
    opening_mode: OpeningMode = OpeningMode.CUSTODIANS
    retender_of: int | None = None
    evaluation: MethodSpec = MethodSpec()
    deposit_interest_rate_bp: int = DEFAULT_DEPOSIT_INTEREST_BP
    """The annual rate the deposits earn until refunded after the contract (D5), in basis points."""
    """The evaluation method, criteria, control price (最高投标限价) and budget (T16, W3)."""


@dataclass(frozen=True)
class Tender:
    id: int
    code: str
    project_name: str
    category: Category
    procedure: Procedure
    lots: tuple[str, ...]
    estimated_price_fen: int
    deposit_fen: int
    bid_deadline_at: datetime
    opening_at: datetime
    place: str
    min_bidders: int
    min_period_days: int
    opening_mode: OpeningMode
    threshold_k: int
    custodian_count: int
    max_bid_bytes: int
    state: TenderState
    version: int
    created_by: int | None
    created_at: datetime
    published_at: datetime | None = None
    closed_at: datetime | None = None
    opening_started_at: datetime | None = None
    opened_at: datetime | None = None
    failed_at: datetime | None = None
    cancelled_at: datetime | None = None
    failure_reason: str | None = None
    retender_of: int | None = None
    opening_public_key: bytes | None = field(default=None, repr=False)
    # The evaluation terms, fixed at publication (T16; bidding.evaluation):
    evaluation_method: EvaluationMethod = EvaluationMethod.LOWEST_PRICE
    criteria: tuple[Criterion, ...] = ()
    price_benchmark: PriceBenchmark = PriceBenchmark.LOWEST
    points_per_percent: Decimal = Decimal("1.00")
    control_price_fen: int | None = None
    budget_fen: int | None = None
    trim_extremes: bool = False
    deposit_interest_rate_bp: int = DEFAULT_DEPOSIT_INTEREST_BP

    @property
    def method_spec(self) -> MethodSpec:
        return MethodSpec(
            method=self.evaluation_method,
            criteria=self.criteria,
            price_benchmark=self.price_benchmark,
            points_per_percent=self.points_per_percent,
            control_price_fen=self.control_price_fen,
            budget_fen=self.budget_fen,
            trim_extremes=self.trim_extremes,
        )

    @property
    def project_ref(self) -> str:
        """How admission (deposits) names this tender."""
        return f"tender:{self.id}"


@dataclass(frozen=True)
class Custodian:
    """One custodian of a tender's opening key: share ``position`` (the Shamir x), the
    X25519 key its share is sealed to, and (once published) the sealed share and the
    commitment ``sha256(label || tender || share)`` the server checks a handed-in share by."""

    tender_id: int
    user_id: int
    username: str
    position: int
    key_id: str | None
    public_key: bytes | None = field(repr=False)
    sealed_share: bytes | None = field(repr=False)
    share_commitment: bytes | None = field(repr=False)
    handed_in_at: datetime | None = None


@dataclass(frozen=True)
class TenderDocument:
    id: int
    tender_id: int
    name: str
    sha256: str
    size_bytes: int
    blob_id: int
    uploaded_at: datetime


@dataclass(frozen=True)
class Registration:
    tender_id: int
    org_id: int
    registered_by: int
    registered_at: datetime


@dataclass(frozen=True)
class Bid:
    id: int
    tender_id: int
    org_id: int
    submitted_by: int
    blob_id: int
    envelope_sha256: str
    envelope_size_bytes: int
    signer_key_id: str
    signer_public_key: bytes = field(repr=False)
    status: BidStatus = BidStatus.CURRENT
    received_at: datetime | None = None
    ended_at: datetime | None = None
    receipt_id: int | None = None
    leaf_index: int | None = None
    outcome: BidOutcome | None = None


@dataclass(frozen=True)
class BiddingSettings:
    """What a centre configures for all its tenders (per-tender values live on the tender).

    ``store_chunk_bytes``: an uploaded envelope is written as bytea rows of this size as it
    streams in (memory per upload is about one of these).
    """

    store_chunk_bytes: int = 1024 * 1024
    upload_idle_max_s: int = 3600
    """A staged bid upload untouched for longer than this is abandoned: the sweep (at start
    and on each new upload) deletes its chunks, and the upload, should it resume, is refused
    with ``upload_expired``. Keep it well above the time one chunk takes on a slow link."""
    works_deposit_cap_fen: int = 80_000_000
    """800,000 yuan: the usual cap on a works tender's bid deposit (cfg)."""
    max_bid_bytes_cap: int = 4 * 1024**3
    default_max_bid_bytes: int = 256 * 1024**2
    max_document_bytes: int = 200 * 1024**2
    price_schedule_max_bytes: int = 64 * 1024
    opening_workers: int = 2
    """Bids decrypted side by side at the opening (worker threads)."""
    min_period_days: Mapping[Procedure, int] = field(
        default_factory=lambda: dict(STATUTORY_MIN_PERIOD_DAYS)
    )

    def __post_init__(self) -> None:
        assert 4096 <= self.store_chunk_bytes <= 64 * 1024**2, "store_chunk_bytes out of range"
        assert self.upload_idle_max_s >= 60, "upload_idle_max_s below a minute"
        assert self.works_deposit_cap_fen >= 0
        assert 0 < self.default_max_bid_bytes <= self.max_bid_bytes_cap
        assert 1 <= self.opening_workers <= 32
