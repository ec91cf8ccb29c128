"use strict";
function fill(id, items, fmt) {
  const ul = document.getElementById(id);
  if (!items || !items.length) return;
  ul.innerHTML = "";
  for (const it of items) { const li = document.createElement("li"); li.textContent = fmt(it); ul.appendChild(li); }
}

async function loadTenders() {
  if (!Sunlit.token()) return;
  try {
    fill("tenders", await Sunlit.api("/api/v1/tenders"),
         t => `${t.code} ${t.project_name} — ${t.state} — ${T.deadline} ${t.bid_deadline_at} · ${T.opening} ${t.opening_at}`);
  } catch {}
}

(async () => {
  const h = document.getElementById("health");
  try { const r = await Sunlit.api("/healthz"); h.textContent = `✓ ${r.database}, ${r.migrations}`; h.className = "ok"; }
  catch (e) { h.textContent = "✗ " + e.message; h.className = "bad"; }
  try {
    fill("lots", await Sunlit.api("/api/v1/auctions/lots"),
         l => `${l.title} — ${(l.live && l.live.phase) || l.status} — ¥${Sunlit.fenToYuan((l.live && l.live.highest_fen) || l.starting_price_fen)}`);
  } catch {}
  loadTenders();
})();
document.addEventListener("sunlit:login", loadTenders);
