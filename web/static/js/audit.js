// The audit page: the latest entries, newest first, and the chain's verification.
import { api, el, localTime, showError, t } from "./api.js";

async function loadAudit() {
  const tbody = document.querySelector("#entries tbody");
  try {
    const page = await api("/api/v1/audit?order=desc&limit=50").catch(() => api("/api/v1/audit?limit=1000"));
    const entries = page.entries.slice().sort((a, b) => b.seq - a.seq).slice(0, 50);
    tbody.replaceChildren(...entries.map(e => el("tr", {},
      el("td", { class: "num" }, e.seq), el("td", {}, localTime(e.at, true)), el("td", {}, `${e.actor_name} (${e.actor_role})`),
      el("td", {}, e.action), el("td", {}, `${e.object_type}:${e.object_id}`), el("td", {}, e.outcome))));
  } catch (e) { showError(document.getElementById("verify-result"), e); }
}

document.getElementById("verify").addEventListener("click", async () => {
  const out = document.getElementById("verify-result");
  out.textContent = "…"; out.className = "";
  try {
    const r = await api("/api/v1/audit/verify");
    if (r.ok) { out.textContent = `✓ ${t("verified")}: ${r.entries} ${t("entries")}, ${r.checkpoints} ${t("checkpoints")}`; out.className = "ok"; }
    else { const f = r.findings[0]; out.textContent = `✗ ${t("broken")}: #${f.seq} ${f.problem} — ${f.detail}`; out.className = "bad"; }
  } catch (e) { showError(out, e); out.classList.add("bad"); }
});
loadAudit();
