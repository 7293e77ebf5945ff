"""The venue's MQTT users and their passwords, in one file the venue keeps.

`crowdpulse deploy passwords` writes `user:password` lines, Mosquitto's own
plain-text password-file format: a copy hashed in place by
`mosquitto_passwd -U` is the broker's password file (docs/deploy.md §4), and
the file itself is where the technician notes them (root only, mode 600).

- The gateway, the console, the readers and every relay get a random password,
  made once: a password already in the file is kept, so running it again (after
  adding bands or a relay) never changes a password someone has noted.
- Every band of the venue file gets the password `crowdpulse flash` and
  `provision` give it: derived from the venue key and its band id
  (tools/bandconfig.py).  So the broker can know the bands before they are
  flashed, and a band's password is never lost.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path

from crowdpulse.deploy import DeployError, check_usernames
from crowdpulse.tools.bandconfig import mqtt_password


def read(path: Path) -> dict[str, str]:
    """user -> password from a `user:password` file (missing: empty)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        user, sep, password = line.partition(":")
        if not sep or not password or password.startswith("$7$"):
            raise DeployError(
                f"{path}, line {n}: not `user:password` in clear (a hashed password file? "
                "give the notes file, not the broker's)"
            )
        out[user] = password
    return out


def make(
    path: Path,
    venue_key: bytes,
    band_ids: Iterable[str],
    relays: list[str],
    gateway: str = "gateway",
    console: str | None = "console",
    readers: Sequence[str] = (),
) -> tuple[int, int]:
    """Write every user's password to `path` (mode 600); returns (written, kept)."""
    bands = list(band_ids)
    check_usernames(bands, relays, gateway, console, readers)
    old = read(path)
    people = [gateway, *([console] if console else []), *readers, *relays]
    users: dict[str, str] = {}
    kept = 0
    for user in people:
        if user in old:
            kept += 1
        users[user] = old.get(user) or secrets.token_hex(24)
    for band in bands:
        users[band] = mqtt_password(venue_key, band)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("".join(f"{u}:{p}\n" for u, p in users.items()))
    os.replace(tmp, path)
    return len(users), kept
