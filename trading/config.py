"""Configuration from the environment, read once at the edge and passed down."""

from __future__ import annotations

import os
from collections.abc import Container, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

S = TypeVar("S")

CHECKOUT_DIR = Path(__file__).resolve().parents[1]
"""The source checkout (where ``make serve`` keeps its ``var/``) when installed editable."""


def default_data_dir(cwd: Path | None = None) -> Path:
    """The data directory when ``SUNLIT_DATA`` is not set.

    ``./var`` when it exists (``make serve`` runs from the checkout with ``var/``); otherwise
    the checkout's ``var/`` when that exists (a command run from another directory finds the
    server's data); otherwise ``./var``, created on first use."""
    here = Path.cwd() if cwd is None else cwd
    if (here / "var").is_dir():
        return Path("var") if cwd is None else here / "var"
    if (CHECKOUT_DIR / "var").is_dir() and (CHECKOUT_DIR / "pyproject.toml").is_file():
        return CHECKOUT_DIR / "var"
    return Path("var") if cwd is None else here / "var"


@dataclass(frozen=True)
class Config:
    database_url: str | None = None
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1 * 1024 * 1024
    """Limit on ordinary JSON request bodies; bid uploads stream under their tender's own limit."""
    session_ttl_s: int = 8 * 3600
    session_cache_s: float = 2.0
    """How long a resolved session is served from memory (``trading.parties.sessions``): the
    longest another process's logout or role change takes to reach this one; 0 = no cache."""
    audit_checkpoint_every: int = 100
    load_demo: bool = False
    log_json: bool = True
    access_log: str = "changes"
    """``changes``: an access log line for every write, refusal, error and slow request (a
    successful quick read is counted in the metrics only); ``all``: for every request."""
    pool_min_size: int = 2
    pool_max_size: int = 10
    event_loop: str = "uvloop"
    """``sunlit serve``'s event loop: ``uvloop`` (libuv, its transports in C: the auction
    gateway's socket writes and the loop's turns cost less) or ``asyncio`` (the standard one)."""
    extra: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls, **overrides: object) -> Config:
        env = os.environ
        cfg = cls(
            database_url=env.get("DATABASE_URL") or None,
            data_dir=Path(env["SUNLIT_DATA"]) if env.get("SUNLIT_DATA") else default_data_dir(),
            host=env.get("SUNLIT_HOST", "127.0.0.1"),
            port=int(env.get("SUNLIT_PORT", "8080")),
            max_body_bytes=int(env.get("SUNLIT_MAX_BODY_BYTES", str(1024 * 1024))),
            session_ttl_s=int(env.get("SUNLIT_SESSION_TTL_S", str(8 * 3600))),
            session_cache_s=float(env.get("SUNLIT_SESSION_CACHE_S", "2")),
            audit_checkpoint_every=int(env.get("SUNLIT_AUDIT_CHECKPOINT_EVERY", "100")),
            log_json=env.get("SUNLIT_LOG_FORMAT", "json") == "json",
            access_log="all" if env.get("SUNLIT_ACCESS_LOG") == "all" else "changes",
            event_loop=env.get("SUNLIT_EVENT_LOOP", "uvloop"),
        )
        return replace(cfg, **overrides)  # type: ignore[arg-type]


def settings_from(
    cls: type[S], extra: Mapping[str, str], *, key: str, env: str,
    environ: Mapping[str, str] | None = None, skip: Container[str] = (),
) -> S:
    """A package's settings dataclass from the two places an operator sets them:
    ``extra['<key><field>']`` (``Config.extra``: tests and embedders) wins over the environment's
    ``<ENV><FIELD>``. Each value is read as its field's type (``int`` or ``float``); a
    field not set keeps its default; ``skip`` names fields read some other way."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(cls):  # type: ignore[arg-type]
        if f.name in skip:
            continue
        raw = extra.get(f"{key}{f.name}") or environ.get(f"{env}{f.name.upper()}")
        if raw:
            values[f.name] = float(raw) if f.type in (float, "float") else int(raw)
    return cls(**values)
