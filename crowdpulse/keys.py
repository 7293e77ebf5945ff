"""Venue keys: loading from a file or the environment, never echoing them."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ENV_VAR = "CROWDPULSE_VENUE_KEY"


class VenueKeyError(ValueError):
    """A venue key that cannot be loaded; the message never contains key material."""


def parse_key(text: str, source: str) -> bytes:
    cleaned = "".join(text.split())
    try:
        key = bytes.fromhex(cleaned)
    except ValueError:
        raise VenueKeyError(f"{source}: venue key must be hexadecimal") from None
    if len(key) < 16:
        raise VenueKeyError(f"{source}: venue key must be at least 16 bytes (32 hex digits)")
    return key


def load_venue_key(path: str | os.PathLike[str] | None = None) -> bytes:
    """From `path` when given, else from $CROWDPULSE_VENUE_KEY (hex)."""
    if path is not None:
        try:
            return parse_key(Path(path).read_text(), str(path))
        except (OSError, UnicodeDecodeError) as exc:
            raise VenueKeyError(f"{path}: cannot read venue key ({type(exc).__name__})") from None
    if ENV_VAR in os.environ:
        return parse_key(os.environ[ENV_VAR], f"${ENV_VAR}")
    raise VenueKeyError(f"no venue key: pass --venue-key FILE or set ${ENV_VAR}")


def write_new_key(path: str | os.PathLike[str]) -> None:
    """Create a random 32-byte venue key readable only by its owner."""
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secrets.token_hex(32) + "\n")
