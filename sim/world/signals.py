"""Synthetic sound for tests and simulation: what a wristband would hear.

Everything is float at 16 kHz, in "full-scale units" (1.0 = int16 full scale),
made from a seeded numpy Generator so that every set is reproducible.  The
models follow the acoustics, not the detector: hand claps after Repp (1987) and
Peltola et al. (2007) -- a short resonant noise burst, 0.5-1 ms attack, 5-30 ms
decay; drum-machine claps as the TR-808/909 do them (three or four retriggered
bursts and a long tail); music and crowds reach a band through a room (a
reverberant tail) while the wearer's own claps arrive direct.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import signal

RATE = 16000
Audio = npt.NDArray[np.float64]


def seconds(n: float) -> int:
    return int(round(n * RATE))


def _arr(x: object) -> Audio:
    return np.asarray(x, dtype=np.float64)


def db_to_gain(db: float) -> float:
    return float(10 ** (db / 20))


def rms_dbfs(x: Audio) -> float:
    """Level re a full-scale sine (AES17), as a sound level meter would read it."""
    ms = float(np.mean(np.square(x)))
    return float(10 * np.log10(max(ms, 1e-30) / 0.5))


def at_level(x: Audio, dbfs: float) -> Audio:
    return x * db_to_gain(dbfs - rms_dbfs(x))


def to_int16(x: Audio) -> npt.NDArray[np.int16]:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def tone(freq: float, dur: float, dbfs: float = -26.0) -> Audio:
    t = np.arange(seconds(dur)) / RATE
    return db_to_gain(dbfs) * np.sin(2 * np.pi * freq * t)


def pink_noise(dur: float, rng: np.random.Generator, dbfs: float = -26.0) -> Audio:
    n = seconds(dur)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / RATE)
    f[0] = f[1]
    return at_level(_arr(np.fft.irfft(spec / np.sqrt(f), n)), dbfs)


def _bandpass(x: Audio, fc: float, q: float) -> Audio:
    b, a = signal.iirpeak(min(fc, RATE / 2 * 0.95), q, fs=RATE)
    return _arr(signal.lfilter(b, a, x))


def hand_clap(rng: np.random.Generator) -> Audio:
    """One clap: a resonant burst, its centre set by how the hands are held."""
    n = seconds(0.06)
    t = np.arange(n) / RATE
    tau = rng.uniform(0.002, 0.007)
    attack = rng.uniform(0.0003, 0.001)
    env = np.minimum(t / attack, 1.0) * np.exp(-np.maximum(t - attack, 0) / tau)
    burst = rng.standard_normal(n) * env
    res = _bandpass(burst, rng.uniform(700, 2500), rng.uniform(1.5, 4.0))
    x = 0.7 * res / np.max(np.abs(res)) + 0.3 * burst / np.max(np.abs(burst))
    return _arr(x / np.max(np.abs(x)))


def machine_clap(rng: np.random.Generator) -> Audio:
    """TR-808/909 style clap: three or four retriggered bursts, then a tail."""
    n = seconds(0.35)
    t = np.arange(n) / RATE
    env = np.zeros(n)
    gap = rng.uniform(0.008, 0.012)
    for k in range(int(rng.integers(3, 5))):
        tk = np.maximum(t - k * gap, 0)
        env = np.maximum(env, (t >= k * gap) * np.exp(-tk / 0.0025))
    env = np.maximum(
        env, 0.5 * (t >= 3 * gap) * np.exp(-np.maximum(t - 3 * gap, 0) / rng.uniform(0.05, 0.12))
    )
    x = _bandpass(rng.standard_normal(n) * env, rng.uniform(900, 1400), 1.5)
    return _arr(x / np.max(np.abs(x)))


def kick(rng: np.random.Generator) -> Audio:
    n = seconds(0.4)
    t = np.arange(n) / RATE
    f = 45 + 110 * np.exp(-t / 0.03)
    body = np.sin(2 * np.pi * np.cumsum(f) / RATE) * np.exp(-t / rng.uniform(0.12, 0.25))
    click = rng.standard_normal(n) * np.exp(-t / 0.0015) * 0.3
    return _arr(body + signal.lfilter(*signal.butter(2, 3000, fs=RATE), click))


def snare(rng: np.random.Generator) -> Audio:
    n = seconds(0.4)
    t = np.arange(n) / RATE
    body = np.sin(2 * np.pi * rng.uniform(170, 220) * t) * np.exp(-t / 0.05)
    wires = signal.lfilter(*signal.butter(2, 1800, "high", fs=RATE), rng.standard_normal(n))
    return _arr(0.6 * body + 0.7 * wires * np.exp(-t / rng.uniform(0.06, 0.15)))


def hihat(rng: np.random.Generator, open_: bool = False) -> Audio:
    n = seconds(0.3)
    t = np.arange(n) / RATE
    hp = signal.lfilter(*signal.butter(4, 6000, "high", fs=RATE), rng.standard_normal(n))
    return _arr(hp * np.exp(-t / (0.12 if open_ else rng.uniform(0.012, 0.03))))


def _place(out: Audio, x: Audio, at: int, gain: float) -> None:
    if at >= len(out):
        return
    end = min(len(out), at + len(x))
    out[at:end] += gain * x[: end - at]


def drum_music(
    dur: float, rng: np.random.Generator, bpm: float | None = None, dbfs: float = -20.0
) -> Audio:
    """Drum-heavy dance music: kick on every beat, snare and drum-machine clap on
    2 and 4, 16th hi-hats with open hats on the off-beat, bass and a pad."""
    bpm = bpm or float(rng.uniform(118, 132))
    n = seconds(dur)
    out = np.zeros(n + seconds(0.5))
    beat = 60.0 / bpm
    swing = rng.uniform(0, 0.02)
    clap_style = rng.integers(0, 3)  # 0: 808 clap, 1: clap layered on the snare, 2: both
    sounds = {"k": kick(rng), "s": snare(rng), "c": machine_clap(rng)}
    for b in range(int(dur / beat) + 1):
        at = seconds(b * beat)
        _place(out, sounds["k"], at, 0.9)
        if b % 2 == 1:
            if clap_style != 0:
                _place(out, sounds["s"], at, 0.45)
            if clap_style != 1 or rng.random() < 0.5:
                _place(out, sounds["c"], at, 0.4)
        for s16 in range(4):
            t16 = at + seconds(s16 * beat / 4 + (swing if s16 % 2 else 0))
            if s16 == 2 and rng.random() < 0.5:
                _place(out, hihat(rng, open_=True), t16, 0.12)
            else:
                _place(out, hihat(rng), t16, rng.uniform(0.08, 0.18))
    t = np.arange(len(out)) / RATE
    root = 55 * 2 ** (rng.integers(0, 7) / 12)
    bass_f = root * np.where((t / beat) % 4 < 2, 1.0, 2 ** (rng.choice([3, 5, 7]) / 12))
    bass = signal.sawtooth(2 * np.pi * np.cumsum(bass_f) / RATE)
    bass = signal.lfilter(*signal.butter(2, 300, fs=RATE), bass) * (
        0.5 + 0.5 * ((t / beat) % 1 > 0.1)
    )
    pad = sum(
        signal.sawtooth(2 * np.pi * root * 4 * 2 ** (k / 12) * t * (1 + 0.002 * j))
        for k in (0, 3, 7)
        for j in (-1, 1)
    )
    pad = signal.lfilter(*signal.butter(2, 1500, fs=RATE), pad)
    out += 0.35 * bass + 0.04 * pad
    mix = np.tanh(1.5 * out[:n]) / 1.5  # a mastering limiter's soft ceiling
    return at_level(mix, dbfs)


def room_ir(rng: np.random.Generator, rt60: float = 0.8, drr_db: float = 0.0) -> Audio:
    """A room impulse response: direct sound, then an exponential diffuse tail."""
    n = seconds(min(rt60 * 1.2, 2.0))
    t = np.arange(n) / RATE
    tail = rng.standard_normal(n) * np.exp(-6.91 * t / rt60) * (t > 0.004)
    tail = signal.lfilter(*signal.butter(1, 5000, fs=RATE), tail)
    tail *= db_to_gain(-drr_db) / np.sqrt(np.sum(tail**2))
    tail[0] += 1.0
    return _arr(tail)


def through_room(x: Audio, ir: Audio) -> Audio:
    return _arr(signal.fftconvolve(x, ir)[: len(x)])


def clap_track(
    n: int,
    onsets: list[int],
    rng: np.random.Generator,
    room: Audio,
    snr_db: list[float],
    music_ms: float,
) -> Audio:
    """Claps by the wearer or a neighbour, each at its SNR against the music's
    mean power (clap power over the 30 ms from its onset)."""
    out = np.zeros(n)
    w = seconds(0.03)
    for at, snr in zip(onsets, snr_db, strict=True):
        c = through_room(hand_clap(rng), room)
        gain = np.sqrt(music_ms * 10 ** (snr / 10) / np.mean(c[:w] ** 2))
        _place(out, c, at, gain)
    return out


def crowd_applause(
    dur: float,
    rng: np.random.Generator,
    people: int = 300,
    dbfs: float = -20.0,
    rt60: float = 0.9,
    critical_m: float = 2.0,
) -> Audio:
    """Hundreds of people clapping at their own rate and phase, heard from inside
    the crowd: each clap arrives direct (falling with distance) and feeds the
    room's diffuse tail (the same everywhere), as in a real room."""
    n = seconds(dur)
    direct = np.zeros(n + seconds(0.1))
    diffuse = np.zeros_like(direct)
    claps = [hand_clap(rng) for _ in range(24)]
    dist = np.sqrt(rng.uniform(0.6**2, 20.0**2, people))
    for p in range(people):
        rate = rng.uniform(3.0, 6.5)
        t = rng.uniform(0, 1 / rate)
        while t < dur:
            c = claps[int(rng.integers(0, len(claps)))] * rng.uniform(0.6, 1.0)
            _place(direct, c, seconds(t), 1.0 / dist[p])
            _place(diffuse, c, seconds(t), 1.0 / critical_m)
            t += rng.normal(1 / rate, 0.08 / rate)
    tail = room_ir(rng, rt60, drr_db=0.0)
    tail[0] = 0.0
    mix = direct[:n] + through_room(diffuse[:n], tail)
    return at_level(mix, dbfs)


def crowd_cheer(
    dur: float, rng: np.random.Generator, voices: int = 120, dbfs: float = -20.0
) -> Audio:
    """Many voices shouting 'woo' and 'yeah': gliding harmonic tones through vowel
    formants, with breath noise, each starting and swelling at its own time."""
    n = seconds(dur)
    t = np.arange(n) / RATE
    out = np.zeros(n)
    for _ in range(voices):
        f0 = rng.uniform(180, 520) * (
            1 + 0.25 * np.sin(2 * np.pi * rng.uniform(0.3, 1.2) * t + rng.uniform(0, 6.3))
        )
        phase = 2 * np.pi * np.cumsum(f0) / RATE
        v = sum(np.sin(k * phase) / k for k in range(1, 12))
        v = v + 0.3 * rng.standard_normal(n)
        f1, f2 = rng.uniform(400, 800), rng.uniform(900, 2200)
        v = _bandpass(v, f1, 3) + 0.6 * _bandpass(v, f2, 4)
        start = rng.uniform(0, dur * 0.3)
        env = np.clip((t - start) / rng.uniform(0.2, 1.0), 0, 1)
        out += env * v / rng.uniform(1.0, 15.0)
    return at_level(through_room(out, room_ir(rng, 0.9, drr_db=-3.0)), dbfs)
