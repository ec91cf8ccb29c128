"use strict";
async function loadAudit() {
  if (!Sunlit.token()) return;
  const tbody = document.querySelector("#entries tbody");
  try {
    const page = await Sunlit.api("/api/v1/audit?limit=1000");
    tbody.innerHTML = "";
    for (const e of page.entries.slice(-50).reverse()) {
      const tr = document.createElement("tr");
      for (const v of [e.seq, e.at, `${e.actor_name} (${e.actor_role})`, e.action, `${e.object_type}:${e.object_id}`, e.outcome]) {
        const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
  } catch (e) { document.getElementById("verify-result").textContent = e.message; }
}
document.getElementById("verify").addEventListener("click", async () => {
  const out = document.getElementById("verify-result");
  out.textContent = "…"; out.className = "";
  try {
    const r = await Sunlit.api("/api/v1/audit/verify");
    if (r.ok) { out.textContent = `✓ ${T.verified}: ${r.entries} ${T.entries}, ${r.checkpoints} ${T.checkpoints}`; out.className = "ok"; }
    else { const f = r.findings[0]; out.textContent = `✗ ${T.broken}: #${f.seq} ${f.problem} — ${f.detail}`; out.className = "bad"; }
  } catch (e) { out.textContent = e.message; out.className = "bad"; }
});
document.addEventListener("sunlit:login", loadAudit);
loadAudit();
