"""The technician's night: each common mistake gets one clear line naming its
fix, from `crowdpulse doctor` or from the command concerned.  A secured venue
broker (the shipped Mosquitto config: TLS, passwords, ACL) on loopback."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gateway_helpers import Bands
from venue_helpers import SecuredVenue

from crowdpulse.keys import write_new_key
from crowdpulse.mqtt import BrokerURL, make_client, topic
from wristband import packet

pytestmark = pytest.mark.broker
EXE = str(Path(sys.executable).parent / "crowdpulse")
VENUE = "club-x"
USERS = ["gateway", "console", "dashboard", "stage-left"]


def send(client: object, venue: str, reports: list[bytes], relay: str = "stage-left") -> None:
    """One relay batch of these reports, as `crowdpulse relay` publishes it."""
    now = int(time.time() * 1000)
    client.publish(
        topic(venue, "relay", relay, "batch"),  # type: ignore[attr-defined]
        packet.encode_batch([(r, -60, now) for r in reports], now),
    ).wait_for_publish(5)


def venue_file(folder: Path, key: str = "venue.key", extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / key).exists():
        write_new_key(folder / key)
    cfg = folder / "venue.toml"
    cfg.write_text(f"""venue = "{VENUE}"
[keys]
venue_key_file = "{key}"
[[zones]]
name = "floor"
bands = ["B0001-B0030"]
[[zones]]
name = "bar"
bands = ["B0031-B0040"]
[storage]
path = "gateway.db"
[console]
token_file = "console.token"
{extra}""")
    return cfg


@pytest.fixture(scope="module")
def venue(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredVenue]:
    passwords = {u: secrets.token_hex(12) for u in USERS}
    with SecuredVenue(
        tmp_path_factory.mktemp("venue-broker"), VENUE, ["stage-left"], passwords
    ) as v:
        yield v


class Relay:
    """Publishes signed reports as the relay stage-left would, from a thread."""

    def __init__(
        self, venue: SecuredVenue, cfg: Path, ids: list[str], venue_name: str = VENUE
    ) -> None:
        url = BrokerURL.parse(venue.url("stage-left"))
        self.client = make_client(url, f"test-relay-{secrets.token_hex(3)}", str(venue.ca))
        self.client.connect(url.host, url.port)
        self.client.loop_start()
        self.bands = Bands(cfg, ids)
        self.venue_name = venue_name
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            send(self.client, self.venue_name, self.bands.reports(int(time.time() * 1000)))
            self.stop.wait(0.25)

    def __enter__(self) -> Relay:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.loop_stop()
        self.client.disconnect()


def doctor(cfg: Path, *args: str, broker: str | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    if broker:
        env["CROWDPULSE_BROKER"] = broker
    return subprocess.run(
        [EXE, "doctor", "--config", str(cfg), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def lines(out: str, head: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(head)]


def test_doctor_passes_a_right_venue_with_one_line_per_check(
    venue: SecuredVenue, tmp_path: Path
) -> None:
    cfg = venue_file(tmp_path)
    ids = [f"B{i:04d}" for i in range(1, 41)]
    with Relay(venue, cfg, ids):
        run = doctor(
            cfg,
            "--ca-file",
            str(venue.ca),
            "--listen",
            "4",
            "--create-token",
            broker=venue.url("gateway"),
        )
    assert run.returncode == 0, run.stdout + run.stderr
    out = run.stdout
    assert not lines(out, "FAIL") and not lines(out, "WARN"), out
    for needle in (
        "venue file",
        "zone floor: 30 bands",
        "venue key",
        "console token file",
        "reachable",
        "TLS: certificate verified",
        "login as gateway accepted",
        "ACL: gateway may write",
        "relays: stage-left (no status,",
        "zone floor: 30 of 30 bands heard",
        "zone bar: 10 of 10 bands heard",
        "no report rejected",
    ):
        assert needle in out, (needle, out)
    assert (tmp_path / "console.token").stat().st_mode & 0o777 == 0o600
    assert "Traceback" not in out + run.stderr


@pytest.mark.parametrize(
    "mistake",
    ["no-ca-file", "wrong-password", "plain-to-tls-port", "tls-to-plain-port", "nothing-listens"],
)
def test_doctor_names_each_broker_mistake_and_its_fix(
    venue: SecuredVenue, tmp_path: Path, mistake: str
) -> None:
    cfg = venue_file(tmp_path)
    (tmp_path / "console.token").write_text("t\n")
    ca = ["--ca-file", str(venue.ca)]
    url, expect, fix = {
        "no-ca-file": (
            venue.url("gateway"),
            "TLS: the broker's certificate is not trusted",
            "--ca-file",
        ),
        "wrong-password": (
            venue.url("gateway", password="nope"),
            "refused the login of user gateway",
            "mosquitto_passwd",
        ),
        "plain-to-tls-port": (
            venue.url("gateway").replace("mqtts://", "mqtt://"),
            "closed the connection without an MQTT answer",
            "mqtts://",
        ),
        "tls-to-plain-port": (
            venue.url("gateway", tls=False).replace("mqtt://", "mqtts://"),
            "TLS handshake",
            "mqtts:// with port 8883",
        ),
        "nothing-listens": (
            "mqtts://gateway:x@127.0.0.1:1",
            "nothing listens on 127.0.0.1:1",
            "start Mosquitto",
        ),
    }[mistake]
    run = doctor(cfg, *([] if mistake == "no-ca-file" else ca), "--listen", "0", broker=url)
    assert run.returncode == 1
    fails = lines(run.stdout, "FAIL")
    assert len(fails) == 1 and expect in fails[0] and fix in fails[0].split("fix:")[1], run.stdout
    assert "Traceback" not in run.stdout + run.stderr


def test_doctor_finds_an_acl_made_for_another_venue(tmp_path: Path) -> None:
    passwords = {u: secrets.token_hex(12) for u in USERS}
    with SecuredVenue(
        tmp_path / "broker", VENUE, ["stage-left"], passwords, acl_venue="club-y"
    ) as v:
        cfg = venue_file(tmp_path / "venue")
        (tmp_path / "venue" / "console.token").write_text("t\n")
        run = doctor(cfg, "--ca-file", str(v.ca), "--listen", "0", broker=v.url("gateway"))
    fails = lines(run.stdout, "FAIL")
    assert run.returncode == 1 and len(fails) == 1, run.stdout
    assert "the ACL does not let gateway write crowdpulse/v1/club-x/gateway/" in fails[0]
    assert "crowdpulse deploy acl" in fails[0]


def test_doctor_names_bands_with_a_wrong_venue_key_and_a_missing_token(
    venue: SecuredVenue, tmp_path: Path
) -> None:
    cfg = venue_file(tmp_path / "right")
    wrong = venue_file(tmp_path / "wrong")  # the same venue and bands, provisioned with another key
    with Relay(venue, wrong, [f"B{i:04d}" for i in range(1, 11)]):
        run = doctor(cfg, "--ca-file", str(venue.ca), "--listen", "3", broker=venue.url("gateway"))
    fails = lines(run.stdout, "FAIL")
    assert run.returncode == 1
    assert any("console token file" in f and "--create-token" in f for f in fails), run.stdout
    rejected = [f for f in fails if "from unknown bands" in f]
    assert len(rejected) == 1 and "wrong venue key" in rejected[0], run.stdout
    assert any("zone floor: 0 of 30 bands heard" in w for w in lines(run.stdout, "WARN"))


def test_doctor_names_reports_for_another_venue_name(tmp_path: Path) -> None:
    from crowdpulse.broker import Mosquitto

    cfg = venue_file(tmp_path)
    (tmp_path / "console.token").write_text("t\n")
    with Mosquitto() as open_broker:  # the demo broker: no ACL hides the other venue
        client = make_client(BrokerURL.parse(open_broker.url))
        client.connect("127.0.0.1", open_broker.port)
        client.loop_start()
        bands = Bands(cfg, ["B0001", "B0002"])
        stop = threading.Event()

        def publish() -> None:  # bands (through a relay) set up with --venue demo
            while not stop.is_set():
                send(client, "demo", bands.reports(int(time.time() * 1000)), relay="r1")
                stop.wait(0.25)

        th = threading.Thread(target=publish, daemon=True)
        th.start()
        try:
            run = doctor(cfg, "--listen", "3", broker=open_broker.url)
        finally:
            stop.set()
            th.join(5)
            client.loop_stop()
    fails = lines(run.stdout, "FAIL")
    assert any("reports for venue 'demo', not 'club-x'" in f and "--config" in f for f in fails), (
        run.stdout
    )


# -- the gateway tells the same, at start and while it runs ----------------------------------------


def _health_until(gw: object, pred: object, timeout: float = 30.0) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last: dict[str, object] = {}
    while time.monotonic() < deadline:
        try:
            last = gw.get("/api/health")  # type: ignore[attr-defined]
            if pred(last):  # type: ignore[operator]
                return last
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"health never got there: {last}")


def test_gateway_without_the_venue_ca_says_tls_and_is_not_live(
    venue: SecuredVenue, tmp_path: Path
) -> None:
    from gateway_helpers import GatewayProc

    from crowdpulse.broker import free_port

    cfg = venue_file(tmp_path, extra=f"[http]\nport = {free_port()}\n")
    gw = GatewayProc(venue.url("gateway"), cfg)  # no --ca-file: the venue CA is not trusted
    try:
        gw.wait_ready(mqtt=False)
        h = _health_until(gw, lambda h: any("TLS" in p["what"] for p in h["problems"]))
        assert h["status"] == "down" and h["summary"] == "broker disconnected" and not h["live"]
        tls = next(p for p in h["problems"] if "TLS" in p["what"])
        assert "certificate is not trusted" in tls["what"] and "--ca-file" in tls["fix"]
    finally:
        out = gw.stop()
    assert out.count("TLS: the broker's certificate is not trusted") >= 1, out
    assert "created the console token file" in out and (tmp_path / "console.token").exists()
    assert gw.proc.returncode == 0 and "Traceback" not in out


def test_gateway_logs_each_rejection_reason_once_a_minute(
    venue: SecuredVenue, tmp_path: Path
) -> None:
    from gateway_helpers import GatewayProc

    from crowdpulse.broker import free_port

    cfg = venue_file(tmp_path / "right", extra=f"[http]\nport = {free_port()}\n")
    wrong = venue_file(tmp_path / "wrong")
    gw = GatewayProc(venue.url("gateway"), cfg, "--ca-file", str(venue.ca))
    try:
        gw.wait_ready()
        h = _health_until(gw, lambda h: h["summary"] == "no reports")
        assert not h["live"] and any(p["what"].startswith("no relay heard") for p in h["problems"])
        with Relay(
            venue, wrong, [f"B{i:04d}" for i in range(1, 11)]
        ):  # 4 batches a second, all refused
            h = _health_until(gw, lambda h: h["rejected"].get("unknown_id", 0) >= 60)
        bad = [p for p in h["problems"] if "from unknown bands" in p["what"]]
        assert bad and bad[0]["level"] == "fail" and "wrong venue key" in bad[0]["fix"]
        with Relay(venue, cfg, [f"B{i:04d}" for i in range(1, 41)]):
            h = _health_until(gw, lambda h: h["live"] is True)
        assert h["summary"] == "live" and h["relays"][0]["relay"] == "stage-left"
    finally:
        out = gw.stop()
    logged = [line for line in out.splitlines() if "from unknown bands" in line]
    assert len(logged) == 1, out  # rate-limited: one line, however many reports
    assert "rejected" in logged[0] and "wrong venue key" in logged[0]
    assert gw.proc.returncode == 0 and "Traceback" not in out


def test_simulator_reaches_a_secured_venue_with_its_bands(
    venue: SecuredVenue, tmp_path: Path
) -> None:
    cfg = venue_file(tmp_path)
    env = dict(os.environ, CROWDPULSE_BROKER=venue.url("stage-left"))  # the relay's credentials
    no_ca = subprocess.run(
        [EXE, "sim", "--scenario", "normal", "--config", str(cfg), "--seconds", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert no_ca.returncode == 2, no_ca.stderr
    last = no_ca.stderr.strip().splitlines()[-1]
    assert "TLS: the broker's certificate is not trusted" in last and "--ca-file" in last
    assert "no MQTT broker answering" not in no_ca.stderr and "Traceback" not in no_ca.stderr

    reports: list[tuple[bytes, int]] = []
    url = BrokerURL.parse(venue.url("gateway"))
    watcher = make_client(url, "test-watcher", str(venue.ca))
    watcher.on_message = lambda c, u, m: reports.append((bytes(m.payload), int(time.time() * 1000)))
    watcher.connect(url.host, url.port)
    watcher.subscribe(topic(VENUE, "relay", "+", "batch"))
    watcher.loop_start()
    run = subprocess.run(
        [
            EXE,
            "sim",
            "--scenario",
            "normal",
            "--config",
            str(cfg),
            "--ca-file",
            str(venue.ca),
            "--seconds",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    watcher.loop_stop()
    assert run.returncode == 0, run.stderr
    assert "40 bands" in run.stderr and "venue club-x" in run.stderr
    # the venue's own bands, signed with the venue's key: the gateway's checks accept them
    from crowdpulse.gateway.engine import Engine
    from crowdpulse.gateway.venue import load

    venue_cfg = load(cfg)
    from crowdpulse.gateway.service import registry_only

    engine = Engine(VENUE, registry_only(venue_cfg))
    for batch, at_ms in reports:  # checked as the gateway checks them when they arrive
        engine.ingest_batch(batch, at_ms)
    # every report is one of the venue's bands with a valid tag; whether it is also fresh
    # (accepted rather than stale) depends on the simulator keeping up with the clock
    c = engine.counters()
    assert reports and c["batches"] == len(reports) and c["malformed_batches"] == 0
    assert c["rejected"]["unknown_id"] == 0 and c["rejected"]["bad_tag"] == 0, c
    assert c["accepted"] + c["rejected"]["stale"] > 0, c
