"""Signed receipts, tree heads and opening records, checked offline.

Sources: T2/T5 (A4(a), EM 27–28: a receipt with the exact time, for each submission,
replacement and withdrawal); T11 (BL 36, EM 30: the opening record is signed and
published without confidential fields); A4(g) (tampering is detectable).
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from bidding.client import verify_proof, verify_receipt
from bidding.records import (
    PUBLIC_RECORD_TYPE,
    Signed,
    opening_record,
    public_view,
    receipt_document,
    sign_document,
    tree_head_document,
    verify_signed,
)
from crypto.merkle import inclusion_proof, merkle_root
from crypto.signing import load_signing_key, public_key_bytes

SERVER = load_signing_key(bytes(range(32)))
SERVER_PUBLIC = public_key_bytes(SERVER)
OTHER_PUBLIC = public_key_bytes(load_signing_key(bytes(range(1, 33))))
AT = datetime(2026, 1, 26, 1, 59, 59, 999_400, tzinfo=UTC)


def receipt(**kw: object) -> dict[str, object]:
    base: dict[str, object] = dict(
        action="submit",
        sequence=17,
        tender_id=3,
        tender_code="T-3",
        bidder_org_id=9,
        bid_id=4,
        envelope_sha256="ab" * 32,
        envelope_size_bytes=1234,
        received_at=AT,
    )
    base.update(kw)
    return receipt_document(**base)  # type: ignore[arg-type]


def test_a_receipt_verifies_offline_and_carries_the_time_to_the_millisecond() -> None:
    """T2 (A4(a)): the receipt time is exact, UTC, milliseconds; T5: it verifies offline."""
    signed = sign_document(receipt(), SERVER.sign, "srv-1")
    wire = signed.as_json()
    assert wire["document"]["received_at"] == "2026-01-26T01:59:59.999Z"
    assert verify_receipt(wire, SERVER_PUBLIC, envelope_sha256="ab" * 32) == (True, "valid")
    assert not verify_receipt(wire, OTHER_PUBLIC)[0]
    assert not verify_receipt(wire, SERVER_PUBLIC, envelope_sha256="cd" * 32)[0]


@settings(max_examples=50, deadline=None)
@given(
    field=st.sampled_from(
        ["action", "sequence", "tender_id", "bidder_org_id", "envelope_sha256", "received_at"]
    )
)
def test_any_edit_of_a_receipt_breaks_its_signature(field: str) -> None:
    """A4(g): an altered receipt is detectable."""
    wire = sign_document(receipt(), SERVER.sign, "srv-1").as_json()
    value = wire["document"][field]
    wire["document"][field] = value + 1 if isinstance(value, int) else value + "x"
    assert verify_receipt(wire, SERVER_PUBLIC) == (
        False,
        "the signature does not verify with this server key",
    )


def test_a_tree_head_is_not_a_receipt() -> None:
    head = sign_document(
        tree_head_document(
            tender_id=3, tender_code="T", tree_size=1, root_hex="00" * 32, frozen_at=AT
        ),
        SERVER.sign,
        "srv-1",
    )
    assert not verify_receipt(head.as_json(), SERVER_PUBLIC)[0]
    assert Signed.from_json(head.as_json()) == head


def test_an_inclusion_proof_binds_the_bid_to_the_signed_root_and_size() -> None:
    """The frozen set (RULES T5/T6): each bidder checks its bid is in it."""
    leaves = [bytes([i]) * 32 for i in range(5)]
    root = merkle_root(leaves)
    head = sign_document(
        tree_head_document(
            tender_id=3, tender_code="T", tree_size=5, root_hex=root.hex(), frozen_at=AT
        ),
        SERVER.sign,
        "srv-1",
    ).as_json()
    proof = {
        "envelope_sha256": leaves[3].hex(),
        "leaf_index": 3,
        "proof": [p.hex() for p in inclusion_proof(leaves, 3)],
        "tree_head": head,
    }
    assert verify_proof(proof, SERVER_PUBLIC)[0]
    assert not verify_proof({**proof, "leaf_index": 2}, SERVER_PUBLIC)[0]
    assert not verify_proof({**proof, "envelope_sha256": "00" * 32}, SERVER_PUBLIC)[0]
    assert not verify_proof(proof, OTHER_PUBLIC)[0]


def test_the_public_view_omits_confidential_fields_and_is_signed_on_its_own() -> None:
    """T11 (BL 36, EM 30): record signed; public view omits confidential fields."""
    record = opening_record(
        tender_id=3,
        tender_code="T",
        project_name="Road",
        opening_at=AT,
        opening_started_at=AT,
        opened_at=AT,
        tree_root_hex="00" * 32,
        tree_size=2,
        custodians=["custodian1", "custodian2"],
        entries=[
            {
                "leaf_index": 0,
                "bid_id": 1,
                "bidder_org_id": 9,
                "bidder_name": "A Co",
                "envelope_sha256": "ab" * 32,
                "outcome": "opened",
                "amount_fen": 100,
                "duration_days": 30,
                "declared_items": {"quality": "pass"},
                "confidential_items": {"breakdown": "secret"},
                "documents": [{"name": "tech.pdf", "size_bytes": 3, "sha256": "cd" * 32}],
            },
            {
                "leaf_index": 1,
                "bid_id": 2,
                "bidder_org_id": 10,
                "bidder_name": "B Co",
                "envelope_sha256": "ef" * 32,
                "outcome": "revoked",
                "failure": {"cause": "bidder", "code": "decrypt_failed", "detail": "chunk 3"},
            },
        ],
    )
    public = public_view(record)
    text = str(public)
    assert public["type"] == PUBLIC_RECORD_TYPE
    for secret in ("breakdown", "tech.pdf", "chunk 3", "custodian1", "bid_id"):
        assert secret not in text
    assert public["entries"][0]["amount_fen"] == 100
    assert public["entries"][1]["failure"] == {"cause": "bidder", "code": "decrypt_failed"}
    signed = sign_document(public, SERVER.sign, "srv-1")
    assert verify_signed(signed, SERVER_PUBLIC, expected_type=PUBLIC_RECORD_TYPE)
    assert not verify_signed(signed, SERVER_PUBLIC, expected_type="sunlit/opening-record/v1")
