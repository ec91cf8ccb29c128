// The evaluation member's signature, made in the page: Ed25519 (WebCrypto) over the canonical
// JSON of the document — exactly what `sunlit evaluation sign` makes. The key file is read
// by the bidder portal's own functions (one reading of key files, one canonical JSON): the
// private key stays in this page's memory as a non-extractable CryptoKey and is never sent;
// only the document and the signature go to the server.
import { b64urlEncode, canonicalJson, hexEncode } from "../bidder/bytes.js";
import { loadSigningKey } from "../bidder/seal.js";

/** Read a key file chosen in an <input type=file>: {privateKey, publicHex}. */
export async function keyFromFile(file) {
  const data = new Uint8Array(await file.arrayBuffer());
  try {
    const key = await loadSigningKey(data);
    return { privateKey: key.privateKey, publicHex: hexEncode(key.publicRaw) };
  } finally {
    data.fill(0);
  }
}

/** The request body ``{document, signature}`` for a signed sheet or report signature. */
export async function signedBody(key, document) {
  const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, canonicalJson(document)));
  return { document, signature: b64urlEncode(signature) };
}
