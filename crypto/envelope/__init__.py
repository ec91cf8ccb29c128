"""The sealed envelope: a bid of any size, encrypted to a tender's opening key and signed
by its bidder, sealed and opened in constant memory.

Theory of operation (the byte-level spec is ``docs/crypto.md``)::

    envelope  := preamble header record* last signature
    preamble  := "SUNLIT-ENV" | version u8 (=1) | header_len u32be            15 bytes
    header    := canonical JSON (sorted keys, no spaces, UTF-8), <= 4096 bytes
    record    := tag u8 | index u32be | length u32be | body[length]          9 + length
                 tag 0x00 chunk, 0x01 last chunk, 0x02 signature

The header names the suite ("X25519-HKDF-SHA256-AES256GCM", version 1), the tender, the
bidder, the key ids of the opening key (recipient) and of the bidder's signing key, the
chunk size, and the suite's parameters (ephemeral X25519 key, HKDF salt, nonce prefix).
Chunk ``i`` is ``AES-256-GCM(key, nonce = prefix7 || u32be(i) || last_flag,
ad = sha256(preamble || header) || u32be(i) || last_flag)``: the STREAM construction, so
a chunk moved, dropped, repeated or falsely marked last does not decrypt, and a stream cut
after any chunk lacks its marked last chunk. Every chunk but the last holds exactly
``chunk_size`` plaintext bytes; the last holds 1..chunk_size (0 only when the whole
plaintext is empty).

The signature record (index = number of chunks, 64 bytes) holds the bidder's Ed25519
signature of ``b"sunlit/envelope-signature/v1\\x00" || sha256(every byte before it)`` —
preamble, header and every chunk record with its framing. One running SHA-256 gives both
that digest and, continued over the signature record, the envelope's own SHA-256 (the bid
hash on the receipt and in the Merkle tree): the file is hashed once.

Three drivers share the checks: :func:`seal` (pull from a reader, push to a writer),
:class:`EnvelopeInspector` (push parser for the server: bytes in, in any pieces; it checks
structure, header expectations and the signature, and never holds more than a header and
a record head), and :func:`open_envelope` (pull, decrypt chunk by chunk). Memory is
bounded by ``chunk_size`` in all three.

``open_envelope`` writes each chunk's plaintext as soon as that chunk authenticates; a
truncated stream, a missing signature or a bad signature is detected only at the end, so
on any ``EnvelopeError`` the caller must discard everything written.

Readers: objects with ``readinto`` or ``read`` (binary files, ``io.BytesIO``), or any
iterable of bytes-like pieces. Writers: objects whose ``write(b)`` consumes all of ``b``
before returning and keeps no reference to it (binary files, ``io.BytesIO``); the drivers
reuse their buffers between calls.

Suites are registered in :data:`SUITES` by name, so a national suite (SM2 key agreement,
SM3 KDF, SM4-GCM) can be added beside the first without changing the format.

Modules: ``format`` (the byte layout, limits, the header and result records), ``suites``
(the suite and signature-scheme registries), ``checks`` (what the drivers share),
``source`` (readers), and one per driver: ``sealing``, ``inspection``, ``opening``. The
package presents the drivers and what they return; the rest is imported from its module.
"""

from __future__ import annotations

from .format import EnvelopeInfo, OpenResult
from .inspection import EnvelopeInspector, inspect
from .opening import open_bytes, open_envelope
from .sealing import seal, seal_bytes

__all__ = [
    "EnvelopeInfo",
    "EnvelopeInspector",
    "OpenResult",
    "inspect",
    "open_bytes",
    "open_envelope",
    "seal",
    "seal_bytes",
]
