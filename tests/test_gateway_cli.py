"""`crowdpulse score` and `crowdpulse bench ingest` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile

from crowdpulse.sim.world import clapset, signals

EXE = str(Path(sys.executable).parent / "crowdpulse")


def test_score_prints_ticks_and_a_summary(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    wav = tmp_path / "set.wav"
    soundfile.write(
        wav, signals.to_int16(signals.at_level(clapset.music_at_band(8.0, rng), -18)), 16000
    )
    out = subprocess.run(
        [EXE, "score", str(wav), "--devices", "12", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    ticks, summary = lines[:-1], lines[-1]
    assert len(ticks) >= 60 and all("zones" in t for t in ticks)
    assert summary["summary"] is True and summary["devices"] == 12
    assert 30 <= summary["mean"] <= 45 and summary["p10"] <= summary["mean"] <= summary["p90"]
    assert summary["accepted"] > 0 and sum(summary["rejected"].values()) == 0


def test_score_refuses_bad_files(tmp_path: Path) -> None:
    bad = tmp_path / "x.wav"
    bad.write_text("not audio")
    out = subprocess.run([EXE, "score", str(bad)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1


def test_bench_ingest_json() -> None:
    out = subprocess.run(
        [EXE, "bench", "ingest", "--json", "--seconds", "3"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    keys = ("batched_reports_per_s", "direct_ratio_vs_mosquitto_sub", "tick_p99_ms")
    for key in (*keys, "tick_p99_reference_ms"):
        assert isinstance(result[key], float) and result[key] > 0, key
