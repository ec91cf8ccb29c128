"""The operations samples are valid as shipped: nginx parses ``docs/samples/nginx-sunlit.conf``.

Source: issue 15 (Tests and figures): a load balancer example for several processes that a
test checks for syntax when the binary is present (skipped otherwise).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NGINX_SAMPLE = ROOT / "docs" / "samples" / "nginx-sunlit.conf"


def test_the_nginx_sample_passes_nginx_t(tmp_path: Path) -> None:
    """docs/operations.md "Several processes and machines": the sample config is valid."""
    nginx = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if nginx is None:
        pytest.skip("nginx is not installed")
    (tmp_path / "logs").mkdir()
    result = subprocess.run(
        [nginx, "-t", "-p", str(tmp_path), "-e", str(tmp_path / "logs" / "error.log"),
         "-c", str(NGINX_SAMPLE)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr
