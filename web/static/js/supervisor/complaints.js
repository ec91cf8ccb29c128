// Complaints (投诉) about a tender's result, as the award procedure holds them: the
// supervisor accepts (optionally suspending the award), refuses with a reason, or decides
// an accepted one in writing — the acts the API gives a supervisor (web/award.py).
import { $, allPages, api, el, failed, field, fill, onSubmit, t, table, when } from "../staff/ui.js";

const picker = $("#complaint-tender");
const box = $("#complaints");

function acts(tid, c) {
  const base = `/tenders/${tid}/award/complaints/${c.id}`;
  const out = el("div", { class: "filters actions" });
  if (c.state === "received") {
    const accept = el("form", { class: "filters" },
      el("label", { class: "check" }, el("input", { type: "checkbox", name: "suspend_award", "data-type": "bool" }), t("suspend_award")),
      field("note", t("note"), { maxlength: 2000 }),
      el("button", { type: "submit" }, t("accept")));
    onSubmit(accept, (v) => api("POST", `${base}/accept`, { json: v }), show);
    const refuse = el("form", { class: "filters" },
      field("reason", t("reason"), { required: true, maxlength: 4000 }),
      el("button", { type: "submit", class: "danger" }, t("refuse")));
    onSubmit(refuse, (v) => api("POST", `${base}/refuse`, { json: v }), show);
    out.append(accept, refuse);
  } else if (c.state === "accepted") {
    const decide = el("form", { class: "filters" },
      field("outcome", t("outcome"), {}, { kind: "select", options: [["upheld", t("complaint_upheld")], ["dismissed", t("complaint_dismissed")]] }),
      field("decision", t("decision"), { required: true, maxlength: 4000 }),
      el("button", { type: "submit" }, t("decide")));
    onSubmit(decide, (v) => api("POST", `${base}/decide`, { json: v }), show);
    out.append(decide);
  }
  return out;
}

async function show() {
  const tid = picker.value;
  if (!tid) return fill(box, el("p", { class: "muted" }, t("choose_tender")));
  try {
    const a = await api("GET", `/tenders/${tid}/award`);
    fill(box, table([
      { label: "#", value: (c) => c.id, num: true },
      { label: t("bidder"), value: (c) => c.org_id, num: true },
      { label: t("text"), value: (c) => c.text },
      { label: t("received_at"), value: (c) => when(c.received_at) },
      { label: t("state"), value: (c) => t("complaint_" + c.state) },
      { label: t("due"), value: (c) => when(c.decide_due_at || c.accept_due_at) },
      { label: t("note"), value: (c) => c.note || "" },
      { label: t("actions"), value: (c) => acts(tid, c) },
    ], a.complaints, { caption: t("complaints"), empty: t("no_complaints") }));
  } catch (err) { failed(box, err); }
}

async function tenders() {
  try {
    const rows = await allPages("/tenders?state=opened");
    picker.replaceChildren(el("option", { value: "" }, "—"),
      ...rows.sort((a, b) => b.id - a.id).map((r) => el("option", { value: r.id }, `#${r.id} ${r.code} ${r.project_name}`)));
  } catch (err) { failed(box, err); }
}

picker.addEventListener("change", show);
tenders().then(show);
