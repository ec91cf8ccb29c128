// The pages' one shared module: JSON API calls with the session cookie and the CSRF header,
// problem+json errors in the page's language, money (fen → yuan) and time (UTC → local).
// ES module, no build step: `import { api, fenToYuan } from "/static/js/api.js";`

export const LANG = document.body.dataset.lang || "zh";
export const ROLE = document.body.dataset.role || "";
const TEXT = (() => {
  try { return JSON.parse(document.getElementById("sunlit-text")?.textContent || "{}"); }
  catch { return {}; }
})();

/** The page's translated string for a key (from the template's js_text), or the key. */
export function t(key) { return TEXT[key] ?? key; }

/** A translated string's %(name)s placeholders filled from `vars` (a missing one → ""). */
export function fmt(s, vars) { return s.replace(/%\((\w+)\)s/g, (_, k) => vars[k] ?? ""); }

/** The CSRF token of this browser's session: the readable cookie, else the page's meta. */
export function csrfToken() {
  const m = /(?:^|;\s*)sunlit_csrf=([^;]+)/.exec(document.cookie);
  return m ? decodeURIComponent(m[1]) : (document.querySelector('meta[name="csrf-token"]')?.content || "");
}

/** An API error: the problem+json body, its status and code, a message in the page's language. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && problem.detail) || `HTTP ${status}`);
    this.status = status; this.problem = problem || {}; this.code = this.problem.code || `http_${status}`;
  }
}

/**
 * fetch JSON from the API. `opts.json` is sent as the body; a write carries X-CSRF-Token.
 * The session cookie goes along (same origin); the token itself is never visible here.
 */
export async function api(path, opts = {}) {
  const method = (opts.method || (opts.json !== undefined || opts.body !== undefined ? "POST" : "GET")).toUpperCase();
  const headers = { "Accept": "application/json", "Accept-Language": LANG === "zh" ? "zh-CN" : "en", ...(opts.headers || {}) };
  if (!["GET", "HEAD", "OPTIONS"].includes(method)) headers["X-CSRF-Token"] = csrfToken();
  let body = opts.body;
  if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; body = JSON.stringify(opts.json); }
  const url = path.startsWith("/") ? path : "/api/v1/" + path;
  let r;
  try { r = await fetch(url, { method, headers, body, credentials: "same-origin", signal: opts.signal }); }
  catch (e) { throw new ApiError(0, { code: "network_error", detail: t("network_error") }); }
  const ctype = r.headers.get("content-type") || "";
  const data = ctype.includes("json") ? await r.json() : await r.text();
  if (!r.ok) throw new ApiError(r.status, typeof data === "object" ? data : { detail: String(data).slice(0, 200) });
  return data;
}

/** Show an error in an element (role=alert): the detail in the page's language and its code. */
export function showError(el, err) {
  if (!el) return;
  el.textContent = "";
  if (!err) return;
  const msg = err.code === "csrf_failed" ? t("csrf") : (err.message || t("error"));
  el.textContent = err.code ? `${msg} (${err.code})` : msg;
  el.classList.add("error");
}

/** Integer fen → yuan text with two decimals and separators; exact for any safe integer or BigInt. */
export function fenToYuan(fen) {
  if (fen === null || fen === undefined || fen === "") return "—";
  let v = BigInt(fen);
  const neg = v < 0n; if (neg) v = -v;
  const yuan = (v / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return (neg ? "-" : "") + yuan + "." + (v % 100n).toString().padStart(2, "0");
}

/** Yuan text (up to two decimals, commas allowed) → integer fen, or null if not a money amount. */
export function yuanToFen(text) {
  const m = /^\s*(\d{1,13})(?:\.(\d{1,2}))?\s*$/.exec(String(text).replace(/[,，\s]/g, ""));
  if (!m) return null;
  return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
}

/** A UTC ISO time → the reader's local time, in the page's language ("—" if none). */
export function localTime(iso, withSeconds = false) {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  const o = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false };
  if (withSeconds) o.second = "2-digit";
  return d.toLocaleString(LANG === "zh" ? "zh-CN" : "en-GB", o);
}

/** Every <time datetime="…" data-local> on the page shows local time (server renders UTC). */
export function localiseTimes(root = document) {
  for (const el of root.querySelectorAll("time[data-local]")) {
    el.title = el.getAttribute("datetime");
    el.textContent = localTime(el.getAttribute("datetime"));
  }
}

/** Element helper: el("td", {class: "num"}, "text", child…). Text is always text, never HTML. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v; else if (k === "text") e.textContent = v; else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : String(c));
  return e;
}

localiseTimes();
