"""A drawn panel's life: who is called, who answers, who replaces whom — pure.

Theory of operation
-------------------
A draw's result (``DrawResult``) fixes, line by line, the whole order in which experts
will be called: ``order[:count]`` first, then the replacements. The service keeps one
*seat* row per expert called (line, position in the order, expert, status). Everything
else follows from those rows and the result:

Member states and the commands that move them (a missing entry is refused, nothing
changes)::

    summoned ──confirm──▶ confirmed ──recuse──▶ replaced     (T19: scores void)
       │ ├──decline──▶ declined
       │ ├──timeout──▶ timed_out                             (no answer in time = decline)
       │ └──recuse───▶ replaced
       └ (the only state that answers)

``plan_calls(result, seats)`` says whom to call now: for each line, as many experts as
there are seats not held by a ``summoned`` or ``confirmed`` member, each the first in the
line's order not yet called (``draw.next_replacement``, E5: the next position of the same
random stream). A line whose order runs out is *short*, with the number of seats missing.

Draw states::

    committed ──run──▶ drawn ◀──▶ full ──fix──▶ fixed
                         └──────▶ short        (an order ran out: a new draw is needed)

After every change the service re-plans and sets the status with ``panel_status``: ``full``
when every line has ``count`` confirmed members, ``short`` when some line cannot be filled,
``drawn`` otherwise. ``fix`` (the result is fixed; the list stops being secret, the seed is
revealed) is allowed from ``full`` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from experts.draw import next_replacement
from experts.errors import ExpertReason
from experts.model.record import DrawResult
from trading.errors import Rejected

__all__ = [
    "Call",
    "DrawStatus",
    "LineState",
    "MemberCommand",
    "MemberStatus",
    "Plan",
    "Seat",
    "decide_draw",
    "decide_member",
    "panel_status",
    "plan_calls",
]


class MemberStatus(Enum):
    SUMMONED = "summoned"
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    TIMED_OUT = "timed_out"
    REPLACED = "replaced"

    @property
    def holds_seat(self) -> bool:
        """Summoned (awaiting an answer) or confirmed: the seat is not vacant."""
        return self in (MemberStatus.SUMMONED, MemberStatus.CONFIRMED)


class MemberCommand(Enum):
    CONFIRM = "confirm"
    DECLINE = "decline"
    TIMEOUT = "timeout"
    RECUSE = "recuse"


MEMBER_TRANSITIONS: dict[tuple[MemberStatus, MemberCommand], MemberStatus] = {
    (MemberStatus.SUMMONED, MemberCommand.CONFIRM): MemberStatus.CONFIRMED,
    (MemberStatus.SUMMONED, MemberCommand.DECLINE): MemberStatus.DECLINED,
    (MemberStatus.SUMMONED, MemberCommand.TIMEOUT): MemberStatus.TIMED_OUT,
    (MemberStatus.SUMMONED, MemberCommand.RECUSE): MemberStatus.REPLACED,
    (MemberStatus.CONFIRMED, MemberCommand.RECUSE): MemberStatus.REPLACED,
}


class DrawStatus(Enum):
    COMMITTED = "committed"  # record committed and published; not drawn yet
    DRAWN = "drawn"  # drawn; summons out, seats still open
    FULL = "full"  # every seat confirmed
    SHORT = "short"  # an order ran out: some specialty cannot be filled
    FIXED = "fixed"  # result fixed: the list is no longer secret, the seed is revealed


class DrawCommand(Enum):
    RUN = "run"
    ANSWER = "answer"  # any member change (confirm, decline, timeout, recuse)
    FIX = "fix"


DRAW_TRANSITIONS: dict[tuple[DrawStatus, DrawCommand], frozenset[DrawStatus]] = {
    (DrawStatus.COMMITTED, DrawCommand.RUN): frozenset(
        {DrawStatus.DRAWN, DrawStatus.FULL, DrawStatus.SHORT}
    ),
    (DrawStatus.DRAWN, DrawCommand.ANSWER): frozenset(
        {DrawStatus.DRAWN, DrawStatus.FULL, DrawStatus.SHORT}
    ),
    (DrawStatus.FULL, DrawCommand.ANSWER): frozenset(
        {DrawStatus.DRAWN, DrawStatus.FULL, DrawStatus.SHORT}
    ),
    # a short draw still records answers (a summoned member may confirm or decline), but
    # it stays short: its order is used up
    (DrawStatus.SHORT, DrawCommand.ANSWER): frozenset({DrawStatus.SHORT}),
    (DrawStatus.FULL, DrawCommand.FIX): frozenset({DrawStatus.FIXED}),
}


def decide_member(status: MemberStatus, command: MemberCommand) -> MemberStatus:
    """The member's next state; ``summons_closed`` when ``command`` does not apply."""
    nxt = MEMBER_TRANSITIONS.get((status, command))
    if nxt is None:
        raise Rejected(
            ExpertReason.SUMMONS_CLOSED,
            f"cannot {command.value} a summons that is {status.value}",
            f"通知状态为 {status.value}，不能{_COMMAND_ZH[command]}",
            details={"member_status": status.value, "command": command.value},
        )
    return nxt


_COMMAND_ZH = {
    MemberCommand.CONFIRM: "确认参加",
    MemberCommand.DECLINE: "拒绝参加",
    MemberCommand.TIMEOUT: "按超时处理",
    MemberCommand.RECUSE: "回避",
}


def decide_draw(status: DrawStatus, command: DrawCommand, proposed: DrawStatus) -> DrawStatus:
    """Check that ``command`` may move a draw from ``status`` to ``proposed``."""
    allowed = DRAW_TRANSITIONS.get((status, command), frozenset())
    if proposed not in allowed:
        raise Rejected(
            ExpertReason.WRONG_DRAW_STATE,
            f"the draw is {status.value}; cannot {command.value}"
            + (f" to {proposed.value}" if allowed else ""),
            f"抽取状态为 {status.value}，不能执行 {command.value}",
            details={"draw_status": status.value, "command": command.value},
        )
    return proposed


@dataclass(frozen=True, slots=True)
class Seat:
    """One expert called from a draw's order."""

    line: int
    position: int
    expert_id: str
    status: MemberStatus


@dataclass(frozen=True, slots=True)
class Call:
    """Call ``expert_id``, at ``position`` of ``line``'s order."""

    line: int
    position: int
    expert_id: str


@dataclass(frozen=True, slots=True)
class LineState:
    line: int
    code: str
    count: int
    confirmed: int
    pending: int  # summoned, no answer yet
    called: int  # everyone called on this line, whatever their answer
    order_length: int
    short_by: int  # seats that cannot be filled: the order is used up

    def to_json(self) -> dict[str, object]:
        return {
            "line": self.line,
            "code": self.code,
            "count": self.count,
            "confirmed": self.confirmed,
            "pending": self.pending,
            "called": self.called,
            "order_length": self.order_length,
            "short_by": self.short_by,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    calls: tuple[Call, ...]
    lines: tuple[LineState, ...]  # the state once ``calls`` are made

    @property
    def short_lines(self) -> tuple[LineState, ...]:
        return tuple(s for s in self.lines if s.short_by > 0)


def plan_calls(result: DrawResult, seats: Iterable[Seat]) -> Plan:
    """Whom to call now so every seat is held, in each line's drawn order (E5)."""
    by_line: dict[int, list[Seat]] = {}
    for s in seats:
        by_line.setdefault(s.line, []).append(s)
    calls: list[Call] = []
    states: list[LineState] = []
    for ld in result.lines:
        mine = by_line.get(ld.line, [])
        called = {s.expert_id for s in mine}
        held = sum(1 for s in mine if s.status.holds_seat)
        confirmed = sum(1 for s in mine if s.status is MemberStatus.CONFIRMED)
        position_of = {x: k for k, x in enumerate(ld.order)}
        new = 0
        short_by = 0
        while held + new < ld.count:
            try:
                expert_id = next_replacement(result, ld.line, called)
            except Rejected as exc:
                if exc.reason is not ExpertReason.POOL_EXHAUSTED:
                    raise
                short_by = ld.count - held - new
                break
            calls.append(Call(ld.line, position_of[expert_id], expert_id))
            called.add(expert_id)
            new += 1
        states.append(
            LineState(
                line=ld.line,
                code=ld.code.code,
                count=ld.count,
                confirmed=confirmed,
                pending=held - confirmed + new,
                called=len(called),
                order_length=len(ld.order),
                short_by=short_by,
            )
        )
    return Plan(tuple(calls), tuple(states))


def panel_status(lines: Sequence[LineState]) -> DrawStatus:
    """``short`` if a line cannot be filled, ``full`` if every seat is confirmed, else
    ``drawn``."""
    if any(s.short_by > 0 for s in lines):
        return DrawStatus.SHORT
    if all(s.confirmed >= s.count for s in lines):
        return DrawStatus.FULL
    return DrawStatus.DRAWN
