"""The audit chain, pure: every edit, removal, insertion or reordering is found (RULES T12)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.signing import SigningKey
from trading.audit.chain import GENESIS_HASH, Entry, SignedHead, entry_hash, walk


def build_chain(n: int) -> list[Entry]:
    out: list[Entry] = []
    prev = GENESIS_HASH
    t0 = datetime(2026, 3, 1, tzinfo=UTC)
    for i in range(1, n + 1):
        e = Entry(seq=i, at=t0 + timedelta(milliseconds=i), actor_user_id=i % 3, actor_name=f"u{i % 3}",
                  actor_role="staff", actor_org_id=1, action=f"act{i}", object_type="tender", object_id=str(i),
                  outcome="ok", client_addr="127.0.0.1", request_id=f"r{i}", payload_digest="ab" * 32,
                  detail={"i": i}, prev_hash=prev)
        e = replace(e, hash=entry_hash(e))
        out.append(e)
        prev = e.hash
    return out


def test_an_intact_chain_verifies() -> None:
    """EM 48–49, A4(g): an untouched log verifies."""
    assert list(walk(build_chain(20))) == []


@settings(max_examples=100, deadline=None)
@given(n=st.integers(2, 30), data=st.data())
def test_any_edited_field_is_found(n: int, data: st.DataObject) -> None:
    """A4(g): editing any field of any entry is detected at that entry."""
    chain = build_chain(n)
    i = data.draw(st.integers(0, n - 1))
    field_name = data.draw(st.sampled_from(["actor_name", "action", "object_id", "outcome", "payload_digest", "request_id"]))
    chain[i] = replace(chain[i], **{field_name: getattr(chain[i], field_name) + "x"})
    findings = list(walk(chain))
    assert findings and findings[0].seq == chain[i].seq and findings[0].problem == "altered"


@settings(max_examples=100, deadline=None)
@given(n=st.integers(3, 30), data=st.data())
def test_any_removed_entry_is_found(n: int, data: st.DataObject) -> None:
    """A4(g): removing an entry leaves a gap that names the missing sequence number."""
    chain = build_chain(n)
    i = data.draw(st.integers(0, n - 2))
    del chain[i]
    findings = list(walk(chain))
    assert findings and findings[0].seq == i + 1 and findings[0].problem == "missing"


@settings(max_examples=100, deadline=None)
@given(n=st.integers(3, 30), data=st.data())
def test_any_swap_of_two_entries_is_found(n: int, data: st.DataObject) -> None:
    """A4(g): reordering entries breaks the chain."""
    chain = build_chain(n)
    i = data.draw(st.integers(0, n - 2))
    j = data.draw(st.integers(i + 1, n - 1))
    chain[i], chain[j] = chain[j], chain[i]
    assert list(walk(chain))


@settings(max_examples=50, deadline=None)
@given(n=st.integers(2, 30), data=st.data())
def test_an_inserted_entry_is_found(n: int, data: st.DataObject) -> None:
    """A4(g): an entry slipped in between two others breaks the link of the next."""
    chain = build_chain(n)
    i = data.draw(st.integers(1, n - 1))
    forged = replace(chain[i], action="forged")
    forged = replace(forged, hash=entry_hash(forged))
    chain.insert(i, forged)
    assert list(walk(chain))


def test_a_recomputed_chain_after_an_edit_still_walks_clean_so_checkpoints_are_needed() -> None:
    """Why checkpoints exist: an attacker who rehashes everything defeats the chain alone."""
    chain = build_chain(5)
    edited = [replace(chain[0], action="forged")]
    prev = GENESIS_HASH
    rebuilt = []
    for e in edited + chain[1:]:
        e = replace(e, prev_hash=prev)
        e = replace(e, hash=entry_hash(e))
        rebuilt.append(e)
        prev = e.hash
    assert list(walk(rebuilt)) == []
    assert rebuilt[-1].hash != chain[-1].hash  # …which a signed checkpoint of the old head exposes


# Issue 16 item 4: the signed head closes the window after the last checkpoint.

def _signed_head(chain: list[Entry], seq: int, key: SigningKey) -> SignedHead:
    unsigned = SignedHead(seq, chain[seq - 1].hash, "2026-03-01T00:00:01.000Z", "srv-test", b"")
    return replace(unsigned, signature=key.sign(unsigned.message()))


def test_item4_an_edit_rehashed_after_the_last_checkpoint_is_caught_by_the_signed_head() -> None:
    """Issue 16 item 4 (RULES T12): a tail edited and re-hashed walks clean, but the entry at
    the signed head's seq no longer hashes to the signed hash."""
    from crypto.signing import generate_signing_key, public_key_bytes
    from trading.audit.chain import check_head

    key = generate_signing_key()
    chain = build_chain(15)
    head = _signed_head(chain, 15, key)
    forged: list[Entry] = []
    prev = GENESIS_HASH
    for e in chain:
        e2 = replace(e, prev_hash=prev, action="forged" if e.seq == 12 else e.action)
        e2 = replace(e2, hash=entry_hash(e2))
        forged.append(e2)
        prev = e2.hash
    assert list(walk(forged)) == []
    findings = check_head(head, public_key_bytes(key), forged[-1].hash, 15, "the head file")
    assert [(f.seq, f.problem) for f in findings] == [(15, "head_mismatch")]
    assert check_head(head, public_key_bytes(key), chain[-1].hash, 15, "the head file") == []


def test_item4_a_truncated_tail_is_caught_by_a_signed_head() -> None:
    """Issue 16 item 4: a chain cut after entry 12 walks clean; a head signed at 15 proves the cut."""
    from crypto.signing import generate_signing_key, public_key_bytes
    from trading.audit.chain import check_head

    key = generate_signing_key()
    chain = build_chain(15)
    head = _signed_head(chain, 15, key)
    assert list(walk(chain[:12])) == []
    findings = check_head(head, public_key_bytes(key), None, 12, "the published head")
    assert [(f.seq, f.problem) for f in findings] == [(15, "truncated")]
    assert "ends at entry 12" in findings[0].detail


def test_item4_a_head_signed_by_another_key_or_altered_is_refused() -> None:
    """Issue 16 item 4: the head's signature must verify with a trusted server key."""
    from crypto.signing import generate_signing_key, public_key_bytes
    from trading.audit.chain import check_head

    key, other = generate_signing_key(), generate_signing_key()
    chain = build_chain(3)
    head = _signed_head(chain, 3, key)
    assert [f.problem for f in check_head(head, public_key_bytes(other), chain[-1].hash, 3, "f")] == ["bad_head"]
    assert [f.problem for f in check_head(head, None, chain[-1].hash, 3, "f")] == ["bad_head"]
    moved = replace(head, seq=2)
    assert [f.problem for f in check_head(moved, public_key_bytes(key), chain[1].hash, 3, "f")] == ["bad_head"]
    again = SignedHead.from_json(head.as_json(public_key_bytes(key)))
    assert again == head


def test_item4_a_head_file_that_is_not_a_head_is_refused_with_a_reason() -> None:
    import pytest

    for bad in (None, [], {"kind": "other"}, {"kind": "sunlit.audit.head.v1", "seq": 0, "head_hash": "0" * 64,
                                              "signed_at": "x", "key_id": "k", "signature_hex": "00" * 64}):
        with pytest.raises(ValueError):
            SignedHead.from_json(bad)
