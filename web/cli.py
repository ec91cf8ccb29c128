"""The ``sunlit`` command.

    sunlit serve [--host H] [--port P] [--demo]   run the server (embedded PostgreSQL unless DATABASE_URL)
    sunlit migrate                                 apply pending migrations
    sunlit demo load                               load the demo centre (idempotent)
    sunlit user add --username U --role R ...      create a user (the first admin)
    sunlit audit verify [--public-key KEY] [--head FILE]
                                                   walk the chain, checkpoints and signed heads (only reads);
                                                   exit 1 on the first bad entry, a truncation or a rewritten tail
    sunlit audit checkpoint                        sign the current head now
    sunlit audit head [--out FILE]                 sign the head now and write it (JSON) for a witness

Option values that start with ``-`` (a base64url key such as ``-abc…``) are taken as values:
``--public-key -abc…`` works, as does ``--public-key=-abc…``. Client commands reach the server
at ``--url``, else ``$SUNLIT_URL``, else ``http://$SUNLIT_HOST:$SUNLIT_PORT`` (``server_url``).
Faults an operator can fix (a busy port, a taken or unwritable data directory, a database or
server that cannot be reached) end in one bilingual line and a non-zero exit, no traceback.

Each domain adds its own commands from ``web.cli_<domain>`` modules (``register(subparsers)``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import binascii
import errno
import getpass
import importlib
import importlib.util
import os
import secrets
import socket
import sys
import urllib.error
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import asyncpg

from crypto.signing import load_signing_key, sha256_hex
from trading import migrate
from trading.audit import AuditLog, SignedHead
from trading.audit import log as audit_log
from trading.audit.head import HeadKeeper, head_path, read_head_file, write_json_atomically
from trading.clock import SystemClock
from trading.config import Config
from trading.context import Actor, Role
from trading.db import DataDirLock, EmbeddedPostgres, StartupFailed, open_pool
from trading.errors import DomainError

CLI_MODULES: tuple[str, ...] = (
    "web.cli_bidding", "web.cli_auction", "web.cli_experts", "web.cli_ledger", "web.cli_verify",
    "web.cli_db", "web.cli_notices", "web.cli_evaluation", "web.cli_award", "web.cli_calendar", "web.cli_stats", "web.cli_ocds",
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
    pool = None
    try:
        dsn = config.database_url
        if dsn is None:
            embedded = EmbeddedPostgres(config.data_dir)
            dsn = embedded.start()
        pool = await open_pool(dsn, min_size=1, max_size=4)
        async with pool.acquire() as conn:
            await migrate.migrate(conn)
        raw, key_id = load_server_key(config.data_dir)
        audit = AuditLog(load_signing_key(raw), key_id, config.audit_checkpoint_every)
        clock = SystemClock()
        async with pool.acquire() as conn:
            await audit.register_key(conn, clock.now())
        yield Env(config, pool, audit, clock, dsn)
        if audit.appends:  # this command appended: sign the head as it leaves
            await HeadKeeper(audit, pool, clock, config.data_dir).sign_now()
    finally:
        if pool is not None:
            await pool.close()
        if embedded is not None:
            embedded.stop()


@asynccontextmanager
async def read_only_database(config: Config) -> AsyncIterator[asyncpg.Pool]:
    """The database for a command that only reads: no migration, no key registered or made,
    every transaction read-only (the server refuses a write)."""
    embedded = None
    pool = None
    try:
        dsn = config.database_url
        if dsn is None:
            embedded = EmbeddedPostgres(config.data_dir)
            embedded.require_existing()
            dsn = embedded.start()
        pool = await open_pool(dsn, min_size=1, max_size=2, read_only=True)
        yield pool
    finally:
        if pool is not None:
            await pool.close()
        if embedded is not None:
            embedded.stop()


def server_url(url: str | None = None) -> str:
    """The server a client command talks to: ``--url``, else ``$SUNLIT_URL``, else
    ``http://$SUNLIT_HOST:$SUNLIT_PORT`` (default http://127.0.0.1:8080); no trailing slash."""
    global _server_url_used
    env = os.environ
    chosen = url or env.get("SUNLIT_URL") or f"http://{env.get('SUNLIT_HOST', '127.0.0.1')}:{env.get('SUNLIT_PORT', '8080')}"
    _server_url_used = chosen.rstrip("/")
    return _server_url_used


_server_url_used: str | None = None


def unreachable_line(url: str | None, exc: BaseException) -> str:
    """One bilingual line for a server that cannot be reached."""
    where = url or _server_url_used or server_url()
    cause = getattr(exc, "os_error", None) or getattr(exc, "reason", None) or exc
    code = getattr(cause, "errno", None)
    reason = os.strerror(code) if isinstance(code, int) and code > 0 else (str(cause) or type(exc).__name__)
    return (f"sunlit: cannot reach the server at {where} ({reason}): start it with `sunlit serve`, "
            f"or point SUNLIT_URL (or --url) at it / 无法连接服务器 {where}：请先用 sunlit serve 启动服务，"
            "或用 SUNLIT_URL（或 --url）指向它")


def _is_unreachable(exc: BaseException) -> bool:
    """A refused, reset or unresolvable connection to a server (aiohttp, websockets, urllib)."""
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
        return isinstance(exc.reason, OSError)
    try:
        import aiohttp

        if isinstance(exc, aiohttp.ClientConnectorError):
            return True
    except ImportError:  # pragma: no cover - aiohttp is a dependency
        pass
    return isinstance(exc, (ConnectionError, socket.gaierror)) or (
        isinstance(exc, OSError) and exc.errno in (errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ENETUNREACH)
    )


def read_key(value: str, *, size: int = 32) -> bytes:
    """A key from a file holding it (raw bytes or text) or from the text itself: hex, or base64
    in either alphabet (``+/`` or ``-_``), padded or not. ``ValueError`` says what is wrong."""
    path = Path(value)
    text = value
    if path.is_file():
        data = path.read_bytes()
        if len(data) == size:
            return data
        text = data.decode("ascii", errors="replace")
    text = text.strip()
    if len(text) == 2 * size:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    b64 = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != size:
        raise ValueError(f"not a {size}-byte key in hex or base64, nor a file holding one: {value[:80]!r}")
    return raw


def server_key_id(public_key: bytes) -> str:
    """The server key's id as the server names it (web.app.load_server_key)."""
    return "srv-" + sha256_hex(public_key)[:16]


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


def listen_socket(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound before anything else starts: a busy port is
    refused at once (``StartupFailed``) and nothing is left to stop."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                          flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as exc:
        raise StartupFailed(
            f"cannot listen on {host}: {exc.strerror}; give another address with --host or SUNLIT_HOST",
            f"无法在 {host} 上监听（{exc.strerror}）：请用 --host 或 SUNLIT_HOST 另给地址",
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(addr)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise StartupFailed(
                f"port {port} on {host} is already in use: stop the program using it, "
                "or choose another port with --port or SUNLIT_PORT",
                f"{host} 的端口 {port} 已被占用：请停止占用它的程序，或用 --port 或 SUNLIT_PORT 另选端口",
            ) from None
        raise StartupFailed(
            f"cannot listen on {host}:{port} ({exc.strerror}): choose another address or port with --host/--port",
            f"无法在 {host}:{port} 上监听（{exc.strerror}）：请用 --host/--port 另选地址或端口",
        ) from None
    sock.setblocking(False)
    return sock


async def _serve(app: Any, sock: socket.socket, announce: Callable[[], None]) -> None:
    """Run the app on ``sock`` until SIGINT/SIGTERM (aiohttp's GracefulExit cancels this
    task). Whatever started is cleaned up in reverse even when start-up fails half-way
    (``web.run_app`` would skip the cleanup of contexts already started)."""
    from aiohttp import web

    runner = web.AppRunner(app, handle_signals=True, access_log=None, shutdown_timeout=10)
    try:
        await runner.setup()
        await web.SockSite(runner, sock).start()
        announce()
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    from aiohttp import web

    from web.app import make_app
    from web.logs import setup_logging

    setup_logging(json_lines=config.log_json)
    config = replace(config, host=args.host or config.host, port=args.port or config.port, load_demo=args.demo)
    lock = DataDirLock(config.data_dir)
    lock.acquire()
    try:
        sock = listen_socket(config.host, config.port)
        port = sock.getsockname()[1]
        app = make_app(config)
        app.on_startup.append(_settle_heap_on_startup)

        def announce() -> None:
            print(f"Sunlit is listening on http://{config.host}:{port}  (API under /api/v1, health at /healthz)",
                  flush=True)

        loop = new_event_loop(config.event_loop)
        asyncio.set_event_loop(loop)
        main_task = loop.create_task(_serve(app, sock, announce))
        try:
            loop.run_until_complete(main_task)
        except (web.GracefulExit, KeyboardInterrupt):
            pass
        finally:
            try:
                if not main_task.done():  # a signal: cancelling runs the cleanup in _serve
                    main_task.cancel()
                    try:
                        loop.run_until_complete(main_task)
                    except (asyncio.CancelledError, web.GracefulExit, KeyboardInterrupt):
                        pass
            finally:
                rest = asyncio.all_tasks(loop)
                for task in rest:
                    task.cancel()
                loop.run_until_complete(asyncio.gather(*rest, return_exceptions=True))
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()
                sock.close()
    finally:
        lock.release()
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
    """Only reads: no migration, no key made or registered, no checkpoint or head signed, and
    the database session is read-only."""
    trusted = None
    if args.public_key:
        try:
            public = read_key(args.public_key)
        except ValueError as exc:
            print(f"error: --public-key: {exc}", file=sys.stderr)
            return 2
        trusted = {args.key_id or server_key_id(public): public}
    heads: list[tuple[SignedHead, str]] = []
    local = head_path(config.data_dir)
    try:
        if local.exists():
            heads.append((read_head_file(local), f"the head file {local}"))
        for name in args.head or []:
            heads.append((read_head_file(Path(name)), f"the published head {name}"))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    async def go() -> int:
        async with read_only_database(config) as pool, pool.acquire() as conn:
            if await conn.fetchval("SELECT to_regclass('audit_log')") is None:
                print("error: this database has no audit log (never migrated) / 此数据库没有审计日志（从未迁移）",
                      file=sys.stderr)
                return 1
            report = await audit_log.verify_chain(conn, trusted_keys=trusted, heads=heads)
        if report.ok:
            print(f"audit log OK: {report.entries} entries, {report.checkpoints} signed checkpoints, "
                  f"{report.heads} signed heads")
            return 0
        bad = report.first_bad
        assert bad is not None
        print(f"audit log BROKEN at entry {bad.seq}: {bad.problem} — {bad.detail}", file=sys.stderr)
        for f in report.findings[1:20]:
            print(f"  also entry {f.seq}: {f.problem} — {f.detail}", file=sys.stderr)
        return 1

    return asyncio.run(go())


def cmd_audit_checkpoint(args: argparse.Namespace, config: Config) -> int:
    async def go(env: Env) -> int:
        async with env.pool.acquire() as conn:
            cp = await env.audit.checkpoint(conn, env.clock.now())
        print(f"checkpoint: {cp}" if cp else "the audit log is empty")
        return 0

    return run_with_db(config, go)


def cmd_audit_head(args: argparse.Namespace, config: Config) -> int:
    """Sign the head now (kept like the server's: audit_heads and the data dir's head file)
    and write it for a witness to keep off this machine."""

    async def go(env: Env) -> int:
        keeper = HeadKeeper(env.audit, env.pool, env.clock, env.config.data_dir)
        head = await keeper.sign_now()
        if head is None:
            print("the audit log is empty: no head to publish / 审计日志为空，没有可发布的日志头", file=sys.stderr)
            return 1
        data = head.as_json(env.audit.public_key)
        if args.out and args.out != "-":
            write_json_atomically(Path(args.out), data)
            print(f"signed head at entry {head.seq} written to {args.out}: copy it off this machine "
                  f"(check later with: sunlit audit verify --head {args.out})", file=sys.stderr)
        else:
            import json

            print(json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True))
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
    p = audit.add_parser("verify", help="verify the hash chain, the signed checkpoints and heads (only reads)")
    p.add_argument("--public-key", help="the server's published public key: hex, base64 or a file holding it "
                                        "(default: the key table)")
    p.add_argument("--key-id", help="the key's id (default: derived from --public-key)")
    p.add_argument("--head", action="append", metavar="FILE",
                   help="a published signed head (sunlit audit head): proves a truncation or rewritten tail; repeat")
    p.set_defaults(fn=cmd_audit_verify)
    p = audit.add_parser("checkpoint", help="sign a checkpoint over the current head now")
    p.set_defaults(fn=cmd_audit_checkpoint)
    p = audit.add_parser("head", help="sign the head now and write it (JSON) for a witness to keep")
    p.add_argument("--out", metavar="FILE", help="write here (atomically) instead of stdout")
    p.set_defaults(fn=cmd_audit_head)

    for name in CLI_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name).register(sub)
    return parser


def _walk_parsers(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    found = [parser]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found.extend(_walk_parsers(sub))
    return found


def join_dash_values(parser: argparse.ArgumentParser, argv: list[str]) -> list[str]:
    """``--key -abc`` → ``--key=-abc``: argparse takes a value starting with ``-`` for an
    option, and base64url keys, tokens and passwords may start with one. A value-taking option
    followed by a token that starts with ``-`` and is no option of this command is given it
    as its value (what ``--key=-abc`` says explicitly). Nothing after ``--`` changes."""
    takes_value: set[str] = set()
    options: set[str] = set()
    for p in _walk_parsers(parser):
        for action in p._actions:
            options.update(action.option_strings)
            if action.option_strings and action.nargs in (None, 1):
                takes_value.update(action.option_strings)
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            out.extend(argv[i:])
            break
        nxt = argv[i + 1] if i + 1 < len(argv) else None
        if (token in takes_value and nxt is not None and nxt.startswith("-") and nxt != "--"
                and nxt.split("=", 1)[0] not in options):
            out.append(f"{token}={nxt}")
            i += 2
            continue
        out.append(token)
        i += 1
    return out


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(join_dash_values(parser, sys.argv[1:] if argv is None else list(argv)))
    try:
        code: int = args.fn(args, Config.from_env())
    except StartupFailed as err:
        print(err.line(), file=sys.stderr)
        return 2
    except OSError as exc:
        if not _is_unreachable(exc):
            raise
        print(unreachable_line(getattr(args, "url", None), exc), file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
