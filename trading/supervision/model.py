"""What supervision is: alerts and their states, the acts on them, the watched steps.

An alert (电子监察告警) is raised by any package when something looks wrong; its facts
(kind, object, messages, detail, raised_at) are never edited. What a supervisor does with it
is its state and its acts: acknowledge (with a note), note, escalate, close; the watch itself
resolves it when the watched step is done and escalates it once when it stays open too long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Act",
    "Alert",
    "AlertState",
    "Severity",
    "SupervisionSettings",
    "WatchedStep",
]


class AlertState(StrEnum):
    """open → acknowledged → closed; open/acknowledged → resolved (the step was done) → closed."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class Act(StrEnum):
    """What can be done to an alert. ``resolve`` is the watch's own act (the step was done);
    ``escalate`` is the watch's (too old) or a supervisor's."""

    ACKNOWLEDGE = "acknowledge"
    NOTE = "note"
    ESCALATE = "escalate"
    CLOSE = "close"
    RESOLVE = "resolve"


@dataclass(frozen=True)
class Alert:
    id: int
    kind: str
    severity: str
    object_type: str
    object_id: str
    message_en: str
    message_zh: str
    detail: dict[str, Any]
    raised_at: datetime
    dedup_key: str | None
    state: AlertState
    watch_ref: str | None
    due_at: datetime | None
    escalated_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_by: int | None
    resolved_at: datetime | None
    closed_at: datetime | None
    closed_by: int | None
    version: int

    @classmethod
    def from_row(cls, r: Any) -> Alert:
        d = dict(r)
        d["state"] = AlertState(d["state"])
        return cls(**d)

    def to_json(self) -> dict[str, Any]:
        return {**self.__dict__, "state": self.state.value, "escalated": self.escalated_at is not None}


@dataclass(frozen=True)
class WatchedStep:
    """One deadline the rules set, watched online (RULES S4).

    ``kind`` is the alert kind its overdue step raises; ``rule`` the RULES.md row(s);
    ``resolves`` says in words what completing the step is (the watch checks it and resolves
    the alert); ``auto_resolves`` is False where nothing can make the step done any more (a
    late change of the documents): a supervisor closes the alert."""

    kind: str
    rule: str
    severity: Severity
    what_en: str
    what_zh: str
    resolves_en: str
    resolves_zh: str
    object_type: str
    auto_resolves: bool = True


@dataclass(frozen=True)
class SupervisionSettings:
    """Named limits of the watch and of the alert workflow (``config.extra['supervision.<name>']``
    or ``SUNLIT_SUPERVISION_<NAME>``)."""

    escalate_after_s: int = 24 * 3600
    """An alert still open (not acknowledged, resolved or closed) this long after it was
    raised escalates, once."""
    sweep_interval_s: int = 3600
    """How often the watch runs its scans, resolves the alerts of steps done elsewhere (the
    award's steps resolve at once, in their own use case) and escalates old alerts."""
    opening_grace_s: int = 2 * 3600
    """An opening not held this long after its announced time is overdue (T8, T9)."""
    change_min_days: int = 15
    """W1 (BL 23): changes to the documents at least this many days before the deadline."""
    page_max: int = 200
    """Most alerts one page lists."""
    note_max_chars: int = 4000
