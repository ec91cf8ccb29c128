"""Public notices (公告) without login, and the tender documents after publication over HTTP:
questions, clarifications and amendments (W1), staged document versions, the download
record, objections to the documents (W2).

Timed event: ``tender.objection_due`` (an unanswered objection raises one supervision
alert). Settings come from ``config.extra`` (``bidding.<name>``) or the environment
(``SUNLIT_BIDDING_<NAME>``): ``clarification_min_days`` (15), ``objection_min_days`` (10),
``objection_answer_days`` (3), ``page_max`` (100).

The document download itself (``GET /tenders/{tender_id}/documents/{document_id}``) is
served by ``web.bidding`` and recorded through ``bidding.service.public.record_download``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import AwareDatetime, Field, StringConstraints

from bidding import public_store as pstore
from bidding.model import Category
from bidding.public import OBJECTION_DUE_EVENT, ClarificationKind, NoticeKind, PublicSettings
from bidding.service import public
from bidding.service.common import load_tender
from trading.calendar import EventContext, EventRegistry
from trading.config import Config
from trading.config import settings_from as config_settings
from trading.context import Role
from web import keys
from web.api import Api, Body, Call, Cursor, FreeText, Id, Query, Text
from web.bidding import BIDDING_SETTINGS

__all__ = ["PUBLIC_SETTINGS", "api_notices", "public_settings_from", "setup"]

PUBLIC_SETTINGS = web.AppKey("public_settings", PublicSettings)

STAFF = {Role.STAFF, Role.ADMIN}
ANYONE = set(Role) - {Role.SYSTEM, Role.ANONYMOUS}
UPLOAD_PIECE_BYTES = 64 * 1024

Region = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z]{1,20}$")]


def public_settings_from(config: Config, environ: dict[str, str] | None = None) -> PublicSettings:
    """``config.extra['bidding.<field>']`` wins over ``SUNLIT_BIDDING_<FIELD>``."""
    return config_settings(PublicSettings, config.extra, key="bidding.", env="SUNLIT_BIDDING_", environ=environ)


class NoticeQuery(Query):
    kind: NoticeKind | None = None
    category: Category | None = None
    region: Region | None = None
    published_from: date | None = None
    """First day (UTC) included."""
    published_to: date | None = None
    """Last day (UTC) included."""
    q: Text(100, min_length=1, strip=True) | None = None  # type: ignore[valid-type]
    """Words of the title (Chinese or English), matched anywhere, case-insensitive."""
    tender_id: Id | None = None
    cursor: Cursor | None = None
    """The ``next`` of the previous page."""
    limit: Annotated[int, Field(ge=1, le=1000)] = 20


class QuestionBody(Body):
    text: FreeText(4000, min_length=1, strip=True)  # type: ignore[valid-type]


class ClarificationBody(Body):
    kind: ClarificationKind = ClarificationKind.CLARIFICATION
    text: FreeText(10_000, min_length=1, strip=True)  # type: ignore[valid-type]
    answers: Annotated[list[Id], Field(max_length=500)] = []
    """Ids of the questions this answers."""
    document_versions: Annotated[list[Id], Field(max_length=100)] = []
    """Ids of staged document versions this publishes."""
    bid_deadline_at: AwareDatetime | None = None
    opening_at: AwareDatetime | None = None


class ObjectionBody(Body):
    text: FreeText(4000, min_length=1, strip=True)  # type: ignore[valid-type]


class AnswerBody(Body):
    answer: FreeText(4000, min_length=1, strip=True)  # type: ignore[valid-type]


api_notices = Api()
route = api_notices.route


def _settings(call: Call) -> PublicSettings:
    return call.app[PUBLIC_SETTINGS]


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


@route(
    "GET",
    "/public/notices",
    summary="Public notices, newest first (no login): filter by kind, category, region, date; search titles",
    tag="notices",
    roles=None,
    query=NoticeQuery,
)
async def list_notices(call: Call) -> dict[str, Any]:
    q: NoticeQuery = call.query
    f = pstore.NoticeFilter(
        kind=q.kind,
        category=q.category.value if q.category else None,
        region=q.region,
        published_from=_day_start(q.published_from) if q.published_from else None,
        published_to=_day_start(q.published_to) + timedelta(days=1) if q.published_to else None,
        q=q.q or None,
        tender_id=q.tender_id,
    )
    limit = min(q.limit, _settings(call).page_max)
    async with call.pool.acquire() as conn:
        page = await public.list_public_notices(conn, f, cursor=q.cursor, limit=limit)
    if page["next"] is not None:
        params = {k: v for k, v in call.request.query.items() if k != "cursor"}
        params["cursor"] = str(page["next"])
        page["next_url"] = str(call.request.rel_url.with_query(params))
    else:
        page["next_url"] = None
    return page


@route(
    "GET",
    "/public/notices/{notice_id}",
    summary="One public notice (its stable URL; no login)",
    tag="notices",
    roles=None,
)
async def get_notice(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await public.get_public_notice(conn, call.path_int("notice_id"))


@route(
    "POST",
    "/tenders/{tender_id}/questions",
    summary="Ask about the tender documents (registered bidders; the asker is shown to staff only)",
    tag="documents",
    roles={Role.BIDDER},
    body=QuestionBody,
    status=201,
)
async def ask(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await public.ask_question(
            conn, call.audit, call.actor, call.now,
            tender_id=call.path_int("tender_id"), text=call.body.text,
        )


@route(
    "GET",
    "/tenders/{tender_id}/questions",
    summary="Questions: staff see all and who asked; a bidder its own and the answered ones (text only)",
    tag="documents",
    roles=ANYONE,
)
async def questions(call: Call) -> list[dict[str, Any]]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        await load_tender(conn, tender_id)
        return await public.list_questions(conn, call.actor, tender_id)


@route(
    "POST",
    "/tenders/{tender_id}/documents/{document_id}/versions",
    summary="Stage a new version of a published tender's document (raw body); an amendment publishes it",
    tag="documents",
    roles=STAFF,
    raw_body=True,
    status=201,
)
async def stage_version(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await public.stage_document_version(
            conn, call.audit, call.actor, call.now,
            tender_id=call.path_int("tender_id"),
            document_id=call.path_int("document_id"),
            source=call.request.content.iter_chunked(UPLOAD_PIECE_BYTES),
            content_length=call.request.content_length,
            settings=call.app[BIDDING_SETTINGS],
        )


@route(
    "POST",
    "/tenders/{tender_id}/clarifications",
    summary="Publish a clarification or amendment (W1: reaches every downloader; < 15 days left moves the deadline)",
    tag="documents",
    roles=STAFF,
    body=ClarificationBody,
    status=201,
)
async def clarify(call: Call) -> dict[str, Any]:
    b: ClarificationBody = call.body
    async with call.pool.acquire() as conn:
        return await public.publish_clarification(
            conn, call.audit, call.actor, call.now,
            tender_id=call.path_int("tender_id"),
            kind=b.kind,
            text=b.text,
            question_ids=b.answers,
            version_ids=b.document_versions,
            bid_deadline_at=b.bid_deadline_at,
            opening_at=b.opening_at,
            settings=_settings(call),
        )


@route(
    "GET",
    "/tenders/{tender_id}/clarifications",
    summary="The clarifications and amendments of a tender",
    tag="documents",
    roles=ANYONE,
)
async def clarifications(call: Call) -> list[dict[str, Any]]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        await load_tender(conn, tender_id)
        return await public.list_clarifications(conn, tender_id)


@route(
    "GET",
    "/tenders/{tender_id}/downloads",
    summary="Who downloaded which document version, when (staff, supervisors)",
    tag="documents",
    roles=STAFF,
)
async def downloads(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return await public.list_downloads(conn, call.path_int("tender_id"))


@route(
    "POST",
    "/tenders/{tender_id}/objections",
    summary="Object to the tender documents (W2: ≥ 10 days before the deadline; answered within 3 days)",
    tag="documents",
    roles={Role.BIDDER},
    body=ObjectionBody,
    status=201,
)
async def object_to_documents(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await public.raise_objection(
            conn, call.audit, call.actor, call.now,
            tender_id=call.path_int("tender_id"), text=call.body.text, settings=_settings(call),
        )


@route(
    "GET",
    "/tenders/{tender_id}/objections",
    summary="Objections to the documents: staff all (with who raised them), a bidder its own",
    tag="documents",
    roles=ANYONE,
)
async def objections(call: Call) -> list[dict[str, Any]]:
    async with call.pool.acquire() as conn:
        return await public.list_objections(conn, call.actor, call.path_int("tender_id"))


@route(
    "POST",
    "/tenders/{tender_id}/objections/{objection_id}/answer",
    summary="Answer an objection to the documents (staff; recorded, late or not)",
    tag="documents",
    roles=STAFF,
    body=AnswerBody,
)
async def answer(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await public.answer_objection(
            conn, call.audit, call.actor, call.now,
            tender_id=call.path_int("tender_id"),
            objection_id=call.path_int("objection_id"),
            answer=call.body.answer,
        )


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    app[PUBLIC_SETTINGS] = public_settings_from(app[keys.CONFIG])
    api.endpoints.extend(api_notices.endpoints)

    async def on_objection_due(ctx: EventContext) -> None:
        await public.objection_due(ctx.conn, ctx.now, int(ctx.event.ref))

    registry.register(OBJECTION_DUE_EVENT, on_objection_due)
