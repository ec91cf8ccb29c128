"""The ``sunlit`` command against a real database: the first admin, and audit verification that
exits non-zero naming the first bad entry (RULES T12)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]


def sunlit(args: list[str], dsn: str, data: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn, "SUNLIT_DATA": str(data), "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "web.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120, cwd=ROOT)


async def test_user_add_creates_the_first_admin_who_can_log_in(db_dsn, tmp_path, make_client) -> None:
    r = sunlit(["user", "add", "--username", "root.admin", "--role", "admin", "--full-name", "First Admin"],
               db_dsn, tmp_path)
    assert r.returncode == 0, r.stderr
    password = r.stdout.split("password (shown once): ")[1].strip()
    client = await make_client()
    resp = await client.post("/api/v1/sessions", json={"username": "root.admin", "password": password})
    assert resp.status == 201 and (await resp.json())["user"]["role"] == "admin"
    again = sunlit(["user", "add", "--username", "root.admin", "--role", "admin", "--password", "x" * 12], db_dsn, tmp_path)
    assert again.returncode == 2 and "username_taken" in again.stderr


async def test_audit_verify_passes_then_names_the_first_tampered_entry(db_dsn, tmp_path) -> None:
    for i in range(3):
        assert sunlit(["user", "add", "--username", f"staff{i}x", "--role", "staff", "--password", "p" * 12],
                      db_dsn, tmp_path).returncode == 0
    ok = sunlit(["audit", "verify"], db_dsn, tmp_path)
    assert ok.returncode == 0 and "audit log OK: 3 entries" in ok.stdout
    conn = await asyncpg.connect(db_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("UPDATE audit_log SET actor_name = 'mallory' WHERE seq = 2")
    finally:
        await conn.close()
    bad = sunlit(["audit", "verify"], db_dsn, tmp_path)
    assert bad.returncode == 1
    assert "BROKEN at entry 2: altered" in bad.stderr


async def test_audit_checkpoint_signs_the_head(db_dsn, tmp_path) -> None:
    assert sunlit(["user", "add", "--username", "cp.staff", "--role", "staff", "--password", "p" * 12],
                  db_dsn, tmp_path).returncode == 0
    r = sunlit(["audit", "checkpoint"], db_dsn, tmp_path)
    assert r.returncode == 0 and "'seq': 1" in r.stdout
    v = sunlit(["audit", "verify"], db_dsn, tmp_path)
    assert "1 signed checkpoints" in v.stdout
