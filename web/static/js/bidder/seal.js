// Sealing a bid in the browser: the bid package (bidding/package.py, version 1) sealed into
// an envelope (docs/crypto.md, format version 1, suite X25519-HKDF-SHA256-AES256GCM v1)
// to the tender's opening key, signed with the organisation's Ed25519 key. Byte for byte
// what `sunlit bid seal` writes: given the same random bytes, the same envelope.
//
// X25519, HKDF-SHA-256, AES-256-GCM and Ed25519 are WebCrypto (Chromium ≥ 133); the running
// SHA-256 over the envelope is @noble/hashes (vendored), because WebCrypto's digest is
// one-shot. Documents are read from their File objects a slice at a time and the envelope
// is gathered as a Blob of Blobs (which the browser may keep on disk), so a large bid is
// never held in memory whole, let alone twice. The signing key is imported
// non-extractable and never leaves the page.

import { sha256 as nobleSha256 } from "../../vendor/noble-hashes-2.4.0/sha2.js";
import {
  b64urlDecode,
  b64urlEncode,
  canonicalJson,
  compareBytes,
  concat,
  decodeKeyFile,
  hexEncode,
  keyId,
  utf8,
} from "./bytes.js";

export const MAGIC = utf8("SUNLIT-ENV");
export const FORMAT_VERSION = 1;
export const SUITE = "X25519-HKDF-SHA256-AES256GCM";
export const SUITE_VERSION = 1;
export const DEFAULT_CHUNK_SIZE = 64 * 1024;
export const MIN_CHUNK_SIZE = 64;
export const MAX_CHUNK_SIZE = 16 * 1024 * 1024;
export const MAX_HEADER_SIZE = 4096;
const TAG_SIZE = 16;
const TAG_CHUNK = 0x00;
const TAG_LAST = 0x01;
const TAG_SIGNATURE = 0x02;
const SIGNATURE_LABEL = utf8("sunlit/envelope-signature/v1\0");
const KDF_INFO = utf8("sunlit/envelope/v1\0" + SUITE + "\0");
const READ_BYTES = 1024 * 1024; // one slice of a File per read
const FLUSH_BYTES = 8 * 1024 * 1024; // records gathered into a Blob this often

export const PACKAGE_MAGIC = utf8("SUNLIT-BID");
export const PRICE_SCHEDULE_NAME = "price-schedule.json";
export const MAX_AMOUNT_FEN = 10 ** 15;
export const MAX_DURATION_DAYS = 36500;
const MAX_ENTRIES = 1000;
const MAX_NAME_BYTES = 255;
const MAX_SCHEDULE_BYTES = 64 * 1024;

const PKCS8_ED25519 = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
);
const PKCS8_X25519 = Uint8Array.of(
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20,
);

/** A refusal with a stable code (the page translates the code). */
export class SealError extends Error {
  constructor(code, detail = "") {
    super(detail ? `${code}: ${detail}` : code);
    this.code = code;
    this.detail = detail;
  }
}

function u32(n) {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function u16(n) {
  const b = new Uint8Array(2);
  new DataView(b.buffer).setUint16(0, n);
  return b;
}

function u64(n) {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n));
  return b;
}

function randomBytes(n) {
  return crypto.getRandomValues(new Uint8Array(n));
}

// ------------------------------------------------------------------------------ keys

/**
 * The organisation's signing key from a key file's bytes (as `sunlit bid keygen` writes
 * `<name>.ed25519`: one line of base64url; raw 32 bytes and 64 hex digits are read too).
 * Returns {privateKey: non-extractable CryptoKey, publicRaw, keyId}.
 */
export async function loadSigningKey(fileBytes) {
  let seed;
  try {
    seed = decodeKeyFile(fileBytes);
  } catch (err) {
    throw new SealError("bad_key_file", err.message);
  }
  const pkcs8 = concat(PKCS8_ED25519, seed);
  const once = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, true, ["sign"]);
  const jwk = await crypto.subtle.exportKey("jwk", once);
  const publicRaw = b64urlDecode(jwk.x, 32);
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "Ed25519" }, false, ["sign"]);
  pkcs8.fill(0);
  seed.fill(0);
  return { privateKey, publicRaw, keyId: await keyId(publicRaw) };
}

/** The tender's opening public key: 32 raw bytes, or base64url / hex text. */
export function tenderPublicKey(value) {
  if (value instanceof Uint8Array) return value;
  try {
    return decodeKeyFile(utf8(String(value)));
  } catch (err) {
    throw new SealError("bad_tender_key", err.message);
  }
}

// ------------------------------------------------------------------------- the package

/** Money typed in yuan ("8,120,000.5") as integer fen, never through a float. */
export function yuanToFen(text) {
  const clean = String(text).trim().replaceAll(",", "").replaceAll("，", "");
  const m = /^([0-9]{1,14})(?:\.([0-9]{1,2}))?$/.exec(clean);
  if (!m) throw new SealError("bad_amount");
  const fen = BigInt(m[1]) * 100n + BigInt((m[2] || "").padEnd(2, "0"));
  if (fen < 1n || fen > BigInt(MAX_AMOUNT_FEN)) throw new SealError("bad_amount");
  return Number(fen);
}

/** The price schedule's bytes (bidding.package.parse_price_schedule's rules). */
export function priceSchedule({ amountFen, durationDays, declaredItems, confidentialItems }) {
  if (!Number.isSafeInteger(amountFen) || amountFen < 1 || amountFen > MAX_AMOUNT_FEN) {
    throw new SealError("bad_amount");
  }
  if (!Number.isSafeInteger(durationDays) || durationDays < 1 || durationDays > MAX_DURATION_DAYS) {
    throw new SealError("bad_duration");
  }
  const schedule = { amount_fen: amountFen, duration_days: durationDays };
  for (const [key, items] of [["declared_items", declaredItems], ["confidential_items", confidentialItems]]) {
    if (items === undefined || Object.keys(items).length === 0) continue;
    if (Object.keys(items).length > 50) throw new SealError("bad_items", key);
    for (const [k, v] of Object.entries(items)) {
      const chars = [...k].length;
      const ok =
        typeof v === "boolean" ||
        (Number.isSafeInteger(v) && Math.abs(v) <= MAX_AMOUNT_FEN) ||
        (typeof v === "string" && [...v].length <= 1000);
      if (chars < 1 || chars > 100 || !ok) throw new SealError("bad_items", `${key}.${k}`);
    }
    schedule[key] = items;
  }
  const raw = canonicalJson(schedule);
  if (raw.length > MAX_SCHEDULE_BYTES) throw new SealError("schedule_too_large");
  return raw;
}

/** The UTF-8 bytes of a valid entry name (bidding.package.check_name). */
export function checkName(name) {
  if (typeof name !== "string" || !name.isWellFormed()) throw new SealError("bad_document_name", String(name));
  const raw = utf8(name);
  const control = [...name].some((ch) => ch === "/" || ch === "\\" || ch.codePointAt(0) < 0x20 || ch.codePointAt(0) === 0x7f);
  if (raw.length < 1 || raw.length > MAX_NAME_BYTES || control) throw new SealError("bad_document_name", name);
  return raw;
}

function entryHead(rawName, size) {
  return concat(u16(rawName.length), rawName, u64(size));
}

/**
 * The package as parts (Uint8Array or Blob) in order, with its total size. `documents` are
 * File/Blob objects with a `name` (or {name, blob}); they are put in order of their UTF-8
 * names, whatever order they come in.
 */
export function packageParts(scheduleBytes, documents = []) {
  if (scheduleBytes.length > MAX_SCHEDULE_BYTES) throw new SealError("schedule_too_large");
  const docs = documents.map((d) => {
    const blob = d.blob ?? d;
    return { raw: checkName(d.name), blob };
  });
  docs.sort((a, b) => compareBytes(a.raw, b.raw));
  const scheduleName = utf8(PRICE_SCHEDULE_NAME);
  for (let i = 0; i < docs.length; i++) {
    if (compareBytes(docs[i].raw, scheduleName) === 0 || (i > 0 && compareBytes(docs[i - 1].raw, docs[i].raw) === 0)) {
      throw new SealError("duplicate_document_name", new TextDecoder().decode(docs[i].raw));
    }
  }
  if (1 + docs.length > MAX_ENTRIES) throw new SealError("too_many_documents");
  const parts = [
    concat(PACKAGE_MAGIC, Uint8Array.of(1), u16(1 + docs.length)),
    entryHead(scheduleName, scheduleBytes.length),
    scheduleBytes,
  ];
  for (const d of docs) {
    parts.push(entryHead(d.raw, d.blob.size), d.blob);
  }
  let total = 0;
  for (const p of parts) total += p instanceof Uint8Array ? p.length : p.size;
  return { parts, total };
}

/** Reads exact lengths from a sequence of byte arrays and Blobs, a slice at a time. */
class PartsReader {
  constructor(parts) {
    this.parts = parts;
    this.index = 0;
    this.offset = 0; // within the current part
    this.window = new Uint8Array(0);
    this.windowAt = 0;
  }

  async read(n) {
    const out = new Uint8Array(n);
    let filled = 0;
    while (filled < n) {
      if (this.windowAt === this.window.length) {
        if (!(await this.refill())) throw new SealError("file_changed");
        continue;
      }
      const take = Math.min(n - filled, this.window.length - this.windowAt);
      out.set(this.window.subarray(this.windowAt, this.windowAt + take), filled);
      this.windowAt += take;
      filled += take;
    }
    return out;
  }

  async refill() {
    while (this.index < this.parts.length) {
      const part = this.parts[this.index];
      const size = part instanceof Uint8Array ? part.length : part.size;
      if (this.offset >= size) {
        this.index += 1;
        this.offset = 0;
        continue;
      }
      if (part instanceof Uint8Array) {
        this.window = part.subarray(this.offset);
      } else {
        const end = Math.min(size, this.offset + READ_BYTES);
        try {
          this.window = new Uint8Array(await part.slice(this.offset, end).arrayBuffer());
        } catch (err) {
          throw new SealError("file_unreadable", `${part.name ?? ""}: ${err.message}`);
        }
        if (this.window.length !== end - this.offset) throw new SealError("file_changed", part.name ?? "");
      }
      this.offset += this.window.length;
      this.windowAt = 0;
      return true;
    }
    return false;
  }
}

// ------------------------------------------------------------------------ the envelope

async function ephemeralKeyPair(random) {
  if (random === randomBytes) {
    const pair = await crypto.subtle.generateKey({ name: "X25519" }, false, ["deriveBits"]);
    const pub = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    return { privateKey: pair.privateKey, publicRaw: pub };
  }
  // Known-answer tests pass their own bytes: the same envelope as the Python sealer's.
  const pkcs8 = concat(PKCS8_X25519, random(32));
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return { privateKey: key, publicRaw: b64urlDecode(jwk.x, 32) };
}

/**
 * Seal the package to `recipientPublic` (32 bytes) and sign it.
 *
 * options: {recipientPublic, tenderId, bidderId, signingKey (from loadSigningKey), parts,
 *   total (from packageParts), chunkSize, onProgress(doneBytes, totalBytes), signal,
 *   random(n) (tests only)}
 * Returns {blob, envelopeSha256, envelopeSize, plaintextSize, chunkCount, header}.
 */
export async function sealParts({
  recipientPublic,
  tenderId,
  bidderId,
  signingKey,
  parts,
  total,
  chunkSize = DEFAULT_CHUNK_SIZE,
  onProgress = () => {},
  signal,
  random = randomBytes,
}) {
  for (const id of [tenderId, bidderId]) {
    const chars = typeof id === "string" && id.isWellFormed() ? [...id].length : 0;
    if (chars < 1 || chars > 256) throw new SealError("bad_id", String(id));
  }
  if (!Number.isInteger(chunkSize) || chunkSize < MIN_CHUNK_SIZE || chunkSize > MAX_CHUNK_SIZE) {
    throw new SealError("bad_chunk_size", String(chunkSize));
  }
  if (!(recipientPublic instanceof Uint8Array) || recipientPublic.length !== 32) {
    throw new SealError("bad_tender_key");
  }
  const recipient = await crypto.subtle.importKey("raw", recipientPublic, { name: "X25519" }, false, []);
  const eph = await ephemeralKeyPair(random);
  const salt = random(32);
  const prefix = random(7);
  let shared;
  try {
    shared = await crypto.subtle.deriveBits({ name: "X25519", public: recipient }, eph.privateKey, 256);
  } catch (err) {
    throw new SealError("bad_tender_key", `low-order point: ${err.message}`);
  }
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const aes = await crypto.subtle.deriveKey(
    { name: "HKDF", hash: "SHA-256", salt, info: concat(KDF_INFO, eph.publicRaw, recipientPublic) },
    ikm,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt"],
  );
  new Uint8Array(shared).fill(0);

  const headerObj = {
    bidder_id: bidderId,
    chunk_size: chunkSize,
    params: {
      ephemeral_public: b64urlEncode(eph.publicRaw),
      nonce_prefix: b64urlEncode(prefix),
      salt: b64urlEncode(salt),
    },
    recipient_key_id: await keyId(recipientPublic),
    signature_scheme: "Ed25519",
    signer_key_id: signingKey.keyId,
    suite: SUITE,
    suite_version: SUITE_VERSION,
    tender_id: tenderId,
  };
  const header = canonicalJson(headerObj);
  if (header.length > MAX_HEADER_SIZE) throw new SealError("bad_id", "header too large");
  const preamble = concat(MAGIC, Uint8Array.of(FORMAT_VERSION), u32(header.length));
  const headerHash = new Uint8Array(await crypto.subtle.digest("SHA-256", concat(preamble, header)));

  const hasher = nobleSha256.create();
  const out = new Output();
  hasher.update(preamble).update(header);
  out.push(preamble);
  out.push(header);

  const count = Math.max(1, Math.ceil(total / chunkSize));
  if (count > 2 ** 32) throw new SealError("too_large");
  const reader = new PartsReader(parts);
  const nonce = new Uint8Array(12);
  nonce.set(prefix);
  const ad = new Uint8Array(37);
  ad.set(headerHash);
  const view = new DataView(nonce.buffer);
  const adView = new DataView(ad.buffer);
  let done = 0;
  onProgress(0, total);
  for (let i = 0; i < count; i++) {
    if (signal?.aborted) throw new SealError("cancelled");
    const last = i === count - 1;
    const n = last ? total - chunkSize * (count - 1) : chunkSize;
    const plain = await reader.read(n);
    view.setUint32(7, i);
    nonce[11] = last ? 1 : 0;
    adView.setUint32(32, i);
    ad[36] = last ? 1 : 0;
    const body = new Uint8Array(
      await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce, additionalData: ad, tagLength: 128 }, aes, plain),
    );
    const head = concat(Uint8Array.of(last ? TAG_LAST : TAG_CHUNK), u32(i), u32(body.length));
    hasher.update(head).update(body);
    out.push(head);
    out.push(body);
    done += n;
    onProgress(done, total);
  }
  const signedDigest = hasher.clone().digest();
  const signature = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, signingKey.privateKey, concat(SIGNATURE_LABEL, signedDigest)),
  );
  const trailer = concat(Uint8Array.of(TAG_SIGNATURE), u32(count), u32(signature.length), signature);
  hasher.update(trailer);
  out.push(trailer);
  const blob = out.finish();
  return {
    blob,
    envelopeSha256: hexEncode(hasher.digest()),
    envelopeSize: blob.size,
    plaintextSize: total,
    chunkCount: count,
    header: headerObj,
  };
}

/** The sealed records, gathered into Blobs every few MiB so that the page keeps little. */
class Output {
  constructor() {
    this.pending = [];
    this.pendingBytes = 0;
    this.blobs = [];
  }

  push(bytes) {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    if (this.pendingBytes >= FLUSH_BYTES) this.flush();
  }

  flush() {
    if (this.pending.length) this.blobs.push(new Blob(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
  }

  finish() {
    this.flush();
    return new Blob(this.blobs, { type: "application/octet-stream" });
  }
}

/**
 * Everything at once: pack the price schedule and the documents, seal them to the tender's
 * key for this tender and bidder (header ids are the tender's and the organisation's ids as
 * decimal text, bidding.model.envelope_tender_id / envelope_bidder_id), sign.
 */
export async function sealBid({ tenderPublic, tenderId, bidderOrgId, signingKey, schedule, documents = [], ...rest }) {
  const { parts, total } = packageParts(schedule, documents);
  return sealParts({
    recipientPublic: tenderPublicKey(tenderPublic),
    tenderId: String(tenderId),
    bidderId: String(bidderOrgId),
    signingKey,
    parts,
    total,
    ...rest,
  });
}
