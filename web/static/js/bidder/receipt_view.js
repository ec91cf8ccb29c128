// A receipt's check as one line of text in the page's language (tender.js, receipts.js).

import { t } from "../api.js";
import { verifyReceipt } from "./receipt.js";

/** {ok, text, document}: "✓ …" when valid, "✗ …" with the reason otherwise. */
export async function receiptLine(receipt, serverKey, envelopeSha256) {
  const v = await verifyReceipt(receipt, serverKey, { envelopeSha256 });
  let key = `receipt_${v.reason}`;
  if (v.ok && envelopeSha256) key = "receipt_valid_envelope";
  const text = t(key) === key ? v.reason : t(key);
  return { ok: v.ok, text: `${v.ok ? "✓" : "✗"} ${text}`, document: v.document };
}
