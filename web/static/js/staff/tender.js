// The staff console for one tender: its terms, documents (upload with progress), publication,
// questions and clarifications, objections to the documents, the opening room, the panel
// draw, the evaluation and the award. Each section reads its state from the API and offers
// only the acts the API takes; a refusal is the API's problem+json, shown in place.
"use strict";

import {
  $, api, button, el, failed, field, fill, onSubmit, pageData, poll, problemText, section, t, table, when, yuan,
} from "./ui.js";

const TID = Number(pageData("tenderId"));
const root = $("#tender-sections");
let tender = null;

const sections = {
  summary: el("div", { id: "sec-summary" }),
  documents: el("div", { id: "sec-documents" }),
  questions: el("div", { id: "sec-questions" }),
  objections: el("div", { id: "sec-objections" }),
  opening: el("div", { id: "sec-opening" }),
  panel: el("div", { id: "sec-panel" }),
  evaluation: el("div", { id: "sec-evaluation" }),
  award: el("div", { id: "sec-award" }),
};

async function reloadTender() {
  tender = await api("GET", `/tenders/${TID}`);
  return tender;
}

// --- terms, publication, dates, cancellation --------------------------------------------------

async function showSummary() {
  const box = sections.summary;
  try { await reloadTender(); } catch (err) { return failed(box, err); }
  const rows = [
    [t("code"), tender.code], [t("project_name"), tender.project_name], [t("state"), t("state_" + tender.state)],
    [t("category"), t("category_" + tender.category)], [t("lots"), (tender.lots || []).join("；")],
    [t("estimated_price"), yuan(tender.estimated_price_fen)], [t("deposit"), yuan(tender.deposit_fen)],
    [t("bid_deadline"), when(tender.bid_deadline_at)], [t("opening_at"), when(tender.opening_at)],
    [t("place"), tender.place], [t("custodians_k_of_n"), `${tender.threshold_k} / ${tender.custodian_count ?? (tender.custodians || []).length}`],
    [t("evaluation_method"), t("method_" + tender.evaluation_method)],
  ];
  const dl = el("dl", { class: "facts" }, rows.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v ?? "")]));
  const acts = el("div", { class: "filters actions" });
  const out = el("p", { class: "form-status", role: "status", "aria-live": "polite" });
  if (tender.state === "draft") {
    acts.append(button(t("publish"), async () => {
      await api("POST", `/tenders/${TID}/publish`);
      await refreshAll();
    }, { out: acts, confirmText: t("confirm_publish"), cls: "primary" }));
  }
  const parts = [dl, acts, out];
  if (tender.state === "draft" || tender.state === "published") {
    const dates = el("form", { id: "dates-form", class: "filters" },
      el("h3", {}, t("change_dates")),
      field("bid_deadline_at", t("bid_deadline"), { type: "datetime-local", required: true, "data-type": "datetime" }),
      field("opening_at", t("opening_at"), { type: "datetime-local", required: true, "data-type": "datetime" }),
      field("reason", t("reason"), { required: true, maxlength: 500 }),
      el("button", { type: "submit" }, t("save")));
    onSubmit(dates, (v) => api("PATCH", `/tenders/${TID}/dates`, { json: v }), refreshAll);
    const cancel = el("form", { id: "cancel-form", class: "filters" },
      el("h3", {}, t("cancel_tender")),
      field("reason", t("reason"), { required: true, maxlength: 500 }),
      el("button", { type: "submit", class: "danger" }, t("cancel_tender")));
    onSubmit(cancel, (v) => api("POST", `/tenders/${TID}/cancel`, { json: v }), refreshAll);
    parts.push(dates, cancel);
  }
  if (tender.state === "draft") parts.push(methodForm());
  fill(box, section(t("tender_terms"), ...parts));
}

function methodForm() {
  // The evaluation method of a draft (T16: fixed at publication). Criteria: "code name max" per line.
  const form = el("form", { id: "method-form", class: "filters" },
    el("h3", {}, t("evaluation_method")),
    field("evaluation_method", t("evaluation_method"), {}, {
      kind: "select", options: [["lowest_price", t("method_lowest_price")], ["comprehensive", t("method_comprehensive")]],
    }),
    field("criteria", t("criteria"), { "data-skip": "", placeholder: "price 价格 40\ntechnical 技术 40\nbusiness 商务 20" },
      { kind: "textarea", hint: t("criteria_hint") }),
    field("control_price_fen", t("control_price"), { inputmode: "decimal", "data-type": "fen" }),
    field("budget_fen", t("budget"), { inputmode: "decimal", "data-type": "fen" }),
    el("button", { type: "submit" }, t("save")));
  form.elements.evaluation_method.value = tender.evaluation_method;
  form.elements.criteria.value = (tender.criteria || []).map((c) => `${c.code} ${c.name} ${c.max_points}`).join("\n");
  onSubmit(form, (v) => {
    const criteria = form.elements.criteria.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
      const parts = l.split(/\s+/);
      return { code: parts[0], name: parts.slice(1, -1).join(" ") || parts[0], max_points: Number(parts[parts.length - 1]) };
    });
    return api("PUT", `/tenders/${TID}/evaluation/method`, { json: { ...v, criteria } });
  }, showSummary);
  return form;
}

// --- documents -----------------------------------------------------------------------------

async function showDocuments() {
  const box = sections.documents;
  let docs = [];
  try { docs = await api("GET", `/tenders/${TID}/documents`); } catch (err) { return failed(box, err); }
  const list = table([
    { label: t("document"), value: (d) => el("a", { href: `/api/v1/tenders/${TID}/documents/${d.id}` }, d.name) },
    { label: t("size_bytes"), value: (d) => d.size_bytes ?? d.size ?? "", num: true },
    { label: "SHA-256", value: (d) => el("code", {}, String(d.sha256 || "").slice(0, 16)) },
  ], docs, { caption: t("documents") });
  const parts = [list];
  if (tender && (tender.state === "draft" || tender.state === "published")) {
    const progress = el("progress", { max: 100, value: 0, hidden: true, "aria-label": t("upload_progress") });
    const form = el("form", { id: "upload-form", class: "filters" },
      field("file", t("choose_file"), { type: "file", required: true, "data-skip": "" }),
      tender.state === "published"
        ? field("document_id", t("new_version_of"), { "data-skip": "" }, {
          kind: "select", options: docs.map((d) => [d.id, d.name]),
        }) : null,
      el("button", { type: "submit" }, t("upload")), progress);
    onSubmit(form, async () => {
      const file = form.elements.file.files[0];
      if (!file) throw new Error(t("choose_file"));
      progress.hidden = false;
      progress.value = 0;
      const onProgress = (sent, total) => { progress.value = total ? Math.round((100 * sent) / total) : 0; };
      const path = tender.state === "draft"
        ? `/tenders/${TID}/documents?name=${encodeURIComponent(file.name)}`
        : `/tenders/${TID}/documents/${form.elements.document_id.value}/versions?name=${encodeURIComponent(file.name)}`;
      const out = await api("POST", path, { body: file, type: file.type || "application/octet-stream", onProgress });
      progress.value = 100;
      return out;
    }, showDocuments);
    parts.push(form);
  }
  fill(box, section(t("documents"), ...parts));
}

// --- questions and clarifications ----------------------------------------------------------------

async function showQuestions() {
  const box = sections.questions;
  let questions = []; let clarifications = [];
  try {
    [questions, clarifications] = await Promise.all([
      api("GET", `/tenders/${TID}/questions`), api("GET", `/tenders/${TID}/clarifications`),
    ]);
  } catch (err) { return failed(box, err); }
  const qTable = table([
    { label: "#", value: (q) => q.id, num: true },
    { label: t("question"), value: (q) => q.text },
    { label: t("asked_by"), value: (q) => (q.asked_by ? `${q.asked_by.org_name || ""} (${q.asked_by.username || q.asked_by.user_id})` : "") },
    { label: t("asked_at"), value: (q) => when(q.asked_at) },
    { label: t("answered"), value: (q) => (q.answered ? t("yes") : t("no")) },
  ], questions, { caption: t("questions") });
  const cTable = table([
    { label: "#", value: (c) => c.id, num: true },
    { label: t("kind"), value: (c) => t("clar_" + c.kind) },
    { label: t("text"), value: (c) => c.text },
    { label: t("published_at"), value: (c) => when(c.published_at || c.created_at) },
  ], clarifications, { caption: t("clarifications") });
  const parts = [qTable, cTable];
  if (tender && tender.state === "published") {
    const open = questions.filter((q) => !q.answered);
    const form = el("form", { id: "clarify-form", class: "filters" },
      el("h3", {}, t("publish_clarification")),
      field("kind", t("kind"), {}, { kind: "select", options: [["clarification", t("clar_clarification")], ["amendment", t("clar_amendment")]] }),
      field("text", t("text"), { required: true, maxlength: 10000 }, { kind: "textarea" }),
      open.length ? el("fieldset", {}, el("legend", {}, t("answers_questions")),
        open.map((q) => el("label", { class: "check" },
          el("input", { type: "checkbox", value: q.id, "data-skip": "", class: "answer-box" }), `#${q.id} ${q.text}`))) : null,
      el("button", { type: "submit" }, t("publish")));
    onSubmit(form, (v) => {
      const answers = [...form.querySelectorAll(".answer-box:checked")].map((x) => Number(x.value));
      return api("POST", `/tenders/${TID}/clarifications`, { json: { ...v, answers } });
    }, showQuestions);
    parts.push(form);
  }
  fill(box, section(t("questions_and_clarifications"), ...parts));
}

async function showObjections() {
  const box = sections.objections;
  let rows = [];
  try { rows = await api("GET", `/tenders/${TID}/objections`); } catch (err) { return failed(box, err); }
  const answerCell = (o) => {
    if (o.answered_at) return o.answer || t("yes");
    const f = el("form", { class: "filters" },
      field("answer", t("answer"), { required: true, maxlength: 4000 }), el("button", { type: "submit" }, t("answer")));
    onSubmit(f, (v) => api("POST", `/tenders/${TID}/objections/${o.id}/answer`, { json: v }), showObjections);
    return f;
  };
  fill(box, section(t("objections_to_documents"), table([
    { label: "#", value: (o) => o.id, num: true },
    { label: t("text"), value: (o) => o.text },
    { label: t("raised_by"), value: (o) => (o.raised_by ? o.raised_by.org_id : "") },
    { label: t("answer_due"), value: (o) => when(o.answer_due_at) },
    { label: t("answer"), value: answerCell },
  ], rows, { caption: t("objections_to_documents") })));
}

// --- the opening room ---------------------------------------------------------------------------

let stopOpening = null;

async function showOpening() {
  const box = sections.opening;
  if (stopOpening) stopOpening();
  if (!tender || ["draft", "cancelled"].includes(tender.state)) {
    return fill(box, section(t("opening_room"), el("p", { class: "muted" }, t("opening_not_yet"))));
  }
  const head = el("div", { id: "opening-status" });
  const record = el("div", { id: "opening-record" });
  fill(box, section(t("opening_room"), head, record));
  let shown = false;
  // Opened while this page watched: the sections that follow the opening are out of date.
  // Opened before it loaded: refreshAll has just drawn them — do not draw them twice.
  const openedHere = ["closed", "opening"].includes(tender.state);
  stopOpening = poll(async () => {
    let s;
    try { s = await api("GET", `/tenders/${TID}/opening`); } catch (err) { return failed(head, err); }
    const need = s.threshold_k;
    const got = Math.min(s.shares_received, need);
    fill(head,
      el("p", {}, t("state"), ": ", el("strong", { id: "opening-state" }, t("state_" + s.state)),
        " · ", t("opening_at"), " ", when(s.opening_at)),
      el("label", { class: "wide" }, el("span", {}, t("quorum", { got: s.shares_received, k: need, n: s.custodian_count })),
        el("progress", { id: "quorum", max: need, value: got })),
      s.custodians ? table([
        { label: t("custodian"), value: (c) => c.username },
        { label: t("share"), value: (c) => el("span", { class: c.handed_in ? "ok share-in" : "muted share-out" }, c.handed_in ? t("share_in") : t("share_waiting")) },
        { label: t("handed_in_at"), value: (c) => when(c.handed_in_at) },
      ], s.custodians, { caption: t("custodians") }) : null);
    if (s.state === "opened" && !shown) {
      shown = true;
      await showRecord(record);
      if (stopOpening) stopOpening();
      if (openedHere) {
        await Promise.all([showSummary(), showPanel()]);
        await Promise.all([showEvaluation(), showAward()]);
      }
    }
  }, ["closed", "opening"].includes(tender.state) ? 2000 : 15000);
}

async function showRecord(box) {
  let full;
  try { full = await api("GET", `/tenders/${TID}/opening-record`); } catch (err) { return failed(box, err); }
  const doc = full.document || full;
  const entries = doc.entries || [];
  let publicNotice = null;
  try {
    const notices = await api("GET", `/public/notices?tender_id=${TID}&kind=opening_record`);
    publicNotice = (notices.items || [])[0] || null;
  } catch { publicNotice = null; }
  const publish = el("div", { class: "filters actions" });
  if (publicNotice) {
    publish.append(el("p", { class: "ok", id: "record-published" }, t("record_published"), " ",
      el("a", { href: `/notices/${publicNotice.id}` }, t("view_notice"))));
  } else {
    publish.append(el("a", { href: `/api/v1/tenders/${TID}/opening-record/public`, id: "record-public-link" }, t("public_view")));
  }
  fill(box, el("h3", {}, t("opened_table")), table([
    { label: "#", value: (e) => e.leaf_index, num: true },
    { label: t("bidder"), value: (e) => e.bidder_name || e.bidder_org_id },
    { label: t("outcome"), value: (e) => t("outcome_" + e.outcome) },
    { label: t("price_yuan"), value: (e) => (e.amount_fen !== undefined && e.amount_fen !== null ? yuan(e.amount_fen) : (e.failure ? e.failure.cause : "")), num: true },
    { label: t("duration_days"), value: (e) => e.duration_days ?? "", num: true },
  ], entries, { caption: t("opened_table") }), publish);
}

// --- the panel ----------------------------------------------------------------------------------

async function showPanel() {
  const box = sections.panel;
  if (!tender || tender.state === "draft") {
    return fill(box, section(t("panel"), el("p", { class: "muted" }, t("panel_after_publication"))));
  }
  let req = null; let panel = null; let reqErr = null; let panelErr = null;
  try { req = await api("GET", `/tenders/${TID}/panel-requirements`); } catch (err) { reqErr = err; }
  try { panel = await api("GET", `/tenders/${TID}/panel`); } catch (err) { panelErr = err; }
  const parts = [];
  // the requirements: set until a panel is requested
  if (!panel) {
    const form = el("form", { id: "requirements-form", class: "filters" },
      el("h3", {}, t("panel_requirements")),
      field("tenderee_org_id", t("tenderee_org"), { required: true, inputmode: "numeric", "data-type": "int" }),
      field("supervising_org_ids", t("supervising_orgs"), { "data-type": "ids" }),
      field("lines", t("specialty_lines"), { required: true, "data-skip": "", placeholder: "A03 4\nC04 1" }, { kind: "textarea", hint: t("lines_hint") }),
      field("tenderee_representatives", t("representatives"), { inputmode: "numeric", "data-type": "int", value: "0" }),
      el("button", { type: "submit" }, t("save")));
    if (req) {
      form.elements.tenderee_org_id.value = req.tenderee_org_id;
      form.elements.supervising_org_ids.value = (req.supervising_org_ids || []).join(", ");
      form.elements.lines.value = (req.lines || []).map((l) => `${l.code} ${l.count}${l.reserve ? " " + l.reserve : ""}`).join("\n");
      form.elements.tenderee_representatives.value = req.tenderee_representatives ?? 0;
    }
    onSubmit(form, (v) => {
      const lines = form.elements.lines.value.split("\n").map((l) => l.trim()).filter(Boolean).map((l) => {
        const [code, count, reserve] = l.split(/\s+/);
        const line = { code, count: Number(count) };
        if (reserve) line.reserve = Number(reserve);
        return line;
      });
      return api("PUT", `/tenders/${TID}/panel-requirements`, { json: { ...v, lines } });
    }, showPanel);
    parts.push(form);
    if (req) {
      const request = el("form", { id: "panel-request-form", class: "filters" },
        el("h3", {}, t("request_panel")),
        field("evaluation_date", t("evaluation_date"), { type: "date", required: true }),
        field("evaluation_time", t("evaluation_time"), { type: "time", required: true }),
        field("evaluation_place", t("evaluation_place"), { required: true, maxlength: 500 }),
        field("evaluation_days", t("evaluation_days"), { inputmode: "numeric", "data-type": "int", value: "1" }),
        el("button", { type: "submit", class: "primary" }, t("request_panel")));
      onSubmit(request, (v) => api("POST", `/tenders/${TID}/panel`, { json: v }), showPanel);
      parts.push(request);
    } else if (reqErr && reqErr.status !== 409) {
      parts.push(el("p", { class: "error" }, reqErr.message));
    }
  }
  if (panel) {
    const drawId = panel.draw_id;
    let draw = null;
    try { draw = await api("GET", `/draws/${drawId}`); } catch { draw = null; }
    const acts = el("div", { class: "filters actions" });
    const drawStatus = draw ? draw.status : panel.status;
    parts.push(el("p", {}, t("draw"), ` #${drawId} · `, t("state"), ": ", el("strong", { id: "draw-status" }, t("draw_" + drawStatus))));
    if (draw && draw.status === "committed") {
      acts.append(button(t("run_draw"), async () => {
        await api("POST", `/draws/${drawId}/run`, { json: {} });
        await showPanel();
      }, { out: acts, cls: "primary" }));
    }
    if (draw && ["drawn", "full", "short"].includes(draw.status)) {
      acts.append(button(t("fix_result"), async () => {
        await api("POST", `/tenders/${TID}/panel/fix`);
        await showPanel();
      }, { out: acts, confirmText: t("confirm_fix") }));
    }
    acts.append(button(t("refresh"), showPanel));
    parts.push(acts);
    const recuse = (m) => {
      if (!["summoned", "confirmed"].includes(m.status) || drawStatus === "fixed") return "";
      const f = el("form", { class: "filters" },
        field("reason", t("reason"), { required: true, maxlength: 500 }),
        el("button", { type: "submit" }, t("replace_member")));
      onSubmit(f, (v) => api("POST", `/draws/${drawId}/seats/${m.line}/${m.position}/recuse`, { json: v }), showPanel);
      return f;
    };
    parts.push(table([
      { label: t("line"), value: (m) => m.line, num: true },
      { label: t("position"), value: (m) => m.position, num: true },
      { label: t("expert"), value: (m) => `${m.name} (${m.expert_id})` },
      { label: t("summons_state"), value: (m) => el("span", { class: "summons-" + m.status }, t("summons_" + m.status)) },
      { label: t("answered_at"), value: (m) => when(m.answered_at) },
      { label: t("replacement"), value: recuse },
    ], panel.members, { caption: t("panel_members") }));
  } else if (panelErr && panelErr.status !== 409 && panelErr.status !== 404) {
    parts.push(el("p", { class: "error" }, panelErr.message));
  }
  fill(box, section(t("panel"), ...parts));
}

// --- the evaluation -------------------------------------------------------------------------------

async function showEvaluation() {
  const box = sections.evaluation;
  if (!tender || tender.state !== "opened") {
    return fill(box, section(t("evaluation"), el("p", { class: "muted" }, t("evaluation_after_opening"))));
  }
  let s = null;
  try { s = await api("GET", `/tenders/${TID}/evaluation`); } catch (err) {
    if (err.status !== 409) return failed(box, err);
  }
  const acts = el("div", { class: "filters actions" });
  if (!s) {
    acts.append(button(t("start_evaluation"), async () => {
      await api("POST", `/tenders/${TID}/evaluation`);
      await showEvaluation();
    }, { out: acts, cls: "primary" }));
    return fill(box, section(t("evaluation"), el("p", { class: "muted" }, t("evaluation_not_started")), acts));
  }
  if (s.state === "evaluating") {
    acts.append(button(t("generate_report"), async () => {
      await api("POST", `/tenders/${TID}/evaluation/report`);
      await showEvaluation();
    }, { out: acts }));
  }
  acts.append(button(t("refresh"), showEvaluation));
  const members = table([
    { label: t("seat"), value: (m) => m.seat, num: true },
    { label: t("expert"), value: (m) => `${m.name} (${m.expert_id})` },
    { label: t("sheet"), value: (m) => (m.replaced ? t("replaced") : s.missing_sheets.includes(m.expert_id) ? t("sheet_missing") : t("sheet_in")) },
    { label: t("report_signature"), value: (m) => {
      const sig = s.report && s.report.signatures.find((x) => x.expert_id === m.expert_id);
      return sig ? (sig.dissent ? t("signed_with_dissent", { dissent: sig.dissent }) : t("signed")) : "";
    } },
  ], s.members, { caption: t("members") });
  const bids = table([
    { label: t("bid"), value: (b) => b.bid_id, num: true },
    { label: t("bidder"), value: (b) => b.org_id, num: true },
    { label: t("price_yuan"), value: (b) => yuan(b.price_fen), num: true },
    { label: t("below_cost"), value: (b) => (s.flagged_below_cost.includes(b.bid_id) ? t("flagged") : "") },
  ], s.bids, { caption: t("bids") });
  fill(box, section(t("evaluation"),
    el("p", {}, t("state"), ": ", el("strong", { id: "evaluation-state" }, t("eval_" + s.state)),
      " · ", t("sheets_in", { n: s.sheets.length, m: s.members.filter((m) => !m.replaced).length })),
    members, bids, acts));
}

// --- the award ------------------------------------------------------------------------------------

async function showAward() {
  const box = sections.award;
  if (!tender || !["opened", "failed"].includes(tender.state)) {
    return fill(box, section(t("award"), el("p", { class: "muted" }, t("award_after_report"))));
  }
  let a;
  try { a = await api("GET", `/tenders/${TID}/award`); } catch (err) {
    // no procedure yet: it starts with the award watch or with the first act — offer the
    // publication; the API decides whether the report has concluded
    const acts = el("div", { class: "filters actions" });
    acts.append(button(t("publish_candidates"), async () => {
      await api("POST", `/tenders/${TID}/award/publicity`);
      await showAward();
    }, { out: acts, cls: "primary" }));
    return fill(box, section(t("award"), el("p", { class: "muted", id: "award-state" }, problemText(err)), acts));
  }
  const acts = el("div", { class: "filters actions" });
  const parts = [
    el("p", {}, t("state"), ": ", el("strong", { id: "award-state" }, t("award_" + a.state))),
    table([
      { label: t("rank"), value: (c) => c.rank, num: true },
      { label: t("bidder"), value: (c) => c.org_id, num: true },
      { label: t("price_yuan"), value: (c) => yuan(c.price_fen), num: true },
      { label: t("score"), value: (c) => c.score ?? "", num: true },
    ], a.candidates, { caption: t("candidates") }),
  ];
  if (a.publicity && a.publicity.published_at) {
    parts.push(el("p", {}, t("publicity_until", { at: when(a.publicity.ends_at) })));
  }
  if (a.state === "concluded") {
    acts.append(button(t("publish_candidates"), async () => {
      await api("POST", `/tenders/${TID}/award/publicity`);
      await showAward();
    }, { out: acts, cls: "primary" }));
  }
  const answerCell = (o) => {
    if (o.answer) return o.answer;
    const f = el("form", { class: "filters" },
      field("answer", t("answer"), { required: true, maxlength: 4000 }), el("button", { type: "submit" }, t("answer")));
    onSubmit(f, (v) => api("POST", `/tenders/${TID}/award/objections/${o.id}/answer`, { json: v }), showAward);
    return f;
  };
  parts.push(table([
    { label: "#", value: (o) => o.id, num: true },
    { label: t("raised_by"), value: (o) => o.org_id ?? "" },
    { label: t("text"), value: (o) => o.text },
    { label: t("answer"), value: answerCell },
  ], a.objections, { caption: t("objections_to_candidates") }));
  parts.push(table([
    { label: "#", value: (c) => c.id, num: true },
    { label: t("raised_by"), value: (c) => c.org_id ?? "" },
    { label: t("text"), value: (c) => c.text },
    { label: t("state"), value: (c) => c.state ?? "" },
  ], a.complaints, { caption: t("complaints") }));
  if (a.state === "publicity") {
    const award = el("form", { id: "award-form", class: "filters" },
      el("h3", {}, t("award_to")),
      field("rank", t("rank"), { inputmode: "numeric", "data-type": "int", value: "1", required: true }),
      field("reason", t("pass_over_reason"), {}, { kind: "select", options: [["", "—"], ["gave_up", t("pass_gave_up")], ["cannot_perform", t("pass_cannot_perform")], ["ineligible", t("pass_ineligible")]] }),
      field("note", t("note"), { maxlength: 500 }),
      el("button", { type: "submit", class: "primary" }, t("award")));
    onSubmit(award, (v) => api("POST", `/tenders/${TID}/award`, { json: v }), showAward);
    parts.push(award);
  }
  if (a.state === "awarded") {
    const contract = el("form", { id: "contract-form", class: "filters" },
      el("h3", {}, t("record_contract")),
      field("amount_fen", t("contract_amount"), { required: true, inputmode: "decimal", "data-type": "fen" }),
      field("performance_bond_fen", t("performance_bond"), { inputmode: "decimal", "data-type": "fen" }),
      el("button", { type: "submit", class: "primary" }, t("record_contract")));
    onSubmit(contract, (v) => api("POST", `/tenders/${TID}/contract`, { json: v }), showAward);
    const decline = el("form", { id: "decline-form", class: "filters" },
      el("h3", {}, t("winner_declines")),
      field("reason", t("reason"), {}, { kind: "select", options: [["gave_up", t("pass_gave_up")], ["cannot_perform", t("pass_cannot_perform")], ["ineligible", t("pass_ineligible")]] }),
      field("note", t("note"), { required: true, maxlength: 500 }),
      field("forfeit_deposit", t("forfeit_deposit"), { type: "checkbox", "data-type": "bool" }),
      el("button", { type: "submit", class: "danger" }, t("record_decline")));
    onSubmit(decline, (v) => api("POST", `/tenders/${TID}/award/decline`, { json: v }), showAward);
    parts.push(contract, decline);
  }
  if (a.contract) parts.push(el("p", { class: "ok" }, t("contract_signed", { amount: yuan(a.contract.amount_fen) })));
  if (a.savings && a.savings.rate_percent) parts.push(el("p", {}, t("savings_rate", { rate: a.savings.rate_percent })));
  parts.push(acts);
  if (!["contracted", "failed"].includes(a.state)) {
    const fail = el("form", { id: "failure-form", class: "filters" },
      el("h3", {}, t("declare_failure")),
      field("retender_code", t("retender_code"), { maxlength: 60 }),
      el("button", { type: "submit", class: "danger" }, t("declare_failure")));
    onSubmit(fail, (v) => api("POST", `/tenders/${TID}/award/failure`, { json: v }), refreshAll);
    parts.push(fail);
  }
  fill(box, section(t("award"), ...parts));
}

async function refreshAll() {
  await showSummary();
  await Promise.all([showDocuments(), showQuestions(), showObjections(), showPanel(), showEvaluation(), showAward()]);
  await showOpening();
}

fill(root, Object.values(sections));
refreshAll();
