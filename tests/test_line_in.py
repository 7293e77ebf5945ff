"""The gateway host's line-in as the music reference (gateway/linein.py).

No sound card exists here, so the stream is the one boundary replaced: it calls
the callback exactly as sounddevice.InputStream does (int16 frames of shape
(frames, 1), a CData time, sounddevice.CallbackFlags), from its own thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np
import pytest
import sounddevice

from crowdpulse.gateway import linein
from crowdpulse.sim.world import scene, signals
from wristband import packet

KEY = packet.band_key(bytes(range(32)), linein.BAND_ID)


class Stream:
    """Plays audio into the callback, 160 frames at a time, like PortAudio's thread."""

    def __init__(self, audio: np.ndarray, callback: Any) -> None:
        self.audio, self.callback = audio, callback
        self.thread = threading.Thread(target=self._play, daemon=True)
        self.done = threading.Event()

    def _play(self) -> None:
        for i in range(0, len(self.audio) - linein.FRAME + 1, linein.FRAME):
            block = self.audio[i : i + linein.FRAME].reshape(-1, 1)
            self.callback(block, linein.FRAME, None, sounddevice.CallbackFlags())
            time.sleep(0.0005)
        self.done.set()

    def __enter__(self) -> Stream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()


def test_line_in_sends_signed_reference_reports_of_what_it_hears() -> None:
    rng = np.random.default_rng(1)
    audio = signals.to_int16(signals.at_level(signals.pink_noise(6.0, rng), -20))
    got: list[tuple[bytes, int]] = []
    streams: list[Stream] = []

    def open_stream(device: str, callback: Any) -> Stream:
        streams.append(Stream(audio, callback))
        return streams[-1]

    li = linein.LineIn("hw:1,0", KEY, lambda r, t: got.append((r, t)), open_stream)
    li.start()
    deadline = time.monotonic() + 60
    while len(got) < 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    li.stop()
    assert li.state in ("listening", "stopped") or li.state.startswith("unavailable")
    assert len(got) >= 20 and li.overruns == 0
    reports = [
        packet.decode(r, KEY, packet.epoch_of(t / 1000)) for r, t in got
    ]  # the fields are masked on the air
    assert all(packet.verify(r, KEY) for r, _ in got)
    counters = [
        (r.seq - packet.seq_offset(KEY, packet.epoch_of(t / 1000))) & 0xFFFF
        for r, (_, t) in zip(reports, got, strict=True)
    ]
    assert all((b - a) & 0xFFFF == 1 for a, b in zip(counters, counters[1:], strict=False))
    # the levels read as on a band with the INMP441 calibration (a full-scale sine is 120 dB)
    want = 10 * np.log10(scene.a_weighted_ms(audio / 32768.0) / 0.5) + scene.SPL_OF_FULL_SCALE_SINE
    assert abs(float(np.median([r.laeq_db for r in reports[4:]])) - want) <= 1.0


def test_a_missing_device_is_one_line_and_no_reference(caplog: pytest.LogCaptureFixture) -> None:
    def open_stream(device: str, callback: Any) -> Any:
        raise sounddevice.PortAudioError("Error querying device hw:9,9")

    li = linein.LineIn("hw:9,9", KEY, lambda r, t: None, open_stream)
    with caplog.at_level("WARNING", logger="crowdpulse.gateway"):
        t = li.start()
        deadline = time.monotonic() + 10
        while not li.state.startswith("unavailable") and time.monotonic() < deadline:
            time.sleep(0.02)
        li.stop()
        t.join(5)
    assert li.state == "stopped" and li.reports == 0
    lines = [r.getMessage() for r in caplog.records if "line-in" in r.getMessage()]
    assert len(lines) == 1 and "hw:9,9" in lines[0] and "\n" not in lines[0]
