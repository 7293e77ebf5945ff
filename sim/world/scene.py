"""The acoustic scene a band hears, rendered cheaply for thousands of bands.

What reaches a band's microphone over a report interval is the sum of:
- the PA's music at the band's own level (set by distance, bodies, pocket),
  through the room, as every band hears it (one loop per tempo, all bands on
  the same beat grid, each a few ms late for its distance);
- the wearer's own claps when clapping, on the beat the band hears, nearly
  direct (the hands are a few tens of cm from the wrist);
- the crowd nearby: applause texture with power in proportion to the zone's
  clapping share, cheering voices in proportion to its cheering share (plus the
  wearer's own voice), singing when the wearer sings;
- a noise floor (ventilation, the microphone's own noise).

Every level comes from the acoustic model of the floor (sim/world/acoustics.py,
sources in docs/sim.md).  A music reference hears the same loops at line
level: the mix itself, dry, with no room and no crowd (`music_loop(dry=True)`).

Synthesizing all of that per band and interval would cost far more than the
DSP, so a `Bank` of short seamless loops is made once per process (from
sim/world/signals.py) and `render` mixes them per band with gains and offsets in
numba.  Levels are A-weighted dB SPL; the INMP441 reads -26 dBFS at 94 dB SPL
(the band's default `mic_sensitivity_cdb`), so dBFS = dB SPL - 120, the same
calibration the DSP uses.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numba
import numpy as np
import numpy.typing as npt

from crowdpulse.sim.world import signals

RATE = signals.RATE
FRAME = 160
SPL_OF_FULL_SCALE_SINE = 120.0  # 94 dB SPL - (-26 dBFS): the INMP441's sensitivity
LOOP_S = 4.0  # crowd textures: long enough that a band never hears a repeat it could lock onto
MUSIC_BEATS = 8
CLAP_LEN = signals.seconds(0.09)
F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

# Texture rows in Bank.textures.
APPLAUSE, CHEER, SING = 0, 1, 2


def a_weighted_ms(x: npt.NDArray[np.floating]) -> float:
    """Mean square after IEC 61672 A-weighting (frequency domain), full-scale units."""
    n = len(x)
    spec = np.fft.rfft(np.asarray(x, np.float64))
    f2 = np.fft.rfftfreq(n, 1 / RATE) ** 2
    ra = (12194.0**2 * f2**2) / (
        (f2 + 20.6**2) * np.sqrt((f2 + 107.7**2) * (f2 + 737.9**2)) * (f2 + 12194.0**2)
    )
    w = np.abs(spec * ra * 10 ** (2.0 / 20)) ** 2
    w[1:-1] *= 2  # one-sided spectrum: both halves but DC and Nyquist
    return float(w.sum() / n**2)


def amplitude(db_spl: float | F64) -> F64:
    """RMS (full-scale units) of a signal whose A-weighted mean square is 1 at this level."""
    return np.asarray(
        np.sqrt(0.5 * 10 ** ((np.asarray(db_spl, np.float64) - SPL_OF_FULL_SCALE_SINE) / 10))
    )


def _seamless(x: F64, start: int, length: int, fade: int) -> F64:
    """x[start:start+length] as a loop: the samples after its end are faded into its
    start (equal power), so wrapping round is as continuous as the source."""
    y = x[start : start + length].copy()
    w = np.sin(np.linspace(0, np.pi / 2, fade)) ** 2
    y[:fade] = np.sqrt(w) * y[:fade] + np.sqrt(1 - w) * x[start + length : start + length + fade]
    return y


def _unit_a(x: F64) -> F32:
    """Scaled to an A-weighted mean square of 1: a gain from amplitude() sets its level."""
    return np.asarray(x / np.sqrt(a_weighted_ms(x)), np.float32)


def sing_texture(dur: float, rng: np.random.Generator, voices: int = 8) -> F64:
    """A few voices singing the same tune: sustained vowels on the notes of a
    pentatonic line, with vibrato, slightly out of time and tune with each other."""
    n = signals.seconds(dur)
    t = np.arange(n) / RATE
    scale = np.array([0, 2, 4, 7, 9, 12])
    note_s = 0.5
    tune = rng.choice(scale, int(dur / note_s) + 2)
    out = np.zeros(n)
    from scipy import signal

    for _ in range(voices):
        late = rng.uniform(0, 0.08)
        k = np.clip(((t - late) / note_s).astype(int), 0, len(tune) - 1)
        base = rng.choice([130.0, 220.0]) * 2 ** (rng.normal(0, 0.2) / 12)
        f0 = (
            base
            * 2 ** (tune[k] / 12)
            * (1 + 0.01 * np.sin(2 * np.pi * 5.5 * t + rng.uniform(0, 6.3)))
        )
        ph = 2 * np.pi * np.cumsum(f0) / RATE
        v = sum(np.sin(h * ph) / h for h in range(1, 14)) + 0.05 * rng.standard_normal(n)
        for fc, q, g in ((rng.uniform(500, 750), 4.0, 1.0), (rng.uniform(1000, 1800), 5.0, 0.5)):
            b, a = signal.iirpeak(fc, q, fs=RATE)
            out += g * signal.lfilter(b, a, v) / rng.uniform(1.0, 4.0)
    return np.asarray(out)


@dataclass
class Bank:
    textures: F32  # (3, LOOP) applause, cheer, sing, each at unit A-weighted power
    noise: F32  # pink noise loop, unit A power (circular by construction)
    claps: F32  # (K, CLAP_LEN) the wearer's claps, unit A power over their first 30 ms
    seed: int

    @property
    def loop(self) -> int:
        return int(self.textures.shape[1])


@cache
def bank(seed: int = 20261124) -> Bank:
    """The loops every band mixes from (about 2 s to make, once per process)."""
    rng = np.random.default_rng(seed)
    n = signals.seconds(LOOP_S)
    fade = signals.seconds(0.05)
    app = signals.crowd_applause(LOOP_S + 1.2, rng, people=300)
    cheer = signals.crowd_cheer(LOOP_S + 3.2, rng, voices=40)  # voices swell in over the first ~3 s
    sing = signals.through_room(
        sing_texture(LOOP_S + 1.2, rng), signals.room_ir(rng, 0.9, drr_db=3.0)
    )
    tex = np.stack(
        [
            _unit_a(_seamless(app, signals.seconds(1.0), n, fade)),
            _unit_a(_seamless(cheer, signals.seconds(3.0), n, fade)),
            _unit_a(_seamless(sing, signals.seconds(1.0), n, fade)),
        ]
    )
    noise = _unit_a(signals.pink_noise(2.0, rng))
    w = signals.seconds(0.03)
    claps = []
    for _ in range(16):
        c = signals.through_room(
            signals.hand_clap(rng), signals.room_ir(rng, rng.uniform(0.5, 1.2), drr_db=15.0)
        )
        c = np.pad(c, (0, max(0, CLAP_LEN - len(c))))[:CLAP_LEN]
        # unit A power over the 30 ms from the onset (zero-padded so the FFT does not wrap)
        claps.append(c / np.sqrt(a_weighted_ms(np.pad(c[:w], (0, 4 * w))) * 5))
    return Bank(tex, noise, np.array(claps, np.float32), seed)


@cache
def music_loop(bpm: int, seed: int = 20261124, dry: bool = False) -> F32:
    """MUSIC_BEATS beats of drum-heavy music at this tempo, through the room (dry:
    the mix itself, as the booth's line output carries it), as a seamless loop at
    unit A-weighted power.  Cached per tempo; the dry loop is the same music."""
    # the same arrangement at every tempo: one track's sound, so that the fast model's
    # constants (measured at one tempo) hold for all; only the rhythm follows the tempo
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    x = signals.drum_music(beat * (2 * MUSIC_BEATS + 1), rng, bpm=float(bpm))
    room = signals.room_ir(rng, 0.9)
    x = x if dry else signals.through_room(x, room)
    start, end = signals.seconds(MUSIC_BEATS * beat), signals.seconds(2 * MUSIC_BEATS * beat)
    return _unit_a(_seamless(x, start, end - start, 64))


@numba.njit(nogil=True, cache=False)
def _hash01(a: int, b: int) -> float:
    """A deterministic uniform in [0, 1) from two ints (splitmix64 finaliser): the
    jitter and strength of clap k of band b, the same however the calls are cut."""
    z = (a * 0x9E3779B97F4A7C15 + b * 0xBF58476D1CE4E5B9 + 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    z = z ^ (z >> 31)
    return (z >> 11) / 9007199254740992.0


@numba.njit(nogil=True, cache=False)
def _add_loop(
    buf: F64, n: int, loop: F32, at: int, gain: float, first: bool
) -> None:  # pragma: no cover
    """buf[:n] (+)= gain * loop[at:], wrapping round the loop."""
    lp = len(loop)
    i = 0
    while i < n:
        m = min(n - i, lp - at)
        if first:
            for k in range(m):
                buf[i + k] = gain * loop[at + k]
        else:
            for k in range(m):
                buf[i + k] += gain * loop[at + k]
        i += m
        at = 0


@numba.njit(nogil=True, cache=False)
def _clap_span(
    p0: int, n: int, delay: int, length: int, beat: float, jitter: float
) -> tuple[int, int]:
    """The beats k whose clap can touch samples p0 .. p0+n (a clap lasts `length`)."""
    first = int(np.floor((p0 + delay - length - 3 * jitter) / beat))
    last = int(np.floor((p0 + n + delay + 3 * jitter) / beat)) + 1
    return first, last


@numba.njit(nogil=True, cache=False)
def _clap_at(b: int, k: int, beat: float, delay: int, jitter: float) -> int:
    """The sample at which band b's wearer claps on beat k (the beat as the band hears
    it, plus the wearer's own asynchrony: a sum of three uniforms, sd = jitter)."""
    u = _hash01(8 * b, k) + _hash01(8 * b + 1, k) + _hash01(8 * b + 2, k) - 1.5
    return int(k * beat - delay + 2.0 * jitter * u)


@numba.njit(nogil=True, cache=False)
def clap_onsets(
    out: I64,
    strength: F64,
    rows: I64,
    pos: I64,
    nsamp: I64,
    delay: I64,
    clapping: npt.NDArray[np.bool_],
    beat: float,
    jitter: float,
) -> None:  # pragma: no cover
    """out[j, :]: the samples (from pos[j]) at which band rows[j]'s wearer claps in its
    next nsamp[j] samples, -1 after the last; strength[j, :] a uniform 0-1 per clap.
    The same claps `render` mixes in: the IMU feels what the microphone hears."""
    out[:] = -1
    for j in range(len(rows)):
        if not clapping[j]:
            continue
        b, p0, n = rows[j], pos[j], nsamp[j]
        first, last = _clap_span(p0, n, delay[j], 0, beat, jitter)
        m = 0
        for k in range(first, last + 1):
            at = _clap_at(b, k, beat, delay[j], jitter) - p0
            if 0 <= at < n and m < out.shape[1]:
                out[j, m] = at
                strength[j, m] = _hash01(8 * b + 5, k)
                m += 1


@numba.njit(nogil=True, cache=False)
def render(
    out: npt.NDArray[np.int16],
    rows: I64,
    pos: I64,
    nsamp: I64,
    music: F32,
    g_music: F64,
    delay: I64,
    tex: F32,
    g_tex: F64,
    tex_off: I64,
    noise: F32,
    g_noise: F64,
    claps: F32,
    clapping: npt.NDArray[np.bool_],
    beat: float,
    clap_lo: float,
    clap_hi: float,
    jitter: float,
) -> None:  # pragma: no cover - compiled
    """out[j, :nsamp[j]]: band rows[j]'s microphone from its sample clock pos[j] on,
    as int16 (rounded and clipped like the I2S converter's top 16 bits)."""
    nc, lc = claps.shape[0], claps.shape[1]
    buf = np.zeros(out.shape[1])
    for j in range(len(rows)):
        b = rows[j]
        p0 = pos[j]
        n = nsamp[j]
        # one running index per loop, wrapped by a compare: a modulo per sample
        # would cost more than the mixing itself
        _add_loop(buf, n, noise, (p0 + tex_off[j, 0]) % len(noise), g_noise[j], True)
        if g_music[j] > 0:
            _add_loop(buf, n, music, (p0 + delay[j]) % len(music), g_music[j], False)
        for s in range(3):
            if g_tex[j, s] > 0:
                _add_loop(buf, n, tex[s], (p0 + tex_off[j, s]) % tex.shape[1], g_tex[j, s], False)
        if clapping[j]:
            # beats the band hears are at t = k*beat - delay; the wearer's claps land
            # on them, a little early or late, each its own strength
            first, last = _clap_span(p0, n, delay[j], lc, beat, jitter)
            for k in range(first, last + 1):
                at = _clap_at(b, k, beat, delay[j], jitter) - p0
                db = clap_lo + (clap_hi - clap_lo) * _hash01(8 * b + 3, k)
                g = np.sqrt(0.5 * 10.0 ** ((db - 120.0) / 10.0))
                c = int(_hash01(8 * b + 4, k) * nc)
                for i in range(max(at, 0), min(at + lc, n)):
                    buf[i] += g * claps[c, i - at]
        for i in range(n):
            x = np.floor(buf[i] * 32767.0 + 0.5)
            out[j, i] = 32767 if x > 32767 else (-32768 if x < -32768 else int(x))
