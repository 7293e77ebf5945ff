"""Bad input, counted by where it came in and why (/metrics:
crowdpulse_input_errors_total{source, reason}).

Every door of the gateway refuses bad input with one clear line and a safe
state; this keeps the count, so an operator sees a flood of junk on a topic,
a misbehaving console or a scanner at the HTTP port without reading logs.
Reasons are a short fixed vocabulary, never the input itself.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter


class InputErrors:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str]] = Counter()

    def count(self, source: str, reason: str) -> None:
        with self._lock:
            self._counts[(source, reason)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)


class LogCounter(logging.Handler):
    """Counts the gateway's own warnings and errors by level, for /metrics
    (crowdpulse_log_messages_total{level}): a soak or an operator can see that
    the log holds errors without reading it."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.counts[record.levelname.lower()] += 1
