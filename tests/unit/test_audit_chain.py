"""The audit chain, pure: every edit, removal, insertion or reordering is found (RULES T12)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from trading.audit.chain import GENESIS_HASH, Entry, entry_hash, walk


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
