"""One envelope format, two clients: the page's sealing module (web/static/js/bidder/seal.js,
WebCrypto in Chromium) and the Python sealer (`sunlit bid seal`) write the same bytes from
the same randomness; an envelope sealed in the page passes the server's inspector and opens
with the project's tools to what was put in; a receipt is checked in the page as
`sunlit bid verify-receipt` checks it.

Sources: EM (电子招标投标办法) 2013 art. 26–31 (the bidder encrypts; the platform refuses
what is not a well-formed encrypted bid); docs/crypto.md §1 (format version 1);
docs/bidding.md §2–3 (the bid package; the signed receipt).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bidding import client as bid_client
from bidding.package import PackageParser, pack_bytes, parse_price_schedule
from bidding.records import receipt_document, sign_document
from crypto.envelope import EnvelopeInspector, open_envelope, seal
from crypto.keys import generate_x25519
from crypto.signing import generate_signing_key, public_key_bytes
from tests.e2e.browser import browser_page
from trading.clock import FakeClock

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"
PAGE = """<!doctype html><meta charset="utf-8"><title>seal</title>
<input type="file" id="key"><input type="file" id="docs" multiple><input type="file" id="env">"""

IMPORTS = """
  const seal = await import('/static/js/bidder/seal.js');
  const receipt = await import('/static/js/bidder/receipt.js');
  const b64 = (s) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
"""


def script(body: str) -> str:
    """A function of `args` that first imports the bidder's modules."""
    return "async (args) => {" + IMPORTS + body + "}"


@pytest.fixture
async def origin(tmp_path: Path) -> AsyncIterator[tuple[str, Path]]:
    """The static files on 127.0.0.1 (a secure context, as WebCrypto needs) and a sink
    that writes what the page PUTs to a file."""
    sink = tmp_path / "sink.env"

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=PAGE, content_type="text/html")

    async def put(request: web.Request) -> web.Response:
        with sink.open("wb") as f:
            async for piece in request.content.iter_chunked(1 << 16):
                f.write(piece)
        return web.json_response({"size": sink.stat().st_size})

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_put("/sink", put)
    app.router.add_static("/static", STATIC)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("/")), sink
    finally:
        await server.close()


def key_files(tmp_path: Path) -> dict[str, Path]:
    """Keys as `sunlit bid keygen` writes them."""
    return bid_client.generate_keys(tmp_path / "keys", "acme")


async def test_the_page_seals_byte_for_byte_what_the_python_sealer_seals(
    origin: tuple[str, Path], tmp_path: Path
) -> None:
    """Given the same random bytes (ephemeral key, salt, nonce prefix), the page writes the
    very envelope `crypto.envelope.seal` writes: one format, two clients (docs/crypto.md)."""
    url, _ = origin
    files = key_files(tmp_path)
    signing_key = bid_client.signing_key_from(files["ed25519"])
    _, tender_public = generate_x25519(random.Random(11).randbytes)
    tape = random.Random(12).randbytes
    draws = [tape(32), tape(32), tape(7)]  # the order the Python suite draws them
    schedule = b'{"amount_fen":81200000,"duration_days":180}'
    documents = {"技术方案.pdf": bytes(range(256)) * 9, "a.txt": b"x" * 1000, "b": b""}
    replay = iter(draws)
    expected = io.BytesIO()
    seal(
        io.BytesIO(pack_bytes(schedule, documents)),
        expected,
        recipient_public=tender_public,
        tender_id="42",
        bidder_id="7",
        signing_key=signing_key,
        chunk_size=64,
        randbytes=lambda n: next(replay),
    )
    async with browser_page() as page:
        await page.goto(url)
        await page.set_input_files("#key", str(files["ed25519"]))
        got = await page.evaluate(
            script(
                """
            const key = await seal.loadSigningKey(new Uint8Array(await document.getElementById('key').files[0].arrayBuffer()));
            const draws = args.draws.map(b64);
            let at = 0;
            const docs = Object.entries(args.docs).map(([name, data]) => new File([b64(data)], name));
            const out = await seal.sealBid({
              tenderPublic: args.tender, tenderId: 42, bidderOrgId: 7, signingKey: key,
              schedule: new TextEncoder().encode(args.schedule), documents: docs,
              chunkSize: 64, random: (n) => { const b = draws[at++]; if (b.length !== n) throw new Error('draw'); return b; },
            });
            const bytes = new Uint8Array(await out.blob.arrayBuffer());
            let s = ''; for (const b of bytes) s += String.fromCharCode(b);
            return {envelope: btoa(s), sha: out.envelopeSha256, keyId: key.keyId, chunks: out.chunkCount};
            """
            ),
            {
                "draws": [base64.b64encode(d).decode() for d in draws],
                "tender": base64.urlsafe_b64encode(tender_public).rstrip(b"=").decode(),
                "schedule": schedule.decode(),
                "docs": {k: base64.b64encode(v).decode() for k, v in documents.items()},
            },
        )
    envelope = base64.b64decode(got["envelope"])
    assert envelope == expected.getvalue()
    assert got["sha"] == hashlib.sha256(envelope).hexdigest()
    assert got["keyId"] == hashlib.sha256(public_key_bytes(signing_key)).hexdigest()
    assert got["chunks"] > 40


async def test_an_envelope_sealed_in_the_page_opens_with_the_python_tools(
    origin: tuple[str, Path], tmp_path: Path
) -> None:
    """A bid sealed in the page from files chosen in file inputs (the signing key as
    `sunlit bid keygen` writes it) passes the server's inspector and opens with the tender's
    private key to the price typed and the documents chosen (EM 26–31)."""
    url, sink = origin
    files = key_files(tmp_path)
    signing_key = bid_client.signing_key_from(files["ed25519"])
    tender_private, tender_public = generate_x25519()
    rng = random.Random(5)
    docs = {
        "proposal.bin": rng.randbytes(3 * 1024 * 1024 + 17),  # crosses many chunks and reads
        "资质证书.pdf": rng.randbytes(70_000),
    }
    for name, data in docs.items():
        (tmp_path / name).write_bytes(data)
    async with browser_page() as page:
        await page.goto(url)
        await page.set_input_files("#key", str(files["ed25519"]))
        await page.set_input_files("#docs", [str(tmp_path / n) for n in docs])
        got = await page.evaluate(
            script(
                """
            const key = await seal.loadSigningKey(new Uint8Array(await document.getElementById('key').files[0].arrayBuffer()));
            const schedule = seal.priceSchedule({
              amountFen: seal.yuanToFen('8,120,000.50'), durationDays: 365,
              declaredItems: {'质量': '合格'}, confidentialItems: {'note': 'x', 'n': 3, 'ok': true},
            });
            const progress = [];
            const out = await seal.sealBid({
              tenderPublic: args.tender, tenderId: 9, bidderOrgId: 4, signingKey: key,
              schedule, documents: [...document.getElementById('docs').files],
              onProgress: (done, total) => progress.push([done, total]),
            });
            const r = await fetch('/sink', {method: 'PUT', body: out.blob});
            return {sha: out.envelopeSha256, size: out.envelopeSize, sent: (await r.json()).size,
                    progress: progress.length, last: progress.at(-1)};
            """
            ),
            {"tender": base64.urlsafe_b64encode(tender_public).rstrip(b"=").decode()},
        )
    envelope = sink.read_bytes()
    assert got["sent"] == got["size"] == len(envelope)
    assert got["sha"] == hashlib.sha256(envelope).hexdigest()
    assert got["progress"] > 50 and got["last"][0] == got["last"][1]

    inspector = EnvelopeInspector(
        bidder_public=public_key_bytes(signing_key),
        expected_tender_id="9",
        expected_bidder_id="4",
        expected_recipient_public=tender_public,
    )
    inspector.feed(envelope)
    assert inspector.finish().envelope_sha256 == got["sha"]

    parser = PackageParser()
    opened = open_envelope(
        io.BytesIO(envelope),
        parser,
        recipient_private=tender_private,
        expected_tender_id="9",
        expected_bidder_id="4",
        bidder_public=public_key_bytes(signing_key),
    )
    assert opened.signature_verified and opened.envelope_sha256 == got["sha"]
    package = parser.finish()
    price = parse_price_schedule(package.price_schedule)
    assert price.amount_fen == 812_000_050 and price.duration_days == 365
    assert price.declared_items == {"质量": "合格"}
    assert price.confidential_items == {"note": "x", "n": 3, "ok": True}
    assert [(d.name, d.size_bytes, d.sha256) for d in package.documents] == [
        (n, len(b), hashlib.sha256(b).hexdigest())
        for n, b in sorted(docs.items(), key=lambda kv: kv[0].encode())
    ]


def signed_receipt(server_key: Any, envelope: bytes) -> dict[str, Any]:
    document = receipt_document(
        action="submit",
        sequence=17,
        tender_id=1,
        tender_code="HZJT-2026-001 «甲»",
        bidder_org_id=4,
        bid_id=9,
        envelope_sha256=hashlib.sha256(envelope).hexdigest(),
        envelope_size_bytes=len(envelope),
        received_at=FakeClock().now(),
    )
    return sign_document(document, server_key.sign, "srv-test").as_json()


async def test_a_receipt_checks_in_the_page_as_it_does_offline(
    origin: tuple[str, Path], tmp_path: Path
) -> None:
    """The CLI's envelope and a server-signed receipt for it: valid in the page as in
    `sunlit bid verify-receipt`; a receipt with one field changed, a receipt checked with
    another key, and a receipt for another envelope are not (docs/bidding.md §3)."""
    url, _ = origin
    files = key_files(tmp_path)
    _, tender_public = generate_x25519()
    envelope_path = tmp_path / "bid.env"
    with envelope_path.open("wb") as out:
        bid_client.seal_bid(
            out,
            tender_public=tender_public,
            tender_id=1,
            bidder_org_id=4,
            signing_key=bid_client.signing_key_from(files["ed25519"]),
            price_schedule=b'{"amount_fen":1,"duration_days":1}',
        )
    envelope = envelope_path.read_bytes()
    server_key = generate_signing_key()
    server_public = public_key_bytes(server_key)
    receipt = signed_receipt(server_key, envelope)
    assert bid_client.verify_receipt(
        receipt, server_public, envelope_sha256=hashlib.sha256(envelope).hexdigest()
    ) == (True, "valid")
    tampered = json.loads(json.dumps(receipt))
    tampered["document"]["envelope_size_bytes"] += 1
    other = signed_receipt(server_key, envelope + b"x")

    async with browser_page() as page:
        await page.goto(url)
        await page.set_input_files("#env", str(envelope_path))
        got = await page.evaluate(
            script(
                """
            const env = document.getElementById('env').files[0];
            const sha = await receipt.blobSha256(env);
            const check = (r, key, opts) => receipt.verifyReceipt(r, key, opts).then((v) => v.reason);
            return {
              sha,
              good: await check(JSON.stringify(args.receipt), {public_key_hex: args.key}, {envelopeSha256: sha}),
              noEnvelope: await check(args.receipt, args.key),
              tampered: await check(args.tampered, args.key, {envelopeSha256: sha}),
              otherKey: await check(args.receipt, args.otherKey, {envelopeSha256: sha}),
              otherEnvelope: await check(args.other, args.key, {envelopeSha256: sha}),
              notJson: await check('{', args.key),
            };
            """
            ),
            {
                "receipt": receipt,
                "key": server_public.hex(),
                "tampered": tampered,
                "otherKey": public_key_bytes(generate_signing_key()).hex(),
                "other": other,
            },
        )
    assert got == {
        "sha": hashlib.sha256(envelope).hexdigest(),
        "good": "valid",
        "noEnvelope": "valid",
        "tampered": "bad_signature",
        "otherKey": "bad_signature",
        "otherEnvelope": "other_envelope",
        "notJson": "not_json",
    }


async def test_the_page_refuses_what_the_package_format_refuses(origin: tuple[str, Path]) -> None:
    """Money is whole fen typed in yuan with at most two decimals; a document may not be
    named like the price schedule nor twice; ids and the tender key are checked before
    anything is sealed (bidding/package.py, docs/crypto.md)."""
    url, _ = origin
    async with browser_page() as page:
        await page.goto(url)
        got = await page.evaluate(
            script(
                """
            const code = (f) => { try { const v = f(); return v instanceof Promise ? v.then(() => 'ok', (e) => e.code) : v; } catch (e) { return e.code; } };
            const file = (name) => new File([new Uint8Array(3)], name);
            return {
              yuan: ['1', '1,000.5', '8，120，000.05', '0.01', '10,000,000,000,000'].map(seal.yuanToFen),
              badYuan: ['12.345', '0', '-1', '1e3', '', '10000000000000.01'].map((v) => code(() => seal.yuanToFen(v))),
              schedule: new TextDecoder().decode(seal.priceSchedule({amountFen: 5, durationDays: 2, declaredItems: {'b': 1, 'a': true}})),
              badDuration: code(() => seal.priceSchedule({amountFen: 5, durationDays: 0})),
              badItem: code(() => seal.priceSchedule({amountFen: 5, durationDays: 1, declaredItems: {'x': 1.5}})),
              reserved: code(() => seal.packageParts(new Uint8Array(1), [file('price-schedule.json')])),
              twice: code(() => seal.packageParts(new Uint8Array(1), [file('a.pdf'), file('a.pdf')])),
              control: code(() => seal.packageParts(new Uint8Array(1), [file('a\\u0007.pdf')])),
              order: seal.packageParts(new Uint8Array(1), [file('é'), file('z'), file('B')]).parts.length,
              badKey: await code(() => seal.loadSigningKey(new TextEncoder().encode('not a key'))),
              badTender: await code(() => seal.sealBid({tenderPublic: 'AAAA', tenderId: 1, bidderOrgId: 1,
                                                       signingKey: null, schedule: new Uint8Array(1)})),
            };
            """
            )
        )
    assert got == {
        "yuan": [100, 100050, 812000005, 1, 10**15],
        "badYuan": ["bad_amount"] * 6,
        "schedule": '{"amount_fen":5,"declared_items":{"a":true,"b":1},"duration_days":2}',
        "badDuration": "bad_duration",
        "badItem": "bad_items",
        "reserved": "duplicate_document_name",
        "twice": "duplicate_document_name",
        "control": "bad_document_name",
        "order": 9,
        "badKey": "bad_key_file",
        "badTender": "bad_tender_key",
    }
