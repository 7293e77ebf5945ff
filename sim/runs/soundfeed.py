"""The sound each faithful band hears, mixed as it is fed (sim/runs/faithful.py).

Sound is mixed as it is fed, 50 ms at a time, from a few loops made once (the
PA's music per track, applause, cheering, the room's noise) and the wearer's
claps on the beat, so memory does not grow with the night.  It stays in RAM
and reaches each band through its loopback rig socket only.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crowdpulse.selector.library import Track
from crowdpulse.sim.runs.runner import SimRun
from crowdpulse.sim.world import scene, signals
from crowdpulse.sim.world.crowd import Actions, Crowd

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
RATE = scene.RATE


def _loop(x: F32, start: int, n: int) -> F32:
    i = start % len(x)
    if i + n <= len(x):
        return x[i : i + n]
    return np.concatenate((x[i:], x[: n - (len(x) - i)]))


@dataclass(frozen=True)
class Mix:
    """What every band hears now; replaced whole on each crowd step, so a band's
    feeding thread always reads one consistent mix."""

    music: F32 | None
    track_pos: int  # the global sample at which the track began
    g_music: F64  # per band: rms gain of each unit-A-power loop (sim/world/scene.py)
    g_tex: F64  # (bands, 3): applause, cheer, sing
    clapping: npt.NDArray[np.bool_]


class Mixer:
    """Each band's sound, mixed on demand by its feeding thread from the twin's
    sound bank (sim/world/scene.py), at the twin's levels: the same scene, so faithful
    and twin runs can be compared."""

    def __init__(self, run: SimRun) -> None:
        n = len(run.band_ids)
        self.run, self.lv = run, run.floor
        self.bank = scene.bank()
        self.origin = time.monotonic()
        rng = np.random.default_rng(run.sc.seed + 7)
        self.offset = rng.integers(0, self.bank.loop, (n, 3))  # each band's own neighbours
        self.clap_lag = np.round(rng.normal(0.0, self.lv.clap_jitter_ms / 1000, n) * RATE).astype(
            np.int64
        )
        self.clap_db = rng.uniform(
            self.lv.clap_db - self.lv.clap_spread_db, self.lv.clap_db + self.lv.clap_spread_db, n
        )
        self.pos = np.full(n, -1, np.int64)
        self.first = np.full(n, -1, np.int64)
        self.ref_pos = -1
        self._track: Track | None = None
        self._track_pos = 0
        self.mix = Mix(None, 0, np.zeros(n), np.zeros((n, 3)), np.zeros(n, bool))

    def now_sample(self) -> int:
        return int((time.monotonic() - self.origin) * RATE)

    def update(self, act: Actions) -> None:
        run, crowd, lv = self.run, self.run.crowd, self.lv
        if crowd.track is not self._track:
            self._track, self._track_pos = crowd.track, self.now_sample()
        music = scene.music_loop(int(round(crowd.track.bpm))) if crowd.track is not None else None
        zone, nz = run.zone_of, len(run.sc.zones)
        count = np.maximum(np.bincount(zone, weights=crowd.present, minlength=nz), 1)

        def share(x: npt.NDArray[np.bool_]) -> F64:
            return np.asarray((np.bincount(zone, weights=x, minlength=nz) / count)[zone])

        def power(db: float) -> float:
            return float(scene.amplitude(db)) ** 2

        g_tex = np.sqrt(
            np.stack(
                [
                    share(act.clapping) * power(lv.applause_db),
                    share(act.cheering) * power(lv.cheer_db)
                    + act.cheering * power(lv.own_voice_db),
                    act.singing * power(lv.sing_db),
                ],
                axis=1,
            )
        )
        g_music = (
            scene.amplitude(run.emitter.music_db) if music is not None else np.zeros(len(zone))
        )
        self.mix = Mix(music, self._track_pos, g_music, g_tex, act.clapping.copy())

    def block(self, b: int, n: int) -> npt.NDArray[np.int16]:
        """Band b's next n samples."""
        m, bank = self.mix, self.bank
        if self.pos[b] < 0:
            self.pos[b] = self.first[b] = self.now_sample()
        p = int(self.pos[b])
        self.pos[b] = p + n
        out = np.float32(scene.amplitude(self.lv.quiet_db)) * _loop(bank.noise, p, n)
        for s in range(3):
            if m.g_tex[b, s] > 0:
                out += np.float32(m.g_tex[b, s]) * _loop(
                    bank.textures[s], p + int(self.offset[b, s]), n
                )
        if m.music is not None:
            out += np.float32(m.g_music[b]) * _loop(m.music, p - m.track_pos, n)
            if m.clapping[b]:
                self._claps(out, b, p, m.track_pos, len(m.music) / scene.MUSIC_BEATS)
        return signals.to_int16(np.clip(out, -1.0, 1.0).astype(np.float64))

    def reference_block(self, n: int) -> npt.NDArray[np.int16]:
        """The music reference's next n samples: the mix itself, dry, at line level
        (the booth's output); silence between tracks."""
        m = self.mix
        if self.ref_pos < 0:
            self.ref_pos = self.now_sample()
        p, self.ref_pos = self.ref_pos, self.ref_pos + n
        if m.music is None or self._track is None:
            return np.zeros(n, np.int16)
        dry = scene.music_loop(int(round(self._track.bpm)), dry=True)
        out = np.float32(scene.amplitude(self.lv.line_db)) * _loop(dry, p - m.track_pos, n)
        return signals.to_int16(np.clip(out, -1.0, 1.0).astype(np.float64))

    def _claps(self, out: F32, b: int, p: int, track_pos: int, beat: float) -> None:
        """The wearer's claps on the beat, with the tail of one begun in the last block."""
        n, length = len(out), self.bank.claps.shape[1]
        start = track_pos + int(self.clap_lag[b])
        gain = np.float32(scene.amplitude(self.clap_db[b]))
        for k in range(
            max(0, int(np.ceil((p - length - start) / beat))), int((p + n - 1 - start) // beat) + 1
        ):
            at = start + int(k * beat)
            src, dst = max(0, p - at), max(0, at - p)
            size = min(length - src, n - dst)
            if size > 0:
                out[dst : dst + size] += (
                    gain * self.bank.claps[k % len(self.bank.claps), src : src + size]
                )


def actions_now(crowd: Crowd) -> Actions:
    """What the crowd does after a step, read without a new draw (Crowd.actions draws)."""
    t = crowd.track
    favourite = t is not None and t.id in crowd.favourites
    singing = crowd.present & (crowd.engagement > 0.45) & favourite
    return Actions(
        crowd.clapping_now & crowd.present,
        (crowd.cheer_left > 0) & crowd.present,
        singing,
        np.zeros(len(crowd)),
    )
