"""The evaluation over HTTP (评标): the method on a draft tender, starting the evaluation,
the members' signed score sheets, below-cost findings, written clarifications, the report,
the members' signatures (with dissent), the state, and the exported record.

The panel comes from ``experts.seating.seated_for_tender`` and is handed to the bidding
package's use cases as :class:`~bidding.evaluation.model.PanelMember` — the two domain
packages meet here only. Timed event: ``evaluation.signing_deadline`` (silence counts as
consent, T17). Settings come from ``config.extra`` (``evaluation.<name>``) or the
environment (``SUNLIT_EVALUATION_<NAME>``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from aiohttp import web
from pydantic import Field, StringConstraints

from bidding.evaluation import rules, service
from bidding.evaluation.errors import EvalReason, EvaluationRejected
from bidding.evaluation.model import (
    MAX_CRITERIA,
    Criterion,
    EvaluationMethod,
    EvaluationSettings,
    MethodSpec,
    PanelMember,
    PriceBenchmark,
)
from bidding.model import MAX_AMOUNT_FEN
from bidding.service.tenders import tender_summary
from crypto.errors import KeyFormatError
from crypto.keys import b64url_decode
from experts import store as experts_store
from experts.draws import may_see_list
from experts.seating import seated_for_tender
from trading.calendar import EventContext, EventRegistry
from trading.config import Config
from trading.config import settings_from as config_settings
from trading.context import Role
from trading.errors import ValidationFailed
from web import keys
from web.api import Api, Body, Call, FreeText, Id, Text

__all__ = ["EVALUATION_SETTINGS", "api_evaluation", "settings_from", "setup"]

EVALUATION_SETTINGS = web.AppKey("evaluation_settings", EvaluationSettings)

STAFF = {Role.STAFF, Role.ADMIN}
READERS = {Role.STAFF, Role.ADMIN, Role.EXPERT}
EXPERT = {Role.EXPERT}

PointsText = Annotated[str, StringConstraints(pattern=r"^[0-9]{1,3}(\.[0-9]{1,2})?$")]
Signature = Annotated[str, StringConstraints(min_length=80, max_length=200)]


def settings_from(config: Config, environ: dict[str, str] | None = None) -> EvaluationSettings:
    """``config.extra['evaluation.<field>']`` wins over ``SUNLIT_EVALUATION_<FIELD>``."""
    return config_settings(EvaluationSettings, config.extra, key="evaluation.", env="SUNLIT_EVALUATION_",
                           environ=environ)  # fmt: skip


class CriterionBody(Body):
    code: Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
    name: Text(200, min_length=1, strip=True)  # type: ignore[valid-type]
    max_points: Annotated[int, Field(ge=1, le=100)]


class MethodBody(Body):
    """The evaluation terms (T16, W3): this body to change them before publication, and the
    same fields inside a new tender's body (``web.bidding.TenderBody`` derives from it)."""

    evaluation_method: EvaluationMethod
    criteria: Annotated[list[CriterionBody], Field(max_length=MAX_CRITERIA)] = []
    price_benchmark: PriceBenchmark = PriceBenchmark.LOWEST
    points_per_percent: PointsText = "1.00"
    control_price_fen: Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)] | None = None
    budget_fen: Annotated[int, Field(ge=1, le=MAX_AMOUNT_FEN)] | None = None
    trim_extremes: bool = False

    def spec(self) -> MethodSpec:
        return MethodSpec(
            method=self.evaluation_method,
            criteria=tuple(Criterion(c.code, c.name, c.max_points) for c in self.criteria),
            price_benchmark=self.price_benchmark,
            points_per_percent=Decimal(self.points_per_percent),
            control_price_fen=self.control_price_fen,
            budget_fen=self.budget_fen,
            trim_extremes=self.trim_extremes,
        )


class SignedBody(Body):
    """A document the member signed with their registered Ed25519 key (base64url)."""

    document: dict[str, Any]
    signature: Signature


class FindingBody(Body):
    bid_id: Id
    accepted: bool
    reason: FreeText(2000, min_length=1, strip=True)  # type: ignore[valid-type]


class QuestionBody(Body):
    bid_id: Id
    question: FreeText(2000, min_length=1, strip=True)  # type: ignore[valid-type]


class AnswerBody(Body):
    """No price field: an answer cannot carry one (W6); the flag, if true, is refused."""

    answer: FreeText(5000, min_length=1, strip=True)  # type: ignore[valid-type]
    changes_price_or_substance: bool = False


api_evaluation = Api()
route = api_evaluation.route


def _settings(call: Call) -> EvaluationSettings:
    return call.app[EVALUATION_SETTINGS]


async def panel_members(conn: asyncpg.Connection, tender_id: int) -> tuple[bool, tuple[PanelMember, ...]]:
    """The tender's panel as the evaluation sees it: (drawn, every member ever seated)."""
    panel = await seated_for_tender(conn, tender_id)
    if panel is None:
        return False, ()
    return True, tuple(
        PanelMember(m.seat, m.expert_id, m.user_id, m.name, m.replaced) for m in panel.members
    )


def _signature(text: str) -> bytes:
    try:
        return b64url_decode(text, size=64)
    except KeyFormatError:
        raise ValidationFailed(
            "signature: 64 bytes, base64url", "signature：64 字节，base64url 编码",
            code="invalid_signature_encoding",
        ) from None


@route("PUT", "/tenders/{tender_id}/evaluation/method", summary="Set the evaluation method, criteria, control "
       "price and budget of a draft tender (T16: fixed once published; criteria sum to 100)",
       tag="evaluation", roles=STAFF, body=MethodBody)  # fmt: skip
async def put_method(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        tender = await service.set_method(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"), call.body.spec()
        )
    return tender_summary(tender)


@route("POST", "/tenders/{tender_id}/evaluation", summary="Start the evaluation (staff; after the opening, "
       "with the tender's panel seated)", tag="evaluation", roles=STAFF, status=201)  # fmt: skip
async def start(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        drawn, members = await panel_members(conn, tender_id)
        ready = drawn and any(not m.replaced and m.user_id is not None for m in members)
        return await service.start_evaluation(
            conn, call.audit, call.actor, call.now, tender_id, members=members, panel_seated=ready
        )


@route("GET", "/tenders/{tender_id}/evaluation", summary="Where the evaluation stands (staff, supervisors, "
       "the seated members)", tag="evaluation", roles=READERS)  # fmt: skip
async def get_state(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        _, members = await panel_members(conn, tender_id)
        if call.actor.role is Role.EXPERT:
            service.member_of(call.actor, members)
        state = await service.evaluation_state(
            conn, tender_id, settings=_settings(call), members=members
        )
        if call.actor.role is Role.EXPERT or await _may_see_panel(conn, call, tender_id):
            return state
        return redact_panel(state, members)


async def _may_see_panel(conn: asyncpg.Connection, call: Call, tender_id: int) -> bool:
    """E4: who sits on the panel stays secret until the result is fixed — only the staff
    member who requested the draw and supervisors see it before (``experts.draws.may_see_list``);
    the seated members meet in the evaluation and see each other."""
    panel = await seated_for_tender(conn, tender_id)
    if panel is None:
        return True
    draw = await experts_store.get_draw(conn, panel.draw_id)
    return draw is None or may_see_list(call.actor, draw)


def redact_panel(state: dict[str, Any], members: tuple[PanelMember, ...]) -> dict[str, Any]:
    """The evaluation's state with every member named only by seat ("seat 3"): names and
    expert ids gone, and the signed report's document (which names them) left out — its id,
    hash and times stay, so progress is visible without the list (E4)."""
    seat_of = {m.expert_id: f"seat {m.seat}" for m in members}

    def seat(expert_id: Any) -> Any:
        return seat_of.get(expert_id, "seat ?")

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: seat(v) if k in ("expert_id", "recorded_by", "asked_by") and isinstance(v, str)
                    else walk(v) for k, v in value.items() if k != "name"}  # fmt: skip
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    out = {k: walk(v) for k, v in state.items() if k not in ("members", "missing_sheets", "report")}
    out["members"] = [{"seat": m.seat, "replaced": m.replaced} for m in members]
    out["missing_sheets"] = [seat(e) for e in state.get("missing_sheets", [])]
    report = state.get("report")
    if report is not None:
        keep = ("id", "sha256", "signing_deadline_at", "concluded_at", "failed")
        out["report"] = {k: report.get(k) for k in keep} | {"signatures": walk(report.get("signatures", []))}
    out["panel_redacted"] = True
    return out


@route("POST", "/tenders/{tender_id}/evaluation/sheets", summary="Hand in (or replace, next revision) my "
       "signed score sheet (seated members, while the evaluation is open)", tag="evaluation",
       roles=EXPERT, body=SignedBody, status=201)  # fmt: skip
async def submit_sheet(call: Call) -> dict[str, Any]:
    return await _member_signs(call, service.submit_sheet)


async def _member_signs(call: Call, act: Callable[..., Awaitable[dict[str, Any]]]) -> dict[str, Any]:
    """A seated member hands in a signed document (a score sheet, a signature on the report)."""
    tender_id = call.path_int("tender_id")
    b: SignedBody = call.body
    async with call.pool.acquire() as conn:
        _, members = await panel_members(conn, tender_id)
        return await act(
            conn, call.audit, call.actor, call.now, tender_id, members=members,
            document=b.document, signature=_signature(b.signature),
        )  # fmt: skip


@route("POST", "/tenders/{tender_id}/evaluation/findings", summary="Record the panel's finding on a bid "
       "flagged as possibly below cost (W5)", tag="evaluation", roles=EXPERT, body=FindingBody,
       status=201)  # fmt: skip
async def record_finding(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    b: FindingBody = call.body
    async with call.pool.acquire() as conn:
        _, members = await panel_members(conn, tender_id)
        return await service.record_finding(
            conn, call.audit, call.actor, call.now, tender_id, members=members, bid_id=b.bid_id,
            accepted=b.accepted, reason=b.reason, settings=_settings(call),
        )  # fmt: skip


@route("POST", "/tenders/{tender_id}/evaluation/clarifications", summary="Ask a bidder, in writing, to "
       "clarify (W6)", tag="evaluation", roles=EXPERT, body=QuestionBody, status=201)  # fmt: skip
async def ask(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    b: QuestionBody = call.body
    async with call.pool.acquire() as conn:
        _, members = await panel_members(conn, tender_id)
        return await service.ask_clarification(
            conn, call.audit, call.actor, call.now, tender_id, members=members,
            bid_id=b.bid_id, question=b.question,
        )  # fmt: skip


@route("GET", "/tenders/{tender_id}/evaluation/clarifications/mine", summary="The clarifications asked of "
       "my organisation", tag="evaluation", roles={Role.BIDDER})  # fmt: skip
async def my_clarifications(call: Call) -> list[dict[str, Any]]:
    if call.actor.org_id is None:
        raise EvaluationRejected(EvalReason.NOT_YOUR_BID)
    async with call.pool.acquire() as conn:
        return await service.bidder_clarifications(conn, call.path_int("tender_id"), call.actor.org_id)


@route("POST", "/tenders/{tender_id}/evaluation/clarifications/{clarification_id}/answer",
       summary="Answer a clarification in writing (the bidder asked; never changing the price: W6)",
       tag="evaluation", roles={Role.BIDDER}, body=AnswerBody)  # fmt: skip
async def answer(call: Call) -> dict[str, Any]:
    b: AnswerBody = call.body
    async with call.pool.acquire() as conn:
        return await service.answer_clarification(
            conn, call.audit, call.actor, call.now, call.path_int("tender_id"),
            call.path_int("clarification_id"), answer=b.answer,
            changes_price_or_substance=b.changes_price_or_substance,
        )  # fmt: skip


@route("POST", "/tenders/{tender_id}/evaluation/report", summary="Generate the evaluation report from the "
       "sheets (staff; every seated member's sheet in, every flagged bid found on)", tag="evaluation",
       roles=STAFF, status=201)  # fmt: skip
async def generate_report(call: Call) -> dict[str, Any]:
    tender_id = call.path_int("tender_id")
    async with call.pool.acquire() as conn:
        _, members = await panel_members(conn, tender_id)
        signed = await service.generate_report(
            conn, call.audit, call.actor, call.now, tender_id, members=members,
            settings=_settings(call),
        )  # fmt: skip
    return signed.as_json()


@route("POST", "/tenders/{tender_id}/evaluation/report/signatures", summary="Sign the report, with a "
       "dissent in writing or none (seated members; T17)", tag="evaluation", roles=EXPERT,
       body=SignedBody, status=201)  # fmt: skip
async def sign_report(call: Call) -> dict[str, Any]:
    return await _member_signs(call, service.sign_report)


@route("GET", "/tenders/{tender_id}/evaluation/record", summary="The evaluation record in full, once "
       "concluded (staff, supervisors): what `sunlit verify-evaluation` checks", tag="evaluation",
       roles=STAFF)  # fmt: skip
async def full_record(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.export_record(conn, call.path_int("tender_id"), full=True)


@route("GET", "/tenders/{tender_id}/evaluation/record/public", summary="The signed public view of the "
       "evaluation record, once concluded (no sheets, no clarifications)", tag="evaluation",
       roles=None)  # fmt: skip
async def public_record(call: Call) -> dict[str, Any]:
    async with call.pool.acquire() as conn:
        return await service.export_record(conn, call.path_int("tender_id"), full=False)


def setup(app: web.Application, api: Api, registry: EventRegistry) -> None:
    app[EVALUATION_SETTINGS] = settings_from(app[keys.CONFIG])
    api.endpoints.extend(api_evaluation.endpoints)

    async def on_signing_deadline(ctx: EventContext) -> None:
        await service.on_signing_deadline(ctx.conn, app[keys.AUDIT], ctx.now, int(ctx.event.ref))

    registry.register(rules.SIGNING_DEADLINE_EVENT, on_signing_deadline)
