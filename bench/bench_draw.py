"""Benchmark: a panel draw from a 100,000-expert pool with 5,000 exclusions, and its
verification.

Run:  PYTHONPATH=. python bench/bench_draw.py [--pool 100000] [--excluded 5000] [--runs 7]

Times (median of ``--runs``):
- pool index: building the ``ExpertPool`` index, once per version of the pool (reported,
  not part of the draw);
- eligibility: ``rules.compute_eligibility`` on the indexed pool (also reported from a
  plain list of experts, which includes building the index);
- commit: hashing the request, the pool snapshot and the exclusions;
- run: ``draw.run_draw`` (re-checks the hashes, then draws panels and reserves);
- draw total = eligibility + commit + run (target < 100 ms);
- verify: ``draw.verify_draw`` from the published record alone (target < 100 ms).

Baseline in the same run: ``random.Random(seed).sample`` of the same number of experts
from the same candidate list; the ratios against it are printed. The targets are
reported, never asserted.

Then, unless ``--no-db``, the same through PostgreSQL (a fresh embedded server in a
temporary directory) and the service layer (``experts.service``, ``experts.draws``):

- import: ``service.import_experts`` of the 100,000 experts (every row checked, identity
  numbers encrypted and blind-indexed, one COPY), against a bare COPY of the same rows
  into a scratch table as the baseline;
- pool load + index: the first draw after a pool change reads every expert and builds
  the ``ExpertPool`` (cold ``PoolCache``);
- request (commit): ``draws.request_draw`` with the index cached — eligibility, commit,
  storing the 1 MB record and the audit entry, in one transaction (target < 100 ms);
- run: ``draws.run_draw`` — read and parse the record, open the seed, draw, store, summon
  the panel (7 members) (target < 100 ms);
- verify: ``draws.verify`` of a fixed draw from the stored record (target < 100 ms).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from typing import TypeVar

from experts.draw import commit, run_draw, seed_hash_of, verify_draw
from experts.model.pool import (
    Expert,
    ExpertPool,
    ExpertStatus,
    PastDraw,
    Relation,
    RelationKind,
    Sanction,
    SanctionKind,
)
from experts.model.request import DrawRequest, SpecialtyDemand
from experts.model.specialties import SpecialtyCode
from experts.rules import compute_eligibility

T = TypeVar("T")
TARGET_MS = 100.0
TODAY = date(2026, 3, 2)
SITTING = date(2026, 3, 10)


def build_pool(size: int, excluded: int, rng: random.Random) -> list[Expert]:
    """``size`` experts under categories A and B; the first ``excluded`` have a conflict
    of one of six kinds with the request of ``build_request``."""
    codes_a = [
        SpecialtyCode(f"A{a:02d}{b:02d}{c:02d}")
        for a in range(1, 21)
        for b in range(1, 6)
        for c in range(1, 4)
    ]
    codes_b = [SpecialtyCode(f"B{a:02d}{b:02d}") for a in range(1, 11) for b in range(1, 6)]
    regions = ["330500", "330100", "330200", "330400"]
    pool: list[Expert] = []
    for n in range(size):
        r = rng.random()
        if r < 0.65:
            specialties: tuple[SpecialtyCode, ...] = (rng.choice(codes_a),)
        elif r < 0.95:
            specialties = (rng.choice(codes_b),)
        else:
            specialties = (rng.choice(codes_a), rng.choice(codes_b))
        kwargs: dict[str, object] = {}
        employer = f"ORG{rng.randrange(20_000):05d}"
        if n < excluded:
            kind = n % 6
            if kind == 0:
                employer = f"BID{n % 10}"
            elif kind == 1:
                kwargs["relations"] = (Relation(RelationKind.RELATIVE, "TENDEREE1"),)
            elif kind == 2:
                kwargs["sanctions"] = (
                    Sanction(SanctionKind.TENDERING_PENALTY, date(2025, 6, 1), date(2027, 6, 1)),
                )
            elif kind == 3:
                kwargs["unavailable_dates"] = frozenset({SITTING})
            elif kind == 4:
                kwargs["status"] = ExpertStatus.SUSPENDED
                kwargs["suspended_until"] = date(2026, 12, 31)
            else:
                kwargs["relations"] = (
                    Relation(RelationKind.EMPLOYMENT, "BID3", date(2015, 1, 1), date(2024, 1, 1)),
                )
        elif rng.random() < 0.1:
            # harmless declarations the checks must still read
            kwargs["relations"] = (
                Relation(RelationKind.EMPLOYMENT, "ORG99999", date(2010, 1, 1), date(2015, 1, 1)),
            )
        pool.append(
            Expert(
                expert_id=f"E{n:06d}",
                name=f"Expert {n}",
                id_number_masked="330***********0000",
                employer_org_id=employer,
                specialties=specialties,
                region=rng.choice(regions),
                title="senior engineer",
                experience_years=10,
                **kwargs,  # type: ignore[arg-type]
            )
        )
    rng.shuffle(pool)
    return pool


def build_request() -> DrawRequest:
    return DrawRequest(
        request_id="REQ-BENCH",
        tender_id="T-BENCH",
        tenderee_org_id="TENDEREE1",
        tender_region="330500",
        demands=(
            SpecialtyDemand(SpecialtyCode("A"), 4),
            SpecialtyDemand(SpecialtyCode("B"), 3),
        ),
        evaluation_date=SITTING,
        evaluation_time=clock_time(9, 0),
        evaluation_place="Huzhou trading centre, room 3",
        bidder_org_ids=frozenset(f"BID{i}" for i in range(10)),
        supervising_org_ids=frozenset({"SUPERVISOR1"}),
        cooldown_days=30,
        yearly_cap=20,
    )


def timed(fn: Callable[[], T], runs: int) -> tuple[T, float]:
    """The last result and the median time in milliseconds."""
    samples: list[float] = []
    result: T | None = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        samples.append((time.perf_counter() - t0) * 1000)
    assert result is not None
    return result, statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pool", type=int, default=100_000)
    parser.add_argument("--excluded", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-db", action="store_true", help="skip the PostgreSQL/service part")
    args = parser.parse_args(argv)
    pure_main(args)  # its objects are gone before the service part starts
    if not args.no_db:
        import asyncio

        asyncio.run(db_main(args.pool, args.excluded, args.runs))
    return 0


def pure_main(args: argparse.Namespace) -> None:

    rng = random.Random(20260302)
    pool = build_pool(args.pool, args.excluded, rng)
    history = [
        PastDraw(f"E{n:06d}", f"ORG{n % 50}", TODAY - timedelta(days=n % 300))
        for n in range(args.excluded, args.excluded + 2_000)
    ]
    request = build_request()
    secret = hashlib.sha256(b"bench secret").digest()
    seed_hash = seed_hash_of(secret)

    indexed, t_index = timed(lambda: ExpertPool(pool), args.runs)
    _, t_unindexed = timed(
        lambda: compute_eligibility(pool, request, history, TODAY), max(1, args.runs // 2)
    )
    elig, t_elig = timed(lambda: compute_eligibility(indexed, request, history, TODAY), args.runs)
    record, t_commit = timed(
        lambda: commit(request, elig.candidates, elig.exclusions, seed_hash), args.runs
    )
    result, t_run = timed(lambda: run_draw(record, secret), args.runs)
    report, t_verify = timed(lambda: verify_draw(record, secret, result), args.runs)
    assert report.ok, report.differences

    line0 = list(elig.candidates[0])
    k = len(result.lines[0].order)
    _, t_base = timed(lambda: random.Random(1).sample(line0, k), max(args.runs, 50))

    total = t_elig + t_commit + t_run
    excluded_ids = len({x.expert_id for x in elig.exclusions})
    print(f"pool {len(pool):,} experts, {excluded_ids:,} excluded ({len(elig.exclusions):,} rows)")
    print("candidates per line: " + ", ".join(f"{len(c):,}" for c in elig.candidates))
    print(f"pool index (once per pool version) {t_index:8.2f} ms")
    print(f"eligibility from a plain list      {t_unindexed:8.2f} ms   (index built inside)")
    print(f"eligibility             {t_elig:8.2f} ms")
    print(f"commit (hashing)        {t_commit:8.2f} ms")
    print(f"run_draw                {t_run:8.2f} ms")
    print(
        f"draw total              {total:8.2f} ms   target < {TARGET_MS:.0f} ms: "
        f"{'met' if total < TARGET_MS else 'MISSED'}"
    )
    print(
        f"verify_draw             {t_verify:8.2f} ms   target < {TARGET_MS:.0f} ms: "
        f"{'met' if t_verify < TARGET_MS else 'MISSED'}"
    )
    print(f"baseline Random.sample  {t_base:8.4f} ms   ({k} of {len(line0):,})")
    if t_base > 0:
        print(f"ratio draw total / baseline   {total / t_base:10.0f}x")
        print(f"ratio run_draw / baseline     {t_run / t_base:10.0f}x")
        print(f"ratio verify / baseline       {t_verify / t_base:10.0f}x")
    figures = {
        "pool": len(pool),
        "excluded": excluded_ids,
        "index_ms": round(t_index, 2),
        "eligibility_ms": round(t_elig, 2),
        "commit_ms": round(t_commit, 2),
        "run_ms": round(t_run, 2),
        "draw_total_ms": round(total, 2),
        "verify_ms": round(t_verify, 2),
        "target_ms": TARGET_MS,
        "baseline_sample_ms": round(t_base, 4),
        "ratio_draw_total": round(total / t_base, 1) if t_base > 0 else None,
        "ratio_verify": round(t_verify / t_base, 1) if t_base > 0 else None,
    }
    # the same one-line JSON form as bench/harness.py's report()
    print("JSON " + json.dumps({"bench": "expert draw: 100k pool, 5k exclusions", **figures}))


# --- through PostgreSQL and the service layer ------------------------------------------------


def service_inputs(size: int, excluded: int, codes: dict[str, str]) -> list[object]:
    """The pool of ``build_pool`` as import rows; organisation names mapped to the
    registered organisations' credit codes."""
    from experts.demo import demo_id_number
    from experts.pool import ExpertInput, RelationInput, SanctionInput

    rng = random.Random(20260302)
    out: list[object] = []
    for e in build_pool(size, excluded, rng):
        n = int(e.expert_id[1:])
        born = date(1955, 1, 1) + timedelta(days=n // 1000)
        out.append(
            ExpertInput(
                expert_id=e.expert_id,
                name=e.name,
                id_number=demo_id_number("330502", born, n % 1000),
                specialties=tuple(c.code for c in e.specialties),
                region=e.region,
                employer_code=codes.get(e.employer_org_id or "", e.employer_org_id),
                title=e.title,
                experience_years=e.experience_years,
                status=e.status.value,
                suspended_until=e.suspended_until,
                unavailable_dates=tuple(e.unavailable_dates),
                relations=tuple(
                    RelationInput(r.kind.value, codes.get(r.org_id, r.org_id), "", r.start, r.end)
                    for r in e.relations
                ),
                sanctions=tuple(SanctionInput(x.kind.value, x.start, x.end) for x in e.sanctions),
            )
        )
    return out


def classification() -> list[tuple[str, str, str]]:
    rows = [("A", "A", ""), ("B", "B", "")]
    for a in range(1, 21):
        rows.append((f"A{a:02d}", "A", ""))
        for b in range(1, 6):
            rows.append((f"A{a:02d}{b:02d}", "A", ""))
            rows += [(f"A{a:02d}{b:02d}{c:02d}", "A", "") for c in range(1, 4)]
    for a in range(1, 11):
        rows.append((f"B{a:02d}", "B", ""))
        rows += [(f"B{a:02d}{b:02d}", "B", "") for b in range(1, 6)]
    return rows


async def db_main(size: int, excluded: int, runs: int) -> None:
    import tempfile
    from pathlib import Path

    from crypto.signing import generate_signing_key
    from experts import draws, service
    from experts.model.request import SpecialtyDemand
    from experts.model.specialties import SpecialtyCode
    from experts.panel import MemberCommand
    from experts.settings import ExpertSettings
    from experts.vault import PoolKeys
    from trading import migrate
    from trading.audit import AuditLog
    from trading.context import Actor, Role
    from trading.db import EmbeddedPostgres, create_pool
    from trading.demo import demo_credit_code
    from trading.parties import service as parties
    from trading.parties.model import OrgKind

    with tempfile.TemporaryDirectory(prefix="sunlit-bench-draw-") as tmp:
        server = EmbeddedPostgres(Path(tmp))
        dsn = server.start()
        pool = await create_pool(dsn, min_size=1, max_size=4)
        try:
            audit = AuditLog(generate_signing_key(), "srv-bench", checkpoint_every=1000)
            now = datetime.now(UTC).replace(year=2026, month=3, day=2, hour=1)
            system = Actor.system("bench")
            async with pool.acquire() as conn:
                await migrate.migrate(conn)
                await audit.register_key(conn, now)
                names = {"TENDEREE1": OrgKind.TENDEREE, "SUPERVISOR1": OrgKind.SUPERVISOR_DEPT}
                names |= {f"BID{i}": OrgKind.BIDDER for i in range(10)}
                ids: dict[str, int] = {}
                codes: dict[str, str] = {}
                for k, (name, kind) in enumerate(names.items(), start=1):
                    org = await parties.create_organisation(
                        conn,
                        audit,
                        system,
                        now,
                        name=name,
                        kind=kind,
                        credit_code=demo_credit_code(500 + k),
                        region="330500",
                    )
                    ids[name], codes[name] = org.id, org.credit_code
                staff = await parties.create_user(
                    conn,
                    audit,
                    system,
                    now,
                    username="benchstaff",
                    full_name="bench",
                    role=Role.STAFF,
                    password="bench-password-1",
                )
                await service.import_codes(conn, audit, system, now, classification())
            keys = PoolKeys.from_master(bytes(32))
            inputs = service_inputs(size, excluded, codes)
            rows = list(enumerate(inputs, start=1))

            async with pool.acquire() as conn:
                t0 = time.perf_counter()
                report = await service.import_experts(
                    conn, audit, system, now, keys, rows, source="bench"
                )
                t_import = time.perf_counter() - t0
                plain = [service._row(e, e.expert_id, keys, now, as_text=True) for e in inputs]  # type: ignore[attr-defined]
                async with conn.transaction():
                    await conn.execute(
                        "CREATE TEMP TABLE bench_copy ON COMMIT DROP AS SELECT expert_id, name, id_number_enc, "
                        "id_number_index, id_number_masked, employer_code, employer_name, specialties, region, title, "
                        "experience_years, status, suspended_until, unavailable_dates, relations::text AS relations, "
                        "sanctions::text AS sanctions, phone, email, language, user_id, created_at, updated_at "
                        "FROM experts WITH NO DATA"
                    )
                    t0 = time.perf_counter()
                    await conn.copy_records_to_table("bench_copy", records=plain)
                    t_copy = time.perf_counter() - t0
            print(
                f"import {report.imported:,} experts (service)   {t_import * 1000:10.0f} ms "
                f"({report.imported / t_import:,.0f} rows/s)"
            )
            print(
                f"baseline bare COPY of the same rows {t_copy * 1000:10.0f} ms   ratio {t_import / t_copy:.1f}x"
            )

            del inputs, rows, plain  # a server holds none of this: only the pool index
            async with pool.acquire() as conn:  # let PostgreSQL settle after the bulk load
                await conn.execute("VACUUM ANALYZE experts")
                await conn.execute("CHECKPOINT")
            actor = Actor(staff.id, staff.username, Role.STAFF)
            settings = ExpertSettings()
            data = draws.DrawInput(
                tender_ref="T-BENCH",
                tenderee_org_id=ids["TENDEREE1"],
                bidder_org_ids=tuple(ids[f"BID{i}"] for i in range(10)),
                supervising_org_ids=(ids["SUPERVISOR1"],),
                demands=(
                    SpecialtyDemand(SpecialtyCode("A"), 4),
                    SpecialtyDemand(SpecialtyCode("B"), 3),
                ),
                evaluation_date=SITTING,
                evaluation_time=clock_time(9, 0),
                evaluation_place="Huzhou trading centre, room 3",
                cooldown_days=30,
                yearly_cap=20,
            )
            cache = draws.PoolCache()

            async def request_once() -> dict[str, object]:
                async with pool.acquire() as conn:
                    return await draws.request_draw(
                        conn,
                        audit,
                        actor,
                        now,
                        keys=keys,
                        cache=cache,
                        settings=settings,
                        data=data,
                    )

            t0 = time.perf_counter()
            first = await request_once()
            t_cold = time.perf_counter() - t0
            samples = []
            views = []
            for _ in range(runs):
                t0 = time.perf_counter()
                views.append(await request_once())
                samples.append(time.perf_counter() - t0)
            t_request = statistics.median(samples)
            run_samples = []
            for v in views:
                async with pool.acquire() as conn:
                    t0 = time.perf_counter()
                    await draws.run_draw(
                        conn, audit, actor, now, keys=keys, settings=settings, draw_id=v["id"]
                    )
                    run_samples.append(time.perf_counter() - t0)
            t_run = statistics.median(run_samples)
            draw_id = views[0]["id"]
            async with pool.acquire() as conn:
                for m in await conn.fetch(
                    "SELECT id, expert_id FROM expert_draw_members WHERE draw_id = $1", draw_id
                ):
                    async with conn.transaction():
                        await draws._answer(
                            conn, audit, system, now, settings, m["id"], MemberCommand.CONFIRM, ""
                        )  # type: ignore[attr-defined]
                await draws.fix_result(conn, audit, actor, now, keys=keys, draw_id=draw_id)
                verify_samples = []
                for _ in range(runs):
                    t0 = time.perf_counter()
                    rep = await draws.verify(conn, draw_id)
                    verify_samples.append(time.perf_counter() - t0)
                assert rep["ok"], rep["differences"][:3]
            t_verify = statistics.median(verify_samples)
            print(f"first draw request (pool load + index, cold cache) {t_cold * 1000:8.1f} ms")
            print(
                f"draw request, cached index (commit)   {t_request * 1000:8.1f} ms   target < {TARGET_MS:.0f} ms: "
                f"{'met' if t_request * 1000 < TARGET_MS else 'MISSED'}"
            )
            print(
                f"draw run + summons                    {t_run * 1000:8.1f} ms   target < {TARGET_MS:.0f} ms: "
                f"{'met' if t_run * 1000 < TARGET_MS else 'MISSED'}"
            )
            print(
                f"verify (service, from the database)   {t_verify * 1000:8.1f} ms   target < {TARGET_MS:.0f} ms: "
                f"{'met' if t_verify * 1000 < TARGET_MS else 'MISSED'}"
            )
            print(
                "candidates per line: "
                + ", ".join(f"{ln['candidates']:,}" for ln in first["lines"])
                + f"; exclusions {first['exclusion_count']:,}"
            )
            print(
                "JSON "
                + json.dumps(
                    {
                        "bench": "expert draw through PostgreSQL and the service: 100k pool, 5k exclusions",
                        "pool": size,
                        "import_ms": round(t_import * 1000),
                        "import_rows_per_s": round(report.imported / t_import),
                        "copy_baseline_ms": round(t_copy * 1000),
                        "ratio_import_to_copy": round(t_import / t_copy, 1),
                        "cold_request_ms": round(t_cold * 1000, 1),
                        "request_ms": round(t_request * 1000, 1),
                        "run_ms": round(t_run * 1000, 1),
                        "verify_ms": round(t_verify * 1000, 1),
                        "target_ms": TARGET_MS,
                    }
                )
            )
        finally:
            await pool.close()
            server.stop()


if __name__ == "__main__":
    sys.exit(main())
