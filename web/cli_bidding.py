"""``sunlit bid …``: the bidder's and the custodian's client commands.

    sunlit bid keygen --out-dir DIR --name NAME
        an Ed25519 signing key and an X25519 key (files 0600, public halves beside them)
    sunlit bid seal --tender-public-key KEY --tender-id N --bidder-org N --signing-key FILE
                    --price-schedule schedule.json [--document FILE ...] --out bid.env
        pack and seal a bid on this machine (nothing is sent)
    sunlit bid submit --tender-id N --envelope bid.env [--receipt-out receipt.json]
        upload (streamed) and print the signed receipt
    sunlit bid withdraw --tender-id N
    sunlit bid share --tender-id N --key custodian.x25519
        fetch my sealed key share, open it here, hand it in
    sunlit bid proof --tender-id N [--out proof.json]
        fetch and check the proof that my bid is in the frozen set
    sunlit bid verify-receipt --receipt receipt.json --server-public-key KEY [--envelope bid.env]
    sunlit bid verify-proof --proof proof.json --server-public-key KEY
    sunlit bid verify-opening --record record.json --public-key KEY [--tree-head head.json] [--proof proof.json ...]
        check a published opening record offline: signature, Merkle root, each inclusion proof

Commands that talk to a server take ``--url`` (default ``$SUNLIT_URL``, else
http://$SUNLIT_HOST:$SUNLIT_PORT, i.e. http://127.0.0.1:8080) and ``--token`` (default ``$SUNLIT_TOKEN``), or ``--username`` with
``$SUNLIT_PASSWORD`` (asked for when missing) to log in first. Keys are given as a file
or as the text itself (base64url or hex).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

from bidding import client
from crypto.errors import CryptoError
from trading.config import Config

__all__ = ["register"]


class CliError(Exception):
    """A problem to print and exit 2 with."""


def _problem(status: int, text: str) -> CliError:
    try:
        body = json.loads(text)
        return CliError(f"HTTP {status} [{body.get('code')}]: {body.get('detail')}")
    except ValueError:
        return CliError(f"HTTP {status}: {text[:500]}")


async def _headers(session: aiohttp.ClientSession, args: argparse.Namespace) -> dict[str, str]:
    token = args.token or os.environ.get("SUNLIT_TOKEN")
    if not token and args.username:
        password = os.environ.get("SUNLIT_PASSWORD") or getpass.getpass(
            f"password for {args.username}: "
        )
        async with session.post(
            args.url + "/api/v1/sessions", json={"username": args.username, "password": password}
        ) as r:
            if r.status != 201:
                raise _problem(r.status, await r.text())
            token = (await r.json())["token"]
    if not token:
        raise CliError("give --token (or $SUNLIT_TOKEN), or --username to log in")
    return {"Authorization": f"Bearer {token}"}


def _run(args: argparse.Namespace, fn: Any) -> int:
    from web.cli import server_url, unreachable_line

    args.url = server_url(args.url)

    async def main() -> int:
        async with aiohttp.ClientSession() as session:
            headers = await _headers(session, args)
            code: int = await fn(session, headers)
            return code

    try:
        return asyncio.run(main())
    except CliError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except aiohttp.ClientConnectionError as err:
        print(unreachable_line(args.url, err), file=sys.stderr)
        return 2
    except aiohttp.ClientError as err:
        print(f"error: {args.url}: {err}", file=sys.stderr)
        return 2


def _print(obj: Any) -> None:
    print(json.dumps(obj, ensure_ascii=False, indent=2))


# ---------------------------------------------------------------------------- local commands


def cmd_keygen(args: argparse.Namespace, config: Config) -> int:
    try:
        files = client.generate_keys(Path(args.out_dir), args.name)
    except FileExistsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for what, path in files.items():
        print(f"{what:<12} {path}")
    print(
        "Register the public keys: POST /api/v1/me/keys "
        '{"public_key": <.pub contents>, "algorithm": "ed25519" | "x25519"}'
    )
    return 0


def cmd_seal(args: argparse.Namespace, config: Config) -> int:
    try:
        tender_public = client.load_key(args.tender_public_key)
        signing_key = client.signing_key_from(args.signing_key)
        schedule = Path(args.price_schedule).read_bytes()
        documents = [Path(d) for d in args.document or []]
        for d in documents:
            if not d.is_file():
                raise ValueError(f"no such document: {d}")
        out = Path(args.out)
        tmp = out.with_name(out.name + ".part")
        with tmp.open("wb") as f:
            info = client.seal_bid(
                f,
                tender_public=tender_public,
                tender_id=args.tender_id,
                bidder_org_id=args.bidder_org,
                signing_key=signing_key,
                price_schedule=schedule,
                documents=documents,
                chunk_size=args.chunk_size,
            )
        tmp.replace(out)
    except (OSError, ValueError, CryptoError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    _print(
        {
            "envelope": str(out),
            "envelope_sha256": info.envelope_sha256,
            "envelope_size_bytes": info.envelope_size_bytes,
            "plaintext_size_bytes": info.plaintext_size_bytes,
            "tender_id": args.tender_id,
            "bidder_org_id": args.bidder_org,
        }
    )
    return 0


def cmd_verify_receipt(args: argparse.Namespace, config: Config) -> int:
    try:
        receipt = json.loads(Path(args.receipt).read_text("utf-8"))
        server_public = client.load_key(args.server_public_key)
        digest = None
        if args.envelope:
            h = hashlib.sha256()
            with Path(args.envelope).open("rb") as f:
                while piece := f.read(1024 * 1024):
                    h.update(piece)
            digest = h.hexdigest()
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if isinstance(receipt, dict) and "receipt" in receipt:
        receipt = receipt["receipt"]
    ok, why = client.verify_receipt(receipt, server_public, envelope_sha256=digest)
    print(("VALID: " if ok else "INVALID: ") + why)
    if ok:
        _print(receipt["document"])
    return 0 if ok else 1


def cmd_verify_proof(args: argparse.Namespace, config: Config) -> int:
    try:
        proof = json.loads(Path(args.proof).read_text("utf-8"))
        server_public = client.load_key(args.server_public_key)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ok, why = client.verify_proof(proof, server_public)
    print(("VALID: " if ok else "INVALID: ") + why)
    return 0 if ok else 1


def cmd_verify_opening(args: argparse.Namespace, config: Config) -> int:
    """Exit 0 when the record verifies, 1 when it does not (each problem printed), 2 on bad input."""
    from bidding.verify import verify_opening

    try:
        record = json.loads(Path(args.record).read_text("utf-8"))
        server_public = client.load_key(args.public_key)
        head = json.loads(Path(args.tree_head).read_text("utf-8")) if args.tree_head else None
        proofs = [json.loads(Path(p).read_text("utf-8")) for p in args.proof or []]
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = verify_opening(record, server_public, tree_head=head, proofs=proofs)
    if args.json:
        print(json.dumps(report.as_dict(), ensure_ascii=False, indent=1))
        return 0 if report.ok else 1
    for line in report.checked:
        print(f"  ok: {line}")
    if report.ok:
        doc = report.document or {}
        print(f"VALID: opening record of tender {doc.get('tender_id')} ({doc.get('status')}), "
              f"{len(doc.get('entries') or [])} bid(s)")  # fmt: skip
        print("验证通过：开标记录签名、默克尔根与各投标的包含证明均一致")
        return 0
    print(f"INVALID: {len(report.problems)} problem(s)", file=sys.stderr)
    print(f"验证不通过：共{len(report.problems)}处问题", file=sys.stderr)
    for problem in report.problems:
        print(f"  - {problem}", file=sys.stderr)
    return 1


# ---------------------------------------------------------------------------- server commands


def _save(path: str | None, obj: Any) -> None:
    if path:
        Path(path).write_text(json.dumps(obj, ensure_ascii=False, indent=2), "utf-8")


def cmd_submit(args: argparse.Namespace, config: Config) -> int:
    path = Path(args.envelope)
    if not path.is_file():
        print(f"error: no such envelope: {path}", file=sys.stderr)
        return 2
    size = path.stat().st_size
    receipt: dict[str, Any] = {}

    with path.open("rb") as f:

        async def go(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
            async with session.put(
                f"{args.url}/api/v1/tenders/{args.tender_id}/bid",
                data=f,
                headers={
                    **headers,
                    "Content-Type": "application/octet-stream",
                    "Content-Length": str(size),
                },
            ) as r:
                text = await r.text()
                if r.status != 201:
                    raise _problem(r.status, text)
            receipt.update(json.loads(text))
            return 0

        code = _run(args, go)
    if code == 0:
        _save(args.receipt_out, receipt)
        _print(receipt)
    return code


def cmd_withdraw(args: argparse.Namespace, config: Config) -> int:
    receipt: dict[str, Any] = {}

    async def go(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
        async with session.delete(
            f"{args.url}/api/v1/tenders/{args.tender_id}/bid", headers=headers
        ) as r:
            text = await r.text()
            if r.status != 200:
                raise _problem(r.status, text)
        receipt.update(json.loads(text))
        return 0

    code = _run(args, go)
    if code == 0:
        _save(args.receipt_out, receipt)
        _print(receipt)
    return code


def cmd_share(args: argparse.Namespace, config: Config) -> int:
    try:
        private = client.load_key(args.key)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    async def go(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
        base = f"{args.url}/api/v1/tenders/{args.tender_id}"
        async with session.get(base + "/shares/mine", headers=headers) as r:
            text = await r.text()
            if r.status != 200:
                raise _problem(r.status, text)
        sealed = json.loads(text)
        try:
            share = client.open_sealed_share(sealed["sealed_share"], private, args.tender_id)
        except CryptoError as err:
            raise CliError(f"the sealed share does not open with this key: {err}") from None
        async with session.post(base + "/shares", json={"share": share}, headers=headers) as r:
            text = await r.text()
            if r.status != 200:
                raise _problem(r.status, text)
        result = json.loads(text)
        print(
            f"share {sealed['position']} handed in: {result['shares_received']} of "
            f"{result['threshold_k']} needed; state {result['state']}"
        )
        if result.get("missing") and result["state"] != "opened":
            print("still missing: " + ", ".join(result["missing"]))
        if "record" in result:
            _print(result["record"])
        return 0

    return _run(args, go)


def cmd_proof(args: argparse.Namespace, config: Config) -> int:
    got: dict[str, Any] = {}

    async def go(session: aiohttp.ClientSession, headers: dict[str, str]) -> int:
        async with session.get(
            f"{args.url}/api/v1/tenders/{args.tender_id}/bid/proof", headers=headers
        ) as r:
            text = await r.text()
            if r.status != 200:
                raise _problem(r.status, text)
        async with session.get(f"{args.url}/api/v1/bidding/server-key") as r:
            got["key"] = (await r.json())["public_key_hex"]
        got["proof"] = json.loads(text)
        return 0

    code = _run(args, go)
    if code != 0:
        return code
    _save(args.out, got["proof"])
    ok, why = client.verify_proof(got["proof"], bytes.fromhex(got["key"]))
    print(("VALID: " if ok else "INVALID: ") + why)
    return 0 if ok else 1


def _server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help="the server (default $SUNLIT_URL, else http://$SUNLIT_HOST:$SUNLIT_PORT)")
    p.add_argument("--token", help="bearer token (default $SUNLIT_TOKEN)")
    p.add_argument("--username", help="log in as this user ($SUNLIT_PASSWORD or asked)")


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    bid = sub.add_parser(
        "bid", help="sealed bids: keys, seal, submit, shares, receipts"
    ).add_subparsers(dest="bid_command", required=True)

    p = bid.add_parser("keygen", help="make an Ed25519 signing key and an X25519 key (0600)")
    p.add_argument("--out-dir", required=True)
    p.add_argument("--name", required=True)
    p.set_defaults(fn=cmd_keygen)

    p = bid.add_parser("seal", help="pack and seal a bid on this machine")
    p.add_argument(
        "--tender-public-key",
        required=True,
        help="the tender's opening key (base64url, hex or a file)",
    )
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--bidder-org", type=int, required=True, help="your organisation id")
    p.add_argument("--signing-key", required=True, help="your Ed25519 private key file")
    p.add_argument("--price-schedule", required=True, help="price schedule JSON file")
    p.add_argument("--document", action="append", help="a document to include (repeat)")
    p.add_argument("--out", required=True)
    p.add_argument("--chunk-size", type=int, default=64 * 1024)
    p.set_defaults(fn=cmd_seal)

    p = bid.add_parser("submit", help="upload a sealed envelope; print the signed receipt")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--envelope", required=True)
    p.add_argument("--receipt-out")
    p.set_defaults(fn=cmd_submit)

    p = bid.add_parser("withdraw", help="withdraw my bid before the deadline")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--receipt-out")
    p.set_defaults(fn=cmd_withdraw)

    p = bid.add_parser("share", help="custodian: fetch, open and hand in my key share")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--key", required=True, help="my X25519 private key file")
    p.set_defaults(fn=cmd_share)

    p = bid.add_parser("proof", help="fetch and check the proof that my bid is in the frozen set")
    _server_args(p)
    p.add_argument("--tender-id", type=int, required=True)
    p.add_argument("--out")
    p.set_defaults(fn=cmd_proof)

    p = bid.add_parser(
        "verify-receipt", help="check a receipt offline with the server's public key"
    )
    p.add_argument("--receipt", required=True)
    p.add_argument("--server-public-key", required=True, help="hex, base64url or a file")
    p.add_argument("--envelope", help="also check that the receipt names this envelope")
    p.set_defaults(fn=cmd_verify_receipt)

    p = bid.add_parser(
        "verify-opening",
        help="check a published opening record offline: signature, Merkle root, each inclusion proof",
    )
    p.add_argument("--record", required=True, help="the signed record (GET …/opening-record/public)")
    p.add_argument(
        "--public-key", required=True, help="the server's public key: hex, base64url or a file"
    )
    p.add_argument("--tree-head", help="also check the signed tree head (GET …/bid-tree)")
    p.add_argument("--proof", action="append", help="a bidder's proof file to check (repeat)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(fn=cmd_verify_opening)

    p = bid.add_parser("verify-proof", help="check an inclusion proof offline")
    p.add_argument("--proof", required=True)
    p.add_argument("--server-public-key", required=True)
    p.set_defaults(fn=cmd_verify_proof)
