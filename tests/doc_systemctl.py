"""`systemctl` for tests/test_deploy_doc.py: starts, reloads and stops the two
services docs/deploy.md sets up, as systemd would, under the test's root folder.

    mosquitto            mosquitto -c $DOC_ROOT/etc/mosquitto/mosquitto.conf (Debian's main file)
    crowdpulse-gateway   the ExecStart of the unit file the guide wrote, with its
                         EnvironmentFile and WorkingDirectory

`restart`/`start`/`enable --now` start a service (stopping it first), `reload`
sends SIGHUP, `stop` SIGTERM; `daemon-reload` does nothing.  Each service's
output goes to $DOC_ROOT/var/log/<unit>.log, its pid to $DOC_ROOT/run/<unit>.pid.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from crowdpulse.broker import find_mosquitto, wait_for_port

ROOT = Path(os.environ["DOC_ROOT"])
RUN = ROOT / "run"
LOGS = ROOT / "var" / "log"


def _pid(unit: str) -> int | None:
    p = RUN / f"{unit}.pid"
    return int(p.read_text()) if p.exists() else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def stop(unit: str) -> None:
    pid = _pid(unit)
    if pid and _alive(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    (RUN / f"{unit}.pid").unlink(missing_ok=True)


def _unit(unit: str) -> tuple[list[str], dict[str, str], str]:
    """(argv, environment, working directory) from the unit file."""
    text = (ROOT / "etc" / "systemd" / "system" / f"{unit}.service").read_text()
    env, cwd, argv = dict(os.environ), str(ROOT), []
    for line in text.replace("\\\n", " ").splitlines():
        key, _, value = line.partition("=")
        if key == "EnvironmentFile":
            for row in Path(value).read_text().splitlines():
                k, _, v = row.partition("=")
                if k and not k.startswith("#"):
                    env[k.strip()] = v.strip()
        elif key == "WorkingDirectory":
            cwd = value
        elif key == "ExecStart":
            argv = shlex.split(value)
    return argv, env, cwd


def start(unit: str) -> None:
    stop(unit)
    if unit == "mosquitto":
        argv, env, cwd = (
            [find_mosquitto() or "mosquitto", "-c", str(ROOT / "etc/mosquitto/mosquitto.conf")],
            dict(os.environ),
            str(ROOT),
        )
    else:
        argv, env, cwd = _unit(unit)
    LOGS.mkdir(parents=True, exist_ok=True)
    RUN.mkdir(parents=True, exist_ok=True)
    log = (LOGS / f"{unit}.log").open("a")
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True
    )
    (RUN / f"{unit}.pid").write_text(str(proc.pid))
    if unit == "mosquitto":
        ports = [int(p) for p in os.environ["DOC_BROKER_PORTS"].split(",")]
        if not all(wait_for_port("127.0.0.1", p, 10) for p in ports) or proc.poll() is not None:
            sys.exit(f"mosquitto did not start: {(LOGS / 'mosquitto.log').read_text()[-800:]}")


def main(argv: list[str]) -> int:
    verb, units = argv[0], [a for a in argv[1:] if not a.startswith("--")]
    if verb == "daemon-reload":
        return 0
    for unit in units:
        if verb in ("start", "restart", "enable"):
            start(unit)
        elif verb == "reload":
            pid = _pid(unit)
            if pid is None:
                return 1
            os.kill(pid, signal.SIGHUP)
        elif verb == "stop":
            stop(unit)
        else:
            sys.exit(f"doc_systemctl: {verb} is not simulated")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
