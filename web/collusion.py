"""Collusion signals at the opening (RULES S3): once a tender's opening completes, the facts
recorded about its opened bids are gathered here and :func:`trading.collusion.signals` runs
over them; each signal is one supervision alert with its evidence (deduplicated by tender,
kind and shared value, so a second run raises nothing new).

Where each fact comes from:

- price and document hashes: the opening record (``opening_records.document``: each
  opened entry's ``amount_fen`` and ``documents[].sha256``);
- signing key: the bid's ``signer_public_key``;
- client addresses: the audit log (``client_addr`` of every ``ok`` entry on the tender by
  an actor of the bidding organisation: registration, submissions, withdrawals);
- author metadata and device keys: not recorded by the bid package format or the gateway
  today (documented gap; the signals stay silent until they are);
- deposits from one account: raised by the deposit ledger itself (``ledger.collusion``).

Thresholds: ``SUNLIT_COLLUSION_BAND_BP`` (default 50 = 0.5 %),
``SUNLIT_COLLUSION_STEP_TOLERANCE_BP`` (0), ``SUNLIT_COLLUSION_MIN_PRICED_BIDS`` (3),
``SUNLIT_COLLUSION_IGNORED_ADDRESSES`` (comma-separated; default ``127.0.0.1,::1``).
"""

from __future__ import annotations

import json
import logging
import os
from datetime import datetime
from typing import Any

import asyncpg

from trading.collusion import BidFacts, CollusionSettings, Signal, SignalKind, signals
from trading.supervision import raise_alert

__all__ = ["facts_of", "raise_signals", "settings_from_env"]

log = logging.getLogger("sunlit.collusion")

_LABELS: dict[SignalKind, tuple[str, str]] = {
    SignalKind.SAME_DOCUMENT: ("the same document (SHA-256) is in the bids of", "以下投标人的投标文件含相同文件（SHA-256）"),
    SignalKind.SAME_AUTHOR: ("documents by the same author in the bids of", "以下投标人的文件作者相同"),
    SignalKind.SAME_ADDRESS: ("the same client address acted for", "同一 IP 地址为以下投标人操作"),
    SignalKind.SAME_DEVICE: ("the same device acted for", "同一设备为以下投标人操作"),
    SignalKind.SAME_SIGNING_KEY: ("the same signing key signed the bids of", "以下投标人的投标由同一签名密钥签署"),
    SignalKind.EQUAL_PRICE_STEPS: ("prices step by equal differences for", "以下投标人的报价呈等差排列"),
    SignalKind.PRICES_WITHIN_BAND: ("prices all within the band for", "以下投标人的报价彼此接近（在阈值以内）"),
}


def settings_from_env(environ: dict[str, str] | None = None) -> CollusionSettings:
    env = os.environ if environ is None else environ
    d = CollusionSettings()
    ignored = env.get("SUNLIT_COLLUSION_IGNORED_ADDRESSES")
    return CollusionSettings(
        band_bp=int(env.get("SUNLIT_COLLUSION_BAND_BP", d.band_bp)),
        step_tolerance_bp=int(env.get("SUNLIT_COLLUSION_STEP_TOLERANCE_BP", d.step_tolerance_bp)),
        min_priced_bids=int(env.get("SUNLIT_COLLUSION_MIN_PRICED_BIDS", d.min_priced_bids)),
        ignored_addresses=d.ignored_addresses if ignored is None
        else frozenset({"", *(a.strip() for a in ignored.split(","))}),
    )


async def facts_of(conn: asyncpg.Connection, tender_id: int) -> list[BidFacts]:
    """The recorded facts of the tender's opened bids (empty before the opening)."""
    row = await conn.fetchrow(
        "SELECT document FROM opening_records WHERE tender_id = $1 AND status = 'opened'", tender_id
    )
    if row is None:
        return []
    entries = [e for e in json.loads(row["document"])["entries"] if e.get("outcome") == "opened"]
    if not entries:
        return []
    bid_ids = [e["bid_id"] for e in entries]
    keys = {r["org_id"]: bytes(r["signer_public_key"]).hex() for r in await conn.fetch(
        "SELECT org_id, signer_public_key FROM bids WHERE id = ANY($1::bigint[])", bid_ids)}  # fmt: skip
    org_ids = [e["bidder_org_id"] for e in entries]
    addrs: dict[int, set[str]] = {}
    for r in await conn.fetch(
        "SELECT DISTINCT actor_org_id, client_addr FROM audit_log WHERE object_type = 'tender' AND object_id = $1 "
        "AND outcome = 'ok' AND actor_org_id = ANY($2::bigint[])",
        str(tender_id), org_ids,
    ):
        addrs.setdefault(r["actor_org_id"], set()).add(r["client_addr"])
    return [
        BidFacts(
            org_id=e["bidder_org_id"],
            amount_fen=e.get("amount_fen"),
            document_sha256=tuple(d["sha256"] for d in e.get("documents", [])),
            signing_key=keys.get(e["bidder_org_id"], ""),
            client_addrs=tuple(sorted(addrs.get(e["bidder_org_id"], ()))),
        )
        for e in entries
    ]


async def raise_signals(
    conn: asyncpg.Connection, now: datetime, tender_id: int, settings: CollusionSettings | None = None
) -> list[Signal]:
    """Compute the tender's signals and raise one alert each (once: deduplicated)."""
    found = signals(await facts_of(conn, tender_id), settings)
    async with conn.transaction():
        for s in found:
            en, zh = _LABELS[s.kind]
            bidders = ", ".join(map(str, s.org_ids))
            detail: dict[str, Any] = {"signal": s.kind.value, "rule": "S3 (IR 40)", **s.evidence}
            await raise_alert(
                conn, now, kind=f"collusion.{s.kind.value}", severity="warning", object_type="tender",
                object_id=str(tender_id), message_en=f"possible collusion (IR 40): {en} organisations {bidders}",
                message_zh=f"疑似串通投标（实施条例第四十条）：{zh} {bidders}", detail=detail,
                dedup_key=f"collusion:{tender_id}:{s.kind.value}:{s.key}"[:400],
            )  # fmt: skip
    if found:
        log.info("collusion signals", extra={"tender_id": tender_id, "signals": [s.kind.value for s in found]})
    return found
