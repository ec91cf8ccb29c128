"""The ``sunlit`` command at the edges (issue 16): a published audit head proves a truncation
and ``audit verify`` writes nothing (item 4); key values starting with ``-``, ``SUNLIT_URL``
honoured by every client, a refused connection in one line (item 8); ``sunlit db shell`` and
``db dump``, and the default data directory (item 11)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import asyncpg

from crypto.keys import b64url_encode
from crypto.signing import generate_signing_key, public_key_bytes
from trading.config import default_data_dir
from web.cli import build_parser, join_dash_values, read_key

ROOT = Path(__file__).resolve().parents[2]


def env_for(data: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SUNLIT_DATA": str(data), "PYTHONPATH": str(ROOT), **extra}
    for name in ("SUNLIT_URL", "SUNLIT_HOST", "SUNLIT_PORT"):
        if name not in extra:
            env.pop(name, None)
    return env


def sunlit(args: list[str], data: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "web.cli", *args], env=env_for(data, **extra),
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


async def sunlit_async(args: list[str], data: Path, **extra: str) -> tuple[int, str, str]:
    """For commands that talk to a server running in this test's event loop."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "web.cli", *args, env=env_for(data, **extra), cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dash_key() -> tuple[bytes, str]:
    """A public key whose base64url spelling starts with ``-``."""
    while True:
        public = public_key_bytes(generate_signing_key())
        text = b64url_encode(public)
        if text.startswith("-"):
            return public, text


async def audit_state(dsn: str) -> dict[str, object]:
    conn = await asyncpg.connect(dsn)
    try:
        return {t: await conn.fetchval(f"SELECT count(*) FROM {t}")
                for t in ("audit_log", "audit_checkpoints", "audit_heads", "server_keys", "schema_migrations")}
    finally:
        await conn.close()


def files_of(data: Path) -> dict[str, int]:
    return {str(p.relative_to(data)): p.stat().st_mtime_ns for p in data.rglob("*") if p.is_file()}


# ---------------------------------------------------------------------------- item 4


async def test_item4_audit_verify_writes_nothing(db_dsn, tmp_path) -> None:
    """Issue 16 item 4: ``audit verify`` only reads — no key made or registered, no checkpoint,
    no head signed, no file written — on a fresh data directory and on a used one."""
    fresh = tmp_path / "fresh"
    before = await audit_state(db_dsn)
    r = sunlit(["audit", "verify"], fresh, DATABASE_URL=db_dsn)
    assert r.returncode == 0, r.stderr
    assert await audit_state(db_dsn) == before
    assert not fresh.exists() or files_of(fresh) == {}

    used = tmp_path / "used"
    assert sunlit(["user", "add", "--username", "v.staff", "--role", "staff", "--password", "p" * 12], used,
                  DATABASE_URL=db_dsn).returncode == 0
    before, files = await audit_state(db_dsn), files_of(used)
    assert "audit/head.json" in files  # the command that appended signed the head as it left
    r = sunlit(["audit", "verify"], used, DATABASE_URL=db_dsn)
    assert r.returncode == 0 and "1 entries" in r.stdout and "signed heads" in r.stdout, r.stderr
    assert await audit_state(db_dsn) == before and files_of(used) == files

    nowhere = tmp_path / "nowhere"  # no database here: said so, and no empty one made
    r = sunlit(["audit", "verify"], nowhere)
    assert r.returncode == 2 and "there is no database in" in r.stderr and not nowhere.exists()


async def test_item4_a_truncated_tail_is_detected_with_a_published_head(db_dsn, tmp_path) -> None:
    """Issue 16 item 4: ``sunlit audit head --out`` publishes a signed head; after the tail is
    cut and every trace on the machine removed, ``audit verify --head FILE`` proves the cut."""
    data = tmp_path / "data"
    for i in range(3):
        assert sunlit(["user", "add", "--username", f"t{i}.staff", "--role", "staff", "--password", "p" * 12],
                      data, DATABASE_URL=db_dsn).returncode == 0
    published = tmp_path / "witness" / "head-3.json"
    r = sunlit(["audit", "head", "--out", str(published)], data, DATABASE_URL=db_dsn)
    assert r.returncode == 0 and "entry 3" in r.stderr, r.stderr
    conn = await asyncpg.connect(db_dsn)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL session_replication_role = replica")
            await conn.execute("DELETE FROM audit_log WHERE seq = 3")
            await conn.execute("DELETE FROM audit_heads")
    finally:
        await conn.close()
    (data / "audit" / "head.json").unlink()
    assert sunlit(["audit", "verify"], data, DATABASE_URL=db_dsn).returncode == 0  # the machine alone
    bad = sunlit(["audit", "verify", "--head", str(published)], data, DATABASE_URL=db_dsn)
    assert bad.returncode == 1
    assert "BROKEN at entry 3: truncated" in bad.stderr and "ends at entry 2" in bad.stderr


# ---------------------------------------------------------------------------- item 8


def test_item8_option_values_starting_with_a_dash_are_values() -> None:
    """Issue 16 item 8: ``--key -abc`` is the value ``-abc`` for every value-taking option;
    a following option stays an option; nothing after ``--`` changes."""
    parser = build_parser()
    assert join_dash_values(parser, ["audit", "verify", "--public-key", "-abc"]) == [
        "audit", "verify", "--public-key=-abc"]
    assert join_dash_values(parser, ["bid", "proof", "--url", "--token", "x"]) == [
        "bid", "proof", "--url", "--token", "x"]
    assert join_dash_values(parser, ["db", "shell", "--", "--out", "-x"]) == ["db", "shell", "--", "--out", "-x"]
    args = parser.parse_args(join_dash_values(parser, ["bid", "verify-receipt", "--receipt", "r.json",
                                                       "--server-public-key", "-Zm9v"]))
    assert args.server_public_key == "-Zm9v"


def test_item8_a_key_is_read_from_hex_either_base64_alphabet_or_a_file(tmp_path) -> None:
    public, text = dash_key()
    import base64

    assert read_key(text) == read_key(public.hex()) == read_key(base64.b64encode(public).decode()) == public
    (tmp_path / "server.pub").write_text(text + "\n")
    assert read_key(str(tmp_path / "server.pub")) == public


async def test_item8_a_key_value_starting_with_a_dash_works_on_the_command_line(db_dsn, tmp_path) -> None:
    """Issue 16 item 8: ``--public-key -…`` and ``--public-key=-…`` both reach the command."""
    _, text = dash_key()
    for args in (["--public-key", text], [f"--public-key={text}"]):
        r = sunlit(["audit", "verify", *args], tmp_path, DATABASE_URL=db_dsn)
        assert r.returncode == 0 and "audit log OK: 0 entries" in r.stdout, r.stderr
    r = sunlit(["bid", "verify-receipt", "--receipt", str(tmp_path / "none.json"), "--server-public-key", text],
               tmp_path)
    assert "expected one argument" not in r.stderr


def test_item8_a_refused_connection_is_one_line_for_every_client(tmp_path) -> None:
    """Issue 16 item 8: every client command honours SUNLIT_URL; a server that is not there
    is one bilingual line naming it and a non-zero exit, not a traceback."""
    url = f"http://127.0.0.1:{closed_port()}"
    key = tmp_path / "bank.key"
    from trading.ledger import bank

    bank.load_or_create_key(key)
    for args in (["auction", "watch", "--lot", "1"],
                 ["auction", "bid", "--lot", "1", "--amount-fen", "100", "--token", "-tok"],
                 ["bid", "proof", "--tender-id", "1", "--token", "t"],
                 ["bid", "withdraw", "--tender-id", "1", "--token", "t"],
                 ["notices", "list"],
                 ["award", "status", "--tender-id", "1", "--token", "t"],
                 ["ledger", "notify", "--sub-account", "1", "--amount", "1.00", "--seq", "1", "--key", str(key)]):
        r = sunlit(args, tmp_path, SUNLIT_URL=url)
        assert r.returncode != 0, args
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in r.stderr, (args, r.stderr)
        assert f"cannot reach the server at {url}" in lines[0] and "无法连接服务器" in lines[0]


async def test_item8_sunlit_url_reaches_the_server(client, tmp_path) -> None:
    """Issue 16 item 8: with SUNLIT_URL set (and no --url) the client talks to that server."""
    url = str(client.make_url("")).rstrip("/")
    code, _, err = await sunlit_async(["bid", "proof", "--tender-id", "1", "--token", "not-a-token"], tmp_path,
                                      SUNLIT_URL=url + "/")
    assert code == 2 and "HTTP 401" in err, err


# ---------------------------------------------------------------------------- item 11


async def test_item11_db_shell_and_dump_reach_the_database(db_dsn, tmp_path) -> None:
    """Issue 16 item 11: ``sunlit db shell`` runs psql and ``sunlit db dump`` pg_dump against the
    configured database (the embedded one without DATABASE_URL)."""
    r = sunlit(["db", "shell", "--", "-At", "-c", "SELECT count(*) FROM audit_heads"], tmp_path, DATABASE_URL=db_dsn)
    assert r.returncode == 0 and r.stdout.strip() == "0", r.stderr
    out = tmp_path / "dump.sql"
    r = sunlit(["db", "dump", "--out", str(out), "--", "--schema-only"], tmp_path, DATABASE_URL=db_dsn)
    assert r.returncode == 0, r.stderr
    assert "CREATE TABLE public.audit_heads" in out.read_text()


def test_item11_the_default_data_directory_is_found_without_sunlit_data(tmp_path) -> None:
    """Issue 16 item 11: ./var when it exists; else the checkout's var/ when that exists (where
    ``make serve`` keeps it); else ./var, made on first use."""
    from trading.config import CHECKOUT_DIR

    (tmp_path / "here" / "var").mkdir(parents=True)
    assert default_data_dir(tmp_path / "here") == tmp_path / "here" / "var"
    elsewhere = default_data_dir(tmp_path)
    if (CHECKOUT_DIR / "var").is_dir():
        assert elsewhere == CHECKOUT_DIR / "var"
    else:
        assert elsewhere == tmp_path / "var"


def test_item10_a_command_with_an_unreachable_database_is_one_line(tmp_path) -> None:
    """Issue 16 item 10: the database commands say the same line as the server; never the password."""
    url = f"postgresql://sunlit:s3cret@127.0.0.1:{closed_port()}/sunlit"
    for args in (["migrate"], ["audit", "verify"], ["db", "shell", "--", "-c", "SELECT 1"]):
        r = sunlit(args, tmp_path, DATABASE_URL=url)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (args, r.stderr)
        assert "cannot reach the database" in lines[0] and "s3cret" not in r.stderr
