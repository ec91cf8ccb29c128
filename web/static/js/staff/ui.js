// Small helpers shared by the staff console, the expert workspace and the supervisor console.
// The pages decide nothing: every value shown comes from the JSON API, every act is an API
// call, and every refusal is the API's problem+json shown where it belongs (a field's own
// error beside the field, the rest in the form's status line).
//
// The text is the page's: the server renders each string through gettext into the base
// layout's <script type="application/json" id="sunlit-text"> block (data, not script: the
// CSP allows no inline script); P1's api.js reads it and makes the calls.

import { api as rawApi, ApiError, csrfToken, fenToYuan, LANG, t as text, yuanToFen } from "../api.js";

export { ApiError };

/** The page's text for ``key`` (the template's ``js_text``, through gettext), with
 * ``{name}`` placeholders filled from ``vars``. */
export function t(key, vars = {}) {
  return String(text(key)).replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
}

/** An element: ``el("td", {class: "num"}, "12")``; props starting with "on" are listeners. */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = v;
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function $(sel, root = document) { return root.querySelector(sel); }

/** A link within the site that keeps this page's one-page language choice (``?lang=``). */
export function href(path) {
  const lang = new URLSearchParams(window.location.search).get("lang");
  return lang ? `${path}${path.includes("?") ? "&" : "?"}lang=${encodeURIComponent(lang)}` : path;
}
export function $$(sel, root = document) { return [...root.querySelectorAll(sel)]; }

/**
 * Call the JSON API (``/api/v1`` + path) through the pages' shared client (session cookie,
 * CSRF header, problem+json as ``ApiError``). ``json``: a JSON body; ``body`` and ``type``:
 * raw bytes (an upload); ``onProgress(sent, total)``: report an upload's progress (through
 * XMLHttpRequest, the one browser API that reports upload progress).
 */
export async function api(method, path, { json, body, type, onProgress } = {}) {
  const url = path.startsWith("/api/") ? path : "/api/v1" + path;
  if (onProgress && body !== undefined) return xhr(method, url, body, type, onProgress);
  const headers = body !== undefined && json === undefined ? { "Content-Type": type || "application/octet-stream" } : {};
  return rawApi(url, { method, json, body, headers });
}

/**
 * Every row of a list the API pages by ``after_id`` (oldest first, ``limit`` a page), up to
 * ``maxRows``: the consoles show the newest first, so they read the whole list (bounded).
 */
export async function allPages(path, { limit = 500, maxRows = 10000 } = {}) {
  const rows = [];
  let after = 0;
  for (;;) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await api("GET", `${path}${sep}limit=${limit}&after_id=${after}`);
    rows.push(...page);
    if (page.length < limit || rows.length >= maxRows) return rows;
    after = page[page.length - 1].id;
  }
}

function xhr(method, url, payload, type, onProgress) {
  return new Promise((resolve, reject) => {
    const q = new XMLHttpRequest();
    q.open(method, url);
    q.setRequestHeader("Accept", "application/json");
    q.setRequestHeader("Accept-Language", LANG === "zh" ? "zh-CN" : "en");
    q.setRequestHeader("Content-Type", type || "application/octet-stream");
    q.setRequestHeader("X-CSRF-Token", csrfToken());
    q.upload.onprogress = (e) => onProgress(e.loaded, e.lengthComputable ? e.total : 0);
    q.onerror = () => reject(new ApiError(0, { code: "network_error", detail: t("network_error") }));
    q.onload = () => {
      let out = q.responseText;
      try { out = JSON.parse(out); } catch { /* not JSON */ }
      if (q.status >= 200 && q.status < 300) resolve(out);
      else reject(new ApiError(q.status, typeof out === "object" ? out : { detail: String(out).slice(0, 200) }));
    };
    q.send(payload);
  });
}

// --- money and time at the edge ---------------------------------------------------------

/** Integer fen → "1,234.56" (yuan; BigInt, never a float); "" for none. */
export function yuan(fen) {
  return fen === null || fen === undefined || fen === "" ? "" : fenToYuan(fen);
}

/** "1234.5" (yuan) → 123450 (fen), or null when it is not an amount with at most 2 decimals. */
export const fenOf = yuanToFen;

/** An ISO time shown in the reader's zone, to the minute (the API keeps UTC). */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  return d.toLocaleString(LANG === "en" ? "en-GB" : "zh-CN", { dateStyle: "short", timeStyle: "short" });
}

/** A datetime-local input's value (reader's zone) → ISO with its offset, for the API. */
export function isoOfLocal(value) {
  if (!value) return null;
  const d = new Date(value);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

// --- forms: inline validation from the API's problem+json ----------------------------------

/** A refusal as the page shows it: the API's message in the page's language, and its code. */
export function problemText(err) {
  if (!err) return "";
  const code = err.code && !String(err.code).startsWith("http_") ? err.code : "";
  return code && err.message ? `${err.message} (${code})` : (err.message || String(err));
}

/** Clear a form's field errors and its status line. */
export function clearErrors(form) {
  for (const n of $$(".field-error", form)) n.remove();
  for (const n of $$("[aria-invalid]", form)) { n.removeAttribute("aria-invalid"); n.removeAttribute("aria-describedby"); }
  const s = $(".form-status", form);
  if (s) { s.textContent = ""; s.className = "form-status"; }
}

function fieldFor(form, field) {
  // "body.criteria.0.max_points" → try the longest name first, then its first segment.
  const parts = String(field || "").replace(/^(body|query)\./, "").split(".");
  for (let i = parts.length; i > 0; i--) {
    const name = parts.slice(0, i).join(".");
    const input = form.querySelector(`[name="${CSS.escape(name)}"]`);
    if (input) return input;
  }
  return null;
}

/** Show each of the problem's ``errors`` beside its field; the rest in the status line. */
export function showErrors(form, err) {
  clearErrors(form);
  const rest = [];
  const errors = (err && err.problem && Array.isArray(err.problem.errors)) ? err.problem.errors : [];
  let first = null;
  for (const e of errors) {
    const input = fieldFor(form, e.field);
    const text = e.problem || e.message || e.code || "";
    if (!input) { rest.push(e.field ? `${e.field}: ${text}` : text); continue; }
    const id = `${input.name || "f"}-error-${Math.random().toString(36).slice(2, 7)}`;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", id);
    (input.closest("label") || input).after(el("p", { class: "field-error error", id, role: "alert" }, text));
    first = first || input;
  }
  status(form, [problemText(err), ...rest].filter(Boolean).join(" — "), "bad");
  if (first) first.focus();
}

/** Set a form's (or a section's) status line. */
export function status(root, text, kind = "") {
  let s = $(".form-status", root);
  if (!s) { s = el("p", { class: "form-status", role: "status", "aria-live": "polite" }); root.append(s); }
  s.textContent = text;
  s.className = "form-status" + (kind ? " " + kind : "");
}

/**
 * Values of a form as the API wants them: ``data-type`` on an input says how —
 * ``int``, ``fen`` (typed in yuan), ``datetime`` (local → ISO), ``ids`` (comma-separated
 * integers), ``lines`` (one text per line), ``bool`` (checkbox); empty optional values left out.
 * A value the page cannot even parse is reported on its field, never sent.
 */
export function formValues(form) {
  const out = {};
  const problems = [];
  for (const input of $$("[name]", form)) {
    if (input.disabled || input.type === "submit" || input.dataset.skip !== undefined) continue;
    const kind = input.dataset.type || "text";
    const raw = input.type === "checkbox" ? input.checked : input.value;
    if (kind !== "bool" && (raw === "" || raw === null) && !input.required) continue;
    let v = raw;
    if (kind === "int") { v = /^-?\d+$/.test(String(raw).trim()) ? Number(raw) : NaN; }
    else if (kind === "fen") { v = fenOf(raw); }
    else if (kind === "datetime") { v = isoOfLocal(raw); }
    else if (kind === "ids") { v = String(raw).split(/[,，\s]+/).filter(Boolean).map((x) => (/^\d+$/.test(x) ? Number(x) : NaN)); }
    else if (kind === "lines") { v = String(raw).split("\n").map((x) => x.trim()).filter(Boolean); }
    else if (kind === "bool") { v = Boolean(raw); }
    const bad = v === null || (typeof v === "number" && Number.isNaN(v)) || (Array.isArray(v) && v.some((x) => Number.isNaN(x)));
    if (bad) { problems.push({ field: input.name, problem: t("invalid_value"), type: "client" }); continue; }
    out[input.name] = v;
  }
  if (problems.length) throw new ApiError(422, { detail: t("fix_fields"), errors: problems });
  return out;
}

/**
 * Wire a form: on submit, build the body, call ``send(values)``, show its refusal by field
 * or ``done(result)``. The submit button is disabled while the call runs.
 */
export function onSubmit(form, send, done = () => {}) {
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = $("button[type=submit], button:not([type])", form);
    clearErrors(form);
    if (button) button.disabled = true;
    try {
      const result = await send(formValues(form));
      status(form, t("done"), "ok");
      await done(result);
    } catch (err) {
      showErrors(form, err);
    } finally {
      if (button) button.disabled = false;
    }
  });
}

/** A button that runs an API call; its outcome goes to ``out`` (a status line). */
export function button(label, run, { out, confirmText, cls } = {}) {
  const b = el("button", { type: "button", class: cls });
  b.textContent = label;
  b.addEventListener("click", async () => {
    if (confirmText && !window.confirm(confirmText)) return;
    b.disabled = true;
    try {
      await run();
      if (out) status(out, t("done"), "ok");
    } catch (err) {
      if (out) status(out, problemText(err), "bad");
      else window.alert(problemText(err));
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

// --- tables ----------------------------------------------------------------------------------

/**
 * A table: ``cols`` are ``{label, value(row) → text|Node, num?}``. Wrapped in a scroller so a
 * wide table never widens the page (390 px).
 */
export function table(cols, rows, { caption, empty } = {}) {
  if (!rows || rows.length === 0) return el("p", { class: "muted" }, empty || (caption ? `${caption}: ${t("none")}` : t("none")));
  const head = el("tr", {}, cols.map((c) => el("th", { scope: "col", class: c.num ? "num" : undefined }, c.label)));
  const body = rows.map((r) => el("tr", {}, cols.map((c) => el("td", { class: c.num ? "num" : undefined }, c.value(r)))));
  return el("div", { class: "scroll-x", tabindex: "0", role: "region", "aria-label": caption || cols.map((c) => c.label).join(", ") },
    el("table", {}, caption ? el("caption", {}, caption) : null, el("thead", {}, head), el("tbody", {}, body)));
}

/** Replace a container's content. */
export function fill(node, ...children) {
  node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined && c !== false));
  return node;
}

/** Show an error in place of a section's content. */
export function failed(node, err) {
  return fill(node, el("p", { class: "error", role: "alert" }, problemText(err)));
}

/**
 * Run ``fn`` now and every ``ms`` while the page is visible; returns ``stop()``. Used for what
 * changes without the reader doing anything (shares handed in, summons answered).
 */
export function poll(fn, ms) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    try { await fn(); } finally { if (!stopped) timer = setTimeout(tick, ms); }
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}

/** The page's own configuration from the server (e.g. the tender id), from data-* on <main>. */
export function pageData(name) {
  const m = document.querySelector("[data-page]");
  return m ? m.dataset[name] : undefined;
}

/** A labelled input: ``field("code", t("code"), {required: true})``. */
export function field(name, label, attrs = {}, { kind = "input", options = [], hint } = {}) {
  let control;
  if (kind === "select") {
    control = el("select", { name, ...attrs }, options.map(([v, text]) => el("option", { value: v }, text)));
  } else if (kind === "textarea") {
    control = el("textarea", { name, rows: 3, ...attrs });
  } else {
    control = el("input", { name, ...attrs });
  }
  return el("label", { class: kind === "textarea" ? "field wide" : "field" }, el("span", {}, label), control,
    hint ? el("small", { class: "muted" }, hint) : null);
}

export function section(title, ...children) {
  return el("section", { class: "card" }, el("h2", {}, title), ...children);
}

export function uuid() {
  return crypto.randomUUID();
}
