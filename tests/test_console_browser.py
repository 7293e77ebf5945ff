"""The DJ console in a real browser: the system Chromium driven by Playwright,
against the real gateway and a real Mosquitto, with signed band reports.

Each test saves a screenshot to test-artifacts/console/<test>.png (pass or
fail).  With CROWDPULSE_SCREENSHOT_DOCS=1, test_chart_follows_the_crowd also
plays a short set and saves docs/img/console.png for docs/console.md.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
from gateway_helpers import Bands, GatewayProc, band_ids, publisher, send_batch, write_venue

from crowdpulse.broker import Mosquitto

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts" / "console"
DOCS_PNG = ROOT / "docs" / "img" / "console.png"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 720}  # a 13" laptop's browser window
TOKEN = "test-token"  # what write_venue puts in [console]
NUMBER = re.compile(r"^\d{1,3}\.\d$")
# on the WebSocket: live when reports flow, else what the gateway says is wrong (health.js)
CONNECTED = "['live', 'warn', 'quiet'].includes(document.getElementById('conn').dataset.state)"


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing; install it with: apt-get install -y chromium", pytrace=False
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def gateway(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[GatewayProc]:
    now = int(time.time())  # tonight's event: it started an hour ago, it ends in five
    gw = GatewayProc(
        mosquitto.url,
        write_venue(tmp_path, extra=f"[event]\nwindow = [{now - 3600}, {now + 5 * 3600}]"),
    )
    try:
        gw.wait_ready()
        yield gw
    finally:
        gw.stop()


@dataclass
class Console:
    """One browser page on the console, and everything it did on the network."""

    page: Any
    gw: GatewayProc
    base: str
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)

    def selector(self) -> dict[str, Any]:
        state: dict[str, Any] = self.gw.get("/api/selector")
        return state

    def text(self, css: str) -> str:
        return str(self.page.locator(css).text_content()).strip()

    def attr(self, css: str, name: str) -> str:
        return str(self.page.get_attribute(css, name) or "")

    def wait(self, js: str, arg: Any = None, timeout_s: float = 10.0) -> None:
        self.page.wait_for_function(js, arg=arg, timeout=timeout_s * 1000)

    def ready(self) -> Console:
        """On the WebSocket, with the selector's state on screen."""
        self.wait(CONNECTED)
        self.wait("document.querySelector('#suggestions li[data-track-id]') !== null")
        return self

    def set_token(self, token: str) -> None:
        self.page.fill("#token", token)
        self.page.click("#token-save")


@pytest.fixture
def console(
    browser: Any, gateway: GatewayProc, request: pytest.FixtureRequest
) -> Iterator[Console]:
    ctx = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    page = ctx.new_page()
    page.set_default_timeout(10_000)
    c = Console(page, gateway, f"http://127.0.0.1:{gateway.port}")
    page.on("console", lambda m: c.console_errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: c.page_errors.append(str(e)))
    page.on("request", lambda r: c.requests.append(r.url))
    page.on("websocket", lambda ws: c.requests.append(ws.url))
    page.on("requestfailed", lambda r: c.failed.append(f"{r.url}: {r.failure}"))
    page.on(
        "response",
        lambda r: c.failed.append(f"{r.url}: HTTP {r.status}") if r.status >= 400 else None,
    )
    page.goto(c.base + "/")
    try:
        yield c
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        try:
            page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        finally:
            ctx.close()


class Crowd:
    """Bands reporting every 250 ms from a thread, as relays would publish them."""

    def __init__(
        self,
        gw: GatewayProc,
        broker_url: str,
        floor: int = 20,
        bar: int = 0,
        fields: Callable[[float], dict[str, Any]] | None = None,
    ) -> None:
        ids = band_ids(1, floor) + band_ids(21, 20 + bar)
        self.bands = Bands(gw.cfg, ids)
        self.client = publisher(broker_url)
        self.fields = fields or (lambda _t: {})
        self.stop_event = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        t0 = tick = time.monotonic()
        while not self.stop_event.is_set():
            now = int(time.time() * 1000)
            reps = self.bands.reports(now, **self.fields(time.monotonic() - t0))
            send_batch(self.client, reps, now)
            self.sent += len(reps)
            tick += 0.25  # on the declared 250 ms cadence, or the gateway counts the gaps as loss
            self.stop_event.wait(max(0.0, tick - time.monotonic()))

    def __enter__(self) -> Crowd:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop_event.set()
        self.thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def _post(
    c: Console, body: dict[str, Any], token: str | None = TOKEN
) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(
        c.base + "/api/selector/action",
        data=json.dumps(body).encode(),
        headers={
            "Content-Type": "application/json",
            **({"Authorization": f"Bearer {token}"} if token else {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _ids(state: dict[str, Any]) -> tuple[str | None, list[str], list[str]]:
    nxt = state["next"]["track"]["id"] if state["next"] else None
    return (
        nxt,
        [q["track"]["id"] for q in state["queue"]],
        [s["track"]["id"] for s in state["suggestions"]],
    )


def _dom_ids(c: Console) -> tuple[str, list[str], list[str]]:
    def ids(css: str) -> list[str]:
        return [
            str(x)
            for x in c.page.eval_on_selector_all(css, "els => els.map(e => e.dataset.trackId)")
        ]

    return (
        c.attr("#next", "data-track-id"),
        ids("#queue li[data-track-id]"),
        ids("#suggestions li[data-track-id]"),
    )


# -- tests --------------------------------------------------------------------------------------


def test_page_loads_clean_offline_and_fits_a_laptop_screen(console: Console) -> None:
    c = console.ready()
    c.wait("document.querySelectorAll('#zones tr').length === 2")  # the first snapshot arrived
    c.page.wait_for_timeout(1500)  # history, library and a few ticks: let every request finish

    assert c.console_errors == [], c.console_errors
    assert c.page_errors == [], c.page_errors
    assert c.failed == [], c.failed
    hosts = {urlparse(u).netloc for u in c.requests}
    assert hosts == {f"127.0.0.1:{c.gw.port}"}, f"requests left the gateway: {sorted(hosts)}"
    paths = {urlparse(u).path for u in c.requests}
    assert {
        "/",
        "/static/app.js",
        "/static/style.css",
        "/api/selector",
        "/api/library",
        "/ws",
    } <= paths, paths
    assert "/api/history" in paths

    # the main view fits 1280x720 without scrolling
    size = c.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight]"
    )
    assert size[0] <= VIEWPORT["width"] and size[1] <= VIEWPORT["height"], size
    # with no bands reporting: no score, zones under k-anonymity, the privacy panel filled in
    assert c.text("#score") == "—"
    assert [c.text(f"#zones tr[data-zone={z}] td.score-cell") for z in ("floor", "bar")] == [
        "—",
        "—",
    ]
    assert c.text("#retention") == "24 h" and c.text("#kanon") == "5 bands"
    window = c.selector()["event"]["window"]
    assert window[1] - window[0] == 6 * 3600 * 1000
    assert c.text("#event-state") == "listening" and "–" in c.text("#event-window")
    assert c.text("#mics") == "0"
    assert c.attr("#mode-assist", "aria-pressed") == "true"
    assert c.attr("#chart", "data-points") == "0"


def test_chart_follows_the_crowd(console: Console, mosquitto: Mosquitto) -> None:
    c = console.ready()
    c.wait("document.querySelectorAll('#zones tr').length === 2")
    assert c.text("#score") == "—"
    points_before = int(c.attr("#chart", "data-points"))
    boxes = (
        "[...document.querySelectorAll('.panel')].map(p => "
        "{const r = p.getBoundingClientRect(); return [r.x, r.y, r.width, r.height]})"
    )
    layout_before = c.page.evaluate(boxes)

    with Crowd(c.gw, mosquitto.url, floor=20) as crowd:
        c.wait(
            "/^\\d{1,3}\\.\\d$/.test(document.getElementById('score').textContent)", timeout_s=15
        )
        first = int(c.attr("#chart", "data-points"))
        # the chart grows with the ticks (how fast is the machine's business)
        c.wait(f"+document.getElementById('chart').dataset.points > {first + 10}", timeout_s=60)
        later = int(c.attr("#chart", "data-points"))
        floor_score = c.text("#zones tr[data-zone=floor] td.score-cell")
        bar_score = c.text("#zones tr[data-zone=bar] td.score-cell")
        mics = c.text("#mics")
        evidence = (c.text("#evidence"), c.attr("#evidence", "data-reference"))
        layout_after = c.page.evaluate(boxes)
        assert crowd.sent > 0

    assert NUMBER.match(c.text("#score")), c.text("#score")
    assert first > points_before and later > first + 10, (points_before, first, later)
    assert NUMBER.match(floor_score), floor_score
    assert bar_score == "—"  # no bar bands: below k-anonymity, no score
    assert mics == "20"
    # this venue has no music reference: the console says what the score stands on
    assert evidence == ("bands only: no reference", "none"), evidence
    assert layout_after == layout_before, "panels moved when data arrived"
    api = c.gw.get("/api/state")
    assert api["score"] is not None

    if os.environ.get("CROWDPULSE_SCREENSHOT_DOCS") == "1":
        _docs_screenshot(c, mosquitto)


def test_veto_next_track_changes_next_and_queue(console: Console) -> None:
    c = console.ready()
    c.set_token(TOKEN)
    # approve the top suggestion: the next track is now the first in the queue
    c.page.click("#approve")
    c.wait("document.querySelectorAll('#queue li[data-track-id]').length === 1")
    c.wait("document.getElementById('next-kind').textContent === 'queued'")
    vetoed = c.attr("#next", "data-track-id")
    assert vetoed and _ids(c.selector())[1] == [vetoed]

    c.page.click("#next-veto")
    c.wait(
        "id => { const n = document.getElementById('next').dataset.trackId; return n && n !== id }",
        vetoed,
    )
    c.wait(
        "id => ![...document.querySelectorAll('#vetoes button')]"
        ".every(b => b.dataset.trackId !== id)",
        vetoed,
    )

    nxt, queue, sugg = _dom_ids(c)
    assert nxt != vetoed and vetoed not in queue and vetoed not in sugg, (vetoed, nxt, queue, sugg)
    state = c.selector()
    assert vetoed in state["vetoed_tracks"]
    nxt, queue, sugg = _ids(state)
    assert nxt != vetoed and vetoed not in queue and vetoed not in sugg
    assert c.attr("#next", "data-track-id") == nxt
    assert c.page.locator(".notice.error").count() == 0
    assert c.page_errors == []


def test_control_without_token_is_refused(console: Console) -> None:
    c = console.ready()
    c.page.click("#token-clear")
    assert c.page.evaluate("localStorage.length") == 0
    before = c.selector()

    c.page.click("#approve")
    notice = c.page.locator(".notice.error")
    notice.first.wait_for(state="visible", timeout=5000)
    assert "token required" in notice.first.inner_text().lower()
    assert c.attr("#token-form", "data-missing") == "true"
    c.page.wait_for_timeout(300)  # would a late change arrive?

    after = c.selector()
    assert after == before
    assert after["queue"] == [] and c.page.locator("#queue li[data-track-id]").count() == 0
    # and the gateway itself refuses the same action without a token
    assert _post(c, {"action": "approve"}, token=None)[0] == 401
    # the page is still usable: no error dialog, the buttons are live
    assert c.page.is_enabled("#approve")


def test_mode_pin_playing_arc_and_event_over_from_the_page(console: Console) -> None:
    c = console.ready()
    c.set_token(TOKEN)

    # approve, then take it out of the queue again
    c.page.click("#approve")
    c.wait("document.querySelectorAll('#queue li[data-track-id]').length === 1")
    c.page.click("#queue li[data-track-id] button[data-act=remove]")
    c.wait("document.querySelectorAll('#queue li[data-track-id]').length === 0")
    assert c.selector()["queue"] == []

    # pin a track found in the library
    lib = c.gw.get("/api/library?q=")
    assert lib["total"] > 5
    current = c.attr("#next", "data-track-id")
    target = next(t for t in lib["tracks"] if t["id"] != current)
    c.page.fill("#lib-q", target["title"])
    row = f"#library li[data-track-id='{target['id']}']"
    c.page.locator(row).wait_for()
    c.page.click(f"{row} button[data-act=pin]")
    c.wait("id => document.getElementById('next').dataset.trackId === id", target["id"])
    assert c.text("#next-kind") == "pinned"
    state = c.selector()
    assert state["next"]["kind"] == "pinned" and state["next"]["track"]["id"] == target["id"]

    # one click: it is playing now
    c.page.click("#next-playing")
    c.wait("id => document.getElementById('now').dataset.trackId === id", target["id"])
    assert c.selector()["now_playing"]["track"]["id"] == target["id"]
    assert c.text("#now-title") == target["title"]

    # mode switch
    c.page.click("#mode-auto")
    c.wait("document.getElementById('mode-auto').getAttribute('aria-pressed') === 'true'")
    assert c.selector()["mode"] == "auto"
    assert c.attr("#mode-assist", "aria-pressed") == "false"
    c.page.click("#lock")
    c.wait("document.getElementById('lock').getAttribute('aria-pressed') === 'true'")
    assert c.selector()["locked"] is True

    # an energy arc of two points
    c.page.click("#arc-add")
    c.page.click("#arc-add")
    c.page.locator("#arc-points li").nth(1).locator("input[data-col=e]").fill("0.9")
    c.page.locator("#arc-points li").nth(1).locator("input[data-col=e]").dispatch_event("change")
    c.page.click("#arc-save")
    c.wait("document.getElementById('arc-dirty').textContent === ''")
    assert c.selector()["energy_arc"] == [[0.0, 0.5], [30.0, 0.9]]

    # veto an artist by name, and lift it again
    c.page.fill("#veto-artist", "Quiet Pylon")
    c.page.click("#veto-artist-form button")
    c.page.locator("#vetoes .chip", has_text="quiet pylon").wait_for()
    assert c.selector()["vetoed_artists"] == ["quiet pylon"]
    c.page.click("#vetoes button[data-act=unveto_artist]")
    c.wait("document.querySelectorAll('#vetoes .chip').length === 0")
    assert c.selector()["vetoed_artists"] == []

    # event over sits behind a confirmation
    c.page.click("#event-over")
    c.page.click("#over-cancel")
    c.page.wait_for_timeout(300)
    assert c.selector()["event"]["over"] is False
    c.page.click("#event-over")
    c.page.click("#over-yes")
    c.wait("document.getElementById('event-state').textContent === 'event over'")
    assert c.selector()["event"]["over"] is True
    assert c.page.is_disabled("#event-over")
    assert c.page.locator(".notice.error").count() == 0
    assert c.page_errors == []


def test_reconnects_after_the_gateway_restarts(console: Console, mosquitto: Mosquitto) -> None:
    c = console.ready()
    c.gw.proc.kill()  # a crash: the page must notice and reconnect
    c.gw.proc.wait(5)
    c.wait(
        "(e => e.dataset.state === 'offline' && e.textContent.includes('retry in'))"
        "(document.getElementById('conn'))",
        timeout_s=5,
    )
    again = GatewayProc(mosquitto.url, c.gw.cfg)
    try:
        again.wait_ready()
        c.wait(CONNECTED, timeout_s=10)
        with Crowd(again, mosquitto.url, floor=20):  # and the data flows again
            c.wait(
                "/^\\d{1,3}\\.\\d$/.test(document.getElementById('score').textContent)",
                timeout_s=10,
            )
            c.wait("document.getElementById('conn').dataset.state === 'live'", timeout_s=10)
    finally:
        c.page.evaluate("window.crowdpulse.live.stop()")  # or SIGINT waits for the open WebSocket
        again.stop()
    assert c.page_errors == []


def test_venue_that_requires_a_token_to_view(
    browser: Any, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    gw = GatewayProc(mosquitto.url, write_venue(tmp_path, extra="view_requires_token = true"))
    ctx = browser.new_context(viewport=VIEWPORT)
    try:
        gw.wait_ready()
        with pytest.raises(urllib.error.HTTPError) as refused:
            gw.get("/api/selector")
        assert refused.value.code == 401
        page = ctx.new_page()
        page.goto(f"http://127.0.0.1:{gw.port}/")
        page.locator("#gate").wait_for(state="visible")
        assert "token required" in str(page.text_content("#gate")).lower()
        assert page.get_attribute("#conn", "data-state") == "unauthorised"
        assert page.text_content("#score") == "—"

        page.fill("#gate-token", "not-the-token")
        page.click("#gate-form button")
        page.wait_for_function(
            "document.getElementById('gate').hidden === false"
            " && document.getElementById('conn').dataset.state === 'unauthorised'"
        )

        page.fill("#gate-token", TOKEN)
        page.click("#gate-form button")
        page.wait_for_function(CONNECTED)
        page.locator("#suggestions li[data-track-id]").first.wait_for()
        assert page.locator("#gate").is_hidden()
        assert page.get_attribute("#chart", "data-points") is not None
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / "test_venue_that_requires_a_token_to_view.png"), full_page=True
        )
    finally:
        ctx.close()
        gw.stop()


# -- the picture for docs/console.md --------------------------------------------------------------


def _docs_screenshot(c: Console, mosquitto: Mosquitto) -> None:
    """A short set: the crowd warms up, dips below the threshold, comes back."""

    def crowd(t: float) -> dict[str, Any]:
        if 14 <= t <= 40:  # the room goes flat for longer than Adaptive Flow's dwell (20 s)
            return {"laeq_db": 74, "voice_db": 72, "claps": 0, "tonal": 0.55}
        lift = min(1.0, t / 10) if t < 14 else min(1.0, (t - 40) / 8)  # dancing, cheering
        return {
            "laeq_db": 84 + 4 * lift,
            "voice_db": 80 + 6 * lift,
            "tonal": 0.55 - 0.2 * lift,
            "claps": 1 if (t * 4) % 4 < 2 * lift else 0,
        }

    c.set_token(TOKEN)
    c.page.click(".range button[data-range='1']")
    lib = c.gw.get("/api/library?q=")["tracks"]
    with Crowd(c.gw, mosquitto.url, floor=20, bar=8, fields=crowd):
        _post(c, {"action": "playing", "track_id": lib[3]["id"]})
        _post(c, {"action": "arc", "points": [[0, 0.5], [30, 0.7], [60, 0.9], [90, 0.6]]})
        time.sleep(10)
        c.page.click("#approve")
        time.sleep(10)
        c.page.click("#next-playing")
        c.page.wait_for_timeout(500)
        c.page.click("#approve")
        c.page.fill("#lib-q", "house")
        time.sleep(32)
        DOCS_PNG.parent.mkdir(parents=True, exist_ok=True)
        c.page.screenshot(path=str(DOCS_PNG), full_page=True)  # while the bands still report


def test_never_live_while_nothing_flows(browser: Any, tmp_path: Path) -> None:
    """Broker away, then no reports, then reports, then bands with a wrong key:
    the status and the problem bar say each plainly, with its fix."""
    broker = Mosquitto()  # not started yet: the gateway starts without a broker
    gw = GatewayProc(broker.url, write_venue(tmp_path))
    ctx = browser.new_context(viewport=VIEWPORT)
    try:
        gw.wait_ready(mqtt=False)
        page = ctx.new_page()
        page.goto(f"http://127.0.0.1:{gw.port}/")
        conn = "document.getElementById('conn')"
        bar = "document.getElementById('health')"
        page.wait_for_function(
            f"{conn}.dataset.state === 'down' && {conn}.textContent === 'broker disconnected'"
        )
        page.wait_for_function(
            f"!{bar}.hidden"
            f" && {bar}.textContent.includes('nothing listens on 127.0.0.1:{broker.port}')"
            f" && {bar}.textContent.includes('start Mosquitto')"
        )
        assert gw.get("/api/health")["status"] == "down"

        broker.start()  # connected, but no band reports yet
        page.wait_for_function(
            f"{conn}.dataset.state === 'quiet' && {conn}.textContent === 'no reports'",
            timeout=20_000,
        )
        page.wait_for_function(f"{bar}.textContent.includes('no relay heard')")
        assert page.get_attribute("#conn", "data-state") != "live"

        with Crowd(gw, broker.url, floor=20):
            page.wait_for_function(f"{conn}.dataset.state === 'live'", timeout=15_000)
            page.wait_for_function(f"{bar}.hidden")

        # bands provisioned with another venue key: rejected, and said so
        strangers = Bands(gw.cfg, band_ids(1, 5))
        strangers.keys = {b: bytes(16) for b in strangers.keys}
        client = publisher(broker.url)
        for _ in range(8):
            now = int(time.time() * 1000)
            send_batch(client, strangers.reports(now), now)
            time.sleep(0.25)
        page.wait_for_function(
            f"{bar}.textContent.includes('from unknown bands')"
            f" && {bar}.textContent.includes('wrong venue key')",
            timeout=10_000,
        )
        assert page.get_attribute("#conn", "data-state") in (
            "warn",
            "quiet",
        )  # never a plain "live"
        client.loop_stop()
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(ARTIFACTS / "test_never_live_while_nothing_flows.png"), full_page=True
        )
    finally:
        ctx.close()
        gw.stop()
        broker.close()
