// The staff console's home: the tenders (drafts too), filtered by state, and the form that
// creates a draft tender with inline validation (the API's problem+json errors by field).
import { $, allPages, api, el, failed, fill, href, onSubmit, table, t, when, yuan } from "./ui.js";

const list = $("#tender-list");
const filter = $("#state-filter");

async function showTenders() {
  const state = filter.value;
  try {
    const rows = await allPages("/tenders" + (state ? `?state=${encodeURIComponent(state)}` : ""));
    rows.sort((a, b) => b.id - a.id);
    fill(list, table([
      { label: "#", value: (r) => r.id, num: true },
      { label: t("code"), value: (r) => el("a", { href: href(`/staff/tenders/${r.id}`) }, r.code) },
      { label: t("project_name"), value: (r) => r.project_name },
      { label: t("state"), value: (r) => t("state_" + r.state) },
      { label: t("bid_deadline"), value: (r) => when(r.bid_deadline_at) },
      { label: t("estimated_price"), value: (r) => yuan(r.estimated_price_fen), num: true },
    ], rows, { caption: t("tenders") }));
  } catch (err) { failed(list, err); }
}

function createForm() {
  const form = $("#new-tender");
  if (!form) return;
  const options = (name, values) => {
    const s = form.elements[name];
    s.replaceChildren(...values.map((v) => el("option", { value: v }, t(`${name}_${v}`))));
  };
  options("category", ["works", "goods", "services"]);
  options("procedure", ["open", "invited"]);
  options("evaluation_method", ["lowest_price", "comprehensive"]);
  // custodians: the users with the custodian role, chosen by checkbox (ids are the API's)
  api("GET", "/users?role=custodian").then((users) => {
    fill($("#custodian-choices"), users.map((u) => el("label", { class: "check" },
      el("input", { type: "checkbox", class: "custodian-box", value: u.id }), `${u.full_name} (${u.username})`)));
  }).catch((err) => failed($("#custodian-choices"), err));
  onSubmit(form, (v) => {
    const custodians = [...form.querySelectorAll(".custodian-box:checked")].map((x) => Number(x.value));
    return api("POST", "/tenders", { json: { ...v, custodians } });
  }, (created) => { window.location.assign(href(`/staff/tenders/${created.id}`)); });
}

filter.addEventListener("change", showTenders);
createForm();
showTenders();
