// A seated member's evaluation workspace: the opened bids side by side (read through the
// panel's reading endpoints, each read audited), the score sheet — every bid reviewed, points
// for each scored criterion within its maximum (the form enforces it; the server decides) —
// signed in the page with the member's own Ed25519 key and handed in; then the report signed,
// with a dissent in writing or none.
import { $, api, el, failed, field, fill, pageData, problemText, status, t, table, when, yuan } from "../staff/ui.js";
import { keyFromFile, signedBody } from "./sign.js";

const TID = Number(pageData("tenderId"));
const boxes = { state: $("#eval-state"), bids: $("#bids"), sheet: $("#sheet"), report: $("#report") };
const CAUSES = ["unsigned", "unqualified", "two_prices", "below_cost", "not_responsive", "collusion", "above_control_price"];
const POINTS = /^\d{1,3}(\.\d{1,2})?$/;

let me = null;
let state = null;

async function loadKey(input) {
  const file = input.files && input.files[0];
  if (!file) throw new Error(t("choose_key_file"));
  const key = await keyFromFile(file);
  const registered = await api("GET", "/me/keys?algorithm=ed25519");
  if (!registered.some((k) => k.public_key_hex === key.publicHex)) throw new Error(t("key_not_registered"));
  return key;
}

function showState() {
  const mine = state.sheets.filter((s) => s.expert_id === me.expert_id);
  fill(boxes.state,
    el("p", {}, t("state"), ": ", el("strong", { id: "evaluation-state" }, t("eval_" + state.state)),
      " · ", t("evaluation_method"), ": ", t("method_" + state.method.evaluation_method),
      " · ", t("sheets_in", { n: state.sheets.length, m: state.members.filter((m) => !m.replaced).length })),
    mine.length ? el("p", { class: "ok", id: "my-sheet" }, t("my_sheet_in", { revision: mine[0].revision, at: when(mine[0].submitted_at) })) : null);
}

async function showBids() {
  let listed;
  try { listed = await api("GET", `/tenders/${TID}/evaluation/bids`); } catch (err) { return failed(boxes.bids, err); }
  const bids = listed.bids;
  // side by side: one column per bid
  const rows = [
    [t("bidder"), (b) => b.bidder_name || b.bidder_org_id],
    [t("price_yuan"), (b) => yuan(b.amount_fen)],
    [t("duration_days"), (b) => b.duration_days ?? ""],
    [t("declared_items"), (b) => items(b.declared_items)],
    [t("confidential_items"), (b) => items(b.confidential_items)],
    [t("documents"), (b) => el("ul", { class: "plain" }, (b.documents || []).map((d) => el("li", {},
      el("a", { href: `/api/v1/tenders/${TID}/evaluation/bids/${b.bid_id}/documents/${encodeURIComponent(d.name)}` }, d.name))))],
  ];
  const head = el("tr", {}, el("th", { scope: "col" }, t("bid")), bids.map((b) => el("th", { scope: "col" }, `#${b.bid_id}`)));
  const body = rows.map(([label, value]) => el("tr", {}, el("th", { scope: "row" }, label), bids.map((b) => el("td", {}, value(b)))));
  fill(boxes.bids, el("div", { class: "scroll-x", tabindex: "0", role: "region", "aria-label": t("bids_side_by_side") },
    el("table", { class: "side-by-side" }, el("caption", {}, t("bids_side_by_side")), el("thead", {}, head), el("tbody", {}, body))));
  return bids;
}

function items(obj) {
  if (!obj || typeof obj !== "object" || Object.keys(obj).length === 0) return "";
  return el("dl", { class: "items" }, Object.entries(obj).map(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]));
}

function sheetForm(bids) {
  const criteria = (state.method.criteria || []).filter((c) => c.code !== "price");
  const mine = state.sheets.filter((s) => s.expert_id === me.expert_id);
  const revision = mine.length ? mine[0].revision + 1 : 1;
  const form = el("form", { id: "sheet-form", novalidate: true });
  for (const b of bids) {
    const fs = el("fieldset", { class: "bid-review", "data-bid": b.bid_id },
      el("legend", {}, t("bid"), ` #${b.bid_id} · ${b.bidder_name || b.bidder_org_id} · ${yuan(b.amount_fen)}`),
      el("label", { class: "check" }, el("input", { type: "checkbox", name: `passed_${b.bid_id}`, checked: true }), t("passes_review")),
      field(`cause_${b.bid_id}`, t("reject_cause"), {}, { kind: "select", options: [["", "—"], ...CAUSES.map((c) => [c, t("cause_" + c)])] }),
      field(`reason_${b.bid_id}`, t("reason_in_writing"), { maxlength: 2000 }),
      criteria.map((c) => field(`points_${b.bid_id}_${c.code}`, t("points_of", { name: c.name, max: c.max_points }), {
        type: "number", min: "0", max: String(c.max_points), step: "0.01", inputmode: "decimal", required: true,
        "data-max": c.max_points, class: "points",
      })));
    form.append(fs);
  }
  form.append(
    field("key_file", t("signing_key_file"), { type: "file", required: true, "data-skip": "" }, { hint: t("key_stays_here") }),
    el("p", {}, t("sheet_revision", { revision })),
    el("button", { type: "submit", class: "primary" }, t("sign_and_submit")),
    el("p", { class: "form-status", role: "status", "aria-live": "polite" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const problems = [];
    const reviews = []; const points = [];
    for (const b of bids) {
      const passed = form.elements[`passed_${b.bid_id}`].checked;
      const cause = form.elements[`cause_${b.bid_id}`].value || null;
      const reason = form.elements[`reason_${b.bid_id}`].value.trim();
      if (!passed && (!cause || !reason)) problems.push([form.elements[`cause_${b.bid_id}`], t("failed_needs_cause")]);
      reviews.push({ bid_id: b.bid_id, passed, cause: passed ? null : cause, reason: passed ? "" : reason });
      if (!passed) continue;
      const scores = {};
      for (const c of criteria) {
        const input = form.elements[`points_${b.bid_id}_${c.code}`];
        const v = input.value.trim();
        if (!POINTS.test(v) || Number(v) > c.max_points) { problems.push([input, t("points_range", { max: c.max_points })]); continue; }
        scores[c.code] = v;
      }
      if (criteria.length) points.push({ bid_id: b.bid_id, scores });
    }
    for (const n of form.querySelectorAll(".field-error")) n.remove();
    for (const n of form.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
    if (problems.length) {
      for (const [input, text] of problems) {
        input.setAttribute("aria-invalid", "true");
        (input.closest("label") || input).after(el("p", { class: "field-error error", role: "alert" }, text));
      }
      problems[0][0].focus();
      return status(form, t("fix_fields"), "bad");
    }
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const key = await loadKey(form.elements.key_file);
      const document = { type: "sunlit/evaluation-sheet/v1", tender_id: TID, expert_id: me.expert_id, revision, reviews, points };
      const body = await signedBody(key, document);
      const out = await api("POST", `/tenders/${TID}/evaluation/sheets`, { json: body });
      status(form, t("sheet_submitted", { revision: out.revision, sha: String(out.sha256).slice(0, 16) }), "ok");
      form.elements.key_file.value = "";
      await refresh(false);
    } catch (err) {
      status(form, problemText(err), "bad");
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

function reportSection() {
  const r = state.report;
  if (!r) return el("p", { class: "muted" }, t("report_not_yet"));
  const mine = r.signatures.find((s) => s.expert_id === me.expert_id);
  const parts = [
    el("p", {}, t("report_sha"), ": ", el("code", {}, r.sha256)),
    el("p", {}, t("signing_deadline"), ": ", when(r.signing_deadline_at)),
    table([
      { label: t("expert"), value: (s) => s.expert_id },
      { label: t("dissent"), value: (s) => s.dissent || t("no_dissent") },
      { label: t("signed_at"), value: (s) => when(s.signed_at) },
    ], r.signatures, { caption: t("report_signatures") }),
  ];
  if (mine) {
    parts.push(el("p", { class: "ok", id: "report-signed" }, t("you_signed")));
    return el("div", {}, parts);
  }
  if (state.state !== "reported") return el("div", {}, parts);
  const form = el("form", { id: "report-form" },
    field("dissent", t("dissent_optional"), { maxlength: 5000 }, { kind: "textarea" }),
    field("key_file", t("signing_key_file"), { type: "file", required: true }, { hint: t("key_stays_here") }),
    el("button", { type: "submit", class: "primary" }, t("sign_report")),
    el("p", { class: "form-status", role: "status", "aria-live": "polite" }));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const key = await loadKey(form.elements.key_file);
      const dissent = form.elements.dissent.value.trim() || null;
      const document = { type: "sunlit/evaluation-report-signature/v1", tender_id: TID, report_sha256: r.sha256, expert_id: me.expert_id, dissent };
      await api("POST", `/tenders/${TID}/evaluation/report/signatures`, { json: await signedBody(key, document) });
      await refresh(false);
    } catch (err) {
      status(form, problemText(err), "bad");
    } finally {
      button.disabled = false;
    }
  });
  parts.push(form);
  return el("div", {}, parts);
}

async function refresh(withBids = true) {
  try {
    [me, state] = await Promise.all([api("GET", "/me/expert"), api("GET", `/tenders/${TID}/evaluation`)]);
  } catch (err) { return failed(boxes.state, err); }
  showState();
  if (state.state === "evaluating") {
    if (withBids) {
      const bids = await showBids();
      if (bids) fill(boxes.sheet, sheetForm(bids));
    }
  } else {
    fill(boxes.bids, el("p", { class: "muted" }, t("bids_closed")));
    fill(boxes.sheet, el("p", { class: "muted" }, t("sheets_closed")));
  }
  fill(boxes.report, reportSection());
}

refresh();
