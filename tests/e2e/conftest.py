"""Fixtures shared by the end-to-end tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.e2e.test_panel_api import Panel


@pytest.fixture
async def panel(make_client: Any, tmp_path: Path) -> Panel:
    """A centre (staff, custodians, three bidders) with a panel of experts, the tenderee and a
    supervising department, all logged in."""
    from tests.e2e.test_bidding_api import Centre
    from tests.e2e.test_panel_api import Panel

    client = await make_client(extra={"bidding.store_chunk_bytes": "4096", "SUNLIT_EXPERTS_CHANNEL": "memory"})
    centre = Centre(client, tmp_path)
    await centre.start()
    p = Panel(centre)
    await p.start()
    return p
