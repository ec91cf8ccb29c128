"""Open data (RULES S6): every tender and every auction lot as OCDS 1.1 releases, at
``GET /api/v1/public/ocds/releases`` (a release package, paged, by date) and through
``sunlit export ocds``. The mapping (our field → OCDS path) is in docs/supervision.md.

Each trade yields one release per published step, dated by the step:

- tender: ``tender`` (publication), ``tenderUpdate`` (the opening, with the bids extension's
  ``bids.details`` from the signed public opening record), ``tenderUpdate`` with status
  ``unsuccessful`` (流标) or ``tenderCancellation``, ``award`` (the live award decision),
  ``contract`` (the recorded contract);
- auction lot: ``tender`` (scheduled; the lots extension's ``tender.lots``), then ``award``
  (sold) or ``tenderUpdate`` with status ``unsuccessful`` (流拍) at the close.

What is never here: anything before its step is public — no bid, bidder or price of a
tender before its opening (the public opening record is its only source), no bidder of a
lot before its close (only the winner, as the result publishes it); no confidential item,
document, contact or deposit of any bidder. Organisations appear with their name and
unified social credit code (both public in China), identifier scheme ``CN-USCC``.

Settings: the ``ocid`` prefix per centre (``SUNLIT_OCDS_PREFIX`` or ``config.extra
['ocds.prefix']``, default ``ocds-sunlit``), the publisher's name
(``SUNLIT_OCDS_PUBLISHER``), the base URI of packages (``SUNLIT_PUBLIC_URL``).
"""

from __future__ import annotations

import json
import os
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import Field

from trading.clock import iso_ms
from trading.config import Config
from trading.errors import NotFound, ValidationFailed
from web import keys
from web.api import Api, Call, Query, Text

__all__ = ["OCDS_SETTINGS", "OcdsSettings", "api_ocds", "lot_releases", "package", "releases_between",
           "settings_from", "setup", "tender_releases"]  # fmt: skip

OCDS_VERSION = "1.1"
EXTENSIONS = (
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_bid_extension/v1.1.5/extension.json",
    "https://raw.githubusercontent.com/open-contracting-extensions/ocds_lots_extension/v1.1.5/extension.json",
)
RANGE_MAX_DAYS = 3660
"""Longest date range one request or export covers (ten years)."""
PAGE_MAX = 500


@dataclass(frozen=True)
class OcdsSettings:
    prefix: str = "ocds-sunlit"
    publisher: str = "Sunlit public resource trading centre 公共资源交易中心"
    public_url: str = "https://sunlit.example"


OCDS_SETTINGS = web.AppKey("ocds_settings", OcdsSettings)


def settings_from(config: Config, environ: dict[str, str] | None = None) -> OcdsSettings:
    env = os.environ if environ is None else environ
    d = OcdsSettings()
    return OcdsSettings(
        prefix=config.extra.get("ocds.prefix") or env.get("SUNLIT_OCDS_PREFIX") or d.prefix,
        publisher=config.extra.get("ocds.publisher") or env.get("SUNLIT_OCDS_PUBLISHER") or d.publisher,
        public_url=(config.extra.get("SUNLIT_PUBLIC_URL") or env.get("SUNLIT_PUBLIC_URL") or d.public_url).rstrip("/"),
    )


# ---------------------------------------------------------------------------- pure mapping


def _value(fen: int | None) -> dict[str, Any] | None:
    if fen is None:
        return None
    return {"amount": fen / 100 if fen % 100 else fen // 100, "currency": "CNY"}


def _org_id(credit_code: str) -> str:
    return f"CN-USCC-{credit_code}"


def _party(org: dict[str, Any], roles: list[str]) -> dict[str, Any]:
    return {"id": _org_id(org["credit_code"]), "name": org["name"], "roles": roles,
            "identifier": {"scheme": "CN-USCC", "id": org["credit_code"], "legalName": org["name"]}}  # fmt: skip


def _ref(org: dict[str, Any]) -> dict[str, Any]:
    return {"id": _org_id(org["credit_code"]), "name": org["name"]}


def _merge_parties(parties: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for p in parties:
        if p["id"] in out:
            out[p["id"]]["roles"] = sorted(set(out[p["id"]]["roles"]) | set(p["roles"]))
        else:
            out[p["id"]] = dict(p)
    return list(out.values())


_CATEGORY = {"works": "works", "goods": "goods", "services": "services"}
_METHOD = {"open": "open", "invited": "selective"}


def tender_releases(
    prefix: str,
    t: dict[str, Any],
    *,
    buyer: dict[str, Any] | None = None,
    opening: dict[str, Any] | None = None,
    orgs: dict[int, dict[str, Any]] | None = None,
    award: dict[str, Any] | None = None,
    contract: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Every release of one tender, oldest first. ``t`` is the tender row; ``opening`` the
    signed public opening record's document (absent before the opening); ``orgs`` the
    organisations it names by id; ``award`` the live award decision; ``contract`` the
    recorded contract."""
    orgs = orgs or {}
    if t.get("published_at") is None:
        return []  # a draft is nobody's business
    ocid = f"{prefix}-tender-{t['id']}"
    parties = [_party(buyer, ["buyer", "procuringEntity"])] if buyer else []
    tender: dict[str, Any] = {
        "id": t["code"],
        "title": t["project_name"],
        "status": "active",
        "procurementMethod": _METHOD.get(t["procedure"], "open"),
        "mainProcurementCategory": _CATEGORY.get(t["category"], "works"),
        "value": _value(t["estimated_price_fen"]),
        "tenderPeriod": {"startDate": iso_ms(t["published_at"]), "endDate": iso_ms(t["bid_deadline_at"])},
    }
    if buyer:
        tender["procuringEntity"] = _ref(buyer)
    base: dict[str, Any] = {"ocid": ocid, "initiationType": "tender", "language": "zh",
                            "parties": parties, "tender": tender}  # fmt: skip
    if buyer:
        base["buyer"] = _ref(buyer)

    def release(step: str, tag: str, when: datetime, **extra: Any) -> dict[str, Any]:
        r = json.loads(json.dumps(base))
        for k, v in extra.items():
            if k == "tender":
                r["tender"].update(v)
            else:
                r[k] = v
        r["parties"] = _merge_parties(r["parties"])
        if not r["parties"]:
            del r["parties"]
        return {"id": f"{ocid}-{step}", "date": iso_ms(when), "tag": [tag], **r}

    out = [release("tender", "tender", t["published_at"])]
    if opening is not None and t.get("opened_at") is not None:
        details, bidders = [], []
        for e in opening.get("entries", []):
            org = orgs.get(e.get("bidder_org_id")) or {"credit_code": str(e.get("bidder_org_id")),
                                                        "name": e.get("bidder_name", "")}  # fmt: skip
            bidders.append(org)
            bid: dict[str, Any] = {"id": f"{ocid}-bid-{e.get('leaf_index', len(details))}",
                                   "date": iso_ms(t["bid_deadline_at"]), "tenderers": [_ref(org)],
                                   "status": "valid" if e.get("outcome") == "opened" else "disqualified"}  # fmt: skip
            if e.get("amount_fen") is not None:
                bid["value"] = _value(e["amount_fen"])
            details.append(bid)
        base["tender"]["numberOfTenderers"] = len(bidders)
        base["tender"]["tenderers"] = [_ref(o) for o in bidders]
        base["parties"] = base["parties"] + [_party(o, ["tenderer"]) for o in bidders]
        base["bids"] = {"details": details}
        out.append(release("opening", "tenderUpdate", t["opened_at"]))
    if t.get("state") == "cancelled" and t.get("cancelled_at") is not None:
        out.append(release("cancelled", "tenderCancellation", t["cancelled_at"], tender={"status": "cancelled"}))
    failed_at = t.get("failed_at") or t.get("award_failed_at")
    if failed_at is not None and award is None:
        out.append(release("failed", "tenderUpdate", failed_at, tender={"status": "unsuccessful"}))
    if award is not None and award.get("org_id") in orgs:
        supplier = orgs[award["org_id"]]
        base["tender"]["status"] = "complete"
        base["parties"] = base["parties"] + [_party(supplier, ["supplier"])]
        base["awards"] = [{"id": f"{ocid}-award-{award['id']}", "status": "active", "date": iso_ms(award["awarded_at"]),
                           "value": _value(award["price_fen"]), "suppliers": [_ref(supplier)]}]  # fmt: skip
        out.append(release("award", "award", award["awarded_at"]))
        if contract is not None:
            base["contracts"] = [{"id": f"{ocid}-contract", "awardID": f"{ocid}-award-{award['id']}",
                                  "status": "active", "dateSigned": iso_ms(contract["signed_at"]),
                                  "value": _value(contract["amount_fen"])}]  # fmt: skip
            out.append(release("contract", "contract", contract["signed_at"]))
    return out


def lot_releases(prefix: str, lot: dict[str, Any], *, winner: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The releases of one auction lot (a sale: the OCDS ``tender`` is the auction, its one
    lot the thing sold, the award the result; the winner is named only after the close)."""
    if lot.get("scheduled_at") is None:
        return []
    ocid = f"{prefix}-lot-{lot['id']}"
    start = lot.get("start_fen")
    lot_obj = {"id": f"lot-{lot['id']}", "title": lot["title"], "status": "active"}
    if start:
        lot_obj["value"] = _value(start)
    tender: dict[str, Any] = {"id": f"lot-{lot['id']}", "title": lot["title"], "status": "active",
                              "procurementMethod": "open", "procurementMethodDetails": f"auction ({lot['kind']})",
                              "lots": [lot_obj]}  # fmt: skip
    if start:
        tender["value"] = _value(start)
    first = {"id": f"{ocid}-tender", "ocid": ocid, "date": iso_ms(lot["scheduled_at"]), "tag": ["tender"],
             "initiationType": "tender", "language": "zh", "tender": tender}  # fmt: skip
    out = [first]
    if lot.get("status") == "closed" and lot.get("closed_at") is not None:
        closed = json.loads(json.dumps(first))
        closed["id"], closed["date"] = f"{ocid}-result", iso_ms(lot["closed_at"])
        if lot.get("outcome") == "sold" and lot.get("price_fen"):
            closed["tag"] = ["award"]
            closed["tender"]["status"] = "complete"
            closed["tender"]["lots"][0]["status"] = "complete"
            award: dict[str, Any] = {"id": f"{ocid}-award", "status": "active", "date": iso_ms(lot["closed_at"]),
                                     "value": _value(lot["price_fen"]), "relatedLots": [f"lot-{lot['id']}"]}  # fmt: skip
            if winner is not None:
                award["suppliers"] = [_ref(winner)]
                closed["parties"] = [_party(winner, ["tenderer", "supplier"])]
            closed["awards"] = [award]
        else:
            closed["tag"] = ["tenderUpdate"]
            closed["tender"]["status"] = "cancelled" if lot.get("outcome") == "cancelled" else "unsuccessful"
            closed["tender"]["lots"][0]["status"] = closed["tender"]["status"]
        out.append(closed)
    return out


def package(releases: list[dict[str, Any]], *, uri: str, published_at: datetime, publisher: str) -> dict[str, Any]:
    return {"uri": uri, "version": OCDS_VERSION, "extensions": list(EXTENSIONS), "publishedDate": iso_ms(published_at),
            "publisher": {"name": publisher}, "releases": releases}  # fmt: skip


# ---------------------------------------------------------------------------- reading


def check_range(first: date, last: date) -> None:
    """A date range is ``first`` ≤ ``last`` and at most ``RANGE_MAX_DAYS`` long."""
    if last < first:
        problem = f"the range ends ({last}) before it starts ({first})"
        zh = f"日期范围的结束（{last}）早于开始（{first}）"
    elif (last - first).days + 1 > RANGE_MAX_DAYS:
        problem, zh = "the range is longer than ten years", "日期范围超过十年"
    else:
        return
    raise ValidationFailed(f"to: {problem}", f"to：{zh}", code="invalid_date_range",
                           details={"errors": [{"field": "query.to", "problem": problem, "type": "date_range"}]})  # fmt: skip


async def _orgs(conn: asyncpg.Connection, ids: set[int]) -> dict[int, dict[str, Any]]:
    rows = await conn.fetch("SELECT id, name, credit_code FROM organisations WHERE id = ANY($1::bigint[])",
                            sorted(i for i in ids if isinstance(i, int)))  # fmt: skip
    return {r["id"]: dict(r) for r in rows}


async def releases_between(conn: asyncpg.Connection, prefix: str, start: datetime, end: datetime,
                           ) -> list[dict[str, Any]]:  # fmt: skip
    """Every release dated in [start, end), sorted by (date, id)."""
    touched = await conn.fetch(
        """SELECT id FROM tenders WHERE published_at IS NOT NULL AND (
               published_at >= $1 AND published_at < $2 OR opened_at >= $1 AND opened_at < $2
               OR failed_at >= $1 AND failed_at < $2 OR cancelled_at >= $1 AND cancelled_at < $2)
           UNION SELECT tender_id FROM award_decisions WHERE awarded_at >= $1 AND awarded_at < $2
           UNION SELECT tender_id FROM award_contracts WHERE signed_at >= $1 AND signed_at < $2
           UNION SELECT tender_id FROM award_procedures WHERE failed_at >= $1 AND failed_at < $2""",
        start, end,
    )
    out: list[dict[str, Any]] = []
    for (tender_id,) in touched:
        t = dict(await conn.fetchrow(
            """SELECT t.*, ap.failed_at AS award_failed_at, pr.tenderee_org_id FROM tenders t
               LEFT JOIN award_procedures ap ON ap.tender_id = t.id
               LEFT JOIN tender_panel_requirements pr ON pr.tender_id = t.id WHERE t.id = $1""", tender_id))  # fmt: skip
        rec = await conn.fetchrow(
            "SELECT public_document FROM opening_records WHERE tender_id = $1 AND status = 'opened'", tender_id)
        opening = json.loads(rec["public_document"]) if rec is not None else None
        award = await conn.fetchrow("SELECT id, org_id, price_fen, awarded_at FROM award_decisions "
                                    "WHERE tender_id = $1 AND declined_at IS NULL", tender_id)  # fmt: skip
        contract = await conn.fetchrow("SELECT amount_fen, signed_at FROM award_contracts WHERE tender_id = $1",
                                       tender_id)  # fmt: skip
        ids = {e.get("bidder_org_id") for e in (opening or {}).get("entries", [])}
        ids |= {t["tenderee_org_id"]} | ({award["org_id"]} if award else set())
        orgs = await _orgs(conn, {i for i in ids if i is not None})
        out += tender_releases(prefix, t, buyer=orgs.get(t["tenderee_org_id"]), opening=opening, orgs=orgs,
                               award=dict(award) if award else None, contract=dict(contract) if contract else None)  # fmt: skip
    for r in await conn.fetch(
        """SELECT id, kind, title, status, outcome, price_fen, winner_org_id, scheduled_at, closed_at,
                  (config->>'starting_price_fen')::bigint AS start_fen FROM auction_lots
           WHERE scheduled_at >= $1 AND scheduled_at < $2 OR closed_at >= $1 AND closed_at < $2""",
        start, end,
    ):
        winner = (await _orgs(conn, {r["winner_org_id"]})).get(r["winner_org_id"]) if r["winner_org_id"] else None
        out += lot_releases(prefix, dict(r), winner=winner)
    sel = [x for x in out if iso_ms(start) <= x["date"] < iso_ms(end)]
    sel.sort(key=lambda x: (x["date"], x["id"]))
    return sel


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


class ReleaseQuery(Query):
    from_date: date
    """First day (UTC), included."""
    to_date: date
    """Last day (UTC), included."""
    after: Text(300) | None = None
    """The ``next`` cursor of the previous page."""
    limit: Annotated[int, Field(ge=1, le=PAGE_MAX)] = 100


api_ocds = Api()
route = api_ocds.route


@route("GET", "/public/ocds/releases", summary="Open data (S6): OCDS 1.1 releases of every tender and auction "
       "lot dated in the range, as a release package; paged by date", tag="public", roles=None,
       query=ReleaseQuery)  # fmt: skip
async def list_releases(call: Call) -> dict[str, Any]:
    q: ReleaseQuery = call.query
    check_range(q.from_date, q.to_date)
    s = call.app[OCDS_SETTINGS]
    async with call.pool.acquire() as conn:
        found = await releases_between(conn, s.prefix, _day_start(q.from_date), _day_start(q.to_date + timedelta(days=1)))
    if q.after:
        found = [r for r in found if f"{r['date']}|{r['id']}" > q.after]
    if not found:  # a package holds one or more releases (the OCDS schema's minItems): say so instead
        raise NotFound(f"no release is dated between {q.from_date} and {q.to_date}"
                       + (" after the cursor" if q.after else ""),
                       f"{q.from_date} 至 {q.to_date} 之间没有发布记录" + ("（游标之后）" if q.after else ""),
                       code="no_releases_in_range")  # fmt: skip
    page = found[: q.limit]
    uri = (f"{s.public_url}/api/v1/public/ocds/releases?from_date={q.from_date}&to_date={q.to_date}"
           + (f"&after={q.after}" if q.after else ""))  # fmt: skip
    doc = package(page, uri=uri, published_at=call.now, publisher=s.publisher)
    if len(found) > q.limit:  # the next page: the same range after this page's last release
        cursor = urllib.parse.quote(f"{page[-1]['date']}|{page[-1]['id']}", safe="")
        doc["links"] = {"next": f"{s.public_url}/api/v1/public/ocds/releases?from_date={q.from_date}"
                                f"&to_date={q.to_date}&after={cursor}&limit={q.limit}"}  # fmt: skip
    return doc


def setup(app: web.Application, api: Api, registry: Any) -> None:
    app[OCDS_SETTINGS] = settings_from(app[keys.CONFIG])
    api.endpoints.extend(api_ocds.endpoints)
