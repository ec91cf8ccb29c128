"""Refused requests under a limit (issue 14 item 8): a flood of 401, 403 and 429 answers
neither fills the audit log nor slows the server.

Theory of operation
-------------------
Two pure pieces, fed by the web edge with ``now`` (the limiter: a monotonic second count;
the tally: the app clock's minute):

- :class:`RefusalLimiter` — a token bucket per key (the client's address; the credential it
  sends): every refusal costs a token, tokens come back at ``per_s`` up to ``burst``. A key
  whose bucket is empty is answered 429 at once, before any work (no database, no session
  lookup), and that 429 costs a token too, so a flood that goes on stays refused while a
  client that stops is served again after ``1 / per_s`` seconds.
- :class:`DeniedTally` — the audit of refusals in aggregate: per client (address and user)
  and minute, the first ``individual_max`` refusals are audited one by one as before (an
  isolated denied attempt is in the log with its path, RULES T12); the rest are counted, and
  :meth:`DeniedTally.drain` hands back one summary per client and minute (count, codes,
  statuses, a sample of paths) for one audit entry each.

Every map is bounded (``keys_max``): past it, the least recently used key is dropped (a
limiter forgets a quiet client; the tally folds new clients into one ``*`` client).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["AbuseSettings", "DeniedSummary", "DeniedTally", "RefusalLimiter"]


@dataclass(frozen=True)
class AbuseSettings:
    """Named limits (``config.extra['abuse.<name>']`` or ``SUNLIT_ABUSE_<NAME>``)."""

    address_burst: int = 100
    """Refusals a client address may cause at once before it is answered 429."""
    address_per_s: float = 10.0
    """…and how many more per second after that."""
    credential_burst: int = 120
    """The same for one credential (bearer token): a user refused over and over."""
    credential_per_s: float = 10.0
    tarpit_s: float = 0.5
    """A 429 is answered after this long: a flood that waits for its answers goes at its
    concurrency per ``tarpit_s``. 0: at once."""
    tarpit_max: int = 1024
    """Most 429s held at once; past it a 429 is answered at once and its connection closed."""
    individual_max: int = 20
    """Refusals of one client in one minute audited one by one; the rest in one summary."""
    keys_max: int = 100_000
    """Most keys each map holds."""
    paths_sample_max: int = 10
    """Distinct paths a summary names (with their counts)."""


@dataclass
class _Bucket:
    tokens: float
    at_s: float


class RefusalLimiter:
    """Token buckets of refusals, per key."""

    def __init__(self, *, burst: int, per_s: float, keys_max: int) -> None:
        assert burst >= 1 and per_s > 0 and keys_max >= 1
        self.burst = burst
        self.per_s = per_s
        self.keys_max = keys_max
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def _refill(self, key: str, now_s: float) -> _Bucket | None:
        b = self._buckets.get(key)
        if b is None:
            return None
        b.tokens = min(float(self.burst), b.tokens + max(0.0, now_s - b.at_s) * self.per_s)
        b.at_s = now_s
        return b

    def retry_after_s(self, key: str, now_s: float) -> float | None:
        """``None`` if ``key`` may be served; else the seconds until it may try again."""
        b = self._refill(key, now_s)
        if b is None or b.tokens >= 1.0:
            return None
        return (1.0 - b.tokens) / self.per_s

    def charge(self, key: str, now_s: float) -> None:
        """One refusal for ``key``."""
        b = self._refill(key, now_s)
        if b is None:
            b = self._buckets[key] = _Bucket(float(self.burst), now_s)
            if len(self._buckets) > self.keys_max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        b.tokens = max(0.0, b.tokens - 1.0)

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass
class DeniedSummary:
    """The refusals of one client in one minute beyond the first ``individual_max``."""

    client: str
    user: str
    minute: datetime
    seen: int = 0
    """Every refusal of this client in this minute (the individual ones included)."""
    count: int = 0
    """Those not audited one by one: this summary's count."""
    codes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    paths: Counter[str] = field(default_factory=Counter)

    def to_json(self) -> dict[str, object]:
        return {
            "client": self.client, "user": self.user, "minute": self.minute.isoformat(),
            "count": self.count, "seen": self.seen, "codes": dict(self.codes),
            "statuses": {str(k): v for k, v in self.statuses.items()}, "paths": dict(self.paths),
        }


class DeniedTally:
    """Refusals per client and minute: which to audit one by one, and the summaries of the rest."""

    def __init__(self, *, individual_max: int, keys_max: int, paths_sample_max: int) -> None:
        self.individual_max = individual_max
        self.keys_max = keys_max
        self.paths_sample_max = paths_sample_max
        self._tallies: dict[tuple[str, str, datetime], DeniedSummary] = {}

    def add(
        self, *, client: str, user: str, minute: datetime, code: str, status: int, path: str, alone: bool = True
    ) -> bool:
        """Count one refusal; True if it is to be audited one by one (never when ``alone`` is
        False: a 429 of the limiter is only ever counted)."""
        key = (client, user, minute)
        t = self._tallies.get(key)
        if t is None:
            if len(self._tallies) >= self.keys_max:
                key = ("*", "*", minute)  # past the bound: one summary for every new client
                t = self._tallies.get(key)
            if t is None:
                t = self._tallies[key] = DeniedSummary(key[0], key[1], minute)
        t.seen += 1
        if alone and t.seen <= self.individual_max and key[0] != "*":
            return True
        t.count += 1
        t.codes[code] += 1
        t.statuses[status] += 1
        if path in t.paths or len(t.paths) < self.paths_sample_max:
            t.paths[path] += 1
        return False

    def drain(self, before: datetime | None = None) -> list[DeniedSummary]:
        """The summaries of minutes before ``before`` (all when ``None``) with a count, and
        forget those minutes. Oldest minute first."""
        done = [k for k in self._tallies if before is None or k[2] < before]
        out = [self._tallies.pop(k) for k in sorted(done, key=lambda k: (k[2], k[0], k[1]))]
        return [t for t in out if t.count]

    def __len__(self) -> int:
        return len(self._tallies)
