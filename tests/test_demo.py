"""`crowdpulse demo`: everything up, the console answering, and Ctrl-C leaving nothing behind."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from gateway_helpers import EXE


def _ours(tmp_dir: str) -> list[int]:
    """Processes whose command line names the demo's temporary folder."""
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if tmp_dir in (p / "cmdline").read_bytes().decode(errors="replace"):
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


@pytest.mark.parametrize("broker", ["mosquitto", "embedded"])
def test_demo_runs_and_ctrl_c_stops_everything(broker: str) -> None:
    proc = subprocess.Popen([EXE, "demo", "--devices", "300", "--http-port", "0", "--broker", broker],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any("Ctrl-C stops everything" in ln for ln in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert ("Mosquitto on mqtt://" if broker == "mosquitto" else "embedded amqtt on mqtt://") in text
        url = re.search(r"console: (http://\S+)", text)
        token = re.search(r"control token: (\S+)", text)
        assert url and token
        with urllib.request.urlopen(url.group(1), timeout=5) as r:
            assert b"<html" in r.read().lower()
        state: dict = {}
        deadline = time.monotonic() + 60  # the crowd's reports reach the gateway: a score appears
        while state.get("score") is None or state["bands"] <= 50:
            assert time.monotonic() < deadline, state
            time.sleep(1)
            with urllib.request.urlopen(url.group(1) + "api/state", timeout=5) as r:
                state = json.loads(r.read())
        tmp_dir = re.search(r"--config (\S+)/venue.toml", " ".join(
            Path(f"/proc/{pid}/cmdline").read_bytes().decode().replace("\0", " ")
            for pid in _ours("crowdpulse-demo-")))
        assert tmp_dir
        assert len(_ours(tmp_dir.group(1))) >= 2  # the gateway and the crowd
    finally:
        proc.send_signal(signal.SIGINT)
        out = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, out
    assert "nothing left running" in out and "Traceback" not in out
    assert _ours(tmp_dir.group(1)) == []
    assert not Path(tmp_dir.group(1)).exists()  # key, token and history go with it
