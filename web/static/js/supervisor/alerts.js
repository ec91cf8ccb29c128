// Supervision alerts (电子监察), newest first. Where the supervision API is installed
// (/supervision/alerts) each open alert can be acknowledged with a note; otherwise the plain
// list (/alerts) is shown, read-only.
import { $, api, el, failed, field, fill, onSubmit, t, table, when } from "../staff/ui.js";

const box = $("#alerts");
const stateFilter = $("#alert-state");
const more = $("#alerts-older");
let rows = [];
let next = null;
let acting = true;

function ack(a) {
  if (!acting || a.state !== "open") return a.acknowledged_at ? t("acknowledged_at", { at: when(a.acknowledged_at) }) : "";
  const f = el("form", { class: "filters" },
    field("note", t("note"), { required: true, maxlength: 4000 }),
    el("button", { type: "submit" }, t("acknowledge")));
  onSubmit(f, (v) => api("POST", `/supervision/alerts/${a.id}/acknowledge`, { json: { ...v, version: a.version } }), () => load());
  return f;
}

function render() {
  const lang = document.body.dataset.lang;
  fill(box, table([
    { label: "#", value: (a) => a.id, num: true },
    { label: t("raised_at"), value: (a) => when(a.raised_at || a.created_at) },
    { label: t("severity"), value: (a) => el("span", { class: "severity-" + a.severity }, t("severity_" + a.severity)) },
    { label: t("kind"), value: (a) => a.kind },
    { label: t("object"), value: (a) => `${a.object_type || ""}:${a.object_id || ""}` },
    { label: t("message"), value: (a) => (lang === "en" ? a.message_en : a.message_zh) || a.message || "" },
    { label: t("state"), value: (a) => (a.state ? t("alert_" + a.state) : "") },
    { label: t("actions"), value: ack },
  ], rows, { caption: t("alerts"), empty: t("no_alerts") }));
  more.hidden = !next;
}

async function load(before = null) {
  const q = new URLSearchParams({ limit: "50" });
  if (stateFilter.value) q.set("state", stateFilter.value);
  if (before) q.set("before_id", String(before));
  try {
    const page = await api("GET", "/supervision/alerts?" + q);
    rows = before ? rows.concat(page.alerts) : page.alerts;
    next = page.next_before_id;
  } catch (err) {
    if (err.status !== 404) return failed(box, err);
    acting = false; // no supervision API here: the plain list, read-only
    stateFilter.disabled = true;
    rows = (await api("GET", "/alerts?limit=200")).slice().sort((a, b) => b.id - a.id);
    next = null;
  }
  render();
}

stateFilter.addEventListener("change", () => load());
more.addEventListener("click", () => load(next));
load();
