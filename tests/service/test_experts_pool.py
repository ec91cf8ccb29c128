"""The expert pool against PostgreSQL: import (all or nothing, every bad row reported),
add, update, link a user, and identity numbers kept encrypted.

Sources: RULES.md E2 (the national classification; a code matches its descendants —
发改法规〔2018〕316号), E3 (ties declared for conflict checks — O12 12, IR 46).
"""

from __future__ import annotations

from datetime import date

import pytest

from experts import service, store
from experts.csvio import read_csv, write_csv
from experts.demo import demo_id_number
from experts.pool import ExpertInput, RelationInput, SanctionInput
from experts.vault import PoolKeys
from tests.helpers import make_user
from trading.context import Actor, Role
from trading.errors import Rejected

KEYS = PoolKeys.from_master(bytes(range(32)))
STAFF = Actor(None, "system:test", Role.SYSTEM)


def ident(n: int, region: str = "330502") -> str:
    return demo_id_number(region, date(1970, 1, 1), n)


def expert_input(n: int, *codes: str, **kw: object) -> ExpertInput:
    fields: dict[str, object] = {
        "expert_id": f"E{n:03d}",
        "name": f"专家{n}",
        "id_number": ident(n),
        "specialties": codes or ("A030101",),
        "region": "330500",
        "employer_code": "91330500MA2ZZZZZ0X",
        "title": "高级工程师",
        "experience_years": 12,
        "phone": f"1390000{n:04d}",
    }
    fields.update(kw)
    return ExpertInput(**fields)  # type: ignore[arg-type]


async def import_inputs(pool, audit, clock, inputs: list[ExpertInput]) -> service.ImportReport:
    async with pool.acquire() as conn:
        return await service.import_experts(
            conn, audit, STAFF, clock.now(), KEYS, list(enumerate(inputs, start=1)), source="test"
        )


async def count_experts(pool) -> int:
    async with pool.acquire() as conn:
        return await conn.fetchval("SELECT count(*) FROM experts")


async def test_an_import_of_good_rows_puts_every_expert_in_the_pool(pool, audit, clock) -> None:
    """The CSV import: every row in, the identity number encrypted and shown masked."""
    inputs = [
        expert_input(1, "A.03.01.01", relations=(RelationInput("employment", "ORG-X", "", date(2015, 1, 1),
                                                               date(2020, 1, 1)),)),
        expert_input(2, "C04", sanctions=(SanctionInput("tendering_penalty", date(2025, 1, 1), date(2026, 12, 31)),),
                     unavailable_dates=(date(2026, 3, 10),)),
        expert_input(3, "A0302", expert_id=None, status="suspended", suspended_until=date(2026, 6, 30)),
    ]  # fmt: skip
    rows, problems = read_csv(write_csv(inputs).encode())
    assert problems == [] and len(rows) == 3
    async with pool.acquire() as conn:
        report = await service.import_experts(
            conn, audit, STAFF, clock.now(), KEYS, rows, problems, source="t.csv"
        )
        assert report.imported == 3 and report.expert_ids[:2] == ("E001", "E002")
        assert report.expert_ids[2].startswith("EXP-")
        e1 = await service.get_entry(conn, "E001")
        assert e1.expert.specialties[0].code == "A030101"
        assert e1.expert.id_number_masked == ident(1)[:3] + "*" * 11 + ident(1)[-4:]
        assert e1.expert.relations[0].end == date(2020, 1, 1)
        e3 = await service.get_entry(conn, report.expert_ids[2])
        assert e3.expert.suspended_until == date(2026, 6, 30)
        sealed = await store.get_id_number_enc(conn, "E002")
        assert sealed is not None and ident(2).encode() not in sealed
        assert KEYS.open_id_number("E002", sealed) == ident(2)
        assert await store.pool_version(conn) == 1


async def test_an_import_with_bad_rows_writes_nothing_and_reports_every_bad_row(
    pool, audit, clock
) -> None:
    """Bad input: a malformed CSV row → a clear 4xx naming each row and field; nothing half-written."""
    good = write_csv([expert_input(1), expert_input(2)])
    bad_check = ident(3)[:-1] + ("0" if ident(3)[-1] != "0" else "1")
    lines = good.splitlines()
    lines += [
        f"E003,Bad Check,{bad_check},,,A030101,330500,,1,active,,,,,,,zh",  # wrong check character
        f"E004,Unknown Code,{ident(4)},,,Z99,330500,,1,active,,,,,,,zh",  # not in the classification
        f"E005,Bad Date,{ident(5)},,,A030101,330500,,1,active,,2026-02-30,,,,,zh",  # no such day
        "E006,Too Few Cells,1",
        f"E007,Same Person,{ident(1)},,,A030101,330500,,1,active,,,,,,,zh",  # duplicate identity number
        f"E001,Same Id,{ident(8)},,,A030101,330500,,1,active,,,,,,,zh",  # duplicate expert id
    ]
    rows, problems = read_csv(("\n".join(lines) + "\n").encode())
    async with pool.acquire() as conn:
        with pytest.raises(Rejected) as err:
            await service.import_experts(conn, audit, STAFF, clock.now(), KEYS, rows, problems)
        assert await store.pool_version(conn) == 0
    assert err.value.code == "import_rejected" and err.value.status_hint == 422
    errors = err.value.details["errors"]
    by_row = {(e["row"], e["field"], e["code"]) for e in errors}
    assert (4, "id_number", "invalid_id_number") in by_row
    assert (5, "specialties", "unknown_specialty") in by_row
    assert (6, "unavailable_dates", "invalid_date") in by_row
    assert (7, "row", "wrong_cell_count") in by_row
    assert (8, "id_number", "duplicate_in_file") in by_row
    assert (9, "expert_id", "duplicate_in_file") in by_row
    assert err.value.details["bad_rows"] == 6
    assert await count_experts(pool) == 0


async def test_an_import_refuses_a_person_already_in_the_pool(pool, audit, clock) -> None:
    """The same identity number cannot enter twice (blind index), whatever the expert id."""
    await import_inputs(pool, audit, clock, [expert_input(1)])
    with pytest.raises(Rejected) as err:
        await import_inputs(
            pool, audit, clock, [expert_input(2), expert_input(9, id_number=ident(1))]
        )
    assert {(e["row"], e["code"]) for e in err.value.details["errors"]} == {(2, "id_number_taken")}
    assert await count_experts(pool) == 1


async def test_a_file_that_is_not_csv_of_the_pool_is_refused_as_a_whole() -> None:
    """Unknown or missing columns and non-UTF-8 bytes are file-level problems."""
    _, problems = read_csv(b"name,id_number,colour\n")
    assert {p.problem.code for p in problems} == {"unknown_column", "missing_column"}
    _, problems = read_csv(b"\xff\xfe\x00")
    assert problems[0].problem.code == "not_utf8"
    _, problems = read_csv(b"")
    assert problems[0].problem.code == "empty"


async def test_staff_add_update_and_link_an_expert(pool, audit, clock) -> None:
    """The staff API's use cases: add (id made), update with the version read, link an expert user."""
    async with pool.acquire() as conn:
        entry = await service.add_expert(
            conn, audit, STAFF, clock.now(), KEYS, expert_input(1, expert_id=None)
        )
        assert entry.expert.expert_id == "EXP-0000001" and entry.version == 1
        changed = await service.update_expert(conn, audit, STAFF, clock.now(), KEYS, entry.expert.expert_id, 1,
                                              {"specialties": ("C04", "A0302"), "status": "retired"})  # fmt: skip
        assert [c.code for c in changed.expert.specialties] == [
            "C04",
            "A0302",
        ] and changed.version == 2
        with pytest.raises(Rejected) as err:
            await service.update_expert(conn, audit, STAFF, clock.now(), KEYS, entry.expert.expert_id, 1,
                                        {"title": "x"})  # fmt: skip
        assert err.value.code == "version_conflict"
        with pytest.raises(Rejected) as err:
            await service.update_expert(conn, audit, STAFF, clock.now(), KEYS, entry.expert.expert_id, 2,
                                        {"specialties": ("Q77",)})  # fmt: skip
        assert (
            err.value.code == "invalid_expert"
            and err.value.details["errors"][0]["code"] == "unknown_specialty"
        )
        expert_user = await make_user(conn, audit, clock, Role.EXPERT)
        bidder = await make_user(conn, audit, clock, Role.BIDDER)
        with pytest.raises(Rejected) as err:
            await service.link_user(
                conn, audit, STAFF, clock.now(), entry.expert.expert_id, bidder.user_id
            )
        assert err.value.code == "user_not_expert"
        linked = await service.link_user(conn, audit, STAFF, clock.now(), entry.expert.expert_id,
                                         expert_user.user_id)  # fmt: skip
        assert linked.user_id == expert_user.user_id
        mine = await service.my_entry(conn, expert_user.actor)
        assert mine.expert.expert_id == entry.expert.expert_id
        with pytest.raises(Rejected) as err:
            await service.add_expert(
                conn, audit, STAFF, clock.now(), KEYS, expert_input(2, id_number=ident(1))
            )
        assert err.value.code == "id_number_taken"
        assert await store.pool_version(conn) == 3  # add, update, link (failed attempts roll back)


async def test_identity_numbers_are_never_in_the_audit_log(pool, audit, clock) -> None:
    """The number is encrypted at rest and the audit log holds the masked form at most."""
    await import_inputs(pool, audit, clock, [expert_input(1), expert_input(2)])
    async with pool.acquire() as conn:
        await service.add_expert(conn, audit, STAFF, clock.now(), KEYS, expert_input(3))
        text = await conn.fetchval(
            "SELECT string_agg(detail::text || object_id, ' ') FROM audit_log"
        )
        dump = await conn.fetchval("SELECT string_agg(t::text, ' ') FROM experts t")
    for n in (1, 2, 3):
        assert ident(n) not in text and ident(n) not in dump


async def test_a_listing_by_parent_code_finds_the_descendants(pool, audit, clock) -> None:
    """E2: a code matches itself and its descendants."""
    await import_inputs(pool, audit, clock, [expert_input(1, "A030101"), expert_input(2, "A0302"),
                                             expert_input(3, "C04")])  # fmt: skip
    async with pool.acquire() as conn:
        ids = [e.expert.expert_id for e in await service.list_entries(conn, code_prefix="A03")]
        assert ids == ["E001", "E002"]
        assert [
            e.expert.expert_id for e in await service.list_entries(conn, code_prefix="A0301")
        ] == ["E001"]
