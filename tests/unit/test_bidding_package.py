"""The bid package a bidder seals, and the sealed round trip without a server.

Sources: EM 26 (电子招标投标办法 — bids are encrypted by the bidder and decrypted at the
opening); BL 36 (the opening reads out each bidder's price and main contents): the price
schedule has the price in fen, the duration and the declared items.
"""

from __future__ import annotations

import io
import json
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bidding.client import seal_bid_bytes
from bidding.package import (
    PRICE_SCHEDULE_NAME,
    PackageDocument,
    PackageError,
    PackageParser,
    iter_package,
    pack_bytes,
    parse_price_schedule,
)
from crypto.envelope import inspect, open_envelope
from crypto.keys import generate_x25519
from crypto.signing import load_signing_key, public_key_bytes, sha256_hex

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
OPEN_PRIVATE, OPEN_PUBLIC = generate_x25519(random.Random(5).randbytes)
BIDDER_KEY = load_signing_key(bytes(range(32)))

names = st.text(
    alphabet=st.characters(
        min_codepoint=0x20, blacklist_characters="/\\\x7f", blacklist_categories=("Cs",)
    ),
    min_size=1,
    max_size=20,
).filter(lambda n: n != PRICE_SCHEDULE_NAME and len(n.encode()) <= 255)
documents = st.dictionaries(names, st.binary(max_size=3000), max_size=5)
items = st.dictionaries(
    st.text(min_size=1, max_size=10),
    st.one_of(st.text(max_size=30), st.integers(-(10**12), 10**12), st.booleans()),
    max_size=5,
)


def schedule(amount: int = 1_000, duration: int = 30, **extra: object) -> bytes:
    return json.dumps({"amount_fen": amount, "duration_days": duration, **extra}).encode()


def feed(data: bytes, cut: random.Random, parser: PackageParser | None = None) -> PackageParser:
    parser = parser or PackageParser()
    pos = 0
    while pos < len(data):
        step = cut.randint(1, 700)
        assert parser.write(data[pos : pos + step]) == len(data[pos : pos + step])
        pos += step
    return parser


@SETTINGS
@given(docs=documents, amount=st.integers(1, 10**15), seed=st.integers(0, 2**32))
def test_a_package_parses_back_in_any_pieces_without_keeping_document_bytes(
    docs: dict[str, bytes], amount: int, seed: int
) -> None:
    raw = pack_bytes(schedule(amount), docs)
    parsed = feed(raw, random.Random(seed)).finish()
    assert parse_price_schedule(parsed.price_schedule).amount_fen == amount
    assert [(d.name, d.size_bytes, d.sha256) for d in parsed.documents] == [
        (n, len(docs[n]), sha256_hex(docs[n])) for n in sorted(docs, key=lambda n: n.encode())
    ]


@SETTINGS
@given(docs=documents, seed=st.integers(0, 2**32))
def test_one_set_of_inputs_has_one_packing(docs: dict[str, bytes], seed: int) -> None:
    shuffled = list(docs.items())
    random.Random(seed).shuffle(shuffled)
    assert pack_bytes(schedule(), dict(shuffled)) == pack_bytes(schedule(), docs)


@SETTINGS
@given(
    docs=documents,
    amount=st.integers(1, 10**15),
    duration=st.integers(1, 36500),
    declared=items,
    confidential=items,
    chunk=st.sampled_from([64, 100, 4096]),
)
def test_sealed_and_opened_the_bid_is_what_the_bidder_packed(
    docs: dict[str, bytes],
    amount: int,
    duration: int,
    declared: dict[str, object],
    confidential: dict[str, object],
    chunk: int,
) -> None:
    """EM 26: sealed by the bidder, checked by the server without a key, opened with it."""
    price = schedule(amount, duration, declared_items=declared, confidential_items=confidential)
    envelope = seal_bid_bytes(
        tender_public=OPEN_PUBLIC,
        tender_id=12,
        bidder_org_id=34,
        signing_key=BIDDER_KEY,
        price_schedule=price,
        documents=docs,
        chunk_size=chunk,
    )
    info = inspect(
        io.BytesIO(envelope),
        public_key_bytes(BIDDER_KEY),
        "12",
        "34",
        expected_recipient_public=OPEN_PUBLIC,
    )
    parser = PackageParser()
    result = open_envelope(
        io.BytesIO(envelope),
        parser,
        recipient_private=OPEN_PRIVATE,
        expected_tender_id="12",
        expected_bidder_id="34",
        bidder_public=public_key_bytes(BIDDER_KEY),
    )
    assert result.envelope_sha256 == info.envelope_sha256 == sha256_hex(envelope)
    parsed = parser.finish()
    got = parse_price_schedule(parsed.price_schedule)
    assert (got.amount_fen, got.duration_days) == (amount, duration)
    assert dict(got.declared_items) == declared and dict(got.confidential_items) == confidential
    assert {d.name: d.sha256 for d in parsed.documents} == {
        n: sha256_hex(b) for n, b in docs.items()
    }


def test_documents_stream_from_their_source_in_name_order() -> None:
    calls: list[str] = []

    def source(name: str, data: bytes) -> PackageDocument:
        def pieces() -> list[bytes]:
            calls.append(name)
            return [data[:2], data[2:]]

        return PackageDocument(name, len(data), pieces)

    raw = b"".join(iter_package(schedule(), [source("b.pdf", b"bbbb"), source("a.pdf", b"aaaa")]))
    assert calls == ["a.pdf", "b.pdf"]
    assert raw == pack_bytes(schedule(), {"a.pdf": b"aaaa", "b.pdf": b"bbbb"})


def test_a_document_that_changed_size_while_packing_is_refused() -> None:
    doc = PackageDocument("a.pdf", 10, lambda: [b"12345"])
    with pytest.raises(ValueError, match="not 10"):
        b"".join(iter_package(schedule(), [doc]))


@pytest.mark.parametrize(
    "mutate, code",
    [
        (lambda raw: b"PLAINTEXT!" + raw[10:], "not_a_bid_package"),
        (lambda raw: raw[:-1], "truncated_package"),
        (lambda raw: raw + b"x", "malformed_package"),
        (lambda raw: b"", "not_a_bid_package"),
    ],
)
def test_a_malformed_package_is_refused_with_its_code(mutate: object, code: str) -> None:
    raw = mutate(pack_bytes(schedule(), {"a.pdf": b"data"}))  # type: ignore[operator]
    with pytest.raises(PackageError) as info:
        feed(raw, random.Random(1)).finish()
    assert info.value.code.value == code


def test_unsorted_documents_and_a_missing_price_schedule_are_refused() -> None:
    good = pack_bytes(schedule(), {"a": b"1", "b": b"2"})
    swapped = good.replace(b"\x00\x01a", b"\x00\x01c")  # 'c' now precedes 'b'
    with pytest.raises(PackageError) as info:
        feed(swapped, random.Random(2)).finish()
    assert info.value.code.value == "malformed_package"
    no_schedule = good.replace(PRICE_SCHEDULE_NAME.encode(), b"price-schedule.txt!")
    with pytest.raises(PackageError) as info:
        feed(no_schedule, random.Random(2)).finish()
    assert info.value.code.value == "price_schedule_missing"


def test_an_oversized_price_schedule_is_refused_before_it_is_buffered() -> None:
    raw = pack_bytes(schedule(note="x" * 5000))
    with pytest.raises(PackageError) as info:
        feed(raw, random.Random(3), PackageParser(price_schedule_max_bytes=1000)).finish()
    assert info.value.code.value == "price_schedule_too_large"


def test_with_deferred_errors_the_parser_swallows_the_rest_and_fails_at_the_end() -> None:
    parser = PackageParser(defer_errors=True)
    assert parser.write(b"NOT A PACKAGE AT ALL") == 20
    assert parser.write(b"more") == 4
    with pytest.raises(PackageError):
        parser.finish()


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b'{"amount_fen": 1.5, "duration_days": 3}',
        b'{"amount_fen": true, "duration_days": 3}',
        b'{"amount_fen": "100", "duration_days": 3}',
        b'{"amount_fen": 0, "duration_days": 3}',
        b'{"amount_fen": 100}',
        b'{"amount_fen": 100, "duration_days": 3, "price": 4}',
        b'{"amount_fen": 100, "amount_fen": 200, "duration_days": 3}',
        b'{"amount_fen": 100, "duration_days": 3, "declared_items": {"a": [1]}}',
        b'{"amount_fen": 100, "duration_days": 3, "declared_items": {"a": 1.5}}',
        b"\xff\xfe",
    ],
)
def test_a_malformed_price_schedule_is_refused(body: bytes) -> None:
    """Money is whole fen: never a float, a string or a boolean."""
    with pytest.raises(PackageError) as info:
        parse_price_schedule(body)
    assert info.value.code.value == "malformed_price_schedule"
