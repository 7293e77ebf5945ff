"""Rejected reports in words, and the gateway's log of them: the first rejection
of a reason is said at once, then at most once a minute with the count since.
Time is passed in, so nothing here depends on the clock."""

from __future__ import annotations

from crowdpulse.gateway import rejections
from crowdpulse.gateway.validate import REASONS


def test_every_reason_the_validator_counts_has_words_and_a_fix() -> None:
    for reason in REASONS:
        line = rejections.describe(reason, 93)
        what, fix = line.split(": ", 1)
        assert what.startswith("93 reports ") and len(fix) > 20
    assert "wrong venue key" in rejections.describe("unknown_id", 2)
    assert rejections.serious("unknown_id") and not rejections.serious("duplicate")


def test_each_reason_is_logged_once_then_at_most_once_a_minute() -> None:
    log = rejections.RejectionLog(window_s=60, every_s=60)
    totals = dict.fromkeys(REASONS, 0)
    said: list[tuple[float, str]] = []
    for second in range(0, 200):
        totals["unknown_id"] += 4  # four refused reports a second, for 200 s
        totals["duplicate"] += 10  # normal: never logged
        if second == 100:
            totals["stale"] += 1
        log.update(totals, float(second))
        said += [(second, line) for line in log.lines(float(second))]
    unknown = [(t, line) for t, line in said if "unknown bands" in line]
    assert [t for t, _ in unknown] == [0, 60, 120, 180]
    assert unknown[0][1].startswith("rejected 4 reports from unknown bands: wrong venue key")
    assert unknown[1][1].startswith("rejected 240 reports from unknown bands in the last 60 s")
    assert [line for _, line in said if "too old" in line] == [
        "rejected 1 report too old or from the future: a band's or relay's clock is off: "
        "check time on the gateway host (chronyc tracking) and that bands reach it "
        "(chronyc clients) (crowdpulse doctor explains more)"
    ]
    assert not [line for _, line in said if "heard twice" in line]
    assert log.recent()["unknown_id"] == 240  # the last minute's, for /api/health
    assert "stale" not in log.recent()  # long ago
