"""The live auction engine: lots in memory, one writer, a group-commit log, its own timers.

Theory of operation
===================

Each live lot is an ``auction.rules`` state machine held in memory. Commands are judged on
the event loop, one at a time, with no ``await`` between reading a lot's state and taking
the decision's new state: the event loop *is* the lot's single writer, and the order in
which commands reach ``decide`` is the order of the lot's log (A2: the server's arrival
order decides).

A lot holds two states. ``state`` includes every decision taken so far, also those whose
events are still on their way to the database; ``committed`` holds only what is durable.
Every decision's events join one queue. The writer task flushes the queue with **one**
``INSERT`` of many rows, and starts the next flush as soon as the previous one returns, so
that under load a flush carries whatever arrived while the last one was in flight (group
commit). Only once a flush has committed does the engine, for each of its decisions in
order: advance ``committed``, broadcast the public events (encoded once, put on every
watcher's queue without waiting), and answer the command (a bid's ack). Nobody ever sees
an event that is not durable.

If a flush fails, its outcome is uncertain (a lost connection may hide a commit), so every
lot with undurable decisions is marked *reloading*: its pending commands are answered
``engine_unavailable`` (send again, same bid id), and the lot is rebuilt from its log in
the database as soon as that is reachable; events found there that were never broadcast
are broadcast then, and their bids answered as the first answer to a repeat.

Bid ids. A bidder's ``(paddle, bid_id)`` names one attempt. The engine remembers the answer
(the accepted event, from the log, or the refusal, from ``auction_refusals``) and answers a
repeat with it; the same id with another amount is ``bid_id_reused``. A repeat while the
first is in flight waits for the same answer. Refusals are durable like acceptances: a
refusal joins the write queue as a refusal row and rides in the same flush as the events
(one statement), and the bidder hears it only once it is durable — so a repeat of a refused
id, after a restart too, answers the same refusal, never a later acceptance. Malformed bids
(``bad_command``, ``bad_amount``) are not remembered: they name no attempt.

Time. The engine reads its clock (``app[keys.CLOCK]``) once per decision. Each lot has at
most one pending deadline (``rules.next_deadline``); the engine arms ``loop.call_at`` for
it and sends ``Tick`` when it fires. Tests with a fake clock call ``tick()`` after moving
the clock and ``wait_idle()`` to let the writer finish. The rules never trust the timer:
any command first takes the deadlines that fell due, at their true times.

Restart. ``start()`` reads the heartbeat (when the platform was last known alive),
claims and rebuilds every live lot nobody owns from its log, and — when no other process
was up meanwhile — lets ``rules.recover`` take what fell due during the outage (a countdown
that ran out closes at its true end) and apply the outage policy to a countdown still
running, recorded in the log. Lots created later (by another process, e.g. ``sunlit demo
load``) are loaded on first use.

Ownership (several processes over one database; ``auction.ownership`` has the whole story).
A lot is *owned* by the process holding its advisory lock (``LogStore.claim``); only the
owner judges commands, writes the log, arms timers and runs hooks. Another process holds
the lot as a *follower*: the same ``_Lot``, its state folded (``rules.apply``) from the log
as the owner's commits are announced (``on_log``: PostgreSQL NOTIFY carries (lot, seq), the
events are read from the log, so a lost notification leaves no gap), its watchers fed the
same frames in the same order. A bid or a command at a follower is forwarded to the owner
(``Peers``) and answered with the owner's answer; when there is no owner (it died: its
connection, and so its locks, ended), the follower takes the lot over — claim, rebuild from
the log, take what fell due at its true time (``Tick``: a takeover moves no deadline, the
countdown's end is the log's) — and judges the command itself. A forwarded command is
retried for ``forward_total_s`` at most, then answered ``engine_unavailable`` (send again,
same bid id): bid ids make a repeat harmless, never doubled. A sweep (``claim_interval_s``)
takes over every live lot left without an owner, watched or not.

Admission lives outside the lot's log: the ``auction_paddles`` table, held in memory per
scope (a land lot, or a whole plate session) and passed to ``decide(admitted=...)``.

Hooks (``EngineHooks``) run after commit, in background tasks the engine owns: revealing
the sealed reserve when bidding ends (``AWAITING_RESERVE``), and settling a closed lot
(result row, audit entry, notices).

Limits: ``EngineSettings`` names every one (rows per flush, events kept for resume,
remembered refusals per lot, heartbeat period).

Layout: ``ports`` (the store, watchers, peers, hooks and settings the engine talks to),
``lots`` (lots in memory, watchers, loading from the log), ``ownership`` (forwarding,
takeovers, following the owner), ``writer`` (the group-commit writer), ``timers`` (deadlines
and after-commit work) and ``core`` (the ``Engine`` itself, which mixes these in).
"""

from __future__ import annotations

from auction.engine.core import Engine
from auction.engine.lots import rows_of
from auction.engine.ports import (
    EngineHooks,
    EngineSettings,
    LoadedLot,
    LogRow,
    LogStore,
    NotOwner,
    Peers,
    RefusalRow,
    Watcher,
    scope_of,
)

__all__ = [
    "Engine",
    "EngineHooks",
    "NotOwner",
    "Peers",
    "EngineSettings",
    "LoadedLot",
    "LogRow",
    "RefusalRow",
    "LogStore",
    "Watcher",
    "scope_of",
    "rows_of",
]
