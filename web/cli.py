"""The ``sunlit`` command.

    sunlit serve [--host H] [--port P] [--demo]   run the server (embedded PostgreSQL unless DATABASE_URL)
    sunlit migrate                                 apply pending migrations
    sunlit demo load                               load the demo centre (idempotent)
    sunlit user add --username U --role R ...      create a user (the first admin)
    sunlit audit verify [--public-key HEX]         walk the chain and checkpoints; exit 1 on the first bad entry
    sunlit audit checkpoint                        sign the current head now

Each domain adds its own commands from ``web.cli_<domain>`` modules (``register(subparsers)``).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import importlib
import importlib.util
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from crypto.signing import load_signing_key
from trading import migrate
from trading.audit import AuditLog
from trading.audit import log as audit_log
from trading.clock import SystemClock
from trading.config import Config
from trading.context import Actor, Role
from trading.db import EmbeddedPostgres, create_pool
from trading.errors import DomainError

CLI_MODULES: tuple[str, ...] = (
    "web.cli_bidding", "web.cli_auction", "web.cli_experts", "web.cli_ledger", "web.cli_verify",
    "web.cli_db", "web.cli_notices", "web.cli_evaluation",
)


@dataclass
class Env:
    """What a CLI command gets: the pool, the audit log handle, the clock, the config."""

    config: Config
    pool: asyncpg.Pool
    audit: AuditLog
    clock: SystemClock
    dsn: str


@asynccontextmanager
async def database(config: Config) -> AsyncIterator[Env]:
    from web.app import load_server_key

    embedded = None
    dsn = config.database_url
    if dsn is None:
        embedded = EmbeddedPostgres(config.data_dir)
        dsn = embedded.start()
    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        async with pool.acquire() as conn:
            await migrate.migrate(conn)
        raw, key_id = load_server_key(config.data_dir)
        audit = AuditLog(load_signing_key(raw), key_id, config.audit_checkpoint_every)
        clock = SystemClock()
        async with pool.acquire() as conn:
            await audit.register_key(conn, clock.now())
        yield Env(config, pool, audit, clock, dsn)
    finally:
        await pool.close()
        if embedded is not None:
            embedded.stop()


def run_with_db(config: Config, fn: Callable[[Env], Coroutine[Any, Any, int]]) -> int:
    async def main() -> int:
        async with database(config) as env:
            return await fn(env)

    try:
        return asyncio.run(main())
    except DomainError as err:
        print(f"error [{err.code}]: {err.message_en}\n        {err.message_zh}", file=sys.stderr)
        return 2


GC_GEN0_THRESHOLD = 50_000
"""Allocations between young collections in a running server (CPython's default is 700):
the auction's hot path allocates a few hundred objects per bid, and each collection is a
pause every bidder waits through."""


def settle_heap() -> None:
    """Once a long-running process has its steady heap (the server: engines loaded, demo in
    place): collect, then move what survived out of the collector's sight (``gc.freeze``) so
    later collections only walk what is allocated afterwards, and collect the young
    generation less often."""
    import gc

    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


async def _settle_heap_on_startup(_: object) -> None:
    settle_heap()


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    """The server's event loop (``Config.event_loop``)."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    if kind == "asyncio":
        return asyncio.new_event_loop()
    raise SystemExit(f"SUNLIT_EVENT_LOOP must be uvloop or asyncio, not {kind!r}")


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from aiohttp import web

    from web.app import make_app
    from web.logs import setup_logging

    setup_logging(json_lines=config.log_json)
    config = replace(config, host=args.host or config.host, port=args.port or config.port, load_demo=args.demo)
    app = make_app(config)
    app.on_startup.append(_settle_heap_on_startup)

    def announce(_: object) -> None:
        print(f"Sunlit is listening on http://{config.host}:{config.port}  (API under /api/v1, health at /healthz)",
              flush=True)

    web.run_app(app, host=config.host, port=config.port, print=announce, shutdown_timeout=10,
                access_log=None, handle_signals=True, loop=new_event_loop(config.event_loop))
    return 0


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    async def go(env: Env) -> int:
        print("migrations current")
        return 0

    return run_with_db(config, go)


def cmd_demo(args: argparse.Namespace, config: Config) -> int:
    async def go(env: Env) -> int:
        from aiohttp import web

        from web import keys
        from web.demo import load_demo

        app = web.Application()
        app[keys.POOL] = env.pool
        app[keys.AUDIT] = env.audit
        app[keys.CLOCK] = env.clock
        app[keys.CONFIG] = env.config
        await load_demo(app)
        return 0

    return run_with_db(config, go)


def cmd_user_add(args: argparse.Namespace, config: Config) -> int:
    from trading.parties import service as parties

    password = args.password
    generated = False
    if password is None:
        if sys.stdin.isatty():
            password = getpass.getpass("password (empty to generate one): ")
        if not password:
            password = secrets.token_urlsafe(12)
            generated = True

    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            user = await parties.create_user(
                conn, env.audit, Actor.system("cli"), env.clock.now(), username=args.username,
                full_name=args.full_name or args.username, role=Role(args.role), password=password, org_id=args.org_id,
            )
        print(f"created user {user.username} (id {user.id}, role {user.role})")
        if generated:
            print(f"password (shown once): {password}")
        return 0

    return run_with_db(config, go)


def cmd_audit_verify(args: argparse.Namespace, config: Config) -> int:
    async def go(env: Env) -> int:
        trusted = None
        if args.public_key:
            trusted = {args.key_id or env.audit.key_id: bytes.fromhex(args.public_key)}
        async with env.pool.acquire() as conn:
            report = await audit_log.verify_chain(conn, trusted_keys=trusted)
        if report.ok:
            print(f"audit log OK: {report.entries} entries, {report.checkpoints} signed checkpoints")
            return 0
        bad = report.first_bad
        assert bad is not None
        print(f"audit log BROKEN at entry {bad.seq}: {bad.problem} — {bad.detail}", file=sys.stderr)
        for f in report.findings[1:20]:
            print(f"  also entry {f.seq}: {f.problem} — {f.detail}", file=sys.stderr)
        return 1

    return run_with_db(config, go)


def cmd_audit_checkpoint(args: argparse.Namespace, config: Config) -> int:
    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            cp = await env.audit.checkpoint(conn, env.clock.now())
        print(f"checkpoint: {cp}" if cp else "the audit log is empty")
        return 0

    return run_with_db(config, go)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sunlit", description="Sunlit public-resource trading platform (公共资源交易平台)")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run the server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--demo", action="store_true", help="load the demo centre at start (idempotent)")
    p.set_defaults(fn=cmd_serve)

    p = sub.add_parser("migrate", help="apply pending migrations")
    p.set_defaults(fn=cmd_migrate)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="demo_command", required=True)
    p = demo.add_parser("load", help="load the demo centre (idempotent)")
    p.set_defaults(fn=cmd_demo)

    user = sub.add_parser("user", help="users").add_subparsers(dest="user_command", required=True)
    p = user.add_parser("add", help="create a user")
    p.add_argument("--username", required=True)
    p.add_argument("--role", required=True, choices=[r.value for r in Role if r not in (Role.SYSTEM, Role.ANONYMOUS)])
    p.add_argument("--full-name")
    p.add_argument("--org-id", type=int)
    p.add_argument("--password", help="omit to be asked, or to have one generated")
    p.set_defaults(fn=cmd_user_add)

    audit = sub.add_parser("audit", help="the audit log").add_subparsers(dest="audit_command", required=True)
    p = audit.add_parser("verify", help="verify the hash chain and the signed checkpoints")
    p.add_argument("--public-key", help="the server's published public key (hex); default: the key table")
    p.add_argument("--key-id")
    p.set_defaults(fn=cmd_audit_verify)
    p = audit.add_parser("checkpoint", help="sign a checkpoint over the current head now")
    p.set_defaults(fn=cmd_audit_checkpoint)

    for name in CLI_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.fn(args, Config.from_env())
    return code


if __name__ == "__main__":
    sys.exit(main())
