"""A console with the keyboard only (issue 13: "keyboard usable, labelled controls"): staff
reach the new-tender form with Tab, fill every field (the custodians' boxes with Space, the
dates typed into the date-time fields), submit it with Enter and land on the draft's page;
every control reached has a label.

Sources: issue 13 (keyboard usable, labelled controls); RULES.md T14 (the deposit at most
2 % of the estimate, as in the consoles' test).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.browser import base_url, browser, login
from tests.helpers import PASSWORD
from web import keys

ACTIVE = """() => { const a = document.activeElement;
  const label = a && (a.labels && a.labels.length ? a.labels[0].textContent.trim() : a.getAttribute('aria-label'));
  return a ? {name: a.name || '', type: a.type || '', tag: a.tagName, id: a.id || '', label: label || '',
              inForm: !!a.closest('#new-tender'), value: a.value ?? ''} : null; }"""


async def type_date_time(page: Any, at: datetime) -> None:
    """Type a date and time into a focused datetime-local field, part by part: the parts'
    order is the browser's own (headless Chromium: mm dd yyyy, then → to hh mm AM/PM, whatever
    the page's locale; else dd mm yyyy hh mm)."""
    await page.keyboard.type(at.strftime("%m%d%Y"))
    await page.keyboard.press("ArrowRight")
    await page.keyboard.type(at.strftime("%I%M") + ("A" if at.hour < 12 else "P"))
    if await page.evaluate("() => document.activeElement.value") == "":
        for _ in range(6):
            await page.keyboard.press("ArrowLeft")
        await page.keyboard.type(at.strftime("%d%m%Y"))
        await page.keyboard.press("ArrowRight")
        await page.keyboard.type(at.strftime("%H%M"))


async def test_staff_create_a_tender_with_the_keyboard_only(make_client: Any, tmp_path: Path) -> None:
    """Issue 13: keyboard usable; T14: the draft is made with the deposit within bounds."""
    from tests.e2e.test_bidding_api import Centre

    client = await make_client()
    centre = Centre(client, tmp_path)
    await centre.start(bidders=1)
    deadline = client.server.app[keys.CLOCK].now() + timedelta(days=25)
    opening = deadline + timedelta(minutes=30)
    typed = {
        "code": "KEY-2026-001", "project_name": "键盘录入的招标项目", "lots": "第一标段",
        "estimated_price_fen": "1,000,000", "deposit_fen": "20000", "place": "开标室 1",
    }
    dates = {"bid_deadline_at": deadline, "opening_at": opening}
    async with browser() as b:
        context = await b.new_context(locale="en-GB", timezone_id="UTC", viewport={"width": 1200, "height": 900})
        page = await context.new_page()
        await login(page, base_url(client), centre.staff.username, PASSWORD, "/staff?lang=en")
        await page.wait_for_selector("#custodian-choices .custodian-box")
        await page.evaluate("() => document.activeElement && document.activeElement.blur()")
        # Tab from the top of the page to the form's first field
        for _ in range(80):
            await page.keyboard.press("Tab")
            a = await page.evaluate(ACTIVE)
            if a and a["inForm"]:
                break
        else:
            raise AssertionError("the new-tender form is not reachable with Tab")
        seen: list[str] = []
        checked = 0
        done: set[str] = set()
        for _ in range(80):
            a = await page.evaluate(ACTIVE)
            assert a and a["inForm"], f"focus left the form after {seen}"
            if a["tag"] == "BUTTON" and a["type"] == "submit":
                break
            assert a["label"], f"a control without a label: {a}"
            seen.append(a["name"] or a["id"])
            if a["type"] == "checkbox":
                if "custodian-box" in (await page.evaluate("() => document.activeElement.className")) and checked < 3:
                    await page.keyboard.press("Space")
                    checked += 1
            elif a["name"] in typed and a["name"] not in done:
                await page.keyboard.type(typed[a["name"]])
                done.add(a["name"])
            elif a["name"] in dates and a["name"] not in done:  # the field keeps focus across its parts
                await type_date_time(page, dates[a["name"]])
                done.add(a["name"])
            await page.keyboard.press("Tab")
        else:
            raise AssertionError(f"the submit button is not reachable with Tab: {seen}")
        assert checked == 3 and {"code", "project_name", "bid_deadline_at", "opening_at"} <= set(seen)
        values = await page.evaluate(
            "() => Object.fromEntries([...document.querySelectorAll('#new-tender [name]')].map(e => [e.name, e.value]))")
        assert values["bid_deadline_at"] == deadline.strftime("%Y-%m-%dT%H:%M"), values
        async with page.expect_navigation():
            await page.keyboard.press("Enter")
        await page.wait_for_selector("#upload-form")
    tenders = await (await client.get("/api/v1/tenders", headers=centre.staff_h)).json()
    made = next(t for t in tenders if t["code"] == "KEY-2026-001")
    assert made["state"] == "draft" and made["project_name"] == "键盘录入的招标项目"
    assert made["deposit_fen"] == 2_000_000 and made["bid_deadline_at"].startswith(deadline.strftime("%Y-%m-%dT%H:%M"))
