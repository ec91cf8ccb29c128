// Deposits (保证金): a project's deposits and the money in; the money that matched nothing
// (挂账) and the bank statement lines the reconciliation could not match; refunds due; and
// forfeitures waiting for a second staff member (D6: the one who asked cannot approve).
import { $, api, button, el, failed, field, fill, onSubmit, t, table, uuid, when, yuan } from "./ui.js";

const projectSelect = $("#project");
const boxes = {
  forfeits: $("#forfeits"), deposits: $("#deposits"), suspense: $("#suspense"),
  refunds: $("#refunds"), statements: $("#statements"),
};

function generic(rows, caption) {
  // A list of objects whose fields the API names (statement lines): one column per field.
  if (!Array.isArray(rows) || rows.length === 0) return el("p", { class: "muted" }, t("none"));
  const keys = [...new Set(rows.flatMap((r) => (r && typeof r === "object" ? Object.keys(r) : ["value"])))];
  return table(keys.map((k) => ({
    label: k, num: k.endsWith("_fen"),
    value: (r) => {
      const v = r && typeof r === "object" ? r[k] : r;
      if (k.endsWith("_fen") && v !== null && v !== undefined) return yuan(v);
      return v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    },
  })), rows, { caption });
}

function forfeitActions(d, after) {
  const ref = encodeURIComponent(d.project_ref);
  const out = el("div", { class: "filters actions" });
  out.append(
    button(t("approve_forfeit"), async () => {
      await api("POST", `/ledger/projects/${ref}/deposits/${d.org_id}/forfeit/approve`, { json: { command_id: uuid() } });
      await after();
    }, { out, confirmText: t("confirm_forfeit"), cls: "danger" }),
    button(t("reject_forfeit"), async () => {
      await api("POST", `/ledger/projects/${ref}/deposits/${d.org_id}/forfeit/reject`, { json: { command_id: uuid() } });
      await after();
    }, { out }));
  return out;
}

function rowActions(d) {
  if (d.state === "forfeit_pending") return forfeitActions(d, refresh);
  if (d.state !== "confirmed") return "";
  const form = el("form", { class: "filters" },
    field("cause", t("forfeit_cause"), {}, { kind: "select", options: [
      ["withdrawn_after_deadline", t("forfeit_withdrawn_after_deadline")],
      ["refused_to_sign", t("forfeit_refused_to_sign")],
      ["no_performance_bond", t("forfeit_no_performance_bond")]] }),
    field("note", t("note"), { required: true, maxlength: 2000 }),
    el("button", { type: "submit" }, t("ask_forfeit")));
  onSubmit(form, (v) => api("POST", `/ledger/projects/${encodeURIComponent(d.project_ref)}/deposits/${d.org_id}/forfeit`,
    { json: { ...v, command_id: uuid() } }), refresh);
  return form;
}

const depositCols = (actions) => [
  { label: t("bidder"), value: (d) => d.org_id, num: true },
  { label: t("sub_account"), value: (d) => d.sub_account },
  { label: t("state"), value: (d) => t("deposit_" + d.state) },
  { label: t("amount_yuan"), value: (d) => yuan(d.amount_fen ?? d.required_fen), num: true },
  { label: t("received_at"), value: (d) => when(d.received_at) },
  { label: t("payer"), value: (d) => d.payer_name || "" },
  { label: t("refund_due_on"), value: (d) => d.refund_due_on || "" },
  { label: t("forfeit"), value: (d) => (d.forfeit ? `${t("forfeit_" + d.forfeit.cause)} — ${d.forfeit.note}` : "") },
  ...(actions ? [{ label: t("actions"), value: actions }] : []),
];

async function showProjects() {
  const projects = await api("GET", "/ledger/projects");
  const keep = projectSelect.value;
  projectSelect.replaceChildren(el("option", { value: "" }, "—"),
    ...projects.map((p) => el("option", { value: p.project_ref }, `${p.project_ref} · ${p.project_no || ""} · ${yuan(p.required_fen)}`)));
  projectSelect.value = keep;
  return projects;
}

async function showForfeits(projects) {
  // Every deposit waiting for a second staff member, across the projects.
  const waiting = [];
  for (const p of projects) {
    try {
      const rows = await api("GET", `/ledger/projects/${encodeURIComponent(p.project_ref)}/deposits`);
      waiting.push(...rows.filter((d) => d.state === "forfeit_pending"));
    } catch { /* a project whose deposits this user may not read: left out */ }
  }
  fill(boxes.forfeits, table([
    { label: t("project"), value: (d) => d.project_ref },
    ...depositCols(null).slice(0, 3),
    { label: t("forfeit"), value: (d) => `${t("forfeit_" + d.forfeit.cause)} — ${d.forfeit.note}` },
    { label: t("requested_by"), value: (d) => d.forfeit.requested_by },
    { label: t("actions"), value: (d) => forfeitActions(d, refresh) },
  ], waiting, { caption: t("forfeits_waiting"), empty: t("no_forfeits_waiting") }));
}

async function showDeposits() {
  const ref = projectSelect.value;
  if (!ref) return fill(boxes.deposits, el("p", { class: "muted" }, t("choose_project")));
  try {
    const rows = await api("GET", `/ledger/projects/${encodeURIComponent(ref)}/deposits`);
    fill(boxes.deposits, table(depositCols(rowActions), rows, { caption: t("deposits_of", { project: ref }) }));
  } catch (err) { failed(boxes.deposits, err); }
}

async function showSuspense() {
  try {
    const rows = await api("GET", "/ledger/suspense?state=open");
    fill(boxes.suspense, table([
      { label: t("bank_ref"), value: (s) => s.bank_ref },
      { label: t("reason"), value: (s) => s.reason },
      { label: t("amount_yuan"), value: (s) => yuan(s.amount_fen), num: true },
      { label: t("sub_account"), value: (s) => s.sub_account || "" },
      { label: t("payer"), value: (s) => `${s.payer_name || ""} ${s.payer_account || ""}` },
      { label: t("value_at"), value: (s) => when(s.value_at) },
      { label: t("actions"), value: (s) => {
        const out = el("div", { class: "filters actions" });
        out.append(button(t("return_to_payer"), async () => {
          await api("POST", `/ledger/suspense/${encodeURIComponent(s.bank_ref)}/return`, { json: { command_id: uuid() } });
          await showSuspense();
        }, { out, confirmText: t("confirm_return") }));
        return out;
      } },
    ], rows, { caption: t("suspense"), empty: t("no_suspense") }));
  } catch (err) { failed(boxes.suspense, err); }
}

async function showRefunds() {
  try {
    const rows = await api("GET", "/ledger/payouts?state=pending");
    const out = el("div", { class: "filters actions" });
    out.append(button(t("make_batch"), async () => { await api("POST", "/ledger/refund-batches"); await showRefunds(); }, { out }));
    fill(boxes.refunds, table([
      { label: "#", value: (p) => p.id, num: true },
      { label: t("purpose"), value: (p) => p.purpose },
      { label: t("project"), value: (p) => p.project_id || "" },
      { label: t("bidder"), value: (p) => p.bidder_id || "" },
      { label: t("amount_yuan"), value: (p) => yuan(p.amount_fen), num: true },
      { label: t("due_on"), value: (p) => p.due_on },
      { label: t("state"), value: (p) => p.state },
    ], rows, { caption: t("refunds_due"), empty: t("no_refunds_due") }), out);
  } catch (err) { failed(boxes.refunds, err); }
}

async function showStatements() {
  try {
    const recs = await api("GET", "/ledger/reconciliations");
    if (!recs.length) return fill(boxes.statements, el("p", { class: "muted" }, t("no_statements")));
    const latest = await api("GET", `/ledger/reconciliations/${recs[0].id}`);
    fill(boxes.statements,
      el("p", {}, t("statement_summary", { from: latest.from_on, to: latest.to_on, lines: latest.lines, matched: latest.matched })),
      el("h3", {}, t("missing_in_ledger")), generic(latest.missing_in_ledger, t("missing_in_ledger")),
      el("h3", {}, t("missing_in_bank")), generic(latest.missing_in_bank, t("missing_in_bank")),
      el("h3", {}, t("differences")), generic(latest.differences, t("differences")));
  } catch (err) { failed(boxes.statements, err); }
}

async function refresh() {
  let projects = [];
  try { projects = await showProjects(); } catch (err) { failed(boxes.deposits, err); }
  await Promise.all([showForfeits(projects), showDeposits(), showSuspense(), showRefunds(), showStatements()]);
}

projectSelect.addEventListener("change", showDeposits);
refresh();
