// Byte helpers shared by the bidder's sealing and receipt modules: the text encodings of
// crypto/keys.py (strict lowercase hex, strict unpadded base64url), the key-file reader of
// bidding/client.py (decode_key_text / load_key), and canonical JSON exactly as
// crypto.signing.canonical_json spells it (Python's json.dumps(sort_keys=True,
// separators=(",", ":"), ensure_ascii=False)). No I/O, no globals but TextEncoder.

const ENC = new TextEncoder();

export function utf8(text) {
  if (typeof text !== "string" || !text.isWellFormed()) {
    throw new TypeError("text with a lone surrogate has no UTF-8 form");
  }
  return ENC.encode(text);
}

export function concat(...parts) {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Lexicographic order of two byte strings (Python's bytes comparison). */
export function compareBytes(a, b) {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    if (a[i] !== b[i]) return a[i] - b[i];
  }
  return a.length - b.length;
}

export function equalBytes(a, b) {
  return a.length === b.length && compareBytes(a, b) === 0;
}

export function hexEncode(bytes) {
  let s = "";
  for (const b of bytes) s += b.toString(16).padStart(2, "0");
  return s;
}

/** Strict lowercase hex (crypto.keys.hex_decode). */
export function hexDecode(text, size) {
  if (typeof text !== "string" || !/^(?:[0-9a-f]{2})*$/.test(text)) {
    throw new KeyTextError("expected lowercase hex");
  }
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  checkSize(out, size);
  return out;
}

const B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** Unpadded base64url (RFC 4648 §5). */
export function b64urlEncode(bytes) {
  let out = "";
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i] << 16;
    out += B64[n >> 18] + B64[(n >> 12) & 63];
  } else if (rest === 2) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63];
  }
  return out;
}

/** Strict unpadded base64url: only the canonical spelling of a value is accepted. */
export function b64urlDecode(text, size) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new KeyTextError("expected unpadded base64url");
  }
  const out = new Uint8Array(Math.floor((text.length * 3) / 4));
  let bits = 0;
  let value = 0;
  let at = 0;
  for (const ch of text) {
    value = (value << 6) | B64.indexOf(ch);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[at++] = (value >> bits) & 0xff;
    }
  }
  if (b64urlEncode(out) !== text) throw new KeyTextError("non-canonical base64url");
  checkSize(out, size);
  return out;
}

export class KeyTextError extends Error {}

function checkSize(data, size) {
  if (size !== undefined && data.length !== size) {
    throw new KeyTextError(`${data.length} bytes, need ${size}`);
  }
}

/**
 * A 32-byte key from what a key file holds (bidding/client.py load_key): the raw 32 bytes,
 * or one line of 64 hex digits or base64 in either alphabet, padded or not.
 */
export function decodeKeyFile(bytes) {
  if (bytes.length === 32) return new Uint8Array(bytes);
  const text = new TextDecoder("ascii").decode(bytes).trim();
  if (text.length === 64) return hexDecode(text.toLowerCase(), 32);
  return b64urlDecode(text.replace(/=+$/, "").replaceAll("+", "-").replaceAll("/", "_"), 32);
}

// ----------------------------------------------------------------------- canonical JSON

function compareCodePoints(a, b) {
  // Python sorts str keys by code point; JS's default sort compares UTF-16 units.
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done || y.done) return (x.done ? 0 : 1) - (y.done ? 0 : 1);
    const d = x.value.codePointAt(0) - y.value.codePointAt(0);
    if (d !== 0) return d;
  }
}

function canonicalText(value) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) {
      throw new TypeError("canonical JSON holds integers only (money in fen)");
    }
    return String(value);
  }
  if (typeof value === "string") {
    if (!value.isWellFormed()) throw new TypeError("a lone surrogate has no UTF-8 form");
    return JSON.stringify(value); // escapes exactly ", \ and U+0000..U+001F, as Python does
  }
  if (Array.isArray(value)) return "[" + value.map(canonicalText).join(",") + "]";
  if (typeof value === "object") {
    const keys = Object.keys(value).sort(compareCodePoints);
    return "{" + keys.map((k) => canonicalText(k) + ":" + canonicalText(value[k])).join(",") + "}";
  }
  throw new TypeError(`no canonical JSON for ${typeof value}`);
}

/** The one byte encoding that is hashed and signed (crypto.signing.canonical_json). */
export function canonicalJson(value) {
  return utf8(canonicalText(value));
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

/** A key id: lowercase hex SHA-256 of the raw public key (crypto.keys.key_id). */
export async function keyId(publicRaw) {
  return hexEncode(await sha256(publicRaw));
}

export function webCryptoMissing() {
  if (!globalThis.isSecureContext || !globalThis.crypto || !crypto.subtle) {
    return "secure_context";
  }
  return null;
}
