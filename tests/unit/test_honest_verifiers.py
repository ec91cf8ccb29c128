"""Issue 16, item 5: verifiers never say OK falsely — the draw bundle (experts/bundle.py) and
the opening record (bidding/verify.py), pure. A good document with the right key passes; a
tampered one, a wrong key, or no key at all is never OK."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from bidding.records import (
    failed_record,
    opening_record,
    public_view,
    receipt_document,
    sign_document,
    tree_head_document,
)
from bidding.verify import verify_opening
from crypto.merkle import inclusion_proof, merkle_root
from crypto.signing import generate_signing_key, public_key_bytes, sha256
from experts.bundle import make_bundle, verify_bundle
from experts.draw import commit, run_draw, seed_hash_of
from tests.unit.test_experts_draw import small_request

KEY = generate_signing_key()
PUBLIC = public_key_bytes(KEY)
OTHER = public_key_bytes(generate_signing_key())
AT = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def _bundle() -> dict[str, Any]:
    req = small_request(5, reserve=3)
    ids = tuple(f"E{k:03d}" for k in range(20))
    secret = bytes(range(32))
    record = commit(req, [ids], [], seed_hash_of(secret))
    res = run_draw(record, secret)
    calls = [(0, k, res.lines[0].order[k], "confirmed") for k in range(5)]
    return make_bundle(draw_id=7, record_json=record.to_json(), result_json=res.to_json(), calls=calls, seed=secret,
                       beacon_value=None, published_record_hash=record.record_hash, sign=KEY.sign, key_id="srv-k",
                       public_key=PUBLIC)  # fmt: skip


def test_item5_draw_bundle_with_the_right_key_is_ok() -> None:
    """Issue 16 item 5 (E7): the signed bundle, checked with the server's key, verifies."""
    report = verify_bundle(_bundle(), public_key=PUBLIC)
    assert report["ok"] and report["signature"] == "verified" and report["hashes_ok"]


def test_item5_draw_bundle_without_a_key_is_never_ok() -> None:
    """Issue 16 item 5: with no trusted key the signature is not checked, so never OK —
    even though every hash and the re-run agree."""
    report = verify_bundle(_bundle())
    assert report["ok"] is False
    assert report["signature"] == "not_checked" and report["hashes_ok"] is True


def test_item5_draw_bundle_with_a_wrong_key_is_refused() -> None:
    """Issue 16 item 5: another key (even one the bundle itself names) does not verify."""
    bundle = _bundle()
    bundle["signature"]["public_key"] = OTHER.hex()  # the embedded key is never trusted
    report = verify_bundle(bundle, public_key=OTHER)
    assert report["ok"] is False and report["signature"] == "invalid"


def test_item5_draw_bundle_re_signed_by_a_forger_is_refused() -> None:
    """Issue 16 item 5: a bundle changed and re-signed with another key, shipping that key,
    fails against the server's key."""
    forger = generate_signing_key()
    bundle = _bundle()
    body = {k: v for k, v in bundle.items() if k != "signature"}
    body["calls"] = body["calls"][:4]
    forged = make_bundle(**{"draw_id": body["draw_id"], "record_json": body["record"], "result_json": body["result"],
                            "calls": [(c["line"], c["position"], c["expert_id"], c["status"]) for c in body["calls"]],
                            "seed": bytes.fromhex(body["seed"]), "beacon_value": None,
                            "published_record_hash": body["published_record_hash"], "sign": forger.sign,
                            "key_id": "srv-k", "public_key": public_key_bytes(forger)})  # fmt: skip
    assert verify_bundle(forged, public_key=public_key_bytes(forger))["ok"]  # its own key: yes
    assert not verify_bundle(forged, public_key=PUBLIC)["ok"]  # the server's: no


def test_item5_tampered_draw_bundle_is_refused_even_with_the_key() -> None:
    """Issue 16 item 5: a changed call breaks the signature and the call order."""
    bundle = _bundle()
    bundle["calls"][0]["expert_id"] = "E999"
    report = verify_bundle(bundle, public_key=PUBLIC)
    assert not report["ok"] and report["signature"] == "invalid"


# -- the opening record --------------------------------------------------------------------------


def _opening(n: int = 4) -> tuple[dict[str, Any], dict[str, Any], list[bytes]]:
    leaves = [sha256(f"envelope {i}".encode()) for i in range(n)]
    root = merkle_root(leaves)
    entries = [
        {"leaf_index": i, "bid_id": 100 + i, "bidder_org_id": 10 + i, "bidder_name": f"投标人{i}",
         "envelope_sha256": leaf.hex(), "outcome": "opened", "amount_fen": 1_000_000 + i}
        for i, leaf in enumerate(leaves)
    ]  # fmt: skip
    doc = opening_record(tender_id=3, tender_code="T-3", project_name="项目", opening_at=AT,
                         opening_started_at=AT, opened_at=AT, tree_root_hex=root.hex(), tree_size=n,
                         custodians=["c1", "c2"], entries=entries)  # fmt: skip
    head = tree_head_document(tender_id=3, tender_code="T-3", tree_size=n, root_hex=root.hex(), frozen_at=AT)
    return doc, sign_document(head, KEY.sign, "srv-k").as_json(), leaves


def _signed(doc: dict[str, Any], key: Any = KEY) -> dict[str, Any]:
    return sign_document(doc, key.sign, "srv-k").as_json()


@pytest.mark.parametrize("public", [False, True])
def test_item5_opening_record_with_the_right_key_passes(public: bool) -> None:
    """Issue 16 item 5 (BL 36, T11): the full record and its public view verify: signature,
    root, each entry's inclusion proof, the tree head and a bidder's proof."""
    doc, head, leaves = _opening()
    if public:
        doc = public_view(doc)
    proof = {"envelope_sha256": leaves[2].hex(), "leaf_index": 2,
             "proof": [p.hex() for p in inclusion_proof(leaves, 2)]}  # fmt: skip
    report = verify_opening(_signed(doc), PUBLIC, tree_head=head, proofs=[proof])
    assert report.ok, report.problems
    assert any("inclusion proof of each of the 4 entries" in c for c in report.checked)


def test_item5_opening_record_with_a_wrong_key_is_refused() -> None:
    """Issue 16 item 5: another key does not verify the record."""
    doc, _head, _ = _opening()
    report = verify_opening(_signed(doc), OTHER)
    assert not report.ok and "signature" in report.problems[0]


@pytest.mark.parametrize(
    "tamper",
    ["price", "envelope", "drop_entry", "root", "duplicate_index"],
)
def test_item5_tampered_opening_record_is_refused(tamper: str) -> None:
    """Issue 16 item 5: a changed price breaks the signature; a record re-signed over a
    changed envelope, a missing entry, a wrong root or a repeated index breaks the tree."""
    doc, _head, _ = _opening()
    bad = copy.deepcopy(doc)
    if tamper == "price":
        signed = _signed(doc)
        signed["document"]["entries"][0]["amount_fen"] = 1
        report = verify_opening(signed, PUBLIC)
        assert not report.ok and not report.signature_ok
        return
    if tamper == "envelope":
        bad["entries"][1]["envelope_sha256"] = "ab" * 32
    elif tamper == "drop_entry":
        bad["entries"].pop()
    elif tamper == "root":
        bad["bid_tree"]["root"] = "cd" * 32
    elif tamper == "duplicate_index":
        bad["entries"][1]["leaf_index"] = 0
    report = verify_opening(_signed(bad), PUBLIC)  # signed, yet inconsistent
    assert report.signature_ok and not report.ok and report.problems


def test_item5_opening_verifier_refuses_another_signed_document() -> None:
    """Issue 16 item 5: a receipt signed by the same key is not an opening record."""
    receipt = receipt_document(action="submit", sequence=1, tender_id=3, tender_code="T-3", bidder_org_id=1,
                               bid_id=1, envelope_sha256="00" * 32, envelope_size_bytes=1, received_at=AT)  # fmt: skip
    report = verify_opening(_signed(receipt), PUBLIC)
    assert not report.ok and "not an opening record" in report.problems[0]


def test_item5_opening_tree_head_and_proof_of_another_tree_are_refused() -> None:
    """Issue 16 item 5: a tree head or a bidder's proof for another set of bids fails."""
    doc, _head, _ = _opening()
    _doc2, head2, leaves2 = _opening(5)
    proof = {"envelope_sha256": leaves2[4].hex(), "leaf_index": 4,
             "proof": [p.hex() for p in inclusion_proof(leaves2, 4)]}  # fmt: skip
    report = verify_opening(_signed(doc), PUBLIC, tree_head=head2, proofs=[proof])
    assert not report.ok and len(report.problems) == 2


def test_item5_failed_tender_record_checks_its_empty_tree() -> None:
    """Issue 16 item 5 (T7): a failed tender with no bids has the empty tree's root."""
    from crypto.merkle import EMPTY_ROOT

    doc = failed_record(tender_id=3, tender_code="T-3", project_name="p", failed_at=AT, bid_count=0,
                        min_bidders=3, tree_root_hex=EMPTY_ROOT.hex())  # fmt: skip
    assert verify_opening(_signed(doc), PUBLIC).ok
    doc["bid_tree"]["root"] = "00" * 32
    assert not verify_opening(_signed(doc), PUBLIC).ok
