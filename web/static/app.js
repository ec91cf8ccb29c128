// Shared page helpers: the session token (sessionStorage), API calls, money at the edge.
"use strict";
const T = window.SUNLIT_TEXT || {};
const LANG = document.body.dataset.lang || "zh";

const Sunlit = {
  token() { return sessionStorage.getItem("sunlit.token"); },
  user() { try { return JSON.parse(sessionStorage.getItem("sunlit.user") || "null"); } catch { return null; } },

  async api(path, opts = {}) {
    const headers = { "Accept-Language": LANG === "zh" ? "zh-CN" : "en", ...(opts.headers || {}) };
    if (this.token()) headers["Authorization"] = "Bearer " + this.token();
    if (opts.json !== undefined) { headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(opts.json); }
    const r = await fetch(path, { ...opts, headers });
    const body = r.headers.get("content-type")?.includes("json") ? await r.json() : await r.text();
    if (!r.ok) { const e = new Error(body.detail || r.statusText); e.problem = body; e.status = r.status; throw e; }
    return body;
  },

  // Money is integer fen inside; yuan with two decimals only at the edge.
  fenToYuan(fen) {
    const neg = fen < 0; const abs = BigInt(Math.abs(Number(fen)));
    const s = (abs / 100n).toLocaleString("en-US") + "." + String(abs % 100n).padStart(2, "0");
    return (neg ? "-" : "") + s;
  },
  yuanToFen(text) {
    const m = /^\s*(\d{1,13})(?:\.(\d{1,2}))?\s*$/.exec(String(text).replace(/,/g, ""));
    if (!m) return null;
    return Number(m[1]) * 100 + Number((m[2] || "0").padEnd(2, "0"));
  },

  showWho() {
    const who = document.getElementById("who");
    const u = this.user();
    const box = document.getElementById("login-box");
    const needsLogin = document.querySelectorAll(".needs-login");
    if (u) {
      who.textContent = `${T.signed_in_as}: ${u.username} (${u.role}) `;
      const b = document.createElement("button"); b.textContent = T.logout; b.id = "logout";
      b.onclick = async () => { try { await Sunlit.api("/api/v1/sessions/current", { method: "DELETE" }); } catch {} sessionStorage.clear(); location.reload(); };
      who.appendChild(b);
      if (box) box.hidden = true;
      needsLogin.forEach(e => e.hidden = false);
    } else {
      who.textContent = "";
      if (box) box.hidden = false;
      needsLogin.forEach(e => e.hidden = true);
    }
  },
};

document.getElementById("login-form")?.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target; const err = document.getElementById("login-error"); err.textContent = "";
  try {
    const r = await Sunlit.api("/api/v1/sessions", { method: "POST", json: { username: f.username.value, password: f.password.value } });
    sessionStorage.setItem("sunlit.token", r.token);
    sessionStorage.setItem("sunlit.user", JSON.stringify(r.user));
    Sunlit.showWho();
    document.dispatchEvent(new Event("sunlit:login"));
  } catch (e) { err.textContent = e.message; }
});
Sunlit.showWho();
