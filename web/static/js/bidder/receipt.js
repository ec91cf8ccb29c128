// Checking a signed receipt in the page, as `sunlit bid verify-receipt` does offline
// (bidding/client.py verify_receipt, bidding/records.py): the wire form
// {document, signature, key_id, algorithm}, Ed25519 (WebCrypto) over the canonical JSON of
// the document with the server's published key, the type sunlit/bid-receipt/v1, and —
// given the envelope or its hash — that the receipt names this very envelope.

import { sha256 as nobleSha256 } from "../../vendor/noble-hashes-2.4.0/sha2.js";
import { b64urlDecode, canonicalJson, decodeKeyFile, hexEncode, utf8 } from "./bytes.js";

export const RECEIPT_TYPE = "sunlit/bid-receipt/v1";
const READ_BYTES = 1024 * 1024;

/** The server's Ed25519 public key from GET /api/v1/bidding/server-key (or hex/base64url text). */
export function serverKeyFrom(value) {
  if (value instanceof Uint8Array) return value;
  if (value && typeof value === "object") value = value.public_key_hex ?? value.public_key;
  return decodeKeyFile(utf8(String(value)));
}

/** Parse the strict wire form (records.Signed.from_json); throws a reason code. */
export function parseSigned(obj) {
  if (typeof obj === "string") {
    try {
      obj = JSON.parse(obj);
    } catch {
      return { error: "not_json" };
    }
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return { error: "not_signed" };
  for (const k of ["document", "signature", "key_id"]) if (!(k in obj)) return { error: "not_signed" };
  if ((obj.algorithm ?? "Ed25519") !== "Ed25519") return { error: "unknown_algorithm" };
  if (!obj.document || typeof obj.document !== "object" || Array.isArray(obj.document) || typeof obj.key_id !== "string") {
    return { error: "not_signed" };
  }
  let signature;
  try {
    signature = b64urlDecode(obj.signature, 64);
  } catch {
    return { error: "bad_signature_encoding" };
  }
  return { document: obj.document, signature, keyId: obj.key_id };
}

/**
 * Verify a receipt. `receipt`: the JSON object or text; `serverPublic`: 32 bytes or what
 * serverKeyFrom reads; `envelopeSha256`: lowercase hex of the envelope, optional.
 * Returns {ok, reason, document}; reason is "valid" or a stable code.
 */
export async function verifyReceipt(receipt, serverPublic, { envelopeSha256 } = {}) {
  const signed = parseSigned(receipt);
  if (signed.error) return { ok: false, reason: signed.error, document: null };
  let key;
  try {
    key = await crypto.subtle.importKey("raw", serverKeyFrom(serverPublic), { name: "Ed25519" }, false, ["verify"]);
  } catch {
    return { ok: false, reason: "bad_server_key", document: signed.document };
  }
  let message;
  try {
    message = canonicalJson(signed.document);
  } catch {
    return { ok: false, reason: "not_canonical", document: signed.document };
  }
  const good = await crypto.subtle.verify({ name: "Ed25519" }, key, signed.signature, message);
  if (!good) return { ok: false, reason: "bad_signature", document: signed.document };
  if (signed.document.type !== RECEIPT_TYPE) return { ok: false, reason: "wrong_type", document: signed.document };
  if (envelopeSha256 !== undefined && envelopeSha256 !== null && signed.document.envelope_sha256 !== envelopeSha256) {
    return { ok: false, reason: "other_envelope", document: signed.document };
  }
  return { ok: true, reason: "valid", document: signed.document };
}

/** SHA-256 of a File or Blob, read a slice at a time (the bid hash of an envelope file). */
export async function blobSha256(blob, onProgress = () => {}) {
  const h = nobleSha256.create();
  for (let at = 0; at < blob.size; at += READ_BYTES) {
    const piece = new Uint8Array(await blob.slice(at, at + READ_BYTES).arrayBuffer());
    h.update(piece);
    onProgress(Math.min(blob.size, at + READ_BYTES), blob.size);
  }
  onProgress(blob.size, blob.size);
  return hexEncode(h.digest());
}
