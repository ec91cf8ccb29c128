"""Run every benchmark in turn (``make bench``). Each prints its own table and JSON lines;
each measures against its own baseline in the same run. Pass names to run a subset:

    python bench/run_all.py core vault draw
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent

BENCHES: dict[str, list[str]] = {
    "core": ["bench_core.py"],
    "vault": ["bench_vault.py", "--size-mb", "256", "--big-gb", "1"],
    "opening": ["bench_opening.py"],
    "auction": ["auction/run.py"],
    "draw": ["bench_draw.py"],
    "ledger": ["bench_ledger.py"],
    "notices": ["bench_notices.py"],
    "evaluation": ["bench_evaluation.py"],
    "pages": ["bench_pages.py"],
    "statistics": ["bench_statistics.py"],
    "abuse": ["bench_abuse.py"],
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    failed = []
    for name in names:
        args = BENCHES.get(name)
        if args is None:
            print(f"unknown benchmark {name!r}; choose from {', '.join(BENCHES)}", file=sys.stderr)
            return 2
        script = ROOT / args[0]
        if not script.exists():
            print(f"== {name}: {script.name} not present, skipped")
            continue
        print(f"== {name}", flush=True)
        code = subprocess.call([sys.executable, str(script), *args[1:]], cwd=ROOT.parent)
        if code != 0:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
