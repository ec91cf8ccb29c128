// Live auctions: the lot list over HTTP, one lot's ordered stream over the websocket gateway
// (/api/v1/auctions/ws), bidding as the paddle the bidder's organisation holds.
import { LANG, api, fenToYuan, t, yuanToFen } from "./api.js";
let ws = null, current = null, view = null, skew = 0, lastSeq = 0;

function render() {
  if (!view) return;
  document.getElementById("lot-state").textContent = view.phase;
  document.getElementById("lot-price").textContent = fenToYuan(view.highest_fen ?? view.starting_price_fen);
  document.getElementById("lot-leader").textContent = view.leader ?? "—";
}

function tickCountdown() {
  const el = document.getElementById("lot-countdown");
  if (!view || !view.countdown_ends_at) { el.textContent = "—"; return; }
  const left = Math.max(0, Date.parse(view.countdown_ends_at) - (Date.now() + skew));
  el.textContent = (left / 1000).toFixed(1) + " s";
}
setInterval(tickCountdown, 100);

function addStream(text) {
  const li = document.createElement("li"); li.textContent = text;
  const ol = document.getElementById("stream"); ol.insertBefore(li, ol.firstChild);
}

function onFrame(f) {
  if (f.server_time) skew = Date.parse(f.server_time) - Date.now();
  if (f.lot_id !== undefined && f.lot_id !== current) return;
  switch (f.type) {
    case "snapshot": view = f.lot; lastSeq = f.seq; document.getElementById("lot-title").textContent = f.title + (f.paddle ? ` · #${f.paddle}` : ""); render(); break;
    case "event": {
      lastSeq = f.seq; const e = f.event;
      if (e.type === "bid_accepted") { view.highest_fen = e.amount_fen; view.leader = e.paddle; view.countdown_ends_at = e.countdown_ends_at ?? view.countdown_ends_at; view.bid_count = (view.bid_count || 0) + 1; }
      else if (e.countdown_ends_at) view.countdown_ends_at = e.countdown_ends_at;
      if (e.type === "lot_closed") view.phase = "closed";
      else if (e.type === "lot_paused") view.phase = "paused";
      else if (e.type !== "bid_accepted") refresh(current);
      addStream(`#${f.seq} ${e.at?.slice(11, 23) ?? ""} ${e.type}${e.paddle ? " · " + e.paddle : ""}${e.amount_fen ? " · ¥" + fenToYuan(e.amount_fen) : ""}`);
      render(); break;
    }
    case "ack": document.getElementById("bid-error").textContent = "✓ #" + f.seq; break;
    case "error": document.getElementById("bid-error").textContent = (LANG === "zh" ? f.message_zh : f.message) || f.code; break;
  }
}

// A phase change (start, countdown, resume, cap…): take the lot's live view over HTTP.
async function refresh(lotId) {
  try { const lot = await api(`/api/v1/auctions/lots/${lotId}`); if (lot.live && current === lotId) { view = lot.live; render(); } }
  catch {}
}

function watch(lotId) {
  current = lotId; view = null; lastSeq = 0;
  document.getElementById("lot-live").hidden = false;
  document.getElementById("stream").innerHTML = "";
  if (ws) ws.close();
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${proto}//${location.host}/api/v1/auctions/ws`);
  ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", lots: [lotId] }));
  ws.onmessage = (m) => { const d = JSON.parse(m.data); (Array.isArray(d) ? d : [d]).forEach(onFrame); };
  ws.onclose = () => { if (current === lotId) setTimeout(() => { if (current === lotId) resume(lotId); }, 1000); };
}

function resume(lotId) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  ws = new WebSocket(`${proto}//${location.host}/api/v1/auctions/ws`);
  ws.onopen = () => ws.send(JSON.stringify({ op: "subscribe", lots: [{ lot_id: lotId, after_seq: lastSeq }] }));
  ws.onmessage = (m) => { const d = JSON.parse(m.data); (Array.isArray(d) ? d : [d]).forEach(onFrame); };
}

document.getElementById("bid-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const fen = yuanToFen(ev.target.amount.value);
  const err = document.getElementById("bid-error");
  if (fen === null) { err.textContent = LANG === "zh" ? "金额格式：元，最多两位小数" : "Amount in yuan, at most two decimals"; return; }
  err.textContent = "…";
  ws.send(JSON.stringify({ op: "bid", lot_id: current, bid_id: "web-" + crypto.randomUUID(), amount_fen: fen }));
});

(async () => {
  const tbody = document.querySelector("#lot-table tbody");
  try {
    const lots = await api("/api/v1/auctions/lots");
    for (const l of lots) {
      const live = l.live || {};
      const tr = document.createElement("tr");
      const cells = [l.title, live.phase ?? l.status, fenToYuan(live.highest_fen ?? l.starting_price_fen), live.leader ?? "—",
                     live.countdown_ends_at ? live.countdown_ends_at.slice(11, 19) + "Z" : "—"];
      for (const c of cells) { const td = document.createElement("td"); td.textContent = c; tr.appendChild(td); }
      const td = document.createElement("td"); const b = document.createElement("button");
      b.textContent = t("watch"); b.className = "watch"; b.dataset.lot = l.id; b.addEventListener("click", () => watch(l.id)); td.appendChild(b); tr.appendChild(td);
      tbody.appendChild(tr);
    }
  } catch (e) { tbody.textContent = e.message; }
})();
