// The supervisor's audit log: the newest entries first, a page at a time (``order=desc`` and
// ``before_seq``), filtered by actor, object and action; and the button that verifies the
// whole hash chain and every signed checkpoint (GET /audit/verify).
import { $, api, el, failed, fill, problemText, showErrors, status, t, table, when } from "../staff/ui.js";

const form = $("#audit-filter");
const box = $("#audit-entries");
const more = $("#audit-older");
let nextBefore = null;
let shown = [];

function query(before) {
  const q = new URLSearchParams({ order: "desc", limit: "50" });
  for (const name of ["actor_user_id", "object_type", "object_id", "action"]) {
    const v = form.elements[name].value.trim();
    if (v) q.set(name, v);
  }
  if (before) q.set("before_seq", String(before));
  return q.toString();
}

function render() {
  fill(box, table([
    { label: "#", value: (e) => e.seq, num: true },
    { label: t("time"), value: (e) => when(e.at) },
    { label: t("actor"), value: (e) => `${e.actor_name || ""} (${e.actor_role || ""}${e.actor_user_id ? " #" + e.actor_user_id : ""})` },
    { label: t("action"), value: (e) => e.action },
    { label: t("object"), value: (e) => `${e.object_type}:${e.object_id}` },
    { label: t("outcome"), value: (e) => el("span", { class: e.outcome === "denied" ? "bad" : undefined }, e.outcome) },
  ], shown, { caption: t("audit_newest_first") }));
  more.hidden = !nextBefore;
}

async function load(before = null) {
  try {
    const page = await api("GET", "/audit?" + query(before));
    shown = before ? shown.concat(page.entries) : page.entries;
    nextBefore = page.next_before_seq;
    render();
    status(form, "");
  } catch (err) {
    if (err.problem && err.problem.errors) showErrors(form, err);
    else failed(box, err);
  }
}

form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
more.addEventListener("click", () => load(nextBefore));

$("#verify").addEventListener("click", async () => {
  const out = $("#verify-result");
  const b = $("#verify");
  b.disabled = true;
  out.textContent = t("verifying");
  out.className = "";
  try {
    const r = await api("GET", "/audit/verify");
    if (r.ok) {
      out.textContent = t("chain_intact", { entries: r.entries, checkpoints: r.checkpoints });
      out.className = "ok";
    } else {
      const f = r.findings[0] || {};
      out.textContent = t("chain_broken", { seq: f.seq ?? "?", problem: f.problem || "", detail: f.detail || "" });
      out.className = "bad";
    }
  } catch (err) {
    out.textContent = problemText(err);
    out.className = "bad";
  } finally {
    b.disabled = false;
  }
});

load();
