// The auction room: every lot on the page followed live over the websocket gateway
// (/api/v1/auctions/ws, docs/auction.md), the selected lot in detail, 报名 and bidding for
// a bidder. The session cookie authenticates the socket (same origin); nothing here decides:
// the engine accepts or refuses each bid, the page only proposes amounts.
import { LANG, ROLE, api, el, fenToYuan, fmt, localTime, showError, t, yuanToFen } from "./api.js";
import { openAuctionSocket, serverNow, setConn } from "./auction_socket.js";

const IS_BIDDER = ROLE === "bidder";
const PING_EVERY_MS = 15_000;

const lots = new Map();   // lot id → { id, title, kind, session, increment, start, view, seq, cell }
let socket = null;        // the auction websocket, once open
let current = null;       // selected lot id
let myOrg = null;
let myPaddles = new Map(); // lot id → paddle
let pending = null;        // the bid awaiting confirmation

const $ = (id) => document.getElementById(id);
const phaseText = (p) => t("phase." + p) === "phase." + p ? p : t("phase." + p);

// ---- the lot grid -------------------------------------------------------------------------

for (const cell of document.querySelectorAll(".lot-cell")) {
  const id = Number(cell.dataset.lot);
  lots.set(id, {
    id, cell, title: cell.dataset.title, kind: cell.dataset.kind, session: cell.dataset.session,
    increment: Number(cell.dataset.increment), start: Number(cell.dataset.start), view: null, seq: 0,
    renderedSeq: Number(cell.dataset.seq || 0), shown: 0,
  });
  cell.querySelector("button.watch").addEventListener("click", () => select(id, true));
}

function minimumOf(lot) {
  const v = lot.view;
  if (!v) return null;
  if (v.minimum_bid_fen !== null && v.minimum_bid_fen !== undefined) return v.minimum_bid_fen;
  if (!["listing", "countdown"].includes(v.phase)) return null;
  return v.highest_fen === null || v.highest_fen === undefined ? lot.start : v.highest_fen + lot.increment;
}

function renderCell(lot) {
  const v = lot.view; if (!v) return;
  const c = lot.cell;
  c.querySelector(".lot-phase").textContent = v.phase === "closed" ? outcomeText(v) : phaseText(v.phase);
  c.querySelector(".lot-price").textContent = fenToYuan(v.highest_fen ?? lot.start);
  c.querySelector(".lot-leader").textContent = v.leader ?? "—";
  c.classList.toggle("mine", !!myPaddles.get(lot.id) && v.leader === myPaddles.get(lot.id));
  c.classList.toggle("selected", lot.id === current);
}

function outcomeText(v) {
  if (v.outcome === "no_sale") return t("no_sale");
  if (v.outcome === "sold") return `${t("outcome.sold")} · ${t("sold_to")} ${v.winner ?? ""} · ¥${fenToYuan(v.price_fen)}`;
  return t("outcome." + v.outcome) || t("closed");
}

function countdownText(v) {
  const end = v && (v.countdown_ends_at || (v.phase === "listing" ? v.listing_ends_at : null));
  if (!end || !["listing", "countdown"].includes(v.phase)) return "—";
  const left = Math.max(0, Date.parse(end) - serverNow());
  if (left > 3_600_000) return localTime(end);
  const s = left / 1000;
  return s >= 60 ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}` : `${s.toFixed(1)} ${t("seconds")}`;
}

function tick() {
  for (const lot of lots.values()) {
    if (lot.view) lot.cell.querySelector(".lot-countdown").textContent = countdownText(lot.view);
  }
  const lot = lots.get(current);
  if (lot) $("lot-countdown").textContent = countdownText(lot.view);
}
setInterval(tick, 100);

// ---- the selected lot ---------------------------------------------------------------------

function renderLive() {
  const lot = lots.get(current); if (!lot || !lot.view) return;
  const v = lot.view;
  const mine = myPaddles.get(lot.id);
  $("lot-title").textContent = lot.title;
  $("lot-state").textContent = v.phase === "closed" ? outcomeText(v) : phaseText(v.phase);
  $("lot-state").dataset.phase = v.phase;
  $("lot-price").textContent = fenToYuan(v.highest_fen ?? lot.start);
  $("lot-leader").textContent = (v.leader ?? "—") + (mine && v.leader === mine ? ` (${t("you_lead")})` : "");
  $("lot-leader").classList.toggle("mine", !!mine && v.leader === mine);
  const min = minimumOf(lot);
  $("lot-minimum").textContent = min === null ? "—" : fenToYuan(min);
  $("my-paddle").textContent = mine ?? "—";
  const form = $("bid-form");
  if (form) {
    form.hidden = !mine;
    const open = ["listing", "countdown"].includes(v.phase);
    for (const b of form.querySelectorAll("button")) b.disabled = !open;
  }
  for (const l of lots.values()) l.cell.classList.toggle("selected", l.id === current);
}

function addStream(lotId, seq, e) {
  if (lotId !== current) return;
  const lot = lots.get(lotId);
  if (typeof seq === "number") {  // the HTTP page and the live stream may overlap: each seq once
    if (seq <= lot.shown) return;
    lot.shown = seq;
  }
  const mine = myPaddles.get(lotId);
  let text = `#${seq} ${localTime(e.at, true)} · `;
  if (e.type === "bid_accepted") text += `${t("paddle")} ${e.paddle} ${t("stream_bid")} ¥${fenToYuan(e.amount_fen)}`;
  else if (e.type === "lot_closed") text += outcomeText({ ...e, outcome: e.outcome });
  else text += t("ev." + e.type) === "ev." + e.type ? e.type : t("ev." + e.type);
  const li = el("li", { class: mine && e.paddle === mine ? "mine" : null, "data-type": e.type }, text);
  const ol = $("stream"); ol.insertBefore(li, ol.firstChild);
  while (ol.children.length > 200) ol.lastChild.remove();
}

async function select(id, focus = false) {
  if (!lots.has(id)) return;
  current = id;
  $("lot-live").hidden = false;
  $("stream").replaceChildren();
  const lot = lots.get(id);
  lot.shown = 0;
  history.replaceState(null, "", `?lot=${id}`);
  renderLive();
  try {  // the lot's latest public events, for the stream (then the live ones)
    const upTo = Math.max(lot.seq || 0, lot.renderedSeq || 0);
    const page = await api(`/api/v1/auctions/lots/${id}/events?limit=50&after_seq=${Math.max(0, upTo - 50)}`);
    for (const e of page.events) addStream(id, e.seq ?? "", e);
  } catch { /* the live stream follows anyway */ }
  if (IS_BIDDER) await showApplication(lots.get(id));
  if (focus) $("lot-title").scrollIntoView({ block: "start" });
}

// ---- 报名: the deposit and the paddle ------------------------------------------------------

function scopeRef(lot) { return lot.session ? `auction_session:${lot.session}` : `lot:${lot.id}`; }

async function loadPaddles() {
  if (!IS_BIDDER) return;
  try {
    const me = await api("/api/v1/me"); myOrg = me.org_id;
    const rows = await api("/api/v1/auctions/me/paddles");
    myPaddles = new Map();
    for (const r of rows) for (const id of r.lot_ids) myPaddles.set(Number(id), r.paddle);
  } catch (e) { showError($("bid-error"), e); }
}

async function showApplication(lot) {
  const box = $("apply-box"); if (!box) return;
  const paddle = myPaddles.get(lot.id);
  const state = $("apply-state"), btn = $("apply-btn");
  showError($("apply-error"), null);
  box.hidden = false; btn.hidden = true;
  if (paddle) { state.textContent = `${t("admitted")} ${paddle}`; state.className = "ok"; return; }
  state.className = "";
  try {
    const d = await api(`/api/v1/ledger/projects/${encodeURIComponent(scopeRef(lot))}/deposits/${myOrg}`);
    describeDeposit(d);
  } catch (e) {
    if (e.status === 404) { state.textContent = ""; btn.hidden = false; }
    else showError($("apply-error"), e);
  }
}

function describeDeposit(d) {
  const state = $("apply-state");
  state.replaceChildren(
    el("span", {}, `${d.admitted ? t("deposit_ok") : t("deposit_due")}`), el("br"),
    el("span", {}, `${t("sub_account")}: `), el("strong", { id: "sub-account" }, d.sub_account), el("br"),
    el("span", {}, `${t("required")}: ¥${fenToYuan(d.required_fen)} · ${t("due")}: ${localTime(d.deadline_at)}`), el("br"),
    el("span", {}, `${t("deposit_state")}: `), el("strong", { id: "deposit-state", "data-state": d.state }, t("dep." + d.state)));
  state.className = d.admitted ? "ok" : "";
}

$("apply-btn")?.addEventListener("click", async () => {
  const lot = lots.get(current); if (!lot) return;
  showError($("apply-error"), null);
  try {
    const d = await api(`/api/v1/ledger/projects/${encodeURIComponent(scopeRef(lot))}/deposits`, { json: {} });
    $("apply-btn").hidden = true;
    describeDeposit(d);
  } catch (e) { showError($("apply-error"), e); }
});

// ---- bidding ----------------------------------------------------------------------------

function proposeIncrements(n) {
  const lot = lots.get(current); const min = lot && minimumOf(lot);
  if (min === null || min === undefined) return;
  const amount = min + (n - 1) * lot.increment;
  $("bid-amount").value = fenToYuan(amount);
  confirmBid(amount);
}

function confirmBid(amountFen) {
  const lot = lots.get(current); if (!lot) return;
  pending = { lot: lot.id, amount: amountFen };
  $("confirm-text").textContent = fmt(t("confirm_bid"), { amount: fenToYuan(amountFen), lot: lot.title, paddle: myPaddles.get(lot.id) ?? "—" });
  $("confirm-bid").showModal();
  $("confirm-yes").focus();
}

$("confirm-bid")?.addEventListener("close", () => {
  const ok = $("confirm-bid").returnValue === "yes";
  const bid = pending; pending = null;
  if (ok && bid) sendBid(bid.lot, bid.amount);
});

function sendBid(lotId, amountFen) {
  showError($("bid-error"), null);
  $("bid-status").textContent = "…";
  if (!socket?.isOpen()) { $("bid-status").textContent = ""; $("bid-error").textContent = t("reconnecting"); return; }
  socket.send({ op: "bid", lot_id: lotId, bid_id: "web-" + crypto.randomUUID(), amount_fen: amountFen });
}

$("bid-plus1")?.addEventListener("click", () => proposeIncrements(1));
$("bid-plusn")?.addEventListener("click", () => proposeIncrements(Number($("bid-n").value)));
$("bid-form")?.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const fen = yuanToFen($("bid-amount").value);
  if (fen === null) { $("bid-status").textContent = ""; $("bid-error").textContent = t("amount_format"); return; }
  confirmBid(fen);
});

// ---- the websocket: frames, reconnect, resume ------------------------------------------------

function onFrame(f) {
  switch (f.type) {
    case "hello": break;
    case "snapshot": {
      const lot = lots.get(f.lot_id); if (!lot) return;
      lot.view = f.lot; lot.seq = f.seq;
      if (f.paddle) myPaddles.set(f.lot_id, f.paddle);
      renderCell(lot); if (f.lot_id === current) renderLive();
      break;
    }
    case "resumed": {
      if (f.missed > 0) setConn("ok", fmt(t("resumed"), { n: f.missed }));
      break;
    }
    case "event": {
      const lot = lots.get(f.lot_id); if (!lot) return;
      if (f.seq <= lot.seq) return;  // already seen (a resume may overlap)
      lot.seq = f.seq;
      applyEvent(lot, f.event);
      addStream(f.lot_id, f.seq, f.event);
      break;
    }
    case "ack": {
      $("bid-status").textContent = `✓ ${t("bid_ok")}: ¥${fenToYuan(f.amount_fen)} (#${f.seq})`;
      $("bid-status").className = "ok";
      break;
    }
    case "error": {
      const msg = (LANG === "zh" ? f.message_zh : f.message) || f.code;
      $("bid-status").textContent = "";
      const target = $("bid-error") || $("conn");
      if (target) { target.textContent = `${msg} (${f.code})`; target.classList.add("error"); }
      break;
    }
    case "pong": break;
  }
}

function applyEvent(lot, e) {
  const v = lot.view || (lot.view = { phase: "scheduled", highest_fen: null, leader: null, bid_count: 0 });
  switch (e.type) {
    case "bid_accepted":
      v.highest_fen = e.amount_fen; v.leader = e.paddle; v.bid_count = (v.bid_count || 0) + 1;
      if (e.countdown_ends_at) v.countdown_ends_at = e.countdown_ends_at;
      v.minimum_bid_fen = e.amount_fen + lot.increment;
      break;
    case "lot_started": v.phase = e.phase; v.listing_ends_at = e.listing_ends_at; v.countdown_ends_at = e.countdown_ends_at;
      v.minimum_bid_fen = v.highest_fen == null ? lot.start : v.highest_fen + lot.increment; break;
    case "countdown_started": v.phase = "countdown"; v.countdown_ends_at = e.countdown_ends_at; break;
    case "lot_paused": v.phase = "paused"; v.minimum_bid_fen = null; break;
    case "lot_resumed": v.phase = e.phase || (e.countdown_ends_at ? "countdown" : "listing");
      v.listing_ends_at = e.listing_ends_at ?? v.listing_ends_at; v.countdown_ends_at = e.countdown_ends_at ?? v.countdown_ends_at;
      v.minimum_bid_fen = v.highest_fen == null ? lot.start : v.highest_fen + lot.increment; break;
    case "cap_reached": v.phase = "cap_reached"; v.minimum_bid_fen = null; break;
    case "awaiting_reserve": case "reserve_awaited": v.phase = "awaiting_reserve"; v.minimum_bid_fen = null; break;
    case "lot_closed":
      v.phase = "closed"; v.outcome = e.outcome; v.winner = e.winner; v.price_fen = e.price_fen; v.minimum_bid_fen = null;
      break;
    default:  // anything else changes the phase: take the lot's state over HTTP
      refresh(lot);
  }
  renderCell(lot);
  if (lot.id === current) renderLive();
}

async function refresh(lot) {
  try { const r = await api(`/api/v1/auctions/lots/${lot.id}`); if (r.live) { lot.view = r.live; renderCell(lot); if (lot.id === current) renderLive(); } }
  catch { /* the next frame will tell */ }
}

function subscribe(sock, reconnected) {
  const subs = [...lots.values()].map(l => (reconnected && l.seq ? { lot_id: l.id, after_seq: l.seq } : l.id));
  if (subs.length) sock.send({ op: "subscribe", lots: subs });
}

setInterval(() => { if (socket?.isOpen()) socket.send({ op: "ping", req: "clock" }); }, PING_EVERY_MS);

await loadPaddles();
socket = openAuctionSocket({ onOpen: subscribe, onFrame });
const wanted = Number($("lot-grid")?.dataset.selected || 0);
if (wanted && lots.has(wanted)) select(wanted);
