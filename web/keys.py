"""Typed application keys for the resources the app owns (aiohttp "no singletons")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
from aiohttp import web

from trading.audit import AuditLog
from trading.calendar import EventRegistry, Scheduler
from trading.clock import Clock
from trading.config import Config
from trading.context import Actor

if TYPE_CHECKING:
    pass

CONFIG = web.AppKey("config", Config)
CLOCK = web.AppKey("clock", Clock)
POOL = web.AppKey("pool", asyncpg.Pool)
AUDIT = web.AppKey("audit", AuditLog)
REGISTRY = web.AppKey("registry", EventRegistry)
SCHEDULER = web.AppKey("scheduler", Scheduler)
API = web.AppKey("api", "Api")
METRICS = web.AppKey("metrics", "Metrics")
DSN = web.AppKey("dsn", str)
EVALUATION_KEYS = web.AppKey("evaluation_keys", "EvaluationKeys")  # bidding.vault; set by web.panels

REQUEST_ID = web.RequestKey("request_id", str)
ACTOR = web.RequestKey("actor", Actor)
