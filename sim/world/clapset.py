"""A labelled clap set: claps with known onsets over drum-heavy music.

Music reaches the band from the PA through the room; the claps are the
wearer's or a neighbour's, arriving almost direct.  Each clap is placed at an
SNR drawn from a range, against the music's mean power.  Also the scoring:
F1 with a +-30 ms tolerance, and false claps per minute on music alone.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crowdpulse.sim.world import signals


@dataclass(frozen=True)
class Clip:
    audio: np.ndarray  # int16 at 16 kHz
    onsets: np.ndarray  # true clap onsets, in samples
    snr_db: np.ndarray


def music_at_band(dur: float, rng: np.random.Generator, room: bool = True) -> np.ndarray:
    music = signals.drum_music(dur, rng)
    if room:
        ir = signals.room_ir(rng, rt60=rng.uniform(0.5, 1.2), drr_db=rng.uniform(-3.0, 6.0))
        music = signals.through_room(music, ir)
    return signals.at_level(music, rng.uniform(-24.0, -14.0))


def clip(
    rng: np.random.Generator,
    dur: float = 20.0,
    snr: tuple[float, float] = (0.0, 10.0),
    room: bool = True,
    rate_hz: float = 1.5,
) -> Clip:
    music = music_at_band(dur, rng, room)
    n = len(music)
    onsets: list[int] = []
    t = rng.uniform(0.5, 1.0)
    while t < dur - 0.5:
        onsets.append(signals.seconds(t))
        t += rng.exponential(1 / rate_hz) + 0.12  # nobody claps faster than ~8 Hz
    snrs = rng.uniform(snr[0], snr[1], len(onsets))
    near = signals.room_ir(rng, rt60=rng.uniform(0.5, 1.2), drr_db=rng.uniform(12.0, 25.0))
    ms = float(np.mean(music**2))
    claps = signals.clap_track(n, onsets, rng, near, list(snrs), ms)
    return Clip(signals.to_int16(np.clip(music + claps, -1, 1)), np.array(onsets), snrs)


def match(truth: np.ndarray, found: np.ndarray, tol: int) -> tuple[int, int, int]:
    """Greedy one-to-one matching in time: (true positives, false positives, misses)."""
    used = np.zeros(len(found), dtype=bool)
    tp = 0
    for t in truth:
        if len(found) == 0:
            break
        d = np.abs(found - t).astype(float)
        d[used] = np.inf
        j = int(np.argmin(d))
        if d[j] <= tol:
            used[j] = True
            tp += 1
    return tp, int(len(found) - used.sum()), int(len(truth) - tp)


def f1(tp: int, fp: int, fn: int) -> float:
    return 2 * tp / max(2 * tp + fp + fn, 1)
