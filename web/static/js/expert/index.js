// The expert's workspace: my summons (time and place only, E6) to confirm or decline, and
// the evaluations I have been called to (from my notices: the evaluation opened, the report
// to sign), each a link to its workspace.
import { $, api, button, el, failed, field, fill, href, onSubmit, t, table, when } from "../staff/ui.js";

const summonsBox = $("#summons");
const evalBox = $("#evaluations");

function answer(s) {
  if (s.status !== "summoned") return "";
  const out = el("div", { class: "filters actions" });
  out.append(button(t("confirm_attendance"), async () => {
    await api("POST", `/me/summons/${s.summons_id}/confirm`);
    await showSummons();
  }, { out, cls: "primary" }));
  const decline = el("form", { class: "filters" },
    field("reason", t("decline_reason"), { required: true, maxlength: 500 }),
    el("button", { type: "submit" }, t("decline")));
  onSubmit(decline, (v) => api("POST", `/me/summons/${s.summons_id}/decline`, { json: v }), showSummons);
  out.append(decline);
  return out;
}

async function showSummons() {
  try {
    const rows = await api("GET", "/me/summons");
    fill(summonsBox, table([
      { label: "#", value: (s) => s.summons_id, num: true },
      { label: t("evaluation_date"), value: (s) => `${s.evaluation_date} ${s.evaluation_time}` },
      { label: t("evaluation_days"), value: (s) => s.evaluation_days, num: true },
      { label: t("evaluation_place"), value: (s) => s.place },
      { label: t("answer_by"), value: (s) => when(s.answer_due_at) },
      { label: t("state"), value: (s) => el("span", { class: "summons-" + s.status }, t("summons_" + s.status)) },
      { label: t("actions"), value: answer },
    ], rows, { caption: t("my_summons"), empty: t("no_summons") }));
  } catch (err) { failed(summonsBox, err); }
}

async function showEvaluations() {
  try {
    const notices = await api("GET", "/me/notices");
    const seen = new Map();
    for (const n of notices) {
      if (n.object_type === "tender" && /^\d+$/.test(n.object_id) && !seen.has(n.object_id)) seen.set(n.object_id, n);
    }
    fill(evalBox, table([
      { label: t("tender"), value: ([id]) => el("a", { href: href(`/expert/tenders/${id}`), class: "evaluation-link" }, `#${id}`) },
      { label: t("notice"), value: ([, n]) => n.subject },
      { label: t("received_at"), value: ([, n]) => when(n.created_at) },
    ], [...seen.entries()], { caption: t("my_evaluations"), empty: t("no_evaluations") }));
  } catch (err) { failed(evalBox, err); }
}

const go = $("#open-tender");
if (go) {
  go.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const id = go.elements.tender_id.value.trim();
    if (/^\d+$/.test(id)) window.location.assign(href(`/expert/tenders/${id}`));
  });
}
showSummons();
showEvaluations();
