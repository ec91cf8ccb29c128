// W5 and W6 in a seated member's workspace: the bids flagged as possibly below cost, each
// with the panel's finding on the bidder's explanation (accepted or rejected, with the reason
// in writing), and the written clarifications asked of a bidder with their answers. The API
// decides who may record what and when (seated members, the evaluation open).
import { $, api, el, failed, field, fill, onSubmit, pageData, t, table, when, yuan } from "../staff/ui.js";

const TID = Number(pageData("tenderId"));
const boxes = { belowCost: $("#below-cost"), clarifications: $("#ev-clarifications") };

function bidLabel(state, id) {
  const b = (state.bids || []).find((x) => (x.bid_id ?? x.id) === id);
  if (!b) return `#${id}`;
  const who = b.bidder_name || b.bidder_org_id || b.org_id || "";
  const price = b.amount_fen ?? b.price_fen;
  return `#${id} · ${who}${price !== undefined && price !== null ? " · " + yuan(price) : ""}`;
}

function belowCost(state) {
  const flagged = state.flagged_below_cost || [];
  const found = new Map((state.findings || []).map((f) => [f.bid_id, f]));
  if (!flagged.length) return el("p", { class: "muted", id: "no-below-cost" }, t("no_below_cost"));
  const open = state.state === "evaluating";
  const rows = flagged.map((id) => ({ id, finding: found.get(id) }));
  return table([
    { label: t("bid"), value: (r) => bidLabel(state, r.id) },
    { label: t("finding"), value: (r) => {
      if (r.finding) {
        return el("span", { class: r.finding.accepted ? "ok finding-accepted" : "bad finding-rejected" },
          `${r.finding.accepted ? t("explanation_accepted") : t("explanation_rejected")} — ${r.finding.reason}`);
      }
      if (!open) return t("none");
      const f = el("form", { class: "filters finding-form", "data-bid": r.id },
        field("accepted", t("the_explanation"), { required: true }, { kind: "select", options: [
          ["", "—"], ["true", t("explanation_accepted")], ["false", t("explanation_rejected")]] }),
        field("reason", t("reason_in_writing"), { required: true, maxlength: 2000 }, { kind: "textarea" }),
        el("button", { type: "submit" }, t("record_finding")),
        el("p", { class: "form-status", role: "status", "aria-live": "polite" }));
      onSubmit(f, (v) => api("POST", `/tenders/${TID}/evaluation/findings`,
        { json: { bid_id: r.id, accepted: v.accepted === "true", reason: v.reason } }), refresh);
      return f;
    } },
  ], rows, { caption: t("below_cost_bids") });
}

function clarifications(state) {
  const parts = [table([
    { label: "#", value: (c) => c.id, num: true },
    { label: t("bid"), value: (c) => bidLabel(state, c.bid_id) },
    { label: t("question"), value: (c) => c.question },
    { label: t("asked_at"), value: (c) => when(c.asked_at) },
    { label: t("answer"), value: (c) => (c.answer ? el("span", { class: "clar-answer" }, c.answer) : el("span", { class: "muted" }, t("not_answered_yet"))) },
    { label: t("answered_at"), value: (c) => when(c.answered_at) },
  ], state.clarifications || [], { caption: t("clarifications_asked") })];
  if (state.state === "evaluating") {
    const bids = (state.bids || []).map((b) => b.bid_id ?? b.id);
    const f = el("form", { id: "clarify-form", class: "filters" },
      el("h3", {}, t("ask_clarification")),
      field("bid_id", t("bid"), { required: true, "data-type": "int" }, { kind: "select", options: [["", "—"], ...bids.map((id) => [String(id), bidLabel(state, id)])] }),
      field("question", t("question_in_writing"), { required: true, maxlength: 2000 }, { kind: "textarea", hint: t("clarify_no_price") }),
      el("button", { type: "submit" }, t("ask_clarification")),
      el("p", { class: "form-status", role: "status", "aria-live": "polite" }));
    onSubmit(f, (v) => api("POST", `/tenders/${TID}/evaluation/clarifications`, { json: v }), refresh);
    parts.push(f);
  }
  return el("div", {}, parts);
}

async function refresh() {
  let state;
  try { state = await api("GET", `/tenders/${TID}/evaluation`); } catch (err) { return failed(boxes.belowCost, err); }
  fill(boxes.belowCost, belowCost(state));
  fill(boxes.clarifications, clarifications(state));
}

refresh();
