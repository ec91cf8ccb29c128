// Sealed box (crypto/sealedbox.py, docs/crypto.md) opened in the browser with WebCrypto.
//
//   box = 0x01 | ephemeral_public (32) | AES-256-GCM(ciphertext || tag)
//   shared = X25519(recipient_private, ephemeral_public)
//   okm = HKDF-SHA256(ikm=shared, salt=ephemeral_public || recipient_public,
//                     info="sunlit/sealedbox/v1\0" || context, L=44)
//   key = okm[0:32], nonce = okm[32:44], associated data = box[0:33]
//
// The private key stays in this page: it is imported as a non-extractable-after-use
// CryptoKey and never sent anywhere.
import { b64urlDecode } from "./bidder/bytes.js";

const VERSION = 1;
const KEY_SIZE = 32;
const OVERHEAD = 1 + KEY_SIZE + 16;
const LABEL = new TextEncoder().encode("sunlit/sealedbox/v1\0");
// PKCS#8 wrapping of a raw X25519 private key (RFC 8410): SEQ { 0, AlgId { 1.3.101.110 }, OCTET { OCTET key } }
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20]);

export class SealedBoxError extends Error {
  constructor(code, message) { super(message || code); this.code = code; }
}

/** Whether this browser's WebCrypto has X25519. */
export async function hasX25519() {
  try { await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]); return true; }
  catch { return false; }
}

async function importPrivate(raw) {
  const pkcs8 = new Uint8Array(PKCS8_PREFIX.length + KEY_SIZE);
  pkcs8.set(PKCS8_PREFIX); pkcs8.set(raw, PKCS8_PREFIX.length);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);  // carries the public key as x
  return { key, publicRaw: b64urlDecode(jwk.x) };
}

/** Open a sealed box with a raw 32-byte X25519 private key, for a context (bytes or text). */
export async function openSealedBox(privateRaw, box, context) {
  if (box.length < OVERHEAD) throw new SealedBoxError("malformed", `${box.length} bytes`);
  if (box[0] !== VERSION) throw new SealedBoxError("malformed", `version ${box[0]}`);
  const ctx = typeof context === "string" ? new TextEncoder().encode(context) : context;
  const head = box.slice(0, 1 + KEY_SIZE);
  const ephemeral = head.slice(1);
  const { key, publicRaw } = await importPrivate(privateRaw);
  let shared;
  try {
    const eph = await crypto.subtle.importKey("raw", ephemeral, { name: "X25519" }, false, []);
    shared = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: eph }, key, 256));
  } catch (e) { throw new SealedBoxError("decrypt_failed", String(e)); }
  const salt = new Uint8Array(2 * KEY_SIZE); salt.set(ephemeral); salt.set(publicRaw, KEY_SIZE);
  const info = new Uint8Array(LABEL.length + ctx.length); info.set(LABEL); info.set(ctx, LABEL.length);
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveBits"]);
  const okm = new Uint8Array(await crypto.subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, ikm, 44 * 8));
  const aes = await crypto.subtle.importKey("raw", okm.slice(0, 32), "AES-GCM", false, ["decrypt"]);
  try {
    return new Uint8Array(await crypto.subtle.decrypt({ name: "AES-GCM", iv: okm.slice(32, 44), additionalData: head, tagLength: 128 }, aes, box.slice(1 + KEY_SIZE)));
  } catch { throw new SealedBoxError("decrypt_failed", "the box does not open with this key"); }
}

/** A Shamir share's bytes (version, k, x, y…) as the text the API takes: S1-<k>-<x>-<hex>
 *  (crypto/shamir.py Share.encode). */
export function encodeShare(bytes) {
  if (bytes.length < 4 || bytes[0] !== 1) throw new SealedBoxError("malformed", "not a version-1 share");
  const hex = Array.from(bytes.slice(3), (b) => b.toString(16).padStart(2, "0")).join("");
  return `S1-${bytes[1]}-${bytes[2]}-${hex}`;
}
