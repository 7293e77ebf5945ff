"""The console at the booth: a tablet (1024x768) and a phone (390x844), in the
real Chromium against the real gateway (selector in auto mode on the simulated
deck) with bands reporting.  At both sizes: no sideways scroll, every panel
within the screen's width, no figure cut short, and on the phone the controls an
artist needs mid-set (mode, lock, approve, skip, veto, pin) on the first screen.

Screenshots go to test-artifacts/console/; with CROWDPULSE_SCREENSHOT_DOCS=1 also
to docs/img/console-tablet.png and docs/img/console-phone.png."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gateway_helpers import Bands, GatewayProc, band_ids, publisher, send_batch, write_venue

from crowdpulse.broker import Mosquitto

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "console"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
SIZES = {"tablet": {"width": 1024, "height": 768}, "phone": {"width": 390, "height": 844}}
# every element that shows a figure: none may be cut short ("3…", "93…")
FIGURES = (
    "#score, #trend-value, #confidence, #threshold, #bands, #flow-state, #zones td.r, .facts dd, "
    "#now-time, #queue-count, #lib-count, #veto-count, .tracks .exp, .relay"
)
MID_SET = (
    "#mode-auto",
    "#mode-assist",
    "#mode-manual",
    "#lock",
    "#approve",
    "#skip",
    "#next-veto",
    "#suggestions li button[data-act=pin]",
)


def _started(gw: GatewayProc) -> GatewayProc:
    """Ready, or stopped: a gateway that never came up must not outlive the test."""
    try:
        return gw.wait_ready(timeout=90)
    except AssertionError:
        gw.stop()
        raise


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def night(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[GatewayProc]:
    """A gateway in auto mode on the simulated deck, 30 bands reporting from a thread."""
    cfg = write_venue(
        tmp_path,
        extra='[selector]\nmode = "auto"\n[player]\ndeck = true\nnote = "a simulated deck"\n',
    )
    gw = _started(GatewayProc(mosquitto.url, cfg))
    stop = threading.Event()

    def crowd() -> None:
        bands, pub = Bands(cfg, band_ids(1, 30)), publisher(mosquitto.url)
        while not stop.is_set():
            now = int(time.time() * 1000)
            reps = bands.reports(now, laeq_db=92.0, claps=3)
            send_batch(pub, reps[:20], now, relay="r1")
            send_batch(pub, reps[20:], now, relay="r2")
            stop.wait(0.25)
        pub.loop_stop()

    th = threading.Thread(target=crowd, daemon=True)
    th.start()
    try:
        yield gw
    finally:
        stop.set()
        th.join(5)
        gw.stop()


def _look(page: Any) -> dict[str, Any]:
    result: dict[str, Any] = page.evaluate(
        """([figures, controls]) => {
        const vw = window.innerWidth, vh = window.innerHeight;
        const cut = [...document.querySelectorAll(figures)].filter(el => el.offsetParent !== null
            && el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
            .map(el => `${el.id || el.className}: "${el.textContent}" ${el.scrollWidth}>${el.clientWidth}`);
        const outside = [...document.querySelectorAll('.panel, .top > *')].filter(el => {
            const r = el.getBoundingClientRect(); return r.left < -1 || r.right > vw + 1; })
            .map(el => el.getAttribute('aria-label') || el.id || el.className);
        const tappable = controls.map(sel => {
            const el = document.querySelector(sel);
            if (!el) return [sel, 'missing'];
            const r = el.getBoundingClientRect();
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return [sel, r.top >= 0 && r.bottom <= vh && r.width >= 24 && (hit === el || el.contains(hit))
                ? 'ok' : `at ${Math.round(r.top)}..${Math.round(r.bottom)} of ${vh}`];
        });
        return {scrollWidth: document.documentElement.scrollWidth, vw, cut, outside, tappable,
                panels: document.querySelectorAll('.panel').length};
    }""",  # noqa: E501 (the script kept as written: its line breaks are in the string)
        [FIGURES, list(MID_SET)],
    )
    return result


@pytest.mark.parametrize("size", ["tablet", "phone"])
def test_console_fits_a_tablet_and_a_phone(browser: Any, night: GatewayProc, size: str) -> None:
    ctx = browser.new_context(
        viewport=SIZES[size],
        device_scale_factor=1,
        has_touch=size == "phone",
        is_mobile=size == "phone",
    )
    page = ctx.new_page()
    try:
        page.goto(f"http://127.0.0.1:{night.port}/")
        page.wait_for_function(
            "document.getElementById('conn').dataset.state === 'live'", timeout=20_000
        )
        page.wait_for_function("document.querySelector('#suggestions li[data-track-id]') !== null")
        page.wait_for_function(
            "[...document.querySelectorAll('#zones td.score-cell')]"
            ".every(td => /\\d/.test(td.textContent))",
            timeout=20_000,
        )
        page.wait_for_function(
            "document.querySelector('.relay') !== null && "
            "document.getElementById('player').dataset.state === 'ok'"
        )
        page.wait_for_timeout(1000)
        look = _look(page)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"console-{size}.png"), full_page=True)
        if os.environ.get("CROWDPULSE_SCREENSHOT_DOCS"):
            page.screenshot(path=str(ROOT / "docs" / "img" / f"console-{size}.png"), full_page=True)
    finally:
        ctx.close()
    assert look["scrollWidth"] <= look["vw"], (
        f"the page scrolls sideways: {look['scrollWidth']} > {look['vw']}"
    )
    assert look["outside"] == [], look["outside"]
    assert look["cut"] == [], look["cut"]
    assert look["panels"] == 12
    if size == "phone":  # within one tap: on the first screen, not covered
        assert [t for t in look["tappable"] if t[1] != "ok"] == []
