// The auction websocket (/api/v1/auctions/ws, docs/auction.md) as the auction room and the
// quota-plate room hold it: kept open (a lost connection is retried with a doubling delay, up
// to 10 s), its state on the page's #conn line, the server's clock followed from the frames'
// server_time. The session cookie authenticates it (same origin).
import { ROLE, t } from "./api.js";

const RECONNECT_MAX_MS = 10_000;
let offsetMs = 0;  // server clock − local clock, from frames' server_time

/** The server's time now (ms since the epoch), as the last frame's server_time tells it. */
export const serverNow = () => Date.now() + offsetMs;

function syncClock(serverTime) {
  const s = Date.parse(serverTime || "");
  if (!Number.isNaN(s)) offsetMs = s - Date.now();
}

/** The #conn line: `state` "up" or "down", and the text to show. */
export function setConn(state, text) {
  const c = document.getElementById("conn"); c.textContent = text;
  c.classList.toggle("down", state === "down"); c.classList.toggle("ok", state !== "down");
  c.dataset.state = state;
}

/**
 * Open the socket and keep it open. On each connection `onOpen(socket, reconnected)` subscribes;
 * every frame (a batch arrives as an array) goes to `onFrame`. Returns `{ isOpen(), send(obj) }`.
 * The window event "sunlit:drop-socket" closes it as a network failure would (it reconnects).
 */
export function openAuctionSocket({ onOpen, onFrame }) {
  let ws = null;
  let delay = 500;
  let everConnected = false;
  const socket = {
    isOpen: () => ws !== null && ws.readyState === WebSocket.OPEN,
    send: (obj) => ws.send(JSON.stringify(obj)),
  };
  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(`${proto}//${location.host}/api/v1/auctions/ws`);
    ws.addEventListener("open", () => {
      delay = 500;
      onOpen(socket, everConnected);
      setConn("up", ROLE === "bidder" ? t("connected") : t("watching"));
      everConnected = true;
    });
    ws.addEventListener("message", (m) => {
      let d; try { d = JSON.parse(m.data); } catch { return; }
      for (const f of Array.isArray(d) ? d : [d]) { syncClock(f.server_time); onFrame(f); }
    });
    ws.addEventListener("close", () => {
      setConn("down", t("reconnecting"));
      setTimeout(connect, delay);
      delay = Math.min(RECONNECT_MAX_MS, delay * 2);
    });
  }
  window.addEventListener("sunlit:drop-socket", () => ws && ws.close());
  connect();
  return socket;
}
