"""After a flash: the band's first word from its MQTT uplink, and what it means.

A band that reports over MQTT logs in to the broker with its band id and a
password derived from the venue key (tools/bandconfig.py).  Right after it
boots, `crowdpulse flash` and `provision` read its console until the first of
`crowdpulse: mqtt online` or a refusal (firmware/wristband/uplink.py), and say
in one line which it was and the likely cause.  A band that is refused keeps
retrying (every few seconds), so fixing the broker side brings it up with no
reflash.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import Any

from crowdpulse.tools.link import Link

_FAILED = re.compile(r"crowdpulse: mqtt (failed|offline): (.*?)(?:; retry in \d+ ms)?$")


@dataclass(frozen=True)
class Outcome:
    state: str  # up, refused, unreached (only failures to connect), silent (no word at all)
    detail: str = ""  # the band's own words for the last failure


def wait(link: Link, timeout: float) -> Outcome:
    """Read the band's console until it is online or refused, or `timeout` passes."""
    deadline, last = time.monotonic() + timeout, None
    while (line := link.next_line(deadline)) is not None:
        if line.startswith("crowdpulse: mqtt online"):
            return Outcome("up")
        m = _FAILED.match(line)
        if m:
            last = m.group(2)
            if last.startswith("refused"):
                return Outcome("refused", last)
        elif line.startswith("crowdpulse: fatal:"):
            return Outcome("unreached", line.removeprefix("crowdpulse: "))
    return Outcome("unreached", last) if last else Outcome("silent")


def uses_mqtt(config: dict[str, Any]) -> bool:
    return config.get("transport") != "ble" and isinstance(config.get("mqtt"), dict)


def explain(outcome: Outcome, config: dict[str, Any], port: str, timeout: float) -> str:
    """One line for the operator: what happened, and the likely cause and fix."""
    m = config["mqtt"]
    band, venue = config["band_id"], config["venue"]
    where = f"{m['host']}:{m['port']}"
    if outcome.state == "up":
        return f"{band}: MQTT up on {where} as {m['user']}, venue {venue}"
    if outcome.state == "refused":
        return (
            f"{band}: MQTT login refused by {where} ({outcome.detail}): the broker has no password "
            f"for user {m['user']}, or another one. Likely cause: its password is not in the "
            "broker's password file yet (crowdpulse deploy passwords; docs/deploy.md §4), or the "
            "band was flashed with another venue key than the passwords were made with. "
            "The band keeps retrying: "
            "fix the broker side and it comes up, no reflash needed"
        )
    if outcome.state == "unreached":
        return (
            f"{band}: MQTT broker {where} not reached within {timeout:.0f} s (the band says: "
            f"{outcome.detail}): check --mqtt-host and --mqtt-port, that Mosquitto listens on that "
            "address, and the band's WiFi (--wifi-ssid and its passphrase)"
        )
    return (
        f"{band}: no word from the band's MQTT uplink within {timeout:.0f} s: is its WiFi up? "
        f"watch it with `crowdpulse monitor --port {port}`"
    )
