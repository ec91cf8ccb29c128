"""Public notices (公告) and the rules of the tender documents after publication: pure
functions of their inputs and ``now``.

Theory of operation
-------------------
Everything the centre publishes about a tender is a *public notice*: the tender notice, an
amendment (a date change or a change to the documents), a clarification, the opening
record, the candidates, the award result, a failed tender, a re-tender (:class:`NoticeKind`).
A notice is a fact: written once, in the transaction of the step it announces, never edited.
Its stable URL is ``/api/v1/public/notices/{notice_id}``. The public list pages newest first
by a commit-ordered sequence (``seq``): a page is ``seq < cursor``, its ``next`` cursor the
last ``seq`` of the page — never a timestamp, which two notices may share and which a late
commit may precede.

What a notice may carry is checked here (:func:`confidential_keys`): never a confidential
item of a bid, the custodians, a question's asker; and no bidder identity in a notice
published before the opening (tender, amendment, clarification).

The rules, with their sources (RULES.md):

- W1 (BL 23, IR 21): a clarification or change to the documents reaches everyone who
  obtained them at least ``clarification_min_days`` (15) before the bid deadline; if less
  remains, the deadline moves (:func:`clarification_dates`). Decided here: when staff give
  no new deadline, the deadline moves *automatically* to the first moment at least 15 days
  after the change, at the old deadline's time of day (whole days later), and the opening
  moves by the same amount — the regulation says the deadline "shall be postponed"
  (应当顺延), so refusing would only make staff do the arithmetic; a new deadline that staff
  do give must itself be at least 15 days after the change, or the change is refused with
  ``deadline_too_soon_after_change`` (a deadline the law forbids is never silently altered).
- W2 (IR 22): an objection to the documents is raised at least ``objection_min_days`` (10)
  before the deadline (:func:`check_objection_window`) and is answered within
  ``objection_answer_days`` (3) (:func:`objection_answer_due`); an unanswered objection past
  that time raises one supervision alert (a timed event: survives restarts).
- T1 (BL 24) is re-checked on every date change by :func:`bidding.rules.decide`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from bidding.errors import BidReason, BidRejected
from bidding.model import Tender, TenderState
from trading.clock import iso_ms

__all__ = [
    "BEFORE_OPENING_KINDS",
    "CONFIDENTIAL_KEYS",
    "IDENTITY_KEYS",
    "OBJECTION_DUE_EVENT",
    "ClarificationDates",
    "ClarificationKind",
    "NoticeKind",
    "PublicSettings",
    "check_objection_window",
    "check_open_for_documents",
    "clarification_dates",
    "confidential_keys",
    "like_pattern",
    "notice_url",
    "objection_answer_due",
    "question_view",
]

OBJECTION_DUE_EVENT = "tender.objection_due"
"""The timed event at an objection's answer time (ref: the objection id)."""


class NoticeKind(StrEnum):
    """What a public notice announces."""

    TENDER = "tender"
    """招标公告: the tender is published."""
    AMENDMENT = "amendment"
    """变更公告: dates or documents changed."""
    CLARIFICATION = "clarification"
    """澄清公告: questions answered, documents clarified."""
    OPENING_RECORD = "opening_record"
    """开标记录: the public view of the signed opening record (T11)."""
    CANDIDATES = "candidates"
    """中标候选人公示."""
    AWARD_RESULT = "award_result"
    """中标结果公告."""
    FAILED = "failed"
    """流标公告 (T7, W7)."""
    RE_TENDER = "re_tender"
    """重新招标公告."""


class ClarificationKind(StrEnum):
    CLARIFICATION = "clarification"
    AMENDMENT = "amendment"


@dataclass(frozen=True)
class PublicSettings:
    """What a centre configures (``bidding.<name>`` in the config, or
    ``SUNLIT_BIDDING_<NAME>``)."""

    clarification_min_days: int = 15
    """W1 (BL 23): a change reaches the bidders at least this long before the deadline."""
    objection_min_days: int = 10
    """W2 (IR 22): objections to the documents at least this long before the deadline."""
    objection_answer_days: int = 3
    """W2 (IR 22): an objection is answered within this many days."""
    page_max: int = 100
    """The most notices on one page of the public list."""

    def __post_init__(self) -> None:
        assert 1 <= self.clarification_min_days <= 365
        assert 1 <= self.objection_min_days <= 365
        assert 1 <= self.objection_answer_days <= 60
        assert 1 <= self.page_max <= 1000


# ---------------------------------------------------------------------------- notices

BEFORE_OPENING_KINDS = frozenset({NoticeKind.TENDER, NoticeKind.AMENDMENT, NoticeKind.CLARIFICATION})
"""Notices published while bids are sealed: nothing in them may name a bidder."""

CONFIDENTIAL_KEYS = frozenset(
    {
        "confidential_items",
        "custodians",
        "asked_by",
        "asker",
        "asker_org_id",
        "raised_by",
        "sealed_share",
        "share",
        "opening_public_key_private",
    }
)
"""Keys that never appear in a public notice, at any depth."""

IDENTITY_KEYS = frozenset(
    {"org_id", "bidder_org_id", "bidder_name", "bidders", "registrations", "downloads"}
)
"""Keys naming bidders: not in a notice published before the opening (BL 22: who obtained
the documents and how many stays secret)."""


def _keys(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            yield str(k), here
            yield from _keys(v, here)
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _keys(v, f"{path}[{i}]")


def confidential_keys(kind: NoticeKind, data: Mapping[str, Any]) -> list[str]:
    """The paths in ``data`` a public notice of ``kind`` must not carry (empty: fine)."""
    forbidden = CONFIDENTIAL_KEYS | (IDENTITY_KEYS if kind in BEFORE_OPENING_KINDS else frozenset())
    return [path for key, path in _keys(data) if key in forbidden]


def notice_url(notice_id: int) -> str:
    """The stable URL of a notice."""
    return f"/api/v1/public/notices/{notice_id}"


def like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` anywhere (lower case), its wildcards escaped."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# ---------------------------------------------------------------------------- W1


def check_open_for_documents(tender: Tender, now: datetime) -> None:
    """Questions, clarifications and objections concern a published tender before its
    deadline."""
    if tender.state is TenderState.CANCELLED:
        raise BidRejected(BidReason.TENDER_CANCELLED)
    if tender.state is TenderState.DRAFT:
        raise BidRejected(BidReason.TENDER_NOT_PUBLISHED)
    if tender.state is not TenderState.PUBLISHED or now >= tender.bid_deadline_at:
        raise BidRejected(
            BidReason.DEADLINE_PASSED,
            f"the deadline was {iso_ms(tender.bid_deadline_at)}",
            f"截止时间为 {iso_ms(tender.bid_deadline_at)}",
        )


@dataclass(frozen=True)
class ClarificationDates:
    bid_deadline_at: datetime
    opening_at: datetime
    moved: bool
    """The dates differ from the tender's."""
    automatic: bool
    """The deadline was moved by W1, not by staff."""


def clarification_dates(
    *,
    now: datetime,
    bid_deadline_at: datetime,
    opening_at: datetime,
    min_days: int,
    new_deadline_at: datetime | None = None,
    new_opening_at: datetime | None = None,
) -> ClarificationDates:
    """W1 (BL 23, IR 21): the dates after a clarification or amendment issued at ``now``.

    - staff give a new deadline: it must be ``>= now + min_days`` (else
      ``deadline_too_soon_after_change``); the opening is the one given, or moves with the
      deadline;
    - staff give none and at least ``min_days`` remain: nothing moves;
    - staff give none and less remains: the deadline moves by whole days to the first
      moment ``>= now + min_days``, and the opening by as much.
    """
    earliest = now + timedelta(days=min_days)
    if new_deadline_at is None and new_opening_at is not None:
        new_deadline_at = bid_deadline_at
    if new_deadline_at is not None:
        if new_deadline_at < earliest:
            raise BidRejected(
                BidReason.DEADLINE_TOO_SOON_AFTER_CHANGE,
                f"the deadline must be at least {min_days} days after this change: "
                f"not before {iso_ms(earliest)} (given {iso_ms(new_deadline_at)})",
                f"投标截止时间须在本次澄清或修改发出之日起至少 {min_days} 日后："
                f"不早于 {iso_ms(earliest)}（所给为 {iso_ms(new_deadline_at)}）",
            )
        opening = new_opening_at or opening_at + (new_deadline_at - bid_deadline_at)
        moved = new_deadline_at != bid_deadline_at or opening != opening_at
        return ClarificationDates(new_deadline_at, opening, moved, automatic=False)
    if bid_deadline_at >= earliest:
        return ClarificationDates(bid_deadline_at, opening_at, moved=False, automatic=False)
    days = math.ceil((earliest - bid_deadline_at) / timedelta(days=1))
    shift = timedelta(days=days)
    return ClarificationDates(bid_deadline_at + shift, opening_at + shift, moved=True, automatic=True)


# ---------------------------------------------------------------------------- W2


def check_objection_window(
    *, now: datetime, bid_deadline_at: datetime, min_days: int
) -> None:
    """W2 (IR 22): an objection to the documents at least ``min_days`` before the deadline."""
    latest = bid_deadline_at - timedelta(days=min_days)
    if now > latest:
        raise BidRejected(
            BidReason.OBJECTION_TOO_LATE,
            f"objections to the documents close {min_days} days before the deadline, "
            f"at {iso_ms(latest)}",
            f"对招标文件的异议应在投标截止时间 {min_days} 日前提出，截止于 {iso_ms(latest)}",
        )


def objection_answer_due(raised_at: datetime, answer_days: int) -> datetime:
    """W2 (IR 22): when the answer to an objection raised at ``raised_at`` is due."""
    return raised_at + timedelta(days=answer_days)


# ---------------------------------------------------------------------------- questions


def question_view(r: Mapping[str, Any], *, sees_askers: bool, own_org: int | None) -> dict[str, Any] | None:
    """What a viewer sees of a question: staff and supervisors everything; its asker's
    organisation its own question; everyone else the text only once it is answered, and
    never who asked (``None``: not shown)."""
    answered = r["clarification_id"] is not None
    mine = own_org is not None and r["org_id"] == own_org
    if not (sees_askers or mine or answered):
        return None
    out: dict[str, Any] = {
        "id": r["id"],
        "tender_id": r["tender_id"],
        "text": r["text"],
        "asked_at": r["asked_at"],
        "answered": answered,
        "clarification_no": r.get("clarification_no"),
        "mine": mine,
    }
    if sees_askers:
        out["asked_by"] = {
            "user_id": r["asked_by"],
            "username": r.get("asked_by_username"),
            "org_id": r["org_id"],
            "org_name": r.get("org_name"),
        }
    return out
