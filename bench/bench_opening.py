"""Issue 3 figures: opening a tender, and uploading a large bid through HTTP.

1. **Opening** — a tender of ``--bids`` sealed bids of ``--bid-mb`` MB each (default
   200 × 5 MB), submitted through the submission service into the vault (PostgreSQL chunk
   rows) of a fresh embedded PostgreSQL; then the k-th key share is handed in and the
   opening runs: rebuild the key, read every envelope back from the vault, decrypt it,
   check its signature and receipt hash, parse its price schedule, sign the record. Timed
   against, in the same run over the same number of bytes in the same chunking:
   raw AES-256-GCM decryption (the cipher alone, from memory), and AES-256-GCM + SHA-256
   (the floor for an opening that checks the bidder's signature over the ciphertext).
2. **Upload** — ``sunlit serve`` in a subprocess (embedded PostgreSQL, demo data); a works
   tender with a large size limit; a bid of ``--upload-mb`` MB (and a small one of
   ``--small-upload-mb`` MB, to show the line is flat) sealed by ``sunlit bid seal`` in a
   child process and streamed with ``PUT /api/v1/tenders/{id}/bid``. Reported: the
   server's peak RSS during each upload (``VmHWM``, reset before it through
   ``/proc/<pid>/clear_refs``; ``VmRSS`` sampled every 20 ms as a check), the sealing
   child's peak RSS, and the upload throughput. Target: flat, under 100 MB.

    PYTHONPATH=. python bench/bench_opening.py [--bids 200] [--bid-mb 5] [--upload-mb 1024]
                                               [--small-upload-mb 64] [--quick] [--skip-upload]

``--quick`` (20 bids × 1 MB, uploads of 128 and 16 MB) runs in about a minute. A table and
one ``JSON`` line per figure are printed; the targets are reported, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

from bench.harness import login, report, sunlit_server  # noqa: E402
from bidding import client as bid_client  # noqa: E402
from bidding.model import BiddingSettings, Category, Procedure, TenderDraft  # noqa: E402
from bidding.service import opening, submission, tenders  # noqa: E402
from crypto.keys import generate_x25519  # noqa: E402
from crypto.signing import generate_signing_key, public_key_bytes  # noqa: E402
from trading import admission, migrate  # noqa: E402
from trading.audit import AuditLog  # noqa: E402
from trading.clock import FakeClock  # noqa: E402
from trading.context import Actor, Role  # noqa: E402
from trading.db import EmbeddedPostgres, create_pool  # noqa: E402
from trading.parties import service as parties  # noqa: E402
from trading.parties.model import OrgKind, uscc_check_char  # noqa: E402

MB = 1_000_000
MIB = 1024 * 1024
ENVELOPE_CHUNK = 64 * 1024
PASSWORD = "bench-password-1"


def code(n: int) -> str:
    first17 = f"91330500MA4{n:06d}"
    return first17 + uscc_check_char(first17)


# ---------------------------------------------------------------------------- 1. opening


async def pieces(data: bytes, size: int = 256 * 1024) -> AsyncIterator[bytes]:
    view = memoryview(data)
    for i in range(0, len(data), size):
        yield bytes(view[i : i + size])


def baseline(total_chunks: int, with_sha: bool) -> float:
    """Seconds to decrypt ``total_chunks`` chunks of 64 KiB with AES-256-GCM (+ SHA-256)."""
    import hashlib

    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce, ad = os.urandom(12), os.urandom(37)
    plain = os.urandom(ENVELOPE_CHUNK)
    ct = aead.encrypt(nonce, plain, ad)
    out = bytearray(ENVELOPE_CHUNK)
    started = time.perf_counter()
    digest = hashlib.sha256()
    for _ in range(total_chunks):
        aead.decrypt_into(nonce, ct, ad, out)
        if with_sha:
            digest.update(ct)
    return time.perf_counter() - started


async def bench_opening(bids: int, bid_mb: float) -> dict[str, Any]:
    bid_bytes = int(bid_mb * MB)
    with tempfile.TemporaryDirectory(prefix="sunlit-bench-opening-") as tmp:
        pg = EmbeddedPostgres(Path(tmp))
        dsn = pg.start()
        pool = await create_pool(dsn, min_size=1, max_size=4)
        try:
            async with pool.acquire() as conn:
                await migrate.migrate(conn)
            clock = FakeClock()
            audit = AuditLog(generate_signing_key(), "srv-bench", checkpoint_every=1000)
            settings = BiddingSettings(max_bid_bytes_cap=4 * 1024**3)
            system = Actor.system("bench")
            now = clock.now()
            async with pool.acquire() as conn:
                await audit.register_key(conn, now)
                centre = await parties.create_organisation(
                    conn,
                    audit,
                    system,
                    now,
                    name="centre",
                    kind=OrgKind.CENTRE,
                    credit_code=code(0),
                    platform_affiliate=True,
                )
                staff = await parties.create_user(
                    conn,
                    audit,
                    system,
                    now,
                    username="staff",
                    full_name="staff",
                    role=Role.STAFF,
                    password=PASSWORD,
                    org_id=centre.id,
                )
                staff_actor = Actor(staff.id, staff.username, Role.STAFF, centre.id)
                custodians = []
                for i in range(3):
                    u = await parties.create_user(
                        conn,
                        audit,
                        system,
                        now,
                        username=f"custodian{i}",
                        full_name="c",
                        role=Role.CUSTODIAN,
                        password=PASSWORD,
                        org_id=centre.id,
                    )
                    private, public = generate_x25519()
                    actor = Actor(u.id, u.username, Role.CUSTODIAN, centre.id)
                    await parties.register_key(
                        conn, audit, actor, now, public_key=public, algorithm="x25519"
                    )
                    custodians.append((actor, private))
                bidders = []
                for i in range(bids):
                    org = await parties.create_organisation(
                        conn,
                        audit,
                        system,
                        now,
                        name=f"bidder {i}",
                        kind=OrgKind.BIDDER,
                        credit_code=code(i + 1),
                    )
                    u = await parties.create_user(
                        conn,
                        audit,
                        system,
                        now,
                        username=f"bidder{i}",
                        full_name="b",
                        role=Role.BIDDER,
                        password=PASSWORD,
                        org_id=org.id,
                    )
                    key = generate_signing_key()
                    actor = Actor(u.id, u.username, Role.BIDDER, org.id)
                    await parties.register_key(
                        conn, audit, actor, now, public_key=public_key_bytes(key)
                    )
                    bidders.append((actor, key))
                draft = TenderDraft(
                    code="BENCH-1",
                    project_name="bench",
                    category=Category.GOODS,
                    procedure=Procedure.OPEN,
                    lots=("lot",),
                    estimated_price_fen=10**10,
                    deposit_fen=0,
                    bid_deadline_at=now + timedelta(days=21),
                    opening_at=now + timedelta(days=21),
                    place="",
                    custodian_user_ids=tuple(a.user_id for a, _ in custodians),
                    threshold_k=2,
                    max_bid_bytes=bid_bytes + MIB,
                )
                tender = await tenders.create_tender(conn, audit, staff_actor, now, draft, settings)
                await tenders.add_document(
                    conn,
                    audit,
                    staff_actor,
                    now,
                    tender_id=tender.id,
                    name="doc.pdf",
                    source=pieces(b"doc"),
                    content_length=3,
                    settings=settings,
                )
                tender = await tenders.publish_tender(conn, audit, staff_actor, now, tender.id)
                for actor, _ in bidders:
                    await tenders.register_bidder(conn, audit, actor, now, tender.id)
                    await admission.flag_confirmed(
                        conn,
                        audit,
                        staff_actor,
                        now,
                        org_id=actor.org_id,
                        project_ref=tender.project_ref,
                        note="bench",
                    )
            assert tender.opening_public_key is not None
            schedule = json.dumps({"amount_fen": 123_456_789, "duration_days": 100}).encode()
            envelope_bytes = 0
            submit_s = 0.0
            for i, (actor, key) in enumerate(bidders):
                document = os.urandom(bid_bytes)
                envelope = bid_client.seal_bid_bytes(
                    tender_public=tender.opening_public_key,
                    tender_id=tender.id,
                    bidder_org_id=actor.org_id,
                    signing_key=key,
                    price_schedule=schedule,
                    documents={f"bid{i}.bin": document},
                    chunk_size=ENVELOPE_CHUNK,
                )
                envelope_bytes += len(envelope)
                started = time.perf_counter()
                await submission.submit_bid(
                    pool,
                    audit,
                    actor,
                    clock,
                    tender_id=tender.id,
                    source=pieces(envelope),
                    content_length=len(envelope),
                    settings=settings,
                )
                submit_s += time.perf_counter() - started
            clock.set(tender.bid_deadline_at)
            async with pool.acquire() as conn, conn.transaction():
                await opening.freeze_bids(conn, audit, clock.now(), tender.id)
                await opening.start_opening(conn, audit, clock.now(), tender.id)
            shares = []
            for actor, private in custodians[:2]:
                async with pool.acquire() as conn:
                    sealed = await opening.sealed_share(conn, audit, actor, clock.now(), tender.id)
                shares.append(
                    bid_client.open_sealed_share(sealed["sealed_share"], private, tender.id)
                )
            async with pool.acquire() as conn:
                await opening.hand_in_share(
                    conn, audit, custodians[0][0], clock.now(), tender.id, shares[0], settings
                )
            started = time.perf_counter()
            async with pool.acquire() as conn:
                result = await opening.hand_in_share(
                    conn, audit, custodians[1][0], clock.now(), tender.id, shares[1], settings
                )
            opening_s = time.perf_counter() - started
            entries = result["record"]["document"]["entries"]
            assert len(entries) == bids and all(e["outcome"] == "opened" for e in entries)
            # the vault read alone: every chunk row of every bid, in order
            started = time.perf_counter()
            async with pool.acquire() as conn:
                rows = await conn.fetch(
                    "SELECT id AS blob_id, chunk_count FROM blobs WHERE kind = 'bid_envelope'"
                )
                for r in rows:
                    for seq in range(r["chunk_count"]):
                        await conn.fetchval(
                            "SELECT data FROM blob_chunks WHERE blob_id = $1 AND seq = $2",
                            r["blob_id"],
                            seq,
                        )
            read_s = time.perf_counter() - started
        finally:
            await pool.close()
            pg.stop()
    chunks = envelope_bytes // ENVELOPE_CHUNK
    raw_s = min(baseline(chunks, False) for _ in range(3))
    floor_s = min(baseline(chunks, True) for _ in range(3))
    return {
        "bids": bids,
        "bid_mb": bid_mb,
        "total_mb": round(envelope_bytes / MB, 1),
        "opening_s": round(opening_s, 2),
        "opening_mb_per_s": round(envelope_bytes / MB / opening_s, 1),
        "raw_aes_gcm_decrypt_s": round(raw_s, 3),
        "aes_gcm_plus_sha256_s": round(floor_s, 3),
        "vault_read_only_s": round(read_s, 2),
        "opening_vs_raw": round(raw_s / opening_s, 3),
        "opening_vs_floor": round(floor_s / opening_s, 3),
        "submit_mb_per_s": round(envelope_bytes / MB / submit_s, 1),
    }


# ---------------------------------------------------------------------------- 2. upload


class RssSampler:
    """Samples a process's VmRSS every 20 ms in a thread; resets its VmHWM first."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.max_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _field(self, name: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1])
        return 0

    def __enter__(self) -> RssSampler:
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # reset VmHWM to VmRSS
            self.reset = True
        except OSError:
            self.reset = False
        self.start_kib = self._field("VmRSS")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.max_kib = max(self.max_kib, self._field("VmRSS"))
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.hwm_kib = self._field("VmHWM")


def seal_in_child(
    tmp: Path, size: int, tender: dict[str, Any], org_id: int, key_file: Path
) -> tuple[Path, int]:
    """Write a ``size``-byte document, seal it with ``sunlit bid seal`` in a child process;
    return the envelope and the child's peak RSS (KiB)."""
    document = tmp / f"document-{size}.bin"
    block = os.urandom(MIB)
    with document.open("wb") as f:
        left = size
        while left:
            n = min(left, MIB)
            f.write(block[:n])
            left -= n
    schedule = tmp / "schedule.json"
    schedule.write_text(json.dumps({"amount_fen": 1_000_000, "duration_days": 300}))
    out = tmp / f"bid-{size}.env"
    # VmHWM of the child's own address space (ru_maxrss would carry the parent's peak over
    # fork and exec).
    code_ = (
        "import re, sys; from web.cli import main; rc = main(sys.argv[1:]); "
        "hwm = re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1); "
        "print('MAXRSS', hwm, file=sys.stderr); sys.exit(rc)"
    )
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            code_,
            "bid",
            "seal",
            "--tender-public-key",
            tender["opening_public_key"],
            "--tender-id",
            str(tender["id"]),
            "--bidder-org",
            str(org_id),
            "--signing-key",
            str(key_file),
            "--price-schedule",
            str(schedule),
            "--document",
            str(document),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=True,
    )
    document.unlink()
    peak = int(
        next(line.split()[1] for line in proc.stderr.splitlines() if line.startswith("MAXRSS"))
    )
    return out, peak


async def bench_upload(sizes_mb: list[int]) -> list[dict[str, Any]]:
    results = []
    with (
        sunlit_server(demo=True) as server,
        tempfile.TemporaryDirectory(prefix="sunlit-bench-up-") as tmpdir,
    ):
        tmp = Path(tmpdir)
        creds = server.credentials()
        keys_dir = server.data_dir / "demo-keys"
        timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            staff = await login(session, server.url, "staff1", creds["staff1"])
            bidder = await login(session, server.url, "bidder1", creds["bidder1"])
            me = await (await session.get(server.url + "/api/v1/me", headers=bidder)).json()
            users = await (
                await session.get(server.url + "/api/v1/users?role=custodian", headers=staff)
            ).json()
            now = time.time()
            iso = lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now + s))  # noqa: E731
            body = {
                "code": f"BENCH-UP-{int(now)}",
                "project_name": "upload bench",
                "category": "goods",
                "lots": ["lot"],
                "estimated_price_fen": 10**10,
                "deposit_fen": 0,
                "bid_deadline_at": iso(21 * 86400),
                "opening_at": iso(21 * 86400),
                "custodians": [u["id"] for u in users][:3],
                "threshold_k": 2,
                "max_bid_bytes": max(sizes_mb) * MB + 16 * MIB,
            }
            r = await session.post(server.url + "/api/v1/tenders", json=body, headers=staff)
            assert r.status == 201, await r.text()
            tender = await r.json()
            tid = tender["id"]
            r = await session.post(
                f"{server.url}/api/v1/tenders/{tid}/documents?name=doc.pdf",
                data=b"doc",
                headers=staff,
            )
            assert r.status == 201, await r.text()
            r = await session.post(f"{server.url}/api/v1/tenders/{tid}/publish", headers=staff)
            assert r.status == 200, await r.text()
            tender = await r.json()
            r = await session.post(
                f"{server.url}/api/v1/tenders/{tid}/registrations", headers=bidder
            )
            assert r.status == 201, await r.text()
            r = await session.post(
                server.url + "/api/v1/admission-flags",
                headers=staff,
                json={"org_id": me["org_id"], "project_ref": f"tender:{tid}", "note": "bench"},
            )
            assert r.status == 201, await r.text()
            for size_mb in sorted(sizes_mb):
                envelope, seal_kib = await asyncio.to_thread(
                    seal_in_child,
                    tmp,
                    size_mb * MB,
                    tender,
                    me["org_id"],
                    keys_dir / "bidder1.ed25519",
                )
                size = envelope.stat().st_size
                with RssSampler(server.process.pid) as rss, envelope.open("rb") as f:
                    started = time.perf_counter()
                    r = await session.put(
                        f"{server.url}/api/v1/tenders/{tid}/bid",
                        data=f,
                        headers={
                            **bidder,
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(size),
                        },
                    )
                    text = await r.text()
                    upload_s = time.perf_counter() - started
                assert r.status == 201, text
                envelope.unlink()
                results.append(
                    {
                        "upload_mb": round(size / MB, 1),
                        "upload_s": round(upload_s, 2),
                        "upload_mb_per_s": round(size / MB / upload_s, 1),
                        "server_rss_before_mib": round(rss.start_kib / 1024, 1),
                        "server_peak_rss_mib": round(
                            max(rss.hwm_kib if rss.reset else 0, rss.max_kib) / 1024, 1
                        ),
                        "server_peak_is_vmhwm": rss.reset,
                        "sealing_child_peak_rss_mib": round(seal_kib / 1024, 1),
                    }
                )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bids", type=int, default=200)
    parser.add_argument("--bid-mb", type=float, default=5)
    parser.add_argument("--upload-mb", type=int, default=1024)
    parser.add_argument("--small-upload-mb", type=int, default=64)
    parser.add_argument(
        "--quick", action="store_true", help="20 bids of 1 MB; uploads of 128 and 16 MB"
    )
    parser.add_argument("--skip-opening", action="store_true")
    parser.add_argument("--skip-upload", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.bids, args.bid_mb, args.upload_mb, args.small_upload_mb = 20, 1, 128, 16
    if not args.skip_opening:
        figures = asyncio.run(bench_opening(args.bids, args.bid_mb))
        report(f"opening {args.bids} bids x {args.bid_mb} MB", figures)
    if not args.skip_upload:
        for figures in asyncio.run(bench_upload([args.small_upload_mb, args.upload_mb])):
            report(f"upload {figures['upload_mb']} MB through HTTP", figures)
    print(
        f"(ru_maxrss of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)"
    )


if __name__ == "__main__":
    main()
