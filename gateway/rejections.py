"""Rejected reports, in words: what each reason likely means, and a log that
says it once a minute at most.

The validator only counts (gateway/validate.py).  The gateway's log, its
health (`/api/health`, the console) and `crowdpulse doctor` all explain a
reason the same way, from this one table.
"""

from __future__ import annotations

import collections
import logging
from dataclasses import dataclass

# reason -> (what the reports are, the likely cause and fix, serious: shown as a problem)
MEANING: dict[str, tuple[str, str, bool]] = {
    "unknown_id": (
        "from unknown bands",
        "wrong venue key (the bands were provisioned with another key than [keys] names), "
        "or bands missing from the venue file",
        True,
    ),
    "bad_tag": (
        "with a bad tag",
        "bands provisioned with another venue key, or forged reports",
        True,
    ),
    "format": (
        "that do not decode",
        "bands or relays with other firmware (wire format version), or something else "
        "publishing on the report topics",
        True,
    ),
    "stale": (
        "too old or from the future",
        "a band's or relay's clock is off: check time on the gateway host (chronyc tracking) "
        "and that bands reach it (chronyc clients)",
        False,
    ),
    "replay": (
        "older than the band's last one",
        "normal after a band restarts; many: someone replays captured adverts",
        False,
    ),
    "rate": ("faster than the band's declared rate", "a faulty band, or forged reports", False),
    "duplicate": ("heard twice", "normal: several relays heard the same advert", False),
}
QUIET = ("duplicate",)  # counted, never logged: several relays hearing a band is the design


def describe(reason: str, n: int) -> str:
    """'93 reports from unknown bands: wrong venue key ... or bands missing ...'"""
    what, why, _ = MEANING.get(
        reason, (f"rejected ({reason})", "see docs/troubleshooting.md", False)
    )
    return f"{n} report{'s' if n != 1 else ''} {what}: {why}"


def serious(reason: str) -> bool:
    return MEANING.get(reason, ("", "", True))[2]


@dataclass
class _Said:
    at: float  # when the last line for this reason was logged
    total: int  # the count it had then


class RejectionLog:
    """Windowed counts of rejections by reason, and rate-limited log lines.

    `update` takes the validator's running totals (any cadence); `recent` gives
    the rejections of the last `window_s`; `lines` gives, per reason, at most
    one line every `every_s`, saying how many since the last line."""

    def __init__(self, window_s: float = 60.0, every_s: float = 60.0) -> None:
        self.window_s = window_s
        self.every_s = every_s
        self._samples: collections.deque[tuple[float, dict[str, int]]] = collections.deque()
        self._said: dict[str, _Said] = {}

    def update(self, totals: dict[str, int], now: float) -> None:
        self._samples.append((now, dict(totals)))
        while len(self._samples) > 2 and self._samples[1][0] <= now - self.window_s:
            self._samples.popleft()

    def recent(self) -> dict[str, int]:
        """Rejections by reason within the window (reasons with none left out)."""
        if not self._samples:
            return {}
        (_, old), (_, new) = self._samples[0], self._samples[-1]
        return {r: n - old.get(r, 0) for r, n in new.items() if n - old.get(r, 0) > 0}

    def lines(self, now: float) -> list[str]:
        """Log lines due now: the first rejection of a reason at once, then once per `every_s`."""
        if not self._samples:
            return []
        totals, out = self._samples[-1][1], []
        for reason, total in totals.items():
            said = self._said.get(reason)
            if (
                reason in QUIET
                or total == 0
                or (said and (total == said.total or now - said.at < self.every_s))
            ):
                continue
            n = total - (said.total if said else 0)
            since = f" in the last {now - said.at:.0f} s" if said else ""
            out.append(
                f"rejected {describe(reason, n).replace(': ', since + ': ', 1)} "
                "(crowdpulse doctor explains more)"
            )
            self._said[reason] = _Said(now, total)
        return out


def log_due(log: RejectionLog, logger: logging.Logger, now: float) -> None:
    for line in log.lines(now):
        logger.warning("%s", line)
