"use strict";
(async () => {
  const h = document.getElementById("health");
  try { const r = await Sunlit.api("/healthz"); h.textContent = `✓ ${r.database}, ${r.migrations}`; h.className = "ok"; }
  catch (e) { h.textContent = "✗ " + e.message; h.className = "bad"; }
  const fill = (id, items, fmt) => {
    const ul = document.getElementById(id);
    if (!items || !items.length) return;
    ul.innerHTML = "";
    for (const it of items) { const li = document.createElement("li"); li.textContent = fmt(it); ul.appendChild(li); }
  };
  try { fill("tenders", await Sunlit.api("/api/v1/tenders/public"), t => `${t.title || t.name} — ${t.state} — ${T.deadline} ${t.bid_deadline_at || t.deadline_at || ""}`); } catch {}
  try { fill("lots", await Sunlit.api("/api/v1/auctions/lots"), l => `${l.title || l.name || "#" + l.id} — ${l.phase || l.state} — ${Sunlit.fenToYuan(l.current_price_fen ?? l.starting_price_fen ?? 0)}`); } catch {}
})();
