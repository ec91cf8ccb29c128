"""What the staff console, the expert workspace and the supervisor console share: the text
their scripts show (English msgids through gettext, so that ``pybabel extract`` finds them
here and the catalogs give the Chinese), handed to the page as ``js_text`` — the base layout
puts it in a JSON data block that ``web/static/js/api.js`` reads (no inline script).

Each console's scripts live under ``web/static/js/<console>/``; ``staff/ui.js`` holds the
helpers all three use (tables, forms whose refusals show the API's problem+json ``errors``
beside their fields, upload progress, polling).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from babel.support import Translations

from web.api import parse_path_id
from web.i18n import load_translations
from web.pages.render import N_, PageCtx

TEXT: dict[str, str] = {
    # -- common --------------------------------------------------------------------------
    "accept": N_("Accept"), "account": N_("Account"), "accounts": N_("Accounts"),
    "acknowledge": N_("Acknowledge"), "acknowledged_at": N_("Acknowledged {at}"), "action": N_("Action"),
    "actions": N_("Actions"), "actor": N_("Actor"), "alerts": N_("Alerts"), "amount_yuan": N_("Amount (yuan)"),
    "answer": N_("Answer"), "answer_by": N_("Answer by"), "answer_due": N_("Answer due"),
    "answered": N_("Answered"), "answered_at": N_("Answered at"),
    "answers_questions": N_("Answers these questions"), "approve_forfeit": N_("Approve the forfeiture"),
    "ask_forfeit": N_("Ask to forfeit"), "asked_at": N_("Asked at"), "asked_by": N_("Asked by"),
    "audit_newest_first": N_("Audit log, newest first"), "award": N_("Award"),
    "award_after_report": N_("The award follows the evaluation report."), "award_to": N_("Award the tender"),
    "balanced": N_("The trial balance is balanced"), "bank_ref": N_("Bank reference"),
    "below_cost": N_("Below cost?"), "bid": N_("Bid"), "bid_deadline": N_("Bid deadline"), "bidder": N_("Bidder"),
    "bids": N_("Bids"), "bids_closed": N_("The bids can be read only while the evaluation is open."),
    "bids_side_by_side": N_("The bids side by side"), "budget": N_("Budget (yuan)"), "by_kind": N_("By account kind"),
    "cancel_tender": N_("Cancel the tender"), "candidates": N_("Candidates"), "category": N_("Category"),
    "chain_broken": N_("Audit chain BROKEN at #{seq}: {problem} — {detail}"),
    "chain_intact": N_("Audit chain intact: {entries} entries, {checkpoints} signed checkpoints"),
    "change_dates": N_("Change the deadline and the opening time"), "choose_file": N_("Choose a file"),
    "choose_key_file": N_("Choose your signing key file"), "choose_project": N_("Choose a project"),
    "choose_tender": N_("Choose a tender"), "clarifications": N_("Clarifications and amendments"), "code": N_("Code"),
    "complaints": N_("Complaints"), "confidential_items": N_("Confidential items"),
    "confirm_attendance": N_("Confirm attendance"),
    "confirm_fix": N_("Fix the panel's result? The list is published and the bids can no longer be read."),
    "confirm_forfeit": N_("Approve forfeiting this deposit? You must not be the staff member who asked."),
    "confirm_publish": N_("Publish the tender? Its opening key is made and split among the custodians."),
    "confirm_return": N_("Return this money to its payer?"), "contract_amount": N_("Contract amount (yuan)"),
    "contract_signed": N_("Contract recorded: {amount} yuan"), "control_price": N_("Control price (yuan)"),
    "credits_pending": N_("Credits pending"), "credits_posted": N_("Credits posted"), "criteria": N_("Criteria"),
    "criteria_hint": N_("One per line: code, name, maximum points (they sum to 100)."),
    "custodian": N_("Custodian"), "custodians": N_("Custodians"), "custodians_k_of_n": N_("Shares needed / custodians"),
    "debits_pending": N_("Debits pending"), "debits_posted": N_("Debits posted"), "decide": N_("Decide"),
    "decision": N_("Decision in writing"), "declare_failure": N_("Declare the tender failed"),
    "declared_items": N_("Declared items"), "decline": N_("Decline"), "decline_reason": N_("Reason for declining"),
    "deposit": N_("Deposit (yuan)"), "deposits_of": N_("Deposits of {project}"), "differences": N_("Differences"),
    "dissent": N_("Dissent"), "dissent_optional": N_("Dissent in writing (leave empty to agree)"),
    "document": N_("Document"), "documents": N_("Documents"), "done": N_("Done."), "draw": N_("Draw"), "due": N_("Due"),
    "due_on": N_("Due on"), "duration_days": N_("Duration (days)"), "estimated_price": N_("Estimated price (yuan)"),
    "evaluation": N_("Evaluation"), "evaluation_after_opening": N_("The evaluation starts after the opening."),
    "evaluation_date": N_("Evaluation date"), "evaluation_days": N_("Days"),
    "evaluation_method": N_("Evaluation method"), "evaluation_not_started": N_("The evaluation has not started."),
    "evaluation_place": N_("Place"), "evaluation_time": N_("Time"), "expert": N_("Expert"),
    "failed_needs_cause": N_("A failed review needs a cause and a reason in writing."),
    "fix_fields": N_("Correct the marked fields."), "fix_result": N_("Fix the result"), "flagged": N_("Flagged"),
    "forfeit": N_("Forfeiture"), "forfeit_cause": N_("Cause"), "forfeit_deposit": N_("Ask to forfeit the deposit"),
    "forfeits_waiting": N_("Forfeitures waiting for a second staff member"),
    "generate_report": N_("Generate the report"), "handed_in_at": N_("Handed in at"),
    "invalid_value": N_("This value cannot be read."),
    "key_not_registered": N_("This key is not one of your registered signing keys."),
    "key_stays_here": N_("The key is read in this page only and never sent."), "kind": N_("Kind"), "line": N_("Line"),
    "lines_hint": N_("One per line: specialty code, count, reserves (optional)."), "lot": N_("Lot"),
    "lots": N_("Lots"), "make_batch": N_("Put the waiting refunds in a bank batch"), "members": N_("Members"),
    "message": N_("Message"), "missing_in_bank": N_("In the ledger, not in the statement"),
    "missing_in_ledger": N_("In the statement, not in the ledger"), "my_evaluations": N_("My evaluations"),
    "my_sheet_in": N_("Your sheet, revision {revision}, was handed in at {at}."), "my_summons": N_("My summons"),
    "net": N_("Net"), "net_debit": N_("Net debit"),
    "network_error": N_("The server could not be reached; try again."), "new_version_of": N_("New version of"),
    "no": N_("No"), "no_alerts": N_("No alerts"), "no_complaints": N_("No complaints"),
    "no_dissent": N_("No dissent"), "no_evaluations": N_("No evaluations yet"),
    "no_forfeits_waiting": N_("No forfeiture is waiting."), "no_refunds_due": N_("No refund is due."),
    "no_statements": N_("No bank statement imported yet."), "no_summons": N_("No summons"),
    "no_suspense": N_("No unmatched money."), "none": N_("None yet"),
    "not_balanced": N_("The trial balance does NOT balance"), "note": N_("Note"), "notice": N_("Notice"),
    "object": N_("Object"), "objections_to_candidates": N_("Objections to the candidates"),
    "objections_to_documents": N_("Objections to the documents"), "opened_table": N_("The opened bids"),
    "opening_at": N_("Opening time"), "opening_not_yet": N_("The opening room opens once the tender is published."),
    "opening_room": N_("Opening room"), "opens_at": N_("Opens at"), "outcome": N_("Outcome"), "panel": N_("Panel"),
    "panel_after_publication": N_("The panel is drawn after publication."), "panel_members": N_("Panel members"),
    "panel_requirements": N_("The panel the tender asks for"), "pass_over_reason": N_("Reason to pass over rank 1"),
    "passes_review": N_("Passes the compliance and qualification review"), "pause": N_("Pause"),
    "payer": N_("Payer"), "performance_bond": N_("Performance bond (yuan)"), "place": N_("Place"),
    "points_of": N_("{name} (0–{max})"), "points_range": N_("Points from 0 to {max}, at most two decimals."),
    "position": N_("Position"), "price_yuan": N_("Price (yuan)"), "project": N_("Project"),
    "project_name": N_("Project name"), "public_view": N_("The signed public view"), "publish": N_("Publish"),
    "publish_candidates": N_("Publish the candidates"), "publish_clarification": N_("Publish a clarification"),
    "published_at": N_("Published at"), "publicity_until": N_("Candidates published until {at}"),
    "purpose": N_("Purpose"), "question": N_("Question"), "questions": N_("Questions"),
    "questions_and_clarifications": N_("Questions and clarifications"),
    "quorum": N_("Shares handed in: {got} of {k} needed ({n} custodians)"), "raised_at": N_("Raised at"),
    "raised_by": N_("Raised by"), "rank": N_("Rank"), "reason": N_("Reason"),
    "reason_in_writing": N_("Reason in writing"), "received_at": N_("Received at"),
    "record_contract": N_("Record the contract"), "record_decline": N_("Record it"),
    "record_published": N_("The opening record is published."), "refresh": N_("Refresh"),
    "refund_due_on": N_("Refund due on"), "refunds_due": N_("Refunds due"), "refuse": N_("Refuse"),
    "reject_cause": N_("Cause, if it fails"), "reject_forfeit": N_("Reject"),
    "replace_member": N_("Take off the panel; call the next"), "replaced": N_("Replaced"),
    "replacement": N_("Replacement"), "report_not_yet": N_("No report yet."), "report_sha": N_("Report SHA-256"),
    "report_signature": N_("Report signature"), "report_signatures": N_("Signatures on the report"),
    "representatives": N_("Tenderee's representatives"), "request_panel": N_("Request the panel"),
    "requested_by": N_("Requested by"), "result": N_("Result"), "resume": N_("Resume"),
    "retender_code": N_("Code of the re-tender (optional)"), "return_to_payer": N_("Return to the payer"),
    "run_draw": N_("Run the draw"), "save": N_("Save"), "savings_rate": N_("Savings rate, in per cent: {rate}"),
    "schedule": N_("Publish"), "score": N_("Score"), "seat": N_("Seat"), "severity": N_("Severity"),
    "share": N_("Share"), "share_in": N_("Handed in"), "share_waiting": N_("Waiting"), "sheet": N_("Sheet"),
    "sheet_in": N_("Handed in"), "sheet_missing": N_("Missing"), "sheet_revision": N_("This is revision {revision}."),
    "sheet_submitted": N_("Sheet revision {revision} handed in (SHA-256 {sha}…)."),
    "sheets_closed": N_("Sheets are taken only while the evaluation is open."),
    "sheets_in": N_("{n} of {m} sheets in"), "sign_and_submit": N_("Sign and hand in"),
    "sign_report": N_("Sign the report"), "signed": N_("Signed"), "signed_at": N_("Signed at"),
    "signed_with_dissent": N_("Signed, dissenting: {dissent}"), "signing_deadline": N_("Signing deadline"),
    "signing_key_file": N_("My Ed25519 signing key file"), "size_bytes": N_("Size (bytes)"),
    "specialty_lines": N_("Specialty lines"), "start_evaluation": N_("Start the evaluation"),
    "start_now": N_("Start now"), "state": N_("State"),
    "statement_summary": N_("Statement {from} – {to}: {lines} lines, {matched} matched."),
    "sub_account": N_("Sub-account"), "summons_state": N_("Summons"),
    "supervising_orgs": N_("Supervising departments (ids)"), "suspend_award": N_("Suspend the award"),
    "suspense": N_("Money that matched nothing"), "tender": N_("Tender"), "tender_terms": N_("The tender"),
    "tenderee_org": N_("Tenderee (organisation id)"), "tenders": N_("Tenders"), "terminate": N_("Terminate"),
    "text": N_("Text"), "time": N_("Time"), "totals": N_("Totals"), "upload": N_("Upload"),
    "upload_progress": N_("Upload progress"), "value_at": N_("Value date"), "verifying": N_("Verifying…"),
    "version": N_("Version"), "view_notice": N_("See the notice"),
    "winner_declines": N_("The winner gives up, cannot perform or is ineligible"), "yes": N_("Yes"),
    "you_signed": N_("You have signed the report."),
    # -- closed sets: states, kinds, causes -----------------------------------------------
    "state_draft": N_("Draft"), "state_published": N_("Published"), "state_closed": N_("Closed"),
    "state_opening": N_("Opening"), "state_opened": N_("Opened"), "state_failed": N_("Failed"),
    "state_cancelled": N_("Cancelled"),
    "category_works": N_("Works"), "category_goods": N_("Goods"), "category_services": N_("Services"),
    "procedure_open": N_("Open tender"), "procedure_invited": N_("Invited tender"),
    "evaluation_method_lowest_price": N_("Lowest evaluated price"),
    "evaluation_method_comprehensive": N_("Comprehensive scoring"),
    "method_lowest_price": N_("Lowest evaluated price"), "method_comprehensive": N_("Comprehensive scoring"),
    "clar_clarification": N_("Clarification"), "clar_amendment": N_("Amendment"),
    "outcome_opened": N_("Opened"), "outcome_revoked": N_("Revoked"), "outcome_withdrawn": N_("Withdrawn"),
    "outcome_sold": N_("Sold"), "outcome_no_sale": N_("No sale (流拍)"), "outcome_cancelled": N_("Cancelled"),
    "draw_committed": N_("Committed, not drawn yet"), "draw_drawn": N_("Drawn, summons out"),
    "draw_full": N_("Every seat confirmed"), "draw_short": N_("Short of experts"), "draw_fixed": N_("Result fixed"),
    "summons_summoned": N_("Summoned"), "summons_confirmed": N_("Confirmed"), "summons_declined": N_("Declined"),
    "summons_timed_out": N_("No answer in time"), "summons_replaced": N_("Replaced"),
    "eval_evaluating": N_("Evaluating"), "eval_reported": N_("Report out for signing"),
    "eval_concluded": N_("Concluded"),
    "award_concluded": N_("Report concluded"), "award_publicity": N_("Candidates in publicity"),
    "award_awarded": N_("Awarded"), "award_contracted": N_("Contract signed"), "award_failed": N_("Failed"),
    "deposit_awaiting": N_("Awaiting payment"), "deposit_confirmed": N_("Confirmed"),
    "deposit_refund_pending": N_("Refund pending"), "deposit_refunded": N_("Refunded"),
    "deposit_forfeit_pending": N_("Forfeiture waiting for approval"), "deposit_forfeited": N_("Forfeited"),
    "deposit_converted": N_("Converted into the price"),
    "forfeit_withdrawn_after_deadline": N_("Withdrawn after the deadline"),
    "forfeit_refused_to_sign": N_("Refused to sign the contract"),
    "forfeit_no_performance_bond": N_("No performance bond"),
    "pass_gave_up": N_("Gave up"), "pass_cannot_perform": N_("Cannot perform"), "pass_ineligible": N_("Ineligible"),
    "lot_land": N_("Land-use rights"), "lot_plate": N_("Licence plate"),
    "phase_draft": N_("Draft"), "phase_scheduled": N_("Scheduled"), "phase_listing": N_("Listing"),
    "phase_countdown": N_("Countdown"), "phase_paused": N_("Paused"), "phase_cap_reached": N_("Price cap reached"),
    "phase_awaiting_reserve": N_("Awaiting the reserve"), "phase_closed": N_("Closed"),
    "severity_info": N_("Info"), "severity_warning": N_("Warning"), "severity_critical": N_("Critical"),
    "alert_open": N_("Open"), "alert_acknowledged": N_("Acknowledged"), "alert_resolved": N_("Resolved"),
    "alert_closed": N_("Closed"),
    "complaint_received": N_("Received"), "complaint_accepted": N_("Accepted"), "complaint_refused": N_("Refused"),
    "complaint_decided": N_("Decided"), "complaint_upheld": N_("Upheld"), "complaint_dismissed": N_("Dismissed"),
    "cause_unsigned": N_("Unsigned"), "cause_unqualified": N_("Unqualified"), "cause_two_prices": N_("Two prices"),
    "cause_below_cost": N_("Below cost"), "cause_not_responsive": N_("Not responsive"),
    "cause_collusion": N_("Collusion"), "cause_above_control_price": N_("Above the control price"),
}


@lru_cache(maxsize=4)
def _catalog(lang: str) -> Translations:
    return load_translations(lang)


def js_text(p: PageCtx, keys: Mapping[str, str] = TEXT) -> dict[str, str]:
    """The consoles' script text in the page's language (plain gettext: the text keeps its
    ``{name}`` placeholders for the script to fill)."""
    catalog = _catalog(p.lang)
    return {k: catalog.gettext(v) for k, v in keys.items()}


def path_id(p: PageCtx, name: str) -> int:
    """A page's id path parameter, checked as the API checks it (ASCII digits, int64)."""
    return parse_path_id(name, p.request.match_info[name])
