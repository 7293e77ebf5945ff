"""The gateway host's own line-in as the music reference.

Wire the mixer's booth or record output to the host's line input; this reads
it with `sounddevice` (PortAudio over ALSA), runs the band's own DSP on it
through the twin (sim/bands/twin.py: the firmware's source files), cuts reports with
the firmware's `Schedule`, signs them as the venue's line-in reference band
and hands them to the engine, exactly as if a reference band at the booth had
sent them.  Audio stays in this process's RAM, frame by frame; nothing is
written or sent but the 23-byte reports (docs/privacy.md).

Any failure to open or read the device is one log line; the gateway goes on
without a reference (the console says so) and tries again every 30 s.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from wristband import packet
from wristband.schedule import Schedule

log = logging.getLogger("crowdpulse.gateway")
BAND_ID = "line-in"
RATE = 16000
FRAME = 160
RETRY_S = 30.0
# A line-level signal has no SPL: any fixed calibration will do, because the
# gateway fits each band's coupling to the reference (gateway/reference.py).
SENSITIVITY_CDB = -2600

Sink = Callable[[bytes, int], None]  # (report, arrival ms)


def _open_stream(device: str, callback: Callable[..., None]) -> Any:
    import sounddevice  # PortAudio is loaded here, not at import: no line-in, no need

    return sounddevice.InputStream(
        device=device or None,
        samplerate=RATE,
        channels=1,
        dtype="int16",
        blocksize=FRAME,
        callback=callback,
    )


class LineIn:
    """Reads the line-in and emits signed reference reports to sink."""

    def __init__(
        self,
        device: str,
        key: bytes,
        sink: Sink,
        open_stream: Callable[[str, Callable[..., None]], Any] = _open_stream,
        clock: Callable[[], float] = time.time,
    ) -> None:
        from crowdpulse.sim.bands import twin

        self.device = device
        self.key = key
        self.sink = sink
        self.open_stream = open_stream
        self.clock = clock
        self.pipe = twin.pipeline(SENSITIVITY_CDB)
        # compile the twin's kernels now: a first frame must not wait for numba
        self.pipe.process(np.zeros(FRAME, np.int16))
        self.pipe.finish(10)
        self.sched = Schedule(250)
        self.counter = int(np.random.default_rng().integers(0, 65536))
        self.frames: queue.Queue[npt.NDArray[np.int16]] = queue.Queue(maxsize=200)
        self.stop_event = threading.Event()
        self.state = "starting"
        self.reports = 0
        self.overruns = 0

    def _callback(
        self, indata: npt.NDArray[np.int16], frames: int, _time: Any, status: Any
    ) -> None:
        # PortAudio's thread: copy the frame and leave at once
        if status:
            self.overruns += 1
        try:
            self.frames.put_nowait(np.array(indata[:, 0] if indata.ndim == 2 else indata, np.int16))
        except queue.Full:
            self.overruns += 1

    def process(self, frame: npt.NDArray[np.int16]) -> None:
        """One 10 ms frame through the band's pipeline; a report when one is due."""
        self.pipe.process(frame)
        event = self.pipe.event()
        ms = self.sched.frame(event)
        if ms:
            codes = self.pipe.finish(ms, flags=packet.FLAG_EVENT if event else 0)
            now = self.clock()
            report = packet.encode_codes(self.key, packet.epoch_of(now), self.counter, codes)
            self.counter = (self.counter + 1) & 0xFFFF
            self.reports += 1
            self.sink(report, int(now * 1000))

    def run(self) -> None:
        """Until stop(): open the device, process what it hears, reopen after a failure."""
        while not self.stop_event.is_set():
            try:
                with self.open_stream(self.device, self._callback):
                    self.state = "listening"
                    log.info(
                        "line-in reference: listening on %s", self.device or "the default input"
                    )
                    self._drain()
            except Exception as exc:  # PortAudio raises its own error types; all mean "no line-in"
                self.state = f"unavailable: {exc}"
                log.warning(
                    "line-in reference unavailable (%s); retrying in %.0f s",
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__,
                    RETRY_S,
                )
                self.stop_event.wait(RETRY_S)
        self.state = "stopped"

    def _drain(self) -> None:
        quiet = 0
        while not self.stop_event.is_set():
            try:
                frame = self.frames.get(timeout=0.5)
            except queue.Empty:
                quiet += 1
                if quiet >= 10:  # 5 s with no audio: the stream is dead, reopen it
                    raise RuntimeError("no audio from the line-in for 5 s") from None
                continue
            quiet = 0
            if len(frame) == FRAME:
                self.process(frame)

    def start(self) -> threading.Thread:
        t = threading.Thread(target=self.run, name="line-in", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self.stop_event.set()
