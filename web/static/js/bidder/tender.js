// One tender from the bidder's side: register, ask, object; seal the bid in this page and
// upload it with a progress bar; check every receipt against the server's published key;
// replace and withdraw before the deadline. The signing key is read from a local file into
// a non-extractable WebCrypto key and is never sent anywhere.

import { api, ApiError, csrfToken, el, localTime, showError, t } from "../api.js";
import { webCryptoMissing } from "./bytes.js";
import { receiptLine } from "./receipt_view.js";
import { loadSigningKey, priceSchedule, sealBid, SealError, yuanToFen } from "./seal.js";

const DATA = JSON.parse(document.getElementById("bidder-data").textContent);
const TID = DATA.tender_id;
const SERVER_KEY = document.getElementById("server-key")?.textContent.trim();
const $ = (id) => document.getElementById(id);

function fill(key, vars = {}) {
  let s = t(key);
  for (const [k, v] of Object.entries(vars)) s = s.replaceAll(`{${k}}`, String(v));
  return s;
}

function say(node, text, cls = "") {
  if (!node) return;
  node.textContent = text;
  node.classList.remove("error", "ok", "bad");
  if (cls) node.classList.add(cls);
}

function sealMessage(err) {
  if (err instanceof SealError) return t(`seal_${err.code}`) !== `seal_${err.code}` ? t(`seal_${err.code}`) : err.message;
  return err?.message || t("error");
}

// ------------------------------------------------------------------ my bid and receipts

let lastSealed = null; // {sha} of the envelope sealed in this page, to match its receipt

async function renderStatus(status) {
  const box = $("bid-status");
  box.textContent = "";
  const cur = status.current;
  if (cur) {
    box.append(
      el("p", { class: "ok", id: "current-bid" },
        `${t("status_current")} · ${t("received_at")} ${localTime(cur.received_at, true)}`),
      el("p", { class: "muted" }, `${t("envelope")} `, el("code", { class: "hash", id: "current-sha" }, cur.envelope_sha256),
        ` · ${t("size")} ${cur.envelope_size_bytes.toLocaleString()}`),
    );
  } else {
    box.append(el("p", { class: "muted", id: "no-bid" }, t("no_bid")));
  }
  const withdraw = $("withdraw-form");
  if (withdraw) withdraw.hidden = !cur;
  const sealButton = $("seal-submit");
  if (sealButton && cur) sealButton.textContent = sealButton.dataset.replace || sealButton.textContent;
  const sealHeading = $("seal-h");
  if (sealHeading && cur) sealHeading.textContent = sealHeading.dataset.replace || sealHeading.textContent;

  const body = $("receipts").tBodies[0];
  body.textContent = "";
  const receipts = [...status.receipts].sort((a, b) => b.document.sequence - a.document.sequence);
  if (receipts.length) {
    $("receipts").createTHead().replaceChildren(el("tr", {},
      el("th", { scope: "col" }, t("sequence")), el("th", { scope: "col" }, t("action")),
      el("th", { scope: "col" }, t("received_at")), el("th", { scope: "col" }, t("envelope")),
      el("th", { scope: "col" }, t("check"))));
  }
  const checks = [];
  for (const r of receipts) {
    const d = r.document;
    const cell = el("td", { class: "check" }, t("checking"));
    body.append(el("tr", { "data-seq": d.sequence, "data-action": d.action },
      el("td", {}, String(d.sequence)), el("td", {}, t(`action_${d.action}`)),
      el("td", {}, localTime(d.received_at, true)),
      el("td", {}, el("code", { class: "hash" }, d.envelope_sha256)), cell));
    const sha = lastSealed && lastSealed.sequence === d.sequence ? lastSealed.sha : undefined;
    checks.push(receiptLine(r, SERVER_KEY, sha).then(({ ok, text }) => say(cell, text, ok ? "ok" : "bad")));
  }
  await Promise.all(checks);
}

async function refreshStatus() {
  await renderStatus(await api(`/api/v1/tenders/${TID}/bid`));
}

// ------------------------------------------------------------------ the signing key

let signingKey = null;

async function onKeyFile(input) {
  const status = $("key-status");
  signingKey = null;
  const file = input.files[0];
  if (!file) return say(status, "");
  say(status, t("reading_key"));
  try {
    if (file.size > 4096) throw new SealError("bad_key_file");
    const bytes = new Uint8Array(await file.arrayBuffer());
    try {
      signingKey = await loadSigningKey(bytes);
    } finally {
      bytes.fill(0); // the key's bytes do not linger in the page; the CryptoKey is not extractable
    }
  } catch (err) {
    return say(status, sealMessage(err), "error");
  }
  say(status, fill("key_loaded", { id: signingKey.keyId.slice(0, 16) }), "ok");
  try {
    const keys = await api(`/api/v1/organisations/${DATA.org_id}/keys?algorithm=ed25519`);
    const hex = [...signingKey.publicRaw].map((b) => b.toString(16).padStart(2, "0")).join("");
    if (!keys.some((k) => k.public_key_hex === hex)) say(status, t("key_not_registered"), "bad");
  } catch {
    /* the check is a courtesy: the server decides */
  }
}

// ------------------------------------------------------------------ seal and submit

function declaredItems(text) {
  const items = {};
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const at = line.indexOf("=");
    if (at < 1) throw new SealError("bad_items");
    const key = line.slice(0, at).trim();
    const value = line.slice(at + 1).trim();
    if (!key) throw new SealError("bad_items");
    items[key] = value;
  }
  return items;
}

function upload(blob, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", `/api/v1/tenders/${TID}/bid`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.setRequestHeader("Accept", "application/json");
    xhr.setRequestHeader("Accept-Language", document.body.dataset.lang === "en" ? "en" : "zh-CN");
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded, e.total);
    xhr.onerror = () => reject(new ApiError(0, { code: "network_error", detail: t("network_error") }));
    xhr.onload = () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch {
        body = { detail: xhr.responseText.slice(0, 200) };
      }
      if (xhr.status === 201 || xhr.status === 200) resolve(body);
      else reject(new ApiError(xhr.status, body));
    };
    xhr.send(blob);
  });
}

async function onSeal(form) {
  const status = $("seal-status");
  const errorBox = $("seal-error");
  const bar = $("seal-progress");
  const button = $("seal-submit");
  say(errorBox, "");
  const missing = webCryptoMissing();
  if (missing) return say(errorBox, t(missing), "error");
  if (!signingKey) {
    $("key-file").focus();
    return say(errorBox, t("need_key"), "error");
  }
  let schedule;
  try {
    let amountFen;
    try {
      amountFen = yuanToFen($("amount").value);
    } catch {
      $("amount").focus();
      throw new SealError("bad_amount");
    }
    const days = Number($("duration").value);
    if (!/^[0-9]+$/.test($("duration").value.trim())) {
      $("duration").focus();
      throw new SealError("bad_duration");
    }
    schedule = priceSchedule({ amountFen, durationDays: days, declaredItems: declaredItems($("declared").value) });
  } catch (err) {
    return say(errorBox, sealMessage(err), "error");
  }
  button.disabled = true;
  form.setAttribute("aria-busy", "true");
  try {
    const sealed = await sealBid({
      tenderPublic: DATA.opening_public_key,
      tenderId: TID,
      bidderOrgId: DATA.org_id,
      signingKey,
      schedule,
      documents: [...$("documents-input").files],
      onProgress: (done, total) => {
        const pct = total ? Math.floor((100 * done) / total) : 100;
        bar.value = pct;
        say(status, fill("sealing", { pct }));
      },
    });
    if (DATA.max_bid_bytes && sealed.envelopeSize > DATA.max_bid_bytes) throw new SealError("too_large");
    bar.value = 0;
    const receipt = await upload(sealed.blob, (done, total) => {
      const pct = Math.floor((100 * done) / total);
      bar.value = pct;
      say(status, fill("uploading", { pct }));
    });
    bar.value = 100;
    lastSealed = { sha: sealed.envelopeSha256, sequence: receipt.document?.sequence };
    const { ok, text } = await receiptLine(receipt, SERVER_KEY, sealed.envelopeSha256);
    say(status, ok ? t("submitted") : text, ok ? "ok" : "bad");
    offerFiles(receipt, sealed.blob);
    await refreshStatus();
  } catch (err) {
    bar.value = 0;
    say(status, "");
    if (err instanceof ApiError) showError(errorBox, err);
    else say(errorBox, sealMessage(err), "error");
  } finally {
    button.disabled = false;
    form.removeAttribute("aria-busy");
  }
}

async function onWithdraw(form) {
  const status = $("withdraw-status");
  if (!$("withdraw-confirm").checked) {
    $("withdraw-confirm").focus();
    return say(status, t("confirm_withdraw"), "error");
  }
  form.querySelector("button").disabled = true;
  try {
    const receipt = await api(`/api/v1/tenders/${TID}/bid`, { method: "DELETE" });
    lastSealed = null;
    const { ok, text } = await receiptLine(receipt, SERVER_KEY);
    say(status, ok ? t("withdrawn") : text, ok ? "ok" : "bad");
    $("withdraw-confirm").checked = false;
    await refreshStatus();
  } catch (err) {
    showError(status, err);
  } finally {
    form.querySelector("button").disabled = false;
  }
}

/** Links to save the receipt and the envelope (blob: URLs, nothing leaves the browser). */
function offerFiles(receipt, envelope) {
  const box = $("seal-files");
  for (const a of box.querySelectorAll("a")) URL.revokeObjectURL(a.href);
  const seq = receipt.document?.sequence ?? "";
  const json = new Blob([JSON.stringify(receipt, null, 2) + "\n"], { type: "application/json" });
  box.replaceChildren(
    el("a", { id: "save-receipt", href: URL.createObjectURL(json), download: `receipt-${TID}-${seq}.json` }, t("save_receipt")),
    " · ",
    el("a", { id: "save-envelope", href: URL.createObjectURL(envelope), download: `bid-${TID}-${seq}.env` }, t("save_envelope")),
    el("br"),
    el("span", { class: "muted" }, t("keep_files")),
  );
}

// ------------------------------------------------------------------ simple writes

async function onRegister(form) {
  const status = $("register-status");
  form.querySelector("button").disabled = true;
  try {
    await api(`/api/v1/tenders/${TID}/registrations`, { method: "POST" });
    say(status, t("registered"), "ok");
    location.reload();
  } catch (err) {
    showError(status, err);
    form.querySelector("button").disabled = false;
  }
}

async function onWrite(form) {
  const status = form.querySelector(".form-status");
  const text = form.querySelector("textarea").value.trim();
  if (!text) return form.querySelector("textarea").focus();
  form.querySelector("button").disabled = true;
  try {
    await api(form.dataset.path, { json: { text } });
    say(status, t("sent"), "ok");
    location.reload();
  } catch (err) {
    showError(status, err);
    form.querySelector("button").disabled = false;
  }
}

function on(id, handler) {
  const form = $(id);
  if (!form) return;
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    handler(form);
  });
}

on("seal-form", onSeal);
on("withdraw-form", onWithdraw);
on("register-form", onRegister);
for (const form of document.querySelectorAll("form.write")) {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    onWrite(form);
  });
}
$("key-file")?.addEventListener("change", (e) => onKeyFile(e.target));
renderStatus(DATA.status);
