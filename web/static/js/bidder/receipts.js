// The receipt check page: a receipt (file or pasted), optionally the envelope it names,
// checked in the browser against the server key shown (or one the user pastes).

import { el, t } from "../api.js";
import { webCryptoMissing } from "./bytes.js";
import { blobSha256 } from "./receipt.js";
import { receiptLine } from "./receipt_view.js";

const $ = (id) => document.getElementById(id);

async function check(form) {
  const out = $("receipt-result");
  const docBox = $("receipt-document");
  docBox.hidden = true;
  out.classList.remove("ok", "bad", "error");
  const missing = webCryptoMissing();
  if (missing) {
    out.textContent = t(missing);
    return out.classList.add("error");
  }
  const file = $("receipt-file").files[0];
  const text = file ? await file.text() : $("receipt-text").value.trim();
  if (!text) {
    out.textContent = t("need_receipt");
    out.classList.add("error");
    return $("receipt-file").focus();
  }
  form.setAttribute("aria-busy", "true");
  out.textContent = t("checking");
  try {
    const envelope = $("envelope-file").files[0];
    let sha;
    if (envelope) {
      sha = await blobSha256(envelope, (done, total) => {
        out.textContent = t("hashing").replace("{pct}", String(Math.floor((100 * done) / Math.max(total, 1))));
      });
    }
    const { ok, text: line, document: doc } = await receiptLine(text, $("server-key-input").value.trim(), sha);
    out.textContent = line;
    out.classList.add(ok ? "ok" : "bad");
    if (doc && typeof doc === "object") {
      docBox.replaceChildren(
        ...Object.entries(doc).flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, typeof v === "object" ? JSON.stringify(v) : String(v))]),
      );
      docBox.hidden = false;
    }
  } finally {
    form.removeAttribute("aria-busy");
  }
}

$("receipt-form").addEventListener("submit", (e) => {
  e.preventDefault();
  check(e.target);
});
