"""A drawn panel's life (experts/panel.py), the summons templates (experts/notify.py), the
import file (experts/csvio.py) and the published bundle (experts/bundle.py) — pure.

Sources: RULES.md E5 (a decliner is replaced by the next position of the same stream —
IR 46, 48), E6 (summons give time and place, not the project — practice), E7 (RFC 3797),
T19 (a replaced member's scores are void — IR 48).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experts.bundle import call_differences, make_bundle, verify_bundle
from experts.csvio import read_csv, write_csv
from experts.draw import commit, run_draw, seed_hash_of
from experts.model.record import DrawResult, LineDraw
from experts.model.specialties import SpecialtyCode
from experts.notify import Summons, render
from experts.panel import (
    DrawCommand,
    DrawStatus,
    MemberCommand,
    MemberStatus,
    Seat,
    decide_draw,
    decide_member,
    panel_status,
    plan_calls,
)
from experts.pool import ExpertInput, RelationInput, SanctionInput, check_expert
from tests.unit.test_experts_draw import small_request
from trading.errors import Rejected

SETTINGS = settings(max_examples=100, deadline=None)
TZ = ZoneInfo("Asia/Shanghai")


def result(*lines: tuple[str, int, tuple[str, ...]]) -> DrawResult:
    return DrawResult("0" * 64, "sunlit-draw/1", None,
                      tuple(LineDraw(i, SpecialtyCode(c), n, order) for i, (c, n, order) in enumerate(lines)))  # fmt: skip


ORDER = tuple(f"E{k:02d}" for k in range(8))


def test_the_first_calls_are_the_panel_in_drawn_order() -> None:
    """E1: the panel is the first ``count`` of each line's order."""
    plan = plan_calls(result(("A03", 4, ORDER), ("C04", 1, ("X1", "X2"))), [])
    assert [(c.line, c.position, c.expert_id) for c in plan.calls] == [
        (0, 0, "E00"), (0, 1, "E01"), (0, 2, "E02"), (0, 3, "E03"), (1, 0, "X1")]  # fmt: skip
    assert panel_status(plan.lines) is DrawStatus.DRAWN


def test_a_decliner_is_replaced_by_the_next_position_of_the_same_line() -> None:
    """E5 (IR 46, 48): the next in the line's order who has not been called."""
    seats = [Seat(0, k, ORDER[k], MemberStatus.SUMMONED) for k in range(4)]
    seats[1] = dataclasses.replace(seats[1], status=MemberStatus.DECLINED)
    plan = plan_calls(result(("A03", 4, ORDER)), seats)
    assert [(c.position, c.expert_id) for c in plan.calls] == [(4, "E04")]
    seats.append(Seat(0, 4, "E04", MemberStatus.TIMED_OUT))
    plan = plan_calls(result(("A03", 4, ORDER)), seats)
    assert [(c.position, c.expert_id) for c in plan.calls] == [(5, "E05")]


def test_a_line_whose_order_runs_out_is_short_by_the_missing_seats() -> None:
    """The pool runs out: the line says which specialty and how many seats are missing."""
    seats = [Seat(0, 0, "X1", MemberStatus.DECLINED), Seat(0, 1, "X2", MemberStatus.DECLINED)]
    plan = plan_calls(result(("C04", 1, ("X1", "X2"))), seats)
    assert plan.calls == ()
    (short,) = plan.short_lines
    assert (short.code, short.short_by, short.order_length) == ("C04", 1, 2)
    assert panel_status(plan.lines) is DrawStatus.SHORT


def test_a_panel_is_full_when_every_seat_is_confirmed() -> None:
    seats = [Seat(0, k, ORDER[k], MemberStatus.CONFIRMED) for k in range(3)]
    plan = plan_calls(result(("A03", 3, ORDER)), seats)
    assert plan.calls == () and panel_status(plan.lines) is DrawStatus.FULL


@SETTINGS
@given(st.lists(st.sampled_from([MemberCommand.CONFIRM, MemberCommand.DECLINE, MemberCommand.TIMEOUT,
                                 MemberCommand.RECUSE]), max_size=30), st.integers(1, 4), st.integers(0, 6),
       st.randoms(use_true_random=False))  # fmt: skip
def test_calls_always_follow_the_drawn_order(commands, count, reserve, rnd) -> None:
    """E5 as a property: whatever the answers, on each line the positions called are
    0, 1, 2, … with none skipped or repeated, the expert at each is the order's, seats held
    never exceed the count, and a line is short only when its order is used up."""
    order = tuple(f"E{k:02d}" for k in range(count + reserve))
    res = result(("A03", count, order))
    seats: list[Seat] = []
    for c in plan_calls(res, seats).calls:
        seats.append(Seat(c.line, c.position, c.expert_id, MemberStatus.SUMMONED))
    for command in commands:
        open_ = [i for i, s in enumerate(seats) if s.status.holds_seat]
        if not open_:
            break
        i = rnd.choice(open_)
        try:
            new = decide_member(seats[i].status, command)
        except Rejected:
            continue
        seats[i] = dataclasses.replace(seats[i], status=new)
        plan = plan_calls(res, seats)
        for c in plan.calls:
            seats.append(Seat(c.line, c.position, c.expert_id, MemberStatus.SUMMONED))
        assert [s.position for s in seats] == list(range(len(seats)))
        assert all(order[s.position] == s.expert_id for s in seats)
        held = sum(1 for s in seats if s.status.holds_seat)
        assert held <= count
        (line,) = plan.lines
        assert (line.short_by > 0) == (held < count) == (len(seats) == len(order) and held < count)
        assert (
            call_differences(
                res, [(s.line, s.position, s.expert_id, s.status.value) for s in seats]
            )
            == []
        )


def test_member_transitions_are_a_table_and_anything_else_is_refused() -> None:
    """T19: a confirmed member who recuses is ``replaced``; a closed summons cannot be answered."""
    assert decide_member(MemberStatus.CONFIRMED, MemberCommand.RECUSE) is MemberStatus.REPLACED
    for status in (MemberStatus.DECLINED, MemberStatus.TIMED_OUT, MemberStatus.REPLACED):
        for command in MemberCommand:
            with pytest.raises(Rejected) as err:
                decide_member(status, command)
            assert err.value.code == "summons_closed"
    with pytest.raises(Rejected):
        decide_member(MemberStatus.CONFIRMED, MemberCommand.DECLINE)
    with pytest.raises(Rejected) as err:
        decide_draw(DrawStatus.DRAWN, DrawCommand.FIX, DrawStatus.FIXED)
    assert err.value.code == "wrong_draw_state"
    assert decide_draw(DrawStatus.FULL, DrawCommand.FIX, DrawStatus.FIXED) is DrawStatus.FIXED


def test_call_differences_name_a_skipped_or_foreign_call() -> None:
    res = result(("A03", 2, ORDER))
    diffs = call_differences(res, [(0, 0, "E00", "confirmed"), (0, 2, "E02", "confirmed")])
    assert [(d.kind.value, d.position) for d in diffs] == [("call_order", 1)]
    diffs = call_differences(res, [(0, 0, "E00", "confirmed"), (0, 1, "ZZZ", "confirmed")])
    assert [(d.kind.value, d.position, d.expected, d.claimed) for d in diffs] == [
        ("call_order", 1, "E01", "ZZZ")
    ]


# --- E6: the summons says time and place, never the project ---------------------------------


def summons(language: str) -> Summons:
    return Summons(expert_name="许建国", phone="13900000001", email="x@example.org", language=language,
                   evaluation_date=date(2026, 3, 10), evaluation_time=time(9, 30), evaluation_days=2,
                   place="湖州市公共资源交易中心 3号评标室", answer_by=datetime(2026, 3, 9, 2, 0, tzinfo=UTC),
                   link="https://sunlit.test/api/v1/summons/abcDEF123_-xyz0123456", centre="湖州市公共资源交易中心")  # fmt: skip


@pytest.mark.parametrize("language", ["zh", "en"])
def test_a_summons_gives_time_and_place_and_nothing_of_the_project(language: str) -> None:
    """E6: the templates take no tender field at all; what they render is time, place,
    the answer deadline (local time) and the link."""
    assert {f.name for f in dataclasses.fields(Summons)} == {
        "expert_name", "phone", "email", "language", "evaluation_date", "evaluation_time", "evaluation_days",
        "place", "answer_by", "link", "centre"}  # fmt: skip
    subject, text = render(summons(language), TZ)
    assert "2026-03-10" in text and "09:30" in text and "3号评标室" in text
    assert "2026-03-09 10:00" in text  # the deadline in the centre's time
    assert "https://sunlit.test/api/v1/summons/" in text
    assert ("2" in text) and (("共2天" in text) if language == "zh" else ("2 days" in text))
    assert "link=<hidden>" in repr(summons(language)) and "abcDEF" not in repr(summons(language))
    assert subject


# --- the import file round trip and its checks ----------------------------------------------


def test_the_import_file_round_trips() -> None:
    e = ExpertInput(expert_id="E1", name="张三", id_number="11010519491231002X", specialties=("A0302", "C04"),
                    region="330500", employer_code="91330500MA2ZZZZZ0X", employer_name="某院", title="高工",
                    experience_years=12, unavailable_dates=(date(2026, 3, 10), date(2026, 3, 11)),
                    relations=(RelationInput("employment", "ORG-A", "", date(2015, 1, 1), date(2020, 12, 31)),
                               RelationInput("relative", "ORG-B", "", None, None, "王五", "spouse")),
                    sanctions=(SanctionInput("tendering_penalty", date(2025, 1, 1), None, "note"),),
                    phone="+8613900000000", email="z@example.org", language="en")  # fmt: skip
    rows, problems = read_csv(write_csv([e]).encode("utf-8"))
    assert problems == [] and rows == [(2, e)]
    assert check_expert(e, {"A0302", "C04"}) == []


def test_the_expert_check_reports_every_problem_with_its_field() -> None:
    e = ExpertInput(expert_id="EXP-1", name="", id_number="123", specialties=("A3", "Z01"), region="",
                    status="asleep", phone="call me", email="nope", language="fr",
                    relations=(RelationInput("cousin", "", "", date(2020, 1, 1), date(2019, 1, 1)),))  # fmt: skip
    fields = {(p.field, p.code) for p in check_expert(e, {"A03"})}
    assert fields >= {
        ("expert_id", "reserved_expert_id"), ("name", "invalid_name"), ("id_number", "invalid_id_number"),
        ("specialties", "invalid_specialty_code"), ("specialties", "unknown_specialty"),
        ("region", "invalid_region"), ("status", "invalid_status"), ("phone", "invalid_phone"),
        ("email", "invalid_email"), ("language", "invalid_language"), ("relations[0]", "invalid_relation_kind"),
        ("relations[0]", "invalid_org_code"), ("relations[0]", "end_before_start"),
    }  # fmt: skip
    assert "id_number=<hidden>" in repr(e)


# --- the published bundle ---------------------------------------------------------------------


def test_a_published_bundle_verifies_offline_and_its_signature_too() -> None:
    """E7: anyone with the bundle re-runs the draw; a changed byte is caught."""
    from crypto.signing import generate_signing_key, public_key_bytes

    req = small_request(5, reserve=3)
    ids = tuple(f"E{k:03d}" for k in range(20))
    secret = bytes(range(32))
    record = commit(req, [ids], [], seed_hash_of(secret))
    res = run_draw(record, secret)
    key = generate_signing_key()
    calls = [(0, k, res.lines[0].order[k], "confirmed") for k in range(5)]
    bundle = make_bundle(draw_id=1, record_json=record.to_json(), result_json=res.to_json(), calls=calls, seed=secret,
                         beacon_value=None, published_record_hash=record.record_hash, sign=key.sign, key_id="k",
                         public_key=public_key_bytes(key))  # fmt: skip
    assert verify_bundle(bundle, public_key=public_key_bytes(key))["ok"]
    tampered = {
        **bundle,
        "calls": [*bundle["calls"][:4], {**bundle["calls"][4], "expert_id": "E999"}],
    }
    report = verify_bundle(tampered, public_key=public_key_bytes(key))
    assert {d["kind"] for d in report["differences"]} == {"call_order", "hash_mismatch"}
    assert not verify_bundle(bundle, seed=bytes(32))["ok"]
    bare = verify_bundle(record.to_json(), seed=secret)
    assert bare["expected"]["lines"][0]["order"] == list(res.lines[0].order)


@SETTINGS
@given(st.lists(st.lists(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,8}", fullmatch=True), max_size=12),
                min_size=2, max_size=2), st.text(min_size=1, max_size=30))  # fmt: skip
def test_the_fast_record_text_is_the_canonical_json(lines: list[list[str]], place: str) -> None:
    """The stored and published record is byte for byte ``canonical_json(record.to_json())``."""
    from crypto.signing import canonical_json
    from experts.bundle import record_text
    from experts.model.record import DrawRecord

    req = small_request(5, evaluation_place=place.strip() or "room")
    candidates = [tuple(sorted(set(ids))) for ids in lines]
    rec = DrawRecord("sunlit-draw/1", req, (candidates[0],), (), "0" * 64, None, "a", "b", "c", "d")
    assert record_text(rec) == canonical_json(rec.to_json()).decode()
    rec2 = dataclasses.replace(rec, candidates=(candidates[1],))
    assert record_text(rec2) == canonical_json(rec2.to_json()).decode()
