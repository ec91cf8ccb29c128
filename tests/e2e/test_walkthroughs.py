"""Docs that run: every walk-through in README.md and docs/*.md is executed as written.

Source: issue 16 item 12 — "Every walk-through in README.md and docs/ is executed by a test
exactly as written … A doc change that breaks a walk-through fails `make test`."

The convention (also stated in README.md, "Development"):

- A fenced block tagged ``sh``, ``bash`` or ``console`` is shell that runs; in a ``console``
  block only the lines after a ``$ `` prompt (and their ``\\`` continuations) run, the rest is
  output. A block tagged ``python`` runs with ``python3 -`` (at most 60 s).
- A block preceded by ``<!-- not-run: why -->`` (on the line just above the fence) does not
  run; the reason is required. Untagged blocks and ``text``, ``json``, ``csv``… are not
  code.
- Each document's blocks run in order, in one ``bash`` session (``set -Eeuo pipefail``), so
  a variable a block defines is there for the next block of the same document, and nothing
  leaks from one document to another.

What the session gets, and nothing more:

- ``sunlit`` and ``python3`` on ``PATH`` (the virtual environment's ``bin``);
- ``SUNLIT_PORT``, the server's port — the one documented variable the server itself reads
  (README, Configuration). Every document that talks to the server defines its address from
  it in its own text (``BASE=http://127.0.0.1:${SUNLIT_PORT:-8080}``), so a reader who
  started ``make serve`` runs the same line unchanged, and the test can use a free port on a
  machine where 8080 is taken. ``SUNLIT_URL``, ``SUNLIT_DATA``, ``DATABASE_URL`` and
  ``SUNLIT_HOST`` are removed from the environment: a document that needs them sets them;
- a working directory laid out like the repository after ``make serve``: ``docs/`` (with
  ``docs/samples/``) copied, and ``var/`` — the server's data directory (demo credentials,
  demo keys, the draw request, the ledger's demo statement) with the server's output in
  ``var/server.log``.

The server is ``sunlit serve --demo`` on a fresh data directory (embedded PostgreSQL), started
once for the module with its output in ``var/server.log`` — what the walk-throughs' own
not-run "start the server" blocks say. The documents must therefore not depend on one
another's changes (each uses its own objects of the demo), and may run in any order.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SHELL_TAGS = frozenset({"sh", "bash", "console"})
PYTHON_TAGS = frozenset({"python", "py"})
NOT_RUN_RE = re.compile(r"^\s*<!--\s*not-run:\s*(?P<why>.*?)\s*-->\s*$")
FENCE_RE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`\s]*)[^`]*$")
DOC_TIMEOUT_S = 300
PYTHON_TIMEOUT_S = 60
SERVER_START_TIMEOUT_S = 180
SERVER_STOP_TIMEOUT_S = 30
REMOVED_ENV = ("SUNLIT_URL", "SUNLIT_DATA", "DATABASE_URL", "SUNLIT_HOST", "SUNLIT_PASSWORD")


# == extracting the blocks ======================================================================


@dataclass(frozen=True, slots=True)
class Block:
    """One fenced block of a document: ``line`` is the fence's line number (1-based)."""

    doc: str
    line: int
    tag: str
    text: str
    not_run: str | None  # the reason, when the block is marked not-run

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"

    @property
    def runs(self) -> bool:
        return self.not_run is None and self.tag in SHELL_TAGS | PYTHON_TAGS


def blocks_of(doc: str, text: str) -> list[Block]:
    """Every fenced block of a Markdown text, in order (indented fences in list items too)."""
    out: list[Block] = []
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        m = FENCE_RE.match(lines[i])
        if m is None:
            i += 1
            continue
        indent, fence, tag = len(m["indent"]), m["fence"], m["info"].lower()
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith(fence[0] * len(fence)):
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        marker = NOT_RUN_RE.match(lines[j]) if j >= 0 else None
        out.append(
            Block(doc, start + 1, tag, "\n".join(body), marker["why"] if marker else None)
        )
        i += 1
    return out


def console_commands(text: str) -> str:
    """The commands of a ``console`` block: lines after ``$ `` and their continuations."""
    out: list[str] = []
    continued = False
    for line in text.split("\n"):
        if continued:
            out.append(line)
        elif line.startswith("$ "):
            out.append(line[2:])
        else:
            continue
        continued = line.rstrip().endswith("\\")
    return "\n".join(out)


def script_of(blocks: list[Block]) -> str:
    """One bash script for a document's runnable blocks, in order; a failure names its block."""
    parts = [
        "set -Eeuo pipefail",
        "__block=none; __start=0",
        "trap 'echo \"walk-through failed in the block at $__block (its line $((LINENO - __start)))\" >&2' ERR",
    ]
    for n, b in enumerate(blocks):
        if not b.runs:
            continue
        parts.append(f"__block={b.where}")
        parts.append(f"echo '>>> block {b.where}' >&2")
        if b.tag in PYTHON_TAGS:
            end = f"__SUNLIT_PY_{n}__"
            assert end not in b.text
            parts.append(f"__start=$LINENO; timeout {PYTHON_TIMEOUT_S} python3 - <<'{end}'")
            parts.append(b.text)
            parts.append(end)
        else:
            code = console_commands(b.text) if b.tag == "console" else b.text
            parts.append("__start=$LINENO")
            parts.append(code)
    parts.append("echo '>>> walk-through done' >&2")
    return "\n".join(parts) + "\n"


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _blocks(path: Path) -> list[Block]:
    return blocks_of(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))


RUNNABLE = [p for p in documents() if any(b.runs for b in _blocks(p))]


# == the server =================================================================================


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    root: Path  # holds var/ (the data directory)
    port: int
    proc: subprocess.Popen[bytes]
    ready: threading.Event
    log: Path

    def alive(self) -> bool:
        if self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=5) as r:
                return r.status == 200
        except OSError:
            return False


def _start(root: Path) -> Server:
    data = root / "var"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
    env |= {
        "SUNLIT_DATA": str(data),
        "SUNLIT_PORT": str(port),
        "SUNLIT_HOST": "127.0.0.1",
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
    }
    log = data / "server.log"
    proc = subprocess.Popen(
        [str(BIN / "sunlit"), "serve", "--demo"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ready = threading.Event()

    def pump() -> None:  # the server's output into var/server.log; tell when it listens
        assert proc.stdout is not None
        with open(log, "ab", buffering=0) as f:
            for line in proc.stdout:
                f.write(line)
                if b"is listening on" in line:
                    ready.set()
        ready.set()  # the server ended: wake the waiter, which sees it dead

    threading.Thread(target=pump, daemon=True).start()
    server = Server(root, port, proc, ready, log)
    if not ready.wait(SERVER_START_TIMEOUT_S) or proc.poll() is not None:
        _stop(server)
        raise RuntimeError("the demo server did not start:\n" + log.read_text()[-4000:])
    return server


def _stop(server: Server) -> None:
    proc = server.proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(SERVER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    # An embedded PostgreSQL the server left behind (it should stop it) is ours: stop it.
    pid_file = server.root / "var" / "pg" / "postmaster.pid"
    try:
        pg_pid = int(pid_file.read_text().split("\n", 1)[0])
    except (OSError, ValueError):
        return
    try:
        os.kill(pg_pid, signal.SIGINT)  # fast shutdown
    except ProcessLookupError:
        return
    deadline = time.monotonic() + SERVER_STOP_TIMEOUT_S
    while time.monotonic() < deadline:  # no event to wait on for another process's exit
        try:
            os.kill(pg_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)


def _server_root() -> Path:
    # Not under pytest's 0700 tmp: the embedded PostgreSQL may run as another user.
    root = Path(tempfile.mkdtemp(prefix="sunlit-walkthrough-"))
    root.chmod(0o755)
    return root


@pytest.fixture(scope="module")
def demo_server() -> Iterator[Server]:
    server = _start(_server_root())
    roots = [server.root]
    try:
        yield server
    finally:
        roots.append(server.root)
        _stop(server)
        for root in set(roots):
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def server(demo_server: Server) -> Server:
    """The module's server, started again if a document stopped it."""
    if not demo_server.alive():
        _stop(demo_server)
        fresh = _start(_server_root())
        demo_server.root, demo_server.port, demo_server.proc = fresh.root, fresh.port, fresh.proc
        demo_server.ready, demo_server.log = fresh.ready, fresh.log
    return demo_server


def workdir(server: Server, tmp: Path) -> Path:
    """A directory laid out like the repository after ``make serve``."""
    shutil.copytree(ROOT / "docs", tmp / "docs")
    (tmp / "var").symlink_to(server.root / "var", target_is_directory=True)
    return tmp


def run_document(path: Path, server: Server, tmp: Path) -> subprocess.CompletedProcess[str]:
    script = script_of(_blocks(path))
    env = {k: v for k, v in os.environ.items() if k not in REMOVED_ENV}
    env |= {"PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "SUNLIT_PORT": str(server.port)}
    return subprocess.run(
        ["bash", "-c", script],
        cwd=workdir(server, tmp),
        env=env,
        capture_output=True,
        text=True,
        timeout=DOC_TIMEOUT_S,
        start_new_session=True,
    )


# == the tests ==================================================================================


@pytest.mark.parametrize("path", RUNNABLE, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_walkthrough_runs_as_written(path: Path, server: Server, tmp_path: Path) -> None:
    """Issue 16 item 12: the document's shell and Python blocks run, in order, in one bash
    session against ``sunlit serve --demo``; every command succeeds."""
    done = run_document(path, server, tmp_path)
    if os.environ.get("SUNLIT_WALKTHROUGH_SHOW"):  # to read what a page prints: pytest -s
        print(done.stderr, done.stdout, sep="\n")
    assert done.returncode == 0, (
        f"{path.relative_to(ROOT)}: exit {done.returncode}\n--- stderr\n{done.stderr[-6000:]}"
        f"\n--- stdout\n{done.stdout[-3000:]}"
    )


def test_every_block_that_does_not_run_says_why() -> None:
    """Issue 16 item 12: a shell or Python block is skipped only with a reason, and a
    not-run marker sits on a block (it is not left dangling)."""
    for path in documents():
        text = path.read_text(encoding="utf-8")
        blocks = _blocks(path)
        for b in blocks:
            assert b.not_run is None or b.not_run.strip(), f"{b.where}: not-run without a reason"
        markers = sum(1 for line in text.split("\n") if NOT_RUN_RE.match(line))
        assert markers == sum(1 for b in blocks if b.not_run is not None), (
            f"{path.name}: a not-run marker is not right above a fence"
        )


def test_the_extractor_finds_tagged_indented_and_skipped_blocks() -> None:
    """Issue 16 item 12: the runner's own reading of Markdown (pure)."""
    text = (
        "# T\n\n```sh\nA=1\n```\n\n<!-- not-run: starts a server -->\n```sh\nsunlit serve\n```\n"
        "1. step\n   ```bash\n   echo $A\n   ```\n```\nplain\n```\n"
        "```console\n$ echo one \\\n  two\none two\n```\n```python\nprint(1)\n```\n"
    )
    blocks = blocks_of("t.md", text)
    assert [(b.line, b.tag, b.runs) for b in blocks] == [
        (3, "sh", True),
        (8, "sh", False),
        (12, "bash", True),
        (15, "", False),
        (18, "console", True),
        (23, "python", True),
    ]
    assert blocks[1].not_run == "starts a server" and blocks[2].text == "echo $A"
    assert console_commands(blocks[4].text) == "echo one \\\n  two"
    done = subprocess.run(
        ["bash", "-c", script_of(blocks)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.split() == ["1", "one", "two", "1"], done
    failing = blocks_of("f.md", "```sh\ntrue\n```\n```sh\necho a\nfalse\necho b\n```\n")
    done = subprocess.run(
        ["bash", "-c", script_of(failing)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0 and done.stdout.split() == ["a"]
    assert "failed in the block at f.md:4 (its line 2)" in done.stderr
