"""The ledger's demo and command line: the demo leaves the bank's key pair (0600) and a bank
statement in the data directory; ``sunlit ledger reconcile`` finds the stray line, puts it in
suspense, and finds the same statement clean the second time; ``sunlit ledger trial-balance``
sums to zero. RULES D9, D8."""

from __future__ import annotations

import asyncio
import os
import stat
import sys
from pathlib import Path

import asyncpg

from tests.helpers import make_org
from trading.audit import AuditLog
from trading.clock import FakeClock
from trading.demo import DemoContext
from trading.ledger import demo, store
from trading.ledger.model import DepositState

ROOT = Path(__file__).resolve().parents[2]


async def sunlit(db_dsn: str, data_dir: Path, *args: str) -> tuple[int, str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_dsn,
        "SUNLIT_DATA": str(data_dir),
        "PYTHONPATH": str(ROOT),
        "SUNLIT_LOG_FORMAT": "text",
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "web.cli",
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode()


async def test_the_demo_statement_reconciles_through_the_cli(
    pool: asyncpg.Pool, audit: AuditLog, clock: FakeClock, db_dsn: str, tmp_path: Path
) -> None:
    """D9 through ``sunlit ledger reconcile``: one stray line → suspense; imported again, clean."""
    data = tmp_path / "data"
    async with pool.acquire() as conn:
        await audit.register_key(conn, clock.now())
        orgs = {k: await make_org(conn, audit, clock) for k in ("bidder_a", "bidder_b", "bidder_c")}
    ctx = DemoContext(pool=pool, audit=audit, now=clock.now(), data_dir=data, orgs=orgs)
    await demo.load(ctx)
    await demo.load(ctx)  # idempotent
    key = data / "demo-keys" / "bank-ed25519.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    async with pool.acquire() as conn:
        states = [d.state for d in await store.list_deposits(conn, project_id=demo.DEMO_PROJECT)]
        assert await store.last_seq(conn) == 2
    assert states == [DepositState.CONFIRMED, DepositState.CONFIRMED, DepositState.AWAITING]

    statement = data / demo.STATEMENT_FILE
    code, out = await sunlit(db_dsn, data, "ledger", "reconcile", str(statement))
    assert code == 1, out
    assert (
        "2 matched" in out
        and "1 missing in the ledger" in out
        and "DEMOSTRAY0001" in out
        and "suspense" in out
    )
    code, out = await sunlit(db_dsn, data, "ledger", "reconcile", str(statement))
    assert code == 0 and "CLEAN" in out, out
    code, out = await sunlit(db_dsn, data, "ledger", "trial-balance")
    assert code == 0 and "the ledger sums to zero" in out, out
