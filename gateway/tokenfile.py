"""The console token file: made when the venue file names one that does not exist.

The shipped venue file names `console.token`; nothing else makes it.  The
gateway makes it at start (a random token, readable by its owner only) and
says where; `crowdpulse doctor` offers to.  The token itself is never printed
when it comes from a file: whoever needs it reads the file.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path


class TokenFileError(RuntimeError):
    """The token file cannot be made (one line, with the fix)."""


def create(path: str | os.PathLike[str], venue_file: str = "venue.toml") -> str:
    """Write a new random token to `path` (mode 600, never over an existing file); returns it."""
    target = Path(path)
    token = secrets.token_urlsafe(18)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise TokenFileError(f"{target} exists already; it was not changed") from None
    except OSError as exc:
        raise TokenFileError(
            f"cannot create the console token file {target} ({exc.strerror}); "
            f"make it as a user who may write there: crowdpulse doctor --config {venue_file} "
            "--create-token"
        ) from None
    with os.fdopen(fd, "w") as fh:
        fh.write(token + "\n")
    return token
