"""Twin mode: each band's report comes from its scene's audio through the DSP twin.

`TwinEmitter` has the fast `Emitter`'s interface, so the runner does not care
which it has.  For each band that reports, the audio it heard since its last
report (sim/world/scene.py) runs through the firmware's own filter and feature
kernels (sim/bands/twin.py: the very source files, compiled by numba), and the
firmware's own `Pipeline.finish` turns the interval's sums into field codes.
Each band keeps its own pipeline state (rows of three arrays), so bands are
independent: background trackers, clap detector and warm-up are per band.

Cost: one numba call renders the audio of every reporting band, one more runs
the kernels over it; only `finish` (11 small-int codes per report) is per
report in Python.  `throughput()` measures it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from crowdpulse.sim.bands import twin
from crowdpulse.sim.bands.emit import F64, Calibration, Emitter, interval_code
from crowdpulse.sim.world import scene
from crowdpulse.sim.world.acoustics import Floor
from crowdpulse.sim.world.crowd import Actions
from crowdpulse.sim.world.imu import ImuTwin
from wristband import packet

I64 = npt.NDArray[np.int64]


def _kernel() -> Callable[..., None]:
    """The frame loop of `wristband.dsp.Pipeline.process`, over many bands and
    frames in one compiled call.  It is the only restated firmware logic here
    (the copy of the frame energies into the feature state);
    tests/test_sim_calibration.py proves it bit-identical to `Pipeline.process`."""
    m = twin.modules()
    core, feat, spec = m["dspcore"], m["dspfeat"], m["dspspec"]
    filter_frame, subblocks, frame, push = core.filter_frame, feat.subblocks, feat.frame, spec.push
    sb_dec = core.SB_DEC
    s_fa_hi, s_fa_lo, s_fv_hi, s_fv_lo = core.S_FA_HI, core.S_FA_LO, core.S_FV_HI, core.S_FV_LO
    d_fa_hi, d_fa_lo, d_fv_hi, d_fv_lo = feat.D_FA_HI, feat.D_FA_LO, feat.D_FV_HI, feat.D_FV_LO
    d_event, fl = feat.D_EVENT, scene.FRAME

    @numba.njit(nogil=True)
    def run(
        audio: Any, rows: Any, frames: Any, st: Any, sb: Any, dt: Any, sw: Any, stt: Any, event: Any
    ) -> None:
        for j in range(len(rows)):
            b = rows[j]
            s, q, d, w, t = st[b], sb[b], dt[b], sw[b], stt[b]
            for f in range(frames[j]):
                n = filter_frame(audio[j, f * fl : (f + 1) * fl], s, q, fl)
                subblocks(q, d, n)
                d[d_fa_hi] = s[s_fa_hi]
                d[d_fa_lo] = s[s_fa_lo]
                d[d_fv_hi] = s[s_fv_hi]
                d[d_fv_lo] = s[s_fv_lo]
                s[s_fa_hi] = 0
                s[s_fa_lo] = 0
                s[s_fv_hi] = 0
                s[s_fv_lo] = 0
                frame(d, fl)
                push(q, sb_dec, fl // 4, w, t)
                if d[d_event] != 0:
                    event[j] = True

    return run


_KERNEL: Callable[..., None] | None = None


def kernel() -> Callable[..., None]:
    global _KERNEL
    if _KERNEL is None:
        _KERNEL = _kernel()
    return _KERNEL


class _Pipes:
    """The DSP state of n bands (rows of the filter, sub-block, feature and spectral
    arrays): each band's own background trackers, clap detector and warm-up."""

    def __init__(self, n: int) -> None:
        m = twin.modules()
        self.st = np.zeros((n, m["dspcore"].N_FILTER), np.int64)
        self.sb = np.zeros((n, m["dspcore"].SB_LEN), np.int64)
        self.dt = np.zeros((n, m["dspfeat"].N_STATE), np.int64)
        self.spec_w = np.tile(m["dspspec"].work(), (n, 1))
        self.spec_t = np.zeros((n, m["dspspec"].N_STATE), np.int64)

    def run(self, audio: npt.NDArray[np.int16], rows: I64, frames: I64) -> npt.NDArray[np.bool_]:
        """The frame loop over each band's audio; which bands' event trigger fired."""
        fired = np.zeros(len(rows), bool)
        kernel()(audio, rows, frames, self.st, self.sb, self.dt, self.spec_w, self.spec_t, fired)
        return fired

    def finish(
        self, pipe: Any, b: int, interval_ms: int, motion: int, imu_claps: int, flags: int
    ) -> npt.NDArray[np.uint8]:
        """The firmware's own `Pipeline.finish`, on band b's rows."""
        pipe.st, pipe.dt = self.st[b], self.dt[b]
        pipe.spec_w, pipe.spec_t = self.spec_w[b], self.spec_t[b]
        return np.array(
            pipe.finish(interval_ms, motion, imu_claps, packet.BATTERY_UNKNOWN, flags), np.uint8
        )  # a copy


class TwinEmitter(Emitter):
    """Per-band report codes from synthesized audio through the DSP twin."""

    def __init__(
        self,
        person: npt.NDArray[np.int64],
        music_db: F64,
        rng: np.random.Generator,
        imu: npt.NDArray[np.bool_] | None = None,
        cal: Calibration | None = None,
        floor: Floor | None = None,
        sensitivity_cdb: int = -2600,
    ) -> None:
        super().__init__(person, music_db, rng, imu, cal, floor)
        n = len(person)
        self.bank = scene.bank()
        # spawned, not drawn: the crowd's generator moves on exactly as in fast mode
        self.scene_rng = rng.spawn(1)[0]
        r = self.scene_rng
        self.pos = np.zeros(n, np.int64)  # each band's sample clock: audio heard so far
        self.delay = r.integers(0, int(self.floor.pa_delay_max_ms * 16) + 1, n).astype(np.int64)
        self.tex_off = r.integers(0, self.bank.loop, (n, 3)).astype(np.int64)
        self.pipes = _Pipes(n)
        self.imu_twin = ImuTwin(self.imu, self.floor, r)
        # the music reference: the dry mix at line level, through its own pipeline
        self.ref_pipes = _Pipes(1)
        self.ref_pos = np.zeros(1, np.int64)
        # finish() is the firmware's; it runs on one Pipeline pointed at each band's rows
        self.pipe = twin.pipeline(sensitivity_cdb)

    def gains(
        self, idx: I64, act: Actions, clap_share: F64, cheer_share: F64, music_on: bool
    ) -> tuple[F64, F64, F64]:
        """(music, textures (n, 3), noise) amplitudes for these bands' scenes."""
        fl, p, n = self.floor, self.person[idx], len(idx)
        music = scene.amplitude(self.music_db[idx]) if music_on else np.zeros(n)
        tex = np.zeros((n, 3))
        tex[:, scene.APPLAUSE] = scene.amplitude(fl.applause_db) * np.sqrt(clap_share)
        # powers add: the crowd's voices in proportion to how many cheer, plus the wearer's
        cheer = cheer_share * 10 ** (fl.cheer_db / 10) + act.cheering[p] * 10 ** (
            fl.own_voice_db / 10
        )
        tex[:, scene.CHEER] = scene.amplitude(10 * np.log10(np.maximum(cheer, 1e-3)))
        tex[:, scene.CHEER] *= cheer > 0
        tex[:, scene.SING] = scene.amplitude(fl.sing_db) * act.singing[p]
        return music, tex, np.full(n, float(scene.amplitude(fl.quiet_db)))

    def audio(
        self,
        idx: I64,
        act: Actions,
        clap_share: F64,
        cheer_share: F64,
        frames: I64,
        bpm: float,
        music_on: bool,
    ) -> npt.NDArray[np.int16]:
        """What each band in idx hears over its next frames[j] frames (int16)."""
        fl, b = self.floor, self.bank
        music, tex, noise = self.gains(idx, act, clap_share, cheer_share, music_on)
        loop = scene.music_loop(int(round(bpm)))
        out = np.zeros((len(idx), int(frames.max(initial=1)) * scene.FRAME), np.int16)
        scene.render(
            out,
            idx,
            self.pos[idx],
            frames * scene.FRAME,
            loop,
            music,
            self.delay[idx],
            b.textures,
            tex,
            self.tex_off[idx],
            b.noise,
            noise,
            b.claps,
            self._clapping(idx, act, music_on),
            len(loop) / scene.MUSIC_BEATS,
            fl.clap_db - fl.clap_spread_db,
            fl.clap_db + fl.clap_spread_db,
            fl.clap_jitter_ms * 16.0,
        )
        return out

    def _clapping(self, idx: I64, act: Actions, music_on: bool) -> npt.NDArray[np.bool_]:
        return np.asarray(act.clapping[self.person[idx]] & music_on)

    def codes(
        self,
        idx: npt.NDArray[np.int64],
        act: Actions,
        zone_clap_share: F64,
        zone_cheer_share: F64,
        zone_of_band: npt.NDArray[np.int32],
        interval_s: F64,
        bpm: float,
        music_on: bool,
        event: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.uint8]:
        """Codes (len(idx), N_CODES): the band's own pipeline over the audio since
        its last report."""
        idx = np.asarray(idx, np.int64)
        n = len(idx)
        out = np.zeros((n, packet.N_CODES), np.uint8)
        if n == 0:
            return out
        zb = zone_of_band[idx]
        frames = np.broadcast_to(interval_code(interval_s), (n,)).copy()
        audio = self.audio(
            idx, act, zone_clap_share[zb], zone_cheer_share[zb], frames, bpm, music_on
        )
        motion, impacts = self._imu(idx, act, frames, bpm, music_on)
        fired = self.pipes.run(audio, idx, frames)
        self.pos[idx] += frames * scene.FRAME
        # The band's Schedule reports at once when its event fires; here the runner
        # sets the report times, so the report that covers the event carries the flag
        # (and so does a report the runner cut early for a reaction, as a band would).
        flags = np.where(fired | event, packet.FLAG_EVENT, 0)
        for j in range(n):
            out[j] = self.pipes.finish(
                self.pipe,
                int(idx[j]),
                int(frames[j]) * packet.INTERVAL_STEP_MS,
                int(motion[j]),
                int(impacts[j]),
                int(flags[j]),
            )
        return out

    def _imu(
        self, idx: I64, act: Actions, frames: I64, bpm: float, music_on: bool
    ) -> tuple[I64, I64]:
        """The IMU's two fields, from the claps the scene puts in these bands' audio."""
        loop = scene.music_loop(int(round(bpm)))
        claps_at = np.zeros((len(idx), 16), np.int64)
        strength = np.zeros((len(idx), 16))
        scene.clap_onsets(
            claps_at,
            strength,
            idx,
            self.pos[idx],
            frames * scene.FRAME,
            self.delay[idx],
            self._clapping(idx, act, music_on),
            len(loop) / scene.MUSIC_BEATS,
            self.floor.clap_jitter_ms * 16.0,
        )
        return self.imu_twin.codes(
            idx, frames, act.motion_g[self.person[idx]], bpm, claps_at, strength
        )

    def reference_codes(
        self, interval_s: float, bpm: float, music_on: bool, level_db: float
    ) -> npt.NDArray[np.uint8]:
        """The music reference: the scene's music only, dry (the mix, not the room), at
        line level, through its own pipeline.  Between tracks the line is silent."""
        frames = interval_code(np.array([interval_s]))
        n = int(frames[0]) * scene.FRAME
        audio = np.zeros((1, n), np.int16)
        if music_on:
            loop = scene.music_loop(int(round(bpm)), dry=True)
            zero = np.zeros(1)
            scene.render(
                audio,
                np.zeros(1, np.int64),
                self.ref_pos,
                frames * scene.FRAME,
                loop,
                np.atleast_1d(scene.amplitude(level_db)),
                np.zeros(1, np.int64),
                self.bank.textures,
                np.zeros((1, 3)),
                np.zeros((1, 3), np.int64),
                self.bank.noise,
                zero,
                self.bank.claps,
                np.zeros(1, bool),
                len(loop) / scene.MUSIC_BEATS,
                0.0,
                0.0,
                0.0,
            )
        fired = self.ref_pipes.run(audio, np.zeros(1, np.int64), frames)
        self.ref_pos += n
        flags = packet.FLAG_EVENT if fired[0] else 0
        return self.ref_pipes.finish(
            self.pipe, 0, int(frames[0]) * packet.INTERVAL_STEP_MS, packet.MOTION_ABSENT, 0, flags
        )[None, :]


def throughput(bands: int = 2000, seconds: float = 10.0, seed: int = 1) -> dict[str, float]:
    """Band-seconds of audio per wall second through codes(), called as the runner
    does (a fifth of the bands every 50 ms, 250 ms each), on a busy scene: music,
    a fifth of the wearers clapping, a third of the zone clapping, some cheering."""
    rng = np.random.default_rng(seed)
    em = TwinEmitter(np.arange(bands), rng.uniform(85, 98, bands), rng)
    act = Actions(
        rng.random(bands) < 0.2,
        rng.random(bands) < 0.05,
        rng.random(bands) < 0.1,
        np.full(bands, 0.3),
    )
    zone = np.zeros(bands, np.int32)
    clap, cheer = np.array([0.33]), np.array([0.1])
    group = np.arange(bands) % 5

    def step(k: int) -> None:
        idx = np.flatnonzero(group == k % 5)
        em.codes(
            idx,
            act,
            clap,
            cheer,
            zone,
            np.full(len(idx), 0.25),
            124.0,
            True,
            np.zeros(len(idx), bool),
        )

    for k in range(5):  # compile and warm the caches
        step(k)
    steps = int(seconds / 0.05)
    t0 = time.perf_counter()
    for k in range(steps):
        step(k)
    wall = time.perf_counter() - t0
    return {
        "bands": bands,
        "audio_s": seconds,
        "wall_s": round(wall, 3),
        "band_seconds_per_second": round(bands * seconds / wall, 1),
    }
