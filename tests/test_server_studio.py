"""The studio page end to end in headless Chromium (Debian's `chromium`, driven by Playwright):
type a prompt, watch the job finish, and the gallery's <video> loads and plays.

Chromium is never downloaded by Playwright (PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1); CI installs
the Debian package. Without it this test fails rather than skips, so a missing browser
cannot pass unnoticed. Set KINEMA_STUDIO_SCREENSHOT=PATH to save a screenshot there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from serverkit import LiveServer, make_app

from kinema.model import load_model

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROMPT = "a red circle moves to the right on a black background"


@pytest.fixture
def studio(debug_run, tmp_path):
    app = make_app(load_model(debug_run, "cpu"), debug_run, tmp_path / "data")
    with LiveServer(app) as server:
        yield server


def test_studio_generates_and_plays_a_video(studio, tmp_path):
    if not CHROMIUM.exists():
        pytest.fail("Chromium is missing: apt-get install chromium (Debian) to run this test")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 720})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.on("requestfailed", lambda request: errors.append(request.url))
            page.goto(studio.url + "/")
            page.wait_for_selector("#size option", state="attached")  # capabilities loaded
            page.fill("#prompt", PROMPT)
            page.select_option("#seconds", "2")
            page.click("#generate")

            card = page.locator("#gallery .card").first
            card.locator("video").wait_for(state="visible", timeout=60_000)
            assert card.get_attribute("data-status") == "completed"
            assert page.locator("#current-progress").evaluate("p => p.value") == 100
            page.wait_for_function(
                "() => { const v = document.querySelector('#gallery video');"
                " return v && v.readyState >= 2 && v.duration > 0; }",
                timeout=30_000,
            )
            # It plays: time advances (muted autoplay is allowed in headless Chromium).
            page.evaluate("() => document.querySelector('#gallery video').play()")
            page.wait_for_function(
                "() => document.querySelector('#gallery video').currentTime > 0", timeout=10_000
            )
            duration = page.evaluate("() => document.querySelector('#gallery video').duration")
            assert duration == pytest.approx(9 / 4, abs=0.3)  # 9 frames at 4 fps
            assert "2 s" in card.locator(".meta").inner_text()

            # Remix from the gallery item goes through the same form.
            card.locator("button.remix").click()
            assert page.locator("#mode").input_value() == "remix"
            page.fill("#prompt", "a blue square stays still on a gray background")
            page.click("#generate")
            page.locator("#gallery .card[data-mode], #gallery .card").nth(1).wait_for()
            page.wait_for_function(
                "() => document.querySelectorAll('#gallery video[src]').length == 2",
                timeout=60_000,
            )
            assert errors == []
            screenshot = tmp_path / "studio.png"
            page.screenshot(path=str(screenshot))
            assert screenshot.stat().st_size > 10_000
            if target := os.environ.get("KINEMA_STUDIO_SCREENSHOT"):
                shutil.copyfile(screenshot, target)
        finally:
            browser.close()
