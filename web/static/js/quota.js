// A quota-plate session (额度拍卖) in the auction room: the quota frames of the auction
// websocket (docs/auction.md) — subscribe → quota_snapshot, bid → ack | error, quota_status
// once a second, quota_closed — and 报名 through the API. The page shows only the published
// view (bid count, lowest winning price) and the reader's own bid; the engine judges every bid.
import { LANG, ROLE, api, el, fenToYuan, fmt, localTime, showError, t, yuanToFen } from "./api.js";
import { openAuctionSocket, serverNow, setConn } from "./auction_socket.js";

const $ = (id) => document.getElementById(id);
const box = $("quota-live");
const SID = Number(box.dataset.session);
const TITLE = box.dataset.title;
const IS_BIDDER = ROLE === "bidder";

let socket = null;           // the auction websocket, once open
let terms = null;            // starts_at, half_at, ends_at, window_fen, max_revisions …
let half = null;             // the server's last word on the half
let cutoff = null;           // the published lowest winning price
let paddle = null;
let myBid = null;            // { amount_fen, revision, revisions_left }
let closed = box.dataset.closed === "true";
let pending = null;          // the amount awaiting confirmation
let seqReq = 0;

function newId(prefix) {
  const r = new Uint8Array(8); crypto.getRandomValues(r);
  return prefix + "-" + [...r].map(b => b.toString(16).padStart(2, "0")).join("");
}

// ---- the halves and the countdown (server-synced) -----------------------------------------

function halfAt(now) {
  if (!terms) return null;
  if (closed) return "ended";
  if (now < Date.parse(terms.starts_at)) return "before";
  if (now < Date.parse(terms.half_at)) return "first";
  return now < Date.parse(terms.ends_at) ? "second" : "ended";
}

function tick() {
  if (!terms) return;
  const now = serverNow();
  const h = half ?? halfAt(now);
  const target = { before: terms.starts_at, first: terms.half_at, second: terms.ends_at }[h];
  $("q-countdown-label").textContent = { before: t("to_first"), first: t("to_second"), second: t("to_end") }[h] ?? t("ended");
  if (!target) { $("q-countdown").textContent = "—"; return; }
  const left = Math.max(0, Date.parse(target) - now);
  const s = left / 1000;
  $("q-countdown").textContent = s >= 3600 ? localTime(target)
    : s >= 60 ? `${Math.floor(s / 60)}:${String(Math.floor(s % 60)).padStart(2, "0")}` : `${s.toFixed(1)} ${t("seconds")}`;
}
setInterval(tick, 200);

// ---- the published view -------------------------------------------------------------------

function renderPublic() {
  const h = half ?? halfAt(serverNow()) ?? "before";
  $("q-half").textContent = t("half." + h);
  $("q-half").dataset.half = h;
  $("q-cutoff").textContent = cutoff === null || cutoff === undefined ? "—" : fenToYuan(cutoff);
  renderMine();
}

function renderMine() {
  if (!IS_BIDDER) return;
  $("q-paddle").textContent = paddle ?? "—";
  $("q-my-bid").textContent = myBid ? fenToYuan(myBid.amount_fen) : "—";
  $("q-revisions").textContent = myBid ? String(myBid.revisions_left) : (terms ? String(terms.max_revisions) : "—");
  const h = half ?? halfAt(serverNow());
  if (h === "second" && cutoff !== null && cutoff !== undefined && terms) {
    $("q-window").textContent = `${fenToYuan(cutoff - terms.window_fen)} – ${fenToYuan(cutoff + terms.window_fen)}`;
  } else if (h === "first" && terms) {
    $("q-window").textContent = `≤ ${fenToYuan(terms.warning_price_fen)} · ${t("window_none")}`;
  } else {
    $("q-window").textContent = "—";
  }
  $("q-apply").hidden = !!paddle;
  const form = $("q-bid-form");
  form.hidden = !paddle || closed;
  const open = h === "first" || h === "second";
  for (const b of form.querySelectorAll("button")) b.disabled = !open;
}

function addMine(text, mine = true) {
  const li = el("li", { class: mine ? "mine" : null }, text);
  $("q-stream")?.prepend(li);
}

// ---- 报名 -----------------------------------------------------------------------------------

function showApplication(a) {
  if (a.paddle) {
    paddle = a.paddle;
    $("q-apply-state").textContent = `${t("admitted")} ${a.paddle}`;
  } else {
    $("q-apply-state").textContent = a.deposit ? t("deposit_due") : t("not_admitted");
    $("q-apply-btn").textContent = t("apply_again");
  }
  if (a.deposit) {
    $("q-deposit").hidden = false;
    $("q-sub-account").textContent = a.deposit.sub_account;
    $("q-deposit-amount").textContent = fenToYuan(a.deposit.amount_fen);
    $("q-deposit-due").textContent = localTime(box.dataset.starts);
    $("q-deposit-state").textContent = t("dep." + a.deposit.state);
    $("q-deposit-state").dataset.state = a.deposit.state;
  }
  renderMine();
}

$("q-apply-btn")?.addEventListener("click", async () => {
  showError($("q-apply-error"), null);
  try { showApplication(await api(`/api/v1/auctions/quota/${SID}/apply`, { method: "POST" })); }
  catch (err) { showError($("q-apply-error"), err); }
});

// ---- bidding --------------------------------------------------------------------------------

$("q-bid-form")?.addEventListener("submit", (e) => {
  e.preventDefault();
  showError($("q-bid-error"), null);
  $("q-bid-status").textContent = "";
  const fen = yuanToFen($("q-amount").value);
  if (fen === null || fen <= 0) {
    $("q-amount").setAttribute("aria-invalid", "true");
    $("q-bid-error").textContent = t("amount_format");
    $("q-amount").focus();
    return;
  }
  $("q-amount").removeAttribute("aria-invalid");
  pending = fen;
  const key = myBid ? "confirm_revise" : "confirm_bid";
  $("q-confirm-text").textContent = fmt(t(key), { amount: fenToYuan(fen), title: TITLE, paddle: paddle ?? "—" });
  $("q-confirm").showModal();
  $("q-confirm-yes").focus();
});

$("q-confirm")?.addEventListener("close", () => {
  const ok = $("q-confirm").returnValue === "yes";
  const amount = pending; pending = null;
  if (!ok || amount === null || !socket?.isOpen()) { $("q-amount").focus(); return; }
  $("q-bid-submit").disabled = true;
  socket.send({ op: "bid", quota_session: SID, bid_id: newId("qb"), amount_fen: amount, req: "b" + (++seqReq) });
});

function onAck(f) {
  $("q-bid-submit").disabled = false;
  myBid = { amount_fen: f.amount_fen, revision: f.revision, revisions_left: f.revisions_left };
  if (f.lowest_winning_price_fen !== undefined) cutoff = f.lowest_winning_price_fen;
  if (f.half) half = f.half;
  $("q-bid-status").textContent = `✓ ${t("bid_ok")} · ¥${fenToYuan(f.amount_fen)}`;
  addMine(`#${f.seq} ${localTime(f.at, true)} · ${t("stream_ack")} ¥${fenToYuan(f.amount_fen)}`
    + (f.revision ? ` · ${t("revision")} ${f.revision}` : ""));
  renderPublic();
  if (f.window) $("q-window").textContent = `${fenToYuan(f.window.low_fen)} – ${fenToYuan(f.window.high_fen)}`;
  $("q-amount").value = "";
}

function onError(f) {
  if (f.op === "bid") $("q-bid-submit").disabled = false;
  const msg = (LANG === "zh" ? f.message_zh : f.message) || f.message || f.code;
  let text = `${msg} (${f.code})`;
  if (f.details && f.details.low_fen !== undefined) text += ` · ${fenToYuan(f.details.low_fen)} – ${fenToYuan(f.details.high_fen)}`;
  const where = f.op === "bid" ? $("q-bid-error") : $("q-apply-error");
  if (where) where.textContent = text; else setConn("down", text);
}

// ---- the result -----------------------------------------------------------------------------

async function loadResult(tries = 20) {
  let r;
  try { r = (await api(`/api/v1/auctions/quota/${SID}/result`)).result; }
  catch (err) {
    $("q-result").hidden = false;
    $("q-r-mine").textContent = t("result_wait");
    if (tries > 0) setTimeout(() => loadResult(tries - 1), 1000);
    return;
  }
  $("q-result").hidden = false;
  $("q-r-cutoff").textContent = fenToYuan(r.cutoff_fen);
  $("q-r-average").textContent = fenToYuan(r.average_fen);
  $("q-r-winners").textContent = String(r.winner_count);
  $("q-r-bids").textContent = String(r.bid_count);
  $("q-r-closed").textContent = localTime(r.closed_at, true);
  const mine = paddle ? (r.winners || []).find(w => w.paddle === paddle) : null;
  let text = "";
  if (mine) text = fmt(t("won"), { amount: fenToYuan(mine.amount_fen) });
  else if (IS_BIDDER && paddle) text = myBid ? t("lost") : t("no_bid");
  else if (!r.winner_count) text = t("no_winner");
  $("q-r-mine").textContent = text;
  $("q-r-mine").dataset.outcome = mine ? "won" : (IS_BIDDER && paddle ? "lost" : "");
}

// ---- the socket -----------------------------------------------------------------------------

function onFrame(f) {
  if (f.quota_session !== undefined && f.quota_session !== SID) return;
  switch (f.type) {
    case "quota_snapshot":
      terms = { starts_at: f.starts_at, half_at: f.half_at, ends_at: f.ends_at, window_fen: f.window_fen,
                max_revisions: f.max_revisions, warning_price_fen: f.warning_price_fen };
      cutoff = f.lowest_winning_price_fen;
      $("q-count").textContent = String(f.bid_count ?? 0);
      if (f.paddle) paddle = f.paddle;
      if (f.my_bid) myBid = f.my_bid;
      if (f.closed) closed = true;
      half = closed ? "ended" : null;
      renderPublic();
      if (closed) loadResult();
      break;
    case "quota_status":
      half = f.half ?? half;
      if (f.lowest_winning_price_fen !== undefined) cutoff = f.lowest_winning_price_fen;
      if (f.bid_count !== undefined) $("q-count").textContent = String(f.bid_count);
      renderPublic();
      break;
    case "quota_closed":
      closed = true; half = "ended";
      if (f.lowest_winning_price_fen !== undefined) cutoff = f.lowest_winning_price_fen;
      if (f.bid_count !== undefined) $("q-count").textContent = String(f.bid_count);
      renderPublic();
      loadResult();
      break;
    case "ack":
      if (f.op === "bid") onAck(f);
      break;
    case "error":
      onError(f);
      break;
    default:
      break;
  }
}

renderPublic();
socket = openAuctionSocket({ onOpen: (sock) => sock.send({ op: "subscribe", quota_session: SID, req: "s" }), onFrame });
