"""Refusals of supervision acts.

Tree (the roots live in ``trading.errors``)::

    DomainError
    ├── Rejected
    │   └── SupervisionRejected(reason: SupervisionReason)   an act the alert's state refuses (409)
    └── NotFound (code ``alert_not_found``)
"""

from __future__ import annotations

from trading.errors import NotFound, Reason, Rejected

__all__ = ["SupervisionReason", "SupervisionRejected", "alert_not_found"]


class SupervisionReason(Reason):
    """Why an act on an alert was refused. Closed set: add a member, never reuse a code."""

    ALREADY_ACKNOWLEDGED = (
        "alert_already_acknowledged",
        409,
        "The alert is already acknowledged; add a note instead",
        "该告警已签收；如需补充请添加备注",
    )
    ALREADY_ESCALATED = (
        "alert_already_escalated",
        409,
        "The alert is already escalated (an alert escalates once)",
        "该告警已升级（每条告警只升级一次）",
    )
    ALREADY_CLOSED = (
        "alert_closed",
        409,
        "The alert is closed; nothing more can be done to it but a note",
        "该告警已关闭，只能添加备注",
    )
    NOT_LIVE = (
        "alert_not_live",
        409,
        "The alert is resolved or closed: it can no longer be acknowledged or escalated",
        "该告警已解除或已关闭，不能再签收或升级",
    )
    STALE = (
        "alert_changed",
        409,
        "The alert changed since it was read (another act came first); read it again",
        "该告警在读取后已被他人处理，请重新读取",
    )


class SupervisionRejected(Rejected):
    reason: SupervisionReason


def alert_not_found(alert_id: int) -> NotFound:
    return NotFound(f"alert {alert_id} not found", f"告警 {alert_id} 不存在", code="alert_not_found")
