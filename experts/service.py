"""The expert pool's use cases: add, update, read, link to a user, import, the classification.

Each use case is one transaction; each that changes an expert first bumps the pool version
(``store.bump_pool_version``: it takes the pool's row lock, so a draw's snapshot is exactly
one version) and appends to the audit log. Identity card numbers are encrypted with the
``PoolKeys`` before they reach the database and are never logged: the audit log gets the
masked form at most.

Import is all-or-nothing per file: every row is checked (format, classification, identity
number, duplicates within the file and against the pool) and every problem is reported with
its row and field; if there is any, nothing is written (``import_rejected``, 422). Otherwise
all rows go in with one COPY in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import asyncpg

from experts import store
from experts.errors import ExpertReason
from experts.pool import (
    GENERATED_ID_PREFIX,
    ExpertInput,
    FieldProblem,
    PoolEntry,
    check_expert,
    expert_from_row,
    masked,
    relations_json,
    sanctions_json,
)
from experts.vault import PoolKeys
from trading.audit import AuditLog
from trading.context import Actor, Role
from trading.errors import Rejected

__all__ = [
    "MAX_REPORTED_PROBLEMS",
    "ImportReport",
    "RowProblem",
    "add_expert",
    "entry_from_record",
    "get_entry",
    "import_codes",
    "import_experts",
    "link_user",
    "list_entries",
    "my_entry",
    "update_expert",
]

MAX_REPORTED_PROBLEMS = 10_000
# a placeholder that passes the identity-number check when an update leaves the number as is
_UNCHANGED_ID_NUMBER = "11010519491231002X"


@dataclass(frozen=True, slots=True)
class RowProblem:
    """A problem with one row of an import (``row``: the CSV line number, or the 1-based
    position in a JSON list)."""

    row: int
    problem: FieldProblem

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, **self.problem.as_dict()}


@dataclass(frozen=True, slots=True)
class ImportReport:
    imported: int
    pool_version: int
    expert_ids: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        ids = self.expert_ids
        return {
            "imported": self.imported,
            "pool_version": self.pool_version,
            "first_expert_id": ids[0] if ids else None,
            "last_expert_id": ids[-1] if ids else None,
            "expert_ids": list(ids) if len(ids) <= 1000 else None,
        }


def entry_from_record(r: asyncpg.Record) -> PoolEntry:
    rel = r["relations"] or []
    san = r["sanctions"] or []
    expert = expert_from_row(
        r["expert_id"],
        r["name"],
        r["id_number_masked"],
        r["employer_code"],
        r["specialties"],
        r["region"],
        r["title"],
        r["experience_years"],
        r["status"],
        r["suspended_until"],
        r["unavailable_dates"] or (),
        rel,
        san,
    )
    return PoolEntry(
        expert=expert,
        employer_name=r["employer_name"],
        phone=r["phone"],
        email=r["email"],
        language=r["language"],
        user_id=r["user_id"],
        version=r["version"],
        created_at=r["created_at"],
        updated_at=r["updated_at"],
        relations_json=list(rel),
        sanctions_json=list(san),
    )


def _reject_expert(problems: Sequence[FieldProblem]) -> Rejected:
    first = problems[0]
    return Rejected(
        ExpertReason.INVALID_EXPERT,
        "; ".join(f"{p.field}: {p.message_en}" for p in problems),
        "；".join(f"{p.field}：{p.message_zh}" for p in problems),
        details={"errors": [p.as_dict() for p in problems], "field": first.field},
    )


async def _check_user(conn: asyncpg.Connection, user_id: int, expert_id: str | None) -> None:
    role = await store.user_role(conn, user_id)
    if role != Role.EXPERT.value:
        raise Rejected(
            ExpertReason.USER_NOT_EXPERT,
            f"user {user_id} is {role or 'unknown'}",
            f"用户 {user_id} 的角色为 {role or '未知'}",
            details={"user_id": user_id},
        )
    linked = await store.expert_of_user(conn, user_id)
    if linked is not None and linked["expert_id"] != expert_id:
        raise Rejected(
            ExpertReason.USER_ALREADY_LINKED,
            f"user {user_id} is linked to {linked['expert_id']}",
            f"用户 {user_id} 已关联 {linked['expert_id']}",
            details={"user_id": user_id},
        )


def _row(
    e: ExpertInput, expert_id: str, keys: PoolKeys, now: datetime, *, as_text: bool
) -> tuple[Any, ...]:
    """One ``store.EXPERT_COLUMNS`` row; relations/sanctions as JSON text for COPY."""
    rel: Any = relations_json(e.relations)
    san: Any = sanctions_json(e.sanctions)
    if as_text:
        rel, san = json.dumps(rel, ensure_ascii=False), json.dumps(san, ensure_ascii=False)
    return (
        expert_id,
        e.name.strip(),
        keys.seal_id_number(expert_id, e.id_number),
        keys.id_index(e.id_number),
        masked(e.id_number),
        e.employer_code or None,
        e.employer_name,
        [c.code for c in e.codes],
        e.region,
        e.title,
        e.experience_years,
        e.status,
        e.suspended_until,
        sorted(set(e.unavailable_dates)),
        rel,
        san,
        e.phone,
        e.email,
        e.language,
        e.user_id,
        now,
        now,
    )


def _audit_detail(e: ExpertInput | PoolEntry) -> dict[str, Any]:
    if isinstance(e, PoolEntry):
        x = e.expert
        return {
            "name": x.name,
            "specialties": [c.code for c in x.specialties],
            "region": x.region,
            "status": x.status.value,
            "id_number_masked": x.id_number_masked,
        }
    return {
        "name": e.name,
        "specialties": list(e.specialties),
        "region": e.region,
        "status": e.status,
        "id_number_masked": masked(e.id_number),
    }


async def add_expert(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    keys: PoolKeys,
    data: ExpertInput,
) -> PoolEntry:
    """Put one expert in the pool (staff). The id is made (``EXP-0000001``) when not given."""
    async with conn.transaction():
        version = await store.bump_pool_version(conn, now)
        problems = check_expert(data, await store.known_codes(conn), generated_id=True)
        if problems:
            raise _reject_expert(problems)
        expert_id = data.expert_id or ""
        if not expert_id:
            (n,) = await store.next_expert_numbers(conn, 1)
            expert_id = f"{GENERATED_ID_PREFIX}{n:07d}"
        elif await store.existing_expert_ids(conn, [expert_id]):
            raise Rejected(ExpertReason.EXPERT_EXISTS, expert_id, details={"expert_id": expert_id})
        taken = await store.existing_id_indexes(conn, [keys.id_index(data.id_number)])
        if taken:
            raise Rejected(
                ExpertReason.ID_NUMBER_TAKEN,
                f"already in the pool as {next(iter(taken.values()))}",
                f"已作为 {next(iter(taken.values()))} 在库中",
                details={"field": "id_number"},
            )
        if data.user_id is not None:
            await _check_user(conn, data.user_id, None)
        await store.insert_expert(conn, _row(data, expert_id, keys, now, as_text=False))
        await audit.append(
            conn,
            actor=actor,
            action="experts.expert.add",
            object_type="expert",
            object_id=expert_id,
            at=now,
            payload={"expert_id": expert_id, "pool_version": version},
            detail=_audit_detail(data) | {"pool_version": version},
        )
        row = await store.get_expert(conn, expert_id)
        assert row is not None
        return entry_from_record(row)


async def get_entry(conn: asyncpg.Connection, expert_id: str) -> PoolEntry:
    row = await store.get_expert(conn, expert_id)
    if row is None:
        raise Rejected(ExpertReason.EXPERT_NOT_FOUND, expert_id, details={"expert_id": expert_id})
    return entry_from_record(row)


async def my_entry(conn: asyncpg.Connection, actor: Actor) -> PoolEntry:
    """The pool record linked to the logged-in expert."""
    row = None if actor.user_id is None else await store.expert_of_user(conn, actor.user_id)
    if row is None:
        raise Rejected(ExpertReason.NOT_IN_POOL)
    return entry_from_record(row)


async def list_entries(
    conn: asyncpg.Connection,
    *,
    code_prefix: str | None = None,
    region: str | None = None,
    status: str | None = None,
    name: str | None = None,
    after: str | None = None,
    limit: int = 100,
) -> list[PoolEntry]:
    rows = await store.list_experts(
        conn,
        code_prefix=code_prefix,
        region=region,
        status=status,
        name=name,
        after=after,
        limit=limit,
    )
    return [entry_from_record(r) for r in rows]


_UPDATABLE = {
    "name", "id_number", "employer_code", "employer_name", "specialties", "region", "title", "experience_years",
    "status", "suspended_until", "unavailable_dates", "relations", "sanctions", "phone", "email", "language",
    "user_id",
}  # fmt: skip


async def update_expert(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    keys: PoolKeys,
    expert_id: str,
    version: int,
    changes: dict[str, Any],
) -> PoolEntry:
    """Change fields of an expert (``changes``: ``ExpertInput`` field names → new values;
    lists replace the old ones whole). ``version`` must be the one the client read
    (``version_conflict`` otherwise)."""
    unknown = set(changes) - _UPDATABLE
    assert not unknown, unknown
    async with conn.transaction():
        pool_version = await store.bump_pool_version(conn, now)
        row = await store.get_expert(conn, expert_id, for_update=True)
        if row is None:
            raise Rejected(
                ExpertReason.EXPERT_NOT_FOUND, expert_id, details={"expert_id": expert_id}
            )
        if row["version"] != version:
            raise Rejected(
                ExpertReason.VERSION_CONFLICT,
                f"{expert_id} is at version {row['version']}, you sent {version}",
                f"{expert_id} 当前版本为 {row['version']}，提交的版本为 {version}",
                details={"current_version": row["version"]},
            )
        current = entry_from_record(row)
        merged = _input_of(current, changes)
        problems = check_expert(
            replace(merged, expert_id=None), await store.known_codes(conn), generated_id=True
        )
        if problems:
            raise _reject_expert(problems)
        cols: dict[str, Any] = {}
        full = _row(merged, expert_id, keys, now, as_text=False)
        by_col = dict(zip(store.EXPERT_COLUMNS, full, strict=True))
        field_to_cols = {
            "id_number": ("id_number_enc", "id_number_index", "id_number_masked"),
        }
        for name in changes:
            for col in field_to_cols.get(name, (name,)):
                cols[col] = by_col[col]
        if "id_number" in changes:
            taken = await store.existing_id_indexes(conn, [by_col["id_number_index"]])
            if taken and set(taken.values()) != {expert_id}:
                raise Rejected(ExpertReason.ID_NUMBER_TAKEN, details={"field": "id_number"})
        if changes.get("user_id") is not None:
            await _check_user(conn, changes["user_id"], expert_id)
        if (
            "status" in changes
            and changes["status"] != "suspended"
            and "suspended_until" not in changes
        ):
            cols["suspended_until"] = None
        if not await store.update_expert(conn, expert_id, version, cols, now):
            raise Rejected(ExpertReason.VERSION_CONFLICT, expert_id)
        await audit.append(
            conn,
            actor=actor,
            action="experts.expert.update",
            object_type="expert",
            object_id=expert_id,
            at=now,
            payload={"fields": sorted(changes), "version": version},
            detail={"fields": sorted(changes), "pool_version": pool_version},
        )
        row = await store.get_expert(conn, expert_id)
        assert row is not None
        return entry_from_record(row)


def _input_of(current: PoolEntry, changes: dict[str, Any]) -> ExpertInput:
    """The entry as an ``ExpertInput`` with ``changes`` applied (the number kept unless changed)."""
    from experts.pool import RelationInput, SanctionInput

    e = current.expert
    base = ExpertInput(
        expert_id=e.expert_id,
        name=e.name,
        id_number=_UNCHANGED_ID_NUMBER,
        specialties=tuple(c.code for c in e.specialties),
        region=e.region,
        employer_code=e.employer_org_id,
        employer_name=current.employer_name,
        title=e.title,
        experience_years=e.experience_years,
        status=e.status.value,
        suspended_until=e.suspended_until,
        unavailable_dates=tuple(sorted(e.unavailable_dates)),
        relations=tuple(
            RelationInput(
                r.kind.value, r.org_id, "", r.start, r.end, r.relative_name, r.relationship
            )
            for r in e.relations
        ),
        sanctions=tuple(SanctionInput(s.kind.value, s.start, s.end, s.note) for s in e.sanctions),
        phone=current.phone,
        email=current.email,
        language=current.language,
        user_id=current.user_id,
    )
    # keep the organisation names as stored unless the relations are replaced
    if "relations" not in changes:
        base = replace(
            base,
            relations=tuple(
                replace(r, org_name=j.get("org_name", ""))
                for r, j in zip(base.relations, current.relations_json, strict=True)
            ),
        )
    if (
        "status" in changes
        and changes["status"] != "suspended"
        and "suspended_until" not in changes
    ):
        base = replace(base, suspended_until=None)
    return replace(base, **changes)


async def link_user(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    expert_id: str,
    user_id: int | None,
) -> PoolEntry:
    """Link a user with the expert role to a pool record (or unlink with ``None``)."""
    async with conn.transaction():
        await store.bump_pool_version(conn, now)
        row = await store.get_expert(conn, expert_id, for_update=True)
        if row is None:
            raise Rejected(
                ExpertReason.EXPERT_NOT_FOUND, expert_id, details={"expert_id": expert_id}
            )
        if user_id is not None:
            await _check_user(conn, user_id, expert_id)
        await store.update_expert(conn, expert_id, row["version"], {"user_id": user_id}, now)
        await audit.append(
            conn,
            actor=actor,
            action="experts.expert.link_user",
            object_type="expert",
            object_id=expert_id,
            at=now,
            payload={"user_id": user_id},
            detail={"user_id": user_id},
        )
        new = await store.get_expert(conn, expert_id)
        assert new is not None
        return entry_from_record(new)


async def import_experts(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    keys: PoolKeys,
    rows: Sequence[tuple[int, ExpertInput]],
    parse_problems: Sequence[RowProblem] = (),
    *,
    source: str = "",
) -> ImportReport:
    """All-or-nothing import of ``rows`` (row number, expert). ``parse_problems`` are the
    problems the reader (CSV or JSON) already found; any problem at all rejects the file."""
    async with conn.transaction():
        version = await store.bump_pool_version(conn, now)
        codes = await store.known_codes(conn)
        problems: list[RowProblem] = list(parse_problems)
        seen_ids: dict[str, int] = {}
        seen_numbers: dict[bytes, int] = {}
        indexes: list[bytes] = []
        for row_no, e in rows:
            problems.extend(
                RowProblem(row_no, p) for p in check_expert(e, codes, generated_id=True)
            )
            if e.expert_id:
                if e.expert_id in seen_ids:
                    problems.append(
                        RowProblem(
                            row_no,
                            FieldProblem(
                                "expert_id",
                                "duplicate_in_file",
                                f"also on row {seen_ids[e.expert_id]}",
                                f"与第{seen_ids[e.expert_id]}行重复",
                            ),
                        )
                    )
                seen_ids.setdefault(e.expert_id, row_no)
            index = keys.id_index(e.id_number)
            indexes.append(index)
            if index in seen_numbers:
                problems.append(
                    RowProblem(
                        row_no,
                        FieldProblem(
                            "id_number",
                            "duplicate_in_file",
                            f"the same identity number is on row {seen_numbers[index]}",
                            f"身份证号码与第{seen_numbers[index]}行重复",
                        ),
                    )
                )
            seen_numbers.setdefault(index, row_no)
            if e.user_id is not None:
                problems.append(
                    RowProblem(
                        row_no,
                        FieldProblem(
                            "user_id",
                            "not_importable",
                            "link users one by one (PUT /experts/{id}/user)",
                            "请逐个关联用户（PUT /experts/{id}/user）",
                        ),
                    )
                )
        if not rows and not problems:
            problems.append(
                RowProblem(
                    0, FieldProblem("file", "empty", "the file has no experts", "文件中没有专家")
                )
            )
        if seen_ids:
            for x in sorted(await store.existing_expert_ids(conn, list(seen_ids))):
                problems.append(
                    RowProblem(
                        seen_ids[x],
                        FieldProblem(
                            "expert_id",
                            "expert_exists",
                            f"{x} is already in the pool",
                            f"{x} 已在专家库中",
                        ),
                    )
                )
        if indexes:
            taken = await store.existing_id_indexes(conn, indexes)
            for index, other in taken.items():
                problems.append(
                    RowProblem(
                        seen_numbers[index],
                        FieldProblem(
                            "id_number",
                            "id_number_taken",
                            f"this person is already in the pool as {other}",
                            f"此人已作为 {other} 在专家库中",
                        ),
                    )
                )
        if problems:
            problems.sort(key=lambda p: (p.row, p.problem.field))
            bad_rows = len({p.row for p in problems})
            raise Rejected(
                ExpertReason.IMPORT_REJECTED,
                f"{len(problems)} problems on {bad_rows} rows",
                f"{bad_rows}行共{len(problems)}处错误",
                details={
                    "bad_rows": bad_rows,
                    "problem_count": len(problems),
                    "errors": [p.as_dict() for p in problems[:MAX_REPORTED_PROBLEMS]],
                    "truncated": len(problems) > MAX_REPORTED_PROBLEMS,
                },
            )
        missing = sum(1 for _, e in rows if not e.expert_id)
        numbers = iter(await store.next_expert_numbers(conn, missing)) if missing else iter(())
        records = []
        ids: list[str] = []
        for _, e in rows:
            expert_id = e.expert_id or f"{GENERATED_ID_PREFIX}{next(numbers):07d}"
            ids.append(expert_id)
            records.append(_row(e, expert_id, keys, now, as_text=True))
        await store.copy_experts(conn, records)
        await audit.append(
            conn,
            actor=actor,
            action="experts.import",
            object_type="expert_pool",
            object_id=str(version),
            at=now,
            payload={"expert_ids": ids},
            detail={"imported": len(ids), "pool_version": version, "source": source[:200]},
        )
        return ImportReport(len(ids), version, tuple(ids))


async def import_codes(
    conn: asyncpg.Connection,
    audit: AuditLog,
    actor: Actor,
    now: datetime,
    rows: Sequence[tuple[str, str, str]],
) -> int:
    """Add or rename specialty codes of the classification (a parent must exist or come first)."""
    from experts.model.specialties import SpecialtyCode

    async with conn.transaction():
        known = await store.known_codes(conn)
        problems: list[RowProblem] = []
        clean: list[tuple[str, str, str]] = []
        for i, (text, zh, en) in enumerate(rows, start=1):
            try:
                code = SpecialtyCode.parse(text)
            except Rejected:
                problems.append(
                    RowProblem(
                        i, FieldProblem("code", "invalid_specialty_code", f"{text!r}", f"{text!r}")
                    )
                )
                continue
            parent = code.parent
            if parent is not None and parent.code not in known:
                problems.append(
                    RowProblem(
                        i,
                        FieldProblem(
                            "code",
                            "unknown_parent",
                            f"{code.code}: its parent {parent.code} is not known",
                            f"{code.code} 的上级代码 {parent.code} 不存在",
                        ),
                    )
                )
            if not zh.strip() or len(zh) > 100 or len(en) > 100:
                problems.append(
                    RowProblem(
                        i,
                        FieldProblem(
                            "name_zh", "invalid_name", "1 to 100 characters", "1至100个字符"
                        ),
                    )
                )
            known.add(code.code)
            clean.append((code.code, zh.strip(), en.strip()))
        if problems:
            raise Rejected(
                ExpertReason.IMPORT_REJECTED,
                f"{len(problems)} problems",
                f"共{len(problems)}处错误",
                details={"errors": [p.as_dict() for p in problems[:MAX_REPORTED_PROBLEMS]]},
            )
        n = await store.upsert_codes(conn, clean)
        await audit.append(
            conn,
            actor=actor,
            action="experts.codes.import",
            object_type="expert_pool",
            object_id="codes",
            at=now,
            payload=clean,
            detail={"codes": n},
        )
        return n
