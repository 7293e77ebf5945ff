"""The real-recording harness on made-up inputs: no recordings needed
(tests/test_recordings.py uses them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from crowdpulse.sim.recordings import catalog, harness, targets
from crowdpulse.sim.runs import crowdscore
from crowdpulse.sim.world import signals

EXE = str(Path(sys.executable).parent / "crowdpulse")


def test_per_second_averages_each_second_of_audio_time() -> None:
    t0 = crowdscore.T0_MS
    snaps = [
        {"t": t0 + 100, "score": 40.0},
        {"t": t0 + 900, "score": 50.0},
        {"t": t0 + 1500, "score": None},
        {"t": t0 + 2100, "score": 70.0},
        {"t": t0 + 9999, "score": 99.0},
    ]
    assert harness.per_second(snaps, 3) == [45.0, None, 70.0]


def test_figures_read_music_before_and_during_from_their_windows() -> None:
    seconds: list[float | None] = (
        [None] * 5 + [90.0] * 5 + [40.0] * 20 + [30.0] * 10 + [70.0] * 3 + [80.0] * 17
    )
    f = harness.figures("e1-full-etw", seconds, onset_s=40, reference=False)
    assert (f.music_mean, f.music_min, f.music_max) == (pytest.approx(36.7, abs=0.05), 30.0, 40.0)
    assert (f.before, f.during, f.lift) == (30.0, 80.0, 50.0)
    assert f.event == catalog.FULL and f.bed == "lincity-pronobozo"


def _fig(
    night: str,
    music: float = 40.0,
    peak: float = 45.0,
    before: float = 40.0,
    during: float = 40.0,
    reference: bool = False,
) -> harness.Figures:
    plan = catalog.NIGHT_BY_NAME[night]
    return harness.Figures(
        night,
        plan.event,
        plan.bed,
        reference,
        music,
        music - 2,
        peak,
        before,
        during,
        round(during - before, 1),
        [],
    )


def test_targets_hold_only_at_the_issue_thresholds() -> None:
    good = [
        _fig("e1-full-etw", during=70.0),
        _fig("r2-full-etw", during=65.0),
        _fig("e1-light-tux", during=48.0),
        _fig("e3-rain", during=50.0),
        _fig("e1-voice", during=45.0),
    ]
    assert all(c.holds for c in targets.check(good).values())
    bad = [
        _fig("e1-full-etw", during=64.9),
        _fig("r2-full-etw", before=41.0, during=65.0),
        _fig("e1-light-tux", during=47.9),
        _fig("e3-rain", during=50.1, peak=55.1),
        _fig("e1-voice", music=24.9),
    ]
    got = targets.check(bad)
    assert got[targets.FULL_CROWD].failures == [
        "e1-full-etw: 64.9 (+24.9)",
        "r2-full-etw: 65.0 (+24.0)",
    ]
    assert got[targets.LIGHT_CROWD].failures == ["e1-light-tux: +7.9"]
    assert got[targets.CONFUSERS].failures == ["e3-rain: 50.1 (ceiling 49.9)"]
    assert got[targets.MUSIC_PEAK].failures == ["e3-rain: max 55.1"]
    assert got[targets.MUSIC_ALONE].failures == ["e1-voice: mean 24.9, min 22.9"]


def test_a_target_with_no_night_to_judge_does_not_hold() -> None:
    got = targets.check([_fig("e3-rain", during=20.0)])  # no full crowd to compare the rain with
    assert got[targets.CONFUSERS].checked == 0 and not got[targets.CONFUSERS].holds
    assert got[targets.MUSIC_ALONE].holds and not got[targets.FULL_CROWD].holds


def test_a_light_crowd_needs_12_points_with_a_reference() -> None:
    figs = [_fig("e1-light-tux", during=50.0, reference=True)]
    assert not targets.check(figs)[targets.LIGHT_CROWD].holds
    figs = [_fig("e1-light-tux", during=52.0, reference=True)]
    assert targets.check(figs)[targets.LIGHT_CROWD].holds


def test_the_adapter_runs_the_real_score_command(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    music = signals.to_int16(signals.drum_music(12, rng))
    soundfile.write(str(tmp_path / "MIX.wav"), music, 16000, subtype="PCM_16")
    soundfile.write(str(tmp_path / "MUSIC.wav"), music, 16000, subtype="PCM_16")
    snaps = harness.venue_snapshots(tmp_path / "MIX.wav", devices=6)
    seconds = harness.per_second(snaps, 12)
    assert all(v is not None and 0 <= v <= 100 for v in seconds[2:])
    if harness.accepts_reference():
        assert harness.venue_snapshots(tmp_path / "MIX.wav", 6, reference=tmp_path / "MUSIC.wav")
    else:
        with pytest.raises(harness.ReferenceUnsupportedError):
            harness.venue_snapshots(tmp_path / "MIX.wav", 6, reference=tmp_path / "MUSIC.wav")


@pytest.mark.parametrize(
    "args", [["score", "--devices", "0"], ["fetch", "--cache", "/dev/null/set"]]
)
def test_bad_input_gets_one_line_and_exit_2(args: list[str]) -> None:
    out = subprocess.run([EXE, "recordings", *args], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
