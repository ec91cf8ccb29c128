"""The expert workspace (评标专家): my summons to confirm or decline; for a seated member
during the evaluation, the bids side by side, the score sheet signed in the page with the
member's own Ed25519 key, and the report signed or dissented from.

    /expert                      my summons, my evaluations
    /expert/tenders/{tender_id}  one evaluation (seated members only: the API's own check)
"""

from __future__ import annotations

from typing import Any

from trading.context import Role
from web.pages.consoles import js_text, path_id
from web.pages.render import N_, PageCtx, page

EXPERT = {Role.EXPERT}
FINDINGS_TEXT: dict[str, str] = {
    "no_below_cost": N_("No bid is flagged as possibly below cost."),
    "finding": N_("The panel's finding"), "explanation_accepted": N_("Explanation accepted"),
    "explanation_rejected": N_("Explanation rejected: the bid fails (below cost)"),
    "the_explanation": N_("The bidder's explanation"), "record_finding": N_("Record the finding"),
    "below_cost_bids": N_("Bids possibly below cost"), "not_answered_yet": N_("Not answered yet"),
    "clarifications_asked": N_("Clarifications asked"), "ask_clarification": N_("Ask for a clarification"),
    "question_in_writing": N_("Question in writing"),
    "clarify_no_price": N_("A clarification may not change the price or the substance of the bid."),
}
"""W5 and W6 in the evaluation page (``expert/findings.js``)."""


@page("/expert", "expert/index.html", roles=EXPERT)
async def expert_home(p: PageCtx) -> dict[str, Any]:
    return {"js_text": js_text(p)}


@page("/expert/tenders/{tender_id}", "expert/evaluation.html", roles=EXPERT)
async def expert_evaluation(p: PageCtx) -> dict[str, Any]:
    tender_id = path_id(p, "tender_id")
    # the evaluation's state through the API: not a seated member → its 403; not started → 409
    state = await p.api(f"/tenders/{tender_id}/evaluation")
    tender = await p.api(f"/tenders/{tender_id}")
    return {"js_text": js_text(p) | js_text(p, FINDINGS_TEXT), "tender": tender, "evaluation": state}
