// Auctions for staff: the lots with their live state, and the acts the API takes on them —
// publish (schedule), start, pause with a reason, resume, terminate (终止) with a reason —
// plus the form that creates a land lot. The state shown is the API's, refreshed every 3 s.
import { $, allPages, api, button, el, failed, field, fill, onSubmit, poll, t, table, when, yuan } from "./ui.js";

const box = $("#lots");

function reasonForm(lot, act, label) {
  const f = el("form", { class: "filters" },
    field("reason", t("reason"), { required: true, maxlength: 500 }),
    el("button", { type: "submit", class: act === "close" ? "danger" : undefined }, label));
  onSubmit(f, (v) => api("POST", `/auctions/lots/${lot.id}/${act}`, { json: v }), show);
  return f;
}

function actions(lot) {
  const out = el("div", { class: "filters actions" });
  const phase = lot.live ? lot.live.phase : null;
  const act = (label, path) => button(label, async () => { await api("POST", `/auctions/lots/${lot.id}/${path}`); await show(); }, { out });
  if (lot.status === "draft") out.append(act(t("schedule"), "schedule"));
  if (lot.status === "scheduled" && !phase) out.append(act(t("start_now"), "start"));
  if (phase === "paused") out.append(act(t("resume"), "resume"));
  if (phase === "listing" || phase === "countdown") out.append(reasonForm(lot, "pause", t("pause")));
  if (lot.status !== "closed" && (phase === "paused" || phase === null || phase === "scheduled")) out.append(reasonForm(lot, "close", t("terminate")));
  return out;
}

async function show() {
  try {
    const lots = await allPages("/auctions/lots", { maxRows: 2000 });
    lots.sort((a, b) => b.id - a.id);
    fill(box, table([
      { label: "#", value: (l) => l.id, num: true },
      { label: t("lot"), value: (l) => (l.result ? el("a", { href: `/auctions/results/${l.id}` }, l.title) : l.title) },
      { label: t("kind"), value: (l) => t("lot_" + l.kind) },
      { label: t("state"), value: (l) => el("span", { class: "lot-state" }, t("phase_" + (l.live ? l.live.phase : l.status))) },
      { label: t("price_yuan"), value: (l) => yuan(l.live && l.live.price_fen != null ? l.live.price_fen : l.starting_price_fen), num: true },
      { label: t("opens_at"), value: (l) => when(l.opens_at) },
      { label: t("result"), value: (l) => (l.result ? (l.result.outcome === "sold" ? yuan(l.result.price_fen) : t("outcome_" + l.result.outcome)) : "") },
      { label: t("actions"), value: actions },
    ], lots, { caption: t("lots") }));
  } catch (err) { failed(box, err); }
}

const form = $("#new-lot");
if (form) onSubmit(form, (v) => api("POST", "/auctions/lots", { json: v }), show);
let running = false;
poll(async () => {
  // not while a form in the table is being typed in
  if (running || box.contains(document.activeElement) && document.activeElement.tagName === "INPUT") return;
  running = true;
  try { await show(); } finally { running = false; }
}, 3000);
