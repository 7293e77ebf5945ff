"""`crowdpulse features` and `crowdpulse bench dsp` from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from crowdpulse.sim.world import signals

EXE = str(Path(sys.executable).parent / "crowdpulse")


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    """3 s: a 1 kHz tone at 94 dB SPL, then applause (float, 16 kHz)."""
    rng = np.random.default_rng(5)
    return np.concatenate(
        [signals.tone(1000, 1.5, -26.0), signals.crowd_applause(1.5, rng, dbfs=-20.0)]
    )


def _lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


def test_features_of_a_16k_mono_wav(tmp_path: Path, scene: np.ndarray) -> None:
    path = tmp_path / "scene.wav"
    soundfile.write(path, signals.to_int16(scene), 16000, subtype="PCM_16")
    out = cli("features", str(path))
    assert out.returncode == 0, out.stderr
    reports = _lines(out.stdout)
    assert [r["t"] for r in reports[:3]] == [0.0, 0.25, 0.5]
    assert reports[3]["laeq_db"] == 94.0 and reports[3]["interval_ms"] == 250
    assert max(r["diagnostics"]["applause"] for r in reports[-4:]) > 0.5
    assert "converted" not in out.stderr


@pytest.mark.parametrize(
    "rate,channels,subtype",
    [(44100, 2, "FLOAT"), (48000, 1, "PCM_24"), (22050, 2, "PCM_32"), (8000, 1, "PCM_16")],
)
def test_any_common_wav_is_converted_first(
    tmp_path: Path, rate: int, channels: int, subtype: str
) -> None:
    t = np.arange(int(rate * 1.5)) / rate
    x = 10 ** (-26 / 20) * np.sin(2 * np.pi * 1000 * t)
    path = tmp_path / "in.wav"
    soundfile.write(path, np.stack([x] * channels, axis=1), rate, subtype=subtype)
    out = cli("features", str(path))
    assert out.returncode == 0, out.stderr
    assert "to 16000 Hz mono" in out.stderr and str(rate) in out.stderr
    assert abs(_lines(out.stdout)[3]["laeq_db"] - 94.0) <= 0.5


def test_micropython_runtime_gives_the_same_reports(tmp_path: Path, scene: np.ndarray) -> None:
    path = tmp_path / "scene.wav"
    soundfile.write(path, signals.to_int16(scene), 16000, subtype="PCM_16")
    twin = cli("features", str(path), "--runtime", "numpy")
    band = cli("features", str(path), "--runtime", "micropython", "--mic-sensitivity", "-26")
    assert band.returncode == 0, band.stderr
    assert band.stdout == twin.stdout and band.stdout


def test_mic_sensitivity_shifts_levels(tmp_path: Path, scene: np.ndarray) -> None:
    path = tmp_path / "scene.wav"
    soundfile.write(path, signals.to_int16(scene), 16000)
    out = cli("features", str(path), "--mic-sensitivity", "-36")
    assert _lines(out.stdout)[3]["laeq_db"] == 104.0


@pytest.mark.parametrize("content", [None, b"", b"this is not audio\n" * 50, b"RIFF\x00\x00"])
def test_bad_files_get_one_line_and_exit_2(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "bad.wav"
    if content is not None:
        path.write_bytes(content)
    out = cli("features", str(path))
    assert out.returncode == 2
    assert out.stdout == ""
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr


def test_bench_dsp_json() -> None:
    out = cli("bench", "dsp", "--json", "--frames", "1000", timeout=600)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    for key in (
        "rt_factor_micropython",
        "alloc_bytes_per_frame",
        "twin_band_seconds_per_second",
        "esp32_core_share",
    ):
        assert isinstance(result[key], float), key
    assert result["alloc_bytes_per_frame"] == 0.0 and result["alloc_frame_path_bytes"] == 0
    assert result["reports"] == 1000 // 25 and result["alloc_bytes_per_report"] > 0
    assert result["rt_factor_micropython"] > 0
