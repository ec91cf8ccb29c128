"""The bid package: what a bidder seals. A price schedule (JSON) plus documents, packed into
one deterministic byte stream that the envelope encrypts.

Format, version 1 (integers big-endian, unsigned)::

    package := "SUNLIT-BID" (10) | version u8 (= 1) | count u16 (1..1000) | entry{count}
    entry   := name_len u16 (1..255) | name (UTF-8) | size u64 | data[size]

Entry 0 is the price schedule, named exactly ``price-schedule.json``, at most
``price_schedule_max_bytes`` (64 KiB by default). The documents follow in strictly
increasing order of their UTF-8 names (so no name repeats and one set of inputs has one
packing). A name is a plain file name: no ``/``, ``\\``, NUL or other control characters.

The price schedule is a JSON object with exactly these keys::

    {"amount_fen": 123456789,              int, 1..10^15 — the bid price in fen
     "duration_days": 365,                 int, 1..36500 — the construction/delivery period
     "declared_items": {"质量": "合格"},     optional: other declared items, published
     "confidential_items": {...}}          optional: for the evaluation panel, not published

Item values are strings (up to 1000 characters), integers or booleans; at most 50 items.

:class:`PackageParser` is a push parser for the opening: ``write(b)`` consumes all of ``b``
at once and keeps only the price schedule (bounded) and, per document, its name, size and
SHA-256 — never document bytes. So a bid of any size is checked in constant memory, and
the plaintext of documents never leaves the parser.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from bidding.model import MAX_AMOUNT_FEN

__all__ = [
    "MAGIC",
    "PRICE_SCHEDULE_NAME",
    "DocumentDigest",
    "PackageDocument",
    "PackageError",
    "PackageParser",
    "ParsedPackage",
    "PriceSchedule",
    "check_name",
    "iter_package",
    "pack_bytes",
    "parse_price_schedule",
]

MAGIC = b"SUNLIT-BID"
VERSION = 1
PRICE_SCHEDULE_NAME = "price-schedule.json"
MAX_ENTRIES = 1000
MAX_NAME_BYTES = 255
MAX_ITEMS = 50
MAX_ITEM_KEY_CHARS = 100
MAX_ITEM_TEXT_CHARS = 1000
MAX_DURATION_DAYS = 36500
DEFAULT_PRICE_SCHEDULE_MAX_BYTES = 64 * 1024

_HEAD = struct.Struct(">10sBH")
_NAME_LEN = struct.Struct(">H")
_SIZE = struct.Struct(">Q")


class PackageCode(Enum):
    NOT_A_BID_PACKAGE = "not_a_bid_package"
    MALFORMED_PACKAGE = "malformed_package"
    TRUNCATED_PACKAGE = "truncated_package"
    PRICE_SCHEDULE_MISSING = "price_schedule_missing"
    PRICE_SCHEDULE_TOO_LARGE = "price_schedule_too_large"
    MALFORMED_PRICE_SCHEDULE = "malformed_price_schedule"


class PackageError(Exception):
    """A decrypted bid is not a well-formed package or price schedule. Found at the
    opening; recorded as the cause of a revoked bid (the bidder's own fault)."""

    def __init__(self, code: PackageCode, detail: str = "") -> None:
        super().__init__(f"{code.value}: {detail}" if detail else code.value)
        self.code = code
        self.detail = detail


def check_name(name: str) -> bytes:
    """The UTF-8 bytes of a valid entry name; ``ValueError`` otherwise."""
    if not isinstance(name, str):
        raise ValueError("a document name is text")
    try:
        raw = name.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("a document name must be valid text") from exc
    if not 1 <= len(raw) <= MAX_NAME_BYTES:
        raise ValueError(f"a document name is 1..{MAX_NAME_BYTES} bytes of UTF-8")
    if any(ch in "/\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name):
        raise ValueError("a document name has no '/', '\\' or control characters")
    return raw


# ---------------------------------------------------------------------------- packing


@dataclass(frozen=True)
class PackageDocument:
    """A document to pack: its name, size, and a function returning its bytes in pieces
    (called once, when its turn comes, so a file is opened only while it is read)."""

    name: str
    size_bytes: int
    pieces: Callable[[], Iterable[bytes]] = field(repr=False)


def iter_package(
    price_schedule: bytes,
    documents: Sequence[PackageDocument] = (),
) -> Iterator[bytes]:
    """The package as a stream of pieces (feed it to ``crypto.envelope.seal`` as the reader).

    Documents are put in name order whatever order they are given in; a repeated name or a
    document whose pieces do not add up to its declared size raises ``ValueError``.
    """
    ordered = sorted(documents, key=lambda d: check_name(d.name))
    names = [check_name(d.name) for d in ordered]
    if len(set(names)) != len(names) or PRICE_SCHEDULE_NAME.encode() in names:
        raise ValueError("document names must be distinct and not 'price-schedule.json'")
    if 1 + len(ordered) > MAX_ENTRIES:
        raise ValueError(f"at most {MAX_ENTRIES - 1} documents")
    yield _HEAD.pack(MAGIC, VERSION, 1 + len(ordered))
    yield _entry_head(PRICE_SCHEDULE_NAME.encode(), len(price_schedule))
    yield bytes(price_schedule)
    for doc, raw in zip(ordered, names, strict=True):
        if doc.size_bytes < 0:
            raise ValueError("a size is not negative")
        yield _entry_head(raw, doc.size_bytes)
        sent = 0
        for piece in doc.pieces():
            sent += len(piece)
            if sent > doc.size_bytes:
                raise ValueError(f"document {doc.name!r} is longer than {doc.size_bytes} bytes")
            yield piece
        if sent != doc.size_bytes:
            raise ValueError(f"document {doc.name!r} is {sent} bytes, not {doc.size_bytes}")


def _entry_head(raw_name: bytes, size: int) -> bytes:
    return _NAME_LEN.pack(len(raw_name)) + raw_name + _SIZE.pack(size)


def pack_bytes(price_schedule: bytes, documents: Mapping[str, bytes] | None = None) -> bytes:
    """:func:`iter_package` for documents already in memory."""
    docs = [
        PackageDocument(name, len(data), lambda data=data: (data,))
        for name, data in (documents or {}).items()
    ]
    return b"".join(iter_package(price_schedule, docs))


# ---------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class DocumentDigest:
    name: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class ParsedPackage:
    price_schedule: bytes = field(repr=False)
    documents: tuple[DocumentDigest, ...]


class _St(Enum):
    HEAD = "head"
    NAME_LEN = "name_len"
    NAME = "name"
    SIZE = "size"
    DATA = "data"
    DONE = "done"


class PackageParser:
    """Push parser: ``write(b)`` as plaintext comes out of the envelope, then ``finish()``.

    Keeps the price schedule (at most ``price_schedule_max_bytes``) and a running SHA-256
    per document; never document bytes. The first error is raised again on every call
    (``finish`` only, with ``defer_errors``).
    """

    def __init__(
        self,
        price_schedule_max_bytes: int = DEFAULT_PRICE_SCHEDULE_MAX_BYTES,
        *,
        defer_errors: bool = False,
    ) -> None:
        self._max_schedule = price_schedule_max_bytes
        self._defer = defer_errors
        self._state = _St.HEAD
        self._need = _HEAD.size
        self._buf = bytearray()
        self._count = 0
        self._index = 0
        self._name = b""
        self._prev_name: bytes | None = None
        self._remaining = 0
        self._size = 0
        self._schedule = bytearray()
        self._hash: Any = None
        self._docs: list[DocumentDigest] = []
        self._error: PackageError | None = None

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Consume all of ``data``. With ``defer_errors`` a malformed package does not raise
        here: the rest is swallowed and :meth:`finish` raises (so the envelope around it is
        still read to its end and its signature checked)."""
        view = memoryview(data).cast("B")
        if self._error is not None:
            if self._defer:
                return len(view)
            raise self._error
        try:
            self._write(view)
        except PackageError as exc:
            self._error = exc
            if not self._defer:
                raise
        return len(view)

    def finish(self) -> ParsedPackage:
        if self._error is not None:
            raise self._error
        if self._state is not _St.DONE:
            if self._state is _St.HEAD and not self._buf:
                self._error = PackageError(PackageCode.NOT_A_BID_PACKAGE, "empty")
            else:
                self._error = PackageError(PackageCode.TRUNCATED_PACKAGE, f"in {self._state.value}")
            raise self._error
        return ParsedPackage(bytes(self._schedule), tuple(self._docs))

    def _write(self, view: memoryview) -> None:
        pos, end = 0, len(view)
        while pos < end:
            if self._state is _St.DONE:
                raise PackageError(PackageCode.MALFORMED_PACKAGE, "data after the last entry")
            if self._state is _St.DATA:
                take = min(self._remaining, end - pos)
                piece = view[pos : pos + take]
                if self._index == 0:
                    self._schedule += piece
                else:
                    self._hash.update(piece)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._end_entry()
                continue
            take = min(self._need - len(self._buf), end - pos)
            self._buf += view[pos : pos + take]
            pos += take
            if self._state is _St.HEAD and not MAGIC.startswith(bytes(self._buf[: len(MAGIC)])):
                raise PackageError(PackageCode.NOT_A_BID_PACKAGE, "wrong magic")
            if len(self._buf) == self._need:
                piece_bytes = bytes(self._buf)
                self._buf.clear()
                self._on_piece(piece_bytes)

    def _on_piece(self, piece: bytes) -> None:
        if self._state is _St.HEAD:
            magic, version, count = _HEAD.unpack(piece)
            if magic != MAGIC:
                raise PackageError(PackageCode.NOT_A_BID_PACKAGE, "wrong magic")
            if version != VERSION:
                raise PackageError(PackageCode.MALFORMED_PACKAGE, f"version {version}")
            if not 1 <= count <= MAX_ENTRIES:
                raise PackageError(PackageCode.MALFORMED_PACKAGE, f"{count} entries")
            self._count = count
            self._state, self._need = _St.NAME_LEN, _NAME_LEN.size
        elif self._state is _St.NAME_LEN:
            (n,) = _NAME_LEN.unpack(piece)
            if not 1 <= n <= MAX_NAME_BYTES:
                raise PackageError(PackageCode.MALFORMED_PACKAGE, f"name of {n} bytes")
            self._state, self._need = _St.NAME, n
        elif self._state is _St.NAME:
            self._check_entry_name(piece)
            self._name = piece
            self._state, self._need = _St.SIZE, _SIZE.size
        elif self._state is _St.SIZE:
            (size,) = _SIZE.unpack(piece)
            if self._index == 0 and size > self._max_schedule:
                raise PackageError(
                    PackageCode.PRICE_SCHEDULE_TOO_LARGE, f"{size} > {self._max_schedule} bytes"
                )
            self._size = self._remaining = size
            if self._index > 0:
                self._hash = hashlib.sha256()
            self._state = _St.DATA
            if size == 0:
                self._end_entry()

    def _check_entry_name(self, raw: bytes) -> None:
        try:
            name = raw.decode("utf-8")
            check_name(name)
        except (UnicodeDecodeError, ValueError) as exc:
            raise PackageError(PackageCode.MALFORMED_PACKAGE, f"entry {self._index} name") from exc
        if self._index == 0:
            if name != PRICE_SCHEDULE_NAME:
                raise PackageError(PackageCode.PRICE_SCHEDULE_MISSING, f"first entry is {name!r}")
            return
        if name == PRICE_SCHEDULE_NAME or (self._prev_name is not None and raw <= self._prev_name):
            raise PackageError(PackageCode.MALFORMED_PACKAGE, "document names out of order")

    def _end_entry(self) -> None:
        if self._index > 0:
            self._docs.append(
                DocumentDigest(self._name.decode("utf-8"), self._size, self._hash.hexdigest())
            )
            self._prev_name = self._name
            self._hash = None
        self._index += 1
        if self._index == self._count:
            self._state = _St.DONE
        else:
            self._state, self._need = _St.NAME_LEN, _NAME_LEN.size


# ---------------------------------------------------------------------------- price schedule


@dataclass(frozen=True)
class PriceSchedule:
    amount_fen: int
    duration_days: int
    declared_items: Mapping[str, str | int | bool]
    confidential_items: Mapping[str, str | int | bool]


_SCHEDULE_KEYS = frozenset({"amount_fen", "duration_days"})
_OPTIONAL_KEYS = frozenset({"declared_items", "confidential_items"})


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _bad(detail: str) -> PackageError:
    return PackageError(PackageCode.MALFORMED_PRICE_SCHEDULE, detail)


def _items(value: object, where: str) -> dict[str, str | int | bool]:
    if not isinstance(value, dict) or len(value) > MAX_ITEMS:
        raise _bad(f"{where} must be an object of at most {MAX_ITEMS} items")
    for key, item in value.items():
        if not 1 <= len(key) <= MAX_ITEM_KEY_CHARS:
            raise _bad(f"{where}: key of {len(key)} characters")
        if isinstance(item, bool) or (isinstance(item, int) and abs(item) <= MAX_AMOUNT_FEN):
            continue
        if isinstance(item, str) and len(item) <= MAX_ITEM_TEXT_CHARS:
            continue
        raise _bad(f"{where}.{key}: a string, a whole number or a boolean")
    return dict(value)


def parse_price_schedule(raw: bytes) -> PriceSchedule:
    """Parse and check a price schedule; ``PackageError(malformed_price_schedule)``."""
    try:
        obj = json.loads(bytes(raw).decode("utf-8"), object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad(f"not JSON: {exc}"[:200]) from exc
    if not isinstance(obj, dict):
        raise _bad("not a JSON object")
    keys = set(obj)
    if not _SCHEDULE_KEYS <= keys or keys - _SCHEDULE_KEYS - _OPTIONAL_KEYS:
        raise _bad(f"keys {sorted(keys)}; need amount_fen, duration_days")
    amount, duration = obj["amount_fen"], obj["duration_days"]
    if type(amount) is not int or not 0 < amount <= MAX_AMOUNT_FEN:
        raise _bad("amount_fen must be a whole number of fen, 1..10^15")
    if type(duration) is not int or not 0 < duration <= MAX_DURATION_DAYS:
        raise _bad(f"duration_days must be a whole number, 1..{MAX_DURATION_DAYS}")
    return PriceSchedule(
        amount_fen=amount,
        duration_days=duration,
        declared_items=_items(obj.get("declared_items", {}), "declared_items"),
        confidential_items=_items(obj.get("confidential_items", {}), "confidential_items"),
    )
