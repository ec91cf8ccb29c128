"""A real browser for page tests: Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def chromium_path() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; `make test` installs it with bin/install-browser")
        pytest.skip("chromium is not installed (run bin/install-browser)")
    return path


@asynccontextmanager
async def browser_page(locale: str = "zh-CN") -> AsyncIterator:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            context = await browser.new_context(locale=locale)
            page = await context.new_page()
            yield page
        finally:
            await browser.close()


# ---- helpers for page tests (docs/pages.md) -------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT_DIR = ROOT / "docs" / "img" / "pages"
PHONE_WIDTH_PX = 390


@asynccontextmanager
async def browser() -> AsyncIterator:
    """One Chromium for several contexts (two bidders, a watcher…): ``await b.new_context()``."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        b = await p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


async def new_page(b: Any, locale: str = "zh-CN", width: int = 1200, height: int = 900) -> Any:
    """A page in a fresh context (its own cookies: one person)."""
    context = await b.new_context(locale=locale, viewport={"width": width, "height": height})
    return await context.new_page()


def base_url(client: Any) -> str:
    """The served app's root (a ``client``/``make_client`` fixture: the real app on a port)."""
    return str(client.make_url("/")).rstrip("/")


async def login(page: Any, base: str, username: str, password: str, next_path: str = "") -> None:
    """Log in through the login form, as a person would; waits for the logged-in page."""
    await page.goto(f"{base}/login" + (f"?next={next_path}" if next_path else ""))
    await page.fill("#login-username", username)
    await page.fill("#login-password", password)
    async with page.expect_navigation():
        await page.click("#login-form button[type=submit]")
    await page.wait_for_selector("#logout")


def demo_password(app: Any, username: str) -> str:
    """A demo user's password (the demo writes them to the data dir)."""
    from web import keys

    text = (app[keys.CONFIG].data_dir / "demo-credentials.txt").read_text()
    return {line.split("\t")[0]: line.split("\t")[2] for line in text.splitlines()}[username]


async def assert_no_horizontal_overflow(page: Any, width: int = PHONE_WIDTH_PX) -> None:
    """At a phone's width the page scrolls only vertically: nothing is wider than the viewport
    (wide tables sit in their own ``.scroll-x`` box, which may scroll inside)."""
    await page.set_viewport_size({"width": width, "height": 844})
    overflow = await page.evaluate(
        """() => {
            const w = document.documentElement.clientWidth;
            const wide = [];
            for (const e of document.querySelectorAll('body *')) {
                if (e.closest('.scroll-x')) continue;
                const r = e.getBoundingClientRect();
                if (r.width > 0 && (r.right > w + 1 || r.left < -1) && getComputedStyle(e).position !== 'absolute')
                    wide.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + (e.className && typeof e.className === 'string' ? '.' + e.className.split(' ')[0] : ''));
            }
            return {scroll: document.documentElement.scrollWidth, width: w, wide: wide.slice(0, 5)};
        }"""
    )
    assert overflow["scroll"] <= overflow["width"] and not overflow["wide"], f"horizontal overflow at {width}px: {overflow}"


async def screenshot(page: Any, name: str, full_page: bool = True) -> Path:
    """Save ``docs/img/pages/<name>.png`` (the pictures docs/pages.md shows)."""
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOT_DIR / f"{name}.png"
    await page.screenshot(path=str(path), full_page=full_page)
    return path
