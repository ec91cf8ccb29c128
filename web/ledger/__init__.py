"""Deposit ledger endpoints (保证金): deposit terms, virtual sub-accounts, the bank's signed
notifications and answers, refunds, forfeitures, conversions, the refund batch file,
reconciliation, and the supervisors' reads (accounts, transfers, trial balance).

The bank is not a user: its endpoints under ``/bank`` are public and authenticated by the
Ed25519 signature of each message (keys in ``ledger_bank_keys``: ``SUNLIT_BANK_PUBLIC_KEY``
at start, ``POST /ledger/bank-keys``, or the demo's key pair).

One module per concept: ``bank_channel`` (``/bank``), ``deposits`` (projects and deposits),
``payouts`` (refund instructions, batches, suspense), ``reconciliation``, ``supervision``
(accounts, transfers, trial balance, collusion) and ``settings`` (bank keys, the calendar);
``common`` (the route table, roles, field types, shared helpers) and ``render`` (the JSON
form of records) serve them all. ``setup`` plugs the whole into the app.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

from aiohttp import web

from trading.calendar import EventRegistry
from trading.context import Actor
from trading.ledger import service
from web import keys
from web.api import Api
from web.core import decode_key
from web.ledger.common import api_ledger

# Importing the endpoint modules registers their routes, in this order (the route table's and
# the OpenAPI document's order).
# isort: off
from web.ledger import bank_channel, deposits, payouts, reconciliation, supervision, settings  # noqa: F401
# isort: on


async def _bank_key_from_env(app: web.Application) -> AsyncIterator[None]:
    """``SUNLIT_BANK_PUBLIC_KEY`` (hex or base64url): trusted from the start."""
    text = os.environ.get("SUNLIT_BANK_PUBLIC_KEY", "").strip()
    if text:
        async with app[keys.POOL].acquire() as conn:
            await service.register_bank_key(
                conn,
                app[keys.AUDIT],
                Actor.system("config"),
                app[keys.CLOCK].now(),
                decode_key(text),
                "SUNLIT_BANK_PUBLIC_KEY",
            )
    yield


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    api.endpoints.extend(api_ledger.endpoints)
    registry.register(service.REFUND_DUE, service.on_refund_due)
    registry.register(service.UNSEAL, service.on_unseal)
    app.cleanup_ctx.append(_bank_key_from_env)
