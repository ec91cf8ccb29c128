// The custodian's hand-in: fetch my sealed share, open it here with my private key file,
// hand in the share text — what `sunlit bid share` does, with the key never leaving the page.
import { api, fmt, showError, t } from "./api.js";
import { b64urlDecode, decodeKeyFile } from "./bidder/bytes.js";
import { SealedBoxError, encodeShare, hasX25519, openSealedBox } from "./sealedbox.js";

let privateKey = null;  // Uint8Array(32), only in this page's memory
const keyState = document.getElementById("key-state");

/** The result line's state: "", "ok" or "error" (its own class stays). */
function mark(elem, state) { elem.classList.remove("ok", "error"); if (state) elem.classList.add(state); }

document.getElementById("key-file").addEventListener("change", async (ev) => {
  privateKey = null; keyState.className = "muted"; keyState.textContent = "";
  const file = ev.target.files && ev.target.files[0];
  if (!file) return;
  try {
    if (file.size > 4096) throw new SealedBoxError("bad_key");
    privateKey = decodeKeyFile(new Uint8Array(await file.arrayBuffer()));
    keyState.textContent = `✓ ${file.name}`; keyState.className = "ok";
  } catch { keyState.textContent = t("bad_key"); keyState.className = "error"; }
});

async function handIn(button) {
  const row = button.closest(".share-row");
  const out = row.querySelector(".share-result");
  const tenderId = button.dataset.tender;
  const lotId = button.dataset.lot;  // a lot's reserve key instead of a tender's opening key
  const base = lotId ? `/api/v1/auctions/lots/${lotId}/reserve` : `/api/v1/tenders/${tenderId}`;
  mark(out, ""); out.textContent = "";
  if (!privateKey) { out.textContent = t("choose_key"); mark(out, "error"); document.getElementById("key-file").focus(); return; }
  if (!(await hasX25519())) { out.textContent = t("no_x25519"); mark(out, "error"); return; }
  button.disabled = true;
  try {
    out.textContent = t("opening");
    const sealed = await api(`${base}/shares/mine`);
    let share;
    try {
      share = encodeShare(await openSealedBox(privateKey, b64urlDecode(sealed.sealed_share), sealed.context));
    } catch (e) {
      if (e instanceof SealedBoxError) { out.textContent = t("wrong_key"); mark(out, "error"); button.disabled = false; return; }
      throw e;
    }
    out.textContent = t("handing_in");
    const r = await api(`${base}/shares`, { json: { share } });
    const state = lotId ? r.phase : r.state;
    out.textContent = fmt(t("handed_in"), { position: sealed.position, received: r.shares_received, needed: r.threshold_k, state: t("state." + state) === "state." + state ? state : t("state." + state) })
      + (state === "opened" ? " " + t("opened") : "") + (lotId && state === "closed" ? " " + t("revealed") : "");
    mark(out, "ok");
    row.dataset.state = state;
    row.querySelector(".shares-received").textContent = r.shares_received;
    button.remove();
  } catch (e) { showError(out, e); button.disabled = false; }
}

for (const b of document.querySelectorAll("button.hand-in")) b.addEventListener("click", () => handIn(b));
