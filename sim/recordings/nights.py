"""Mix a night: a music bed, and a crowd (or a confuser) joining it.

A night is 60 s: 40 s of the bed alone, then 20 s with the event on top.  The
bed is a 60 s excerpt of a track, at a seeded offset, scaled to `MUSIC_DB`
dB(A) at a band of nominal gain (lower when the night would otherwise peak
above -1 dBFS: the whole night is then turned down).  The event is made of clips from its pool,
shuffled by the seed and joined with equal-power crossfades until it fills
its 20 s, then scaled so that

    level = 10·log10( P_A(event over its segment) / P_A(music over the same segment) )

is the plan's level (+3 dB full crowd, -6 dB light crowd, +3 dB rain and near
voice), where P_A is the mean square after IEC 61672 A-weighting.  Writes
MIX.wav (what the bands hear), MUSIC.wav (the bed alone: the reference) and
night.json (segment times, sources, levels).  Same seed, same bytes.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile

from crowdpulse.audio import RATE
from crowdpulse.sim.recordings import catalog, fetch
from crowdpulse.sim.world import scene

MUSIC_ALONE_S = 40
EVENT_S = 20
# LAeq of the PA at a band of nominal gain: the front of a club floor (the
# simulator's shipped scenarios use 86-96 dB(A) back to front; `crowdpulse
# score` then spreads the bands over -8..+4 dB around it).
MUSIC_DB = 96.0
CROSSFADE_S = 0.25
EDGE_S = 0.05  # fade at the event's start and end: no click the crowd did not make
PEAK_DBFS = -1.0  # the loudest sample of a night, at most
BED_MARGIN_S = (15.0, 10.0)  # keep clear of a track's intro and outro
F64 = npt.NDArray[np.float64]


class MixError(ValueError):
    """A night cannot be mixed from the set as fetched."""


@dataclass(frozen=True)
class Night:
    plan: catalog.NightPlan
    mix: npt.NDArray[np.int16]
    music: npt.NDArray[np.int16]
    info: dict[str, Any]


def rng_for(plan: catalog.NightPlan, seed: int) -> np.random.Generator:
    """One stream per (seed, night), whatever other nights exist."""
    return np.random.default_rng([seed, zlib.crc32(plan.name.encode())])


def mix_night(cache: Path, plan: catalog.NightPlan, seed: int = 0) -> Night:
    rng = rng_for(plan, seed)
    n, onset = (MUSIC_ALONE_S + EVENT_S) * RATE, MUSIC_ALONE_S * RATE
    music, bed_from = _bed(cache, plan.bed, n, rng)
    event, pieces = _event(cache, catalog.POOLS[plan.pool], EVENT_S * RATE, rng)
    level = catalog.LEVEL_DB[plan.event]
    event *= np.sqrt(
        scene.a_weighted_ms(music[onset:]) * 10 ** (level / 10) / scene.a_weighted_ms(event)
    )
    mix = music.copy()
    mix[onset:] += event
    # A night that would clip is played quieter as a whole (a limiter on the
    # master): the levels between music and event stay as planned.
    trim = peak_trim(mix)
    mix16, music16 = pcm(mix * trim), pcm(music * trim)
    info = {
        "name": plan.name,
        "seed": seed,
        "rate": RATE,
        "duration_s": MUSIC_ALONE_S + EVENT_S,
        "segments": [
            {"kind": "music", "start_s": 0, "end_s": MUSIC_ALONE_S},
            {"kind": plan.event, "start_s": MUSIC_ALONE_S, "end_s": MUSIC_ALONE_S + EVENT_S},
        ],
        "bed": {
            "source": plan.bed,
            "from_s": round(bed_from / RATE, 3),
            "laeq_db": round(MUSIC_DB + 20 * np.log10(trim), 2),
        },
        "event": {"kind": plan.event, "pool": plan.pool, "level_db": level, "pieces": pieces},
        "measured_level_db": round(event_level_db(mix16, music16, onset), 2),
        "peak_dbfs": round(20 * np.log10(np.max(np.abs(mix16)) / 32768.0), 2),
        "packages": {k: v["version"] for k, v in fetch.manifest(cache)["packages"].items()},
    }
    return Night(plan, mix16, music16, info)


def event_level_db(mix: npt.NDArray[np.int16], music: npt.NDArray[np.int16], onset: int) -> float:
    """The level definition above, measured on the written samples."""
    m = music[onset:].astype(np.float64)
    e = mix[onset:].astype(np.float64) - m
    return float(10 * np.log10(scene.a_weighted_ms(e) / scene.a_weighted_ms(m)))


def write(night: Night, out: Path) -> Path:
    folder = out / night.plan.name
    folder.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(folder / "MIX.wav"), night.mix, RATE, subtype="PCM_16", format="WAV")
    soundfile.write(str(folder / "MUSIC.wav"), night.music, RATE, subtype="PCM_16", format="WAV")
    (folder / "night.json").write_text(json.dumps(night.info, indent=1) + "\n")
    return folder


def mix_all(cache: Path, out: Path, seed: int = 0, names: list[str] | None = None) -> list[Path]:
    plans = [catalog.NIGHT_BY_NAME[n] for n in names] if names else list(catalog.NIGHTS)
    return [write(mix_night(cache, p, seed), out) for p in plans]


def peak_trim(x: F64) -> float:
    """The gain (at most 1) that keeps x's loudest sample at PEAK_DBFS."""
    return min(1.0, 10 ** (PEAK_DBFS / 20) / float(np.max(np.abs(x))))


def pcm(x: F64) -> npt.NDArray[np.int16]:
    return np.clip(np.round(x * 32768.0), -32768, 32767).astype(np.int16)


def source_floats(cache: Path, name: str) -> F64:
    x = fetch.read(cache, name).astype(np.float64) / 32768.0
    return np.asarray(x - x.mean())


def _bed(cache: Path, name: str, n: int, rng: np.random.Generator) -> tuple[F64, int]:
    track = source_floats(cache, name)
    lo, hi = int(BED_MARGIN_S[0] * RATE), len(track) - n - int(BED_MARGIN_S[1] * RATE)
    if hi <= lo:
        raise MixError(f"bed {name} is too short for a night")
    start = int(rng.integers(lo, hi))
    return at_music_level(track[start : start + n].copy()), start


def at_music_level(x: F64, offset_db: float = 0.0) -> F64:
    """x scaled to MUSIC_DB + offset_db, LAeq at a band of nominal gain."""
    want = 0.5 * 10 ** ((MUSIC_DB + offset_db - scene.SPL_OF_FULL_SCALE_SINE) / 10)
    return np.asarray(x * np.sqrt(want / scene.a_weighted_ms(x)))


def _event(
    cache: Path, pool: tuple[str, ...], n: int, rng: np.random.Generator
) -> tuple[F64, list[dict[str, Any]]]:
    """Clips from the pool, shuffled, crossfaded end to start until n samples are filled."""
    fade = int(CROSSFADE_S * RATE)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, fade)) ** 2
    out = np.zeros(0)
    pieces: list[dict[str, Any]] = []
    order = [pool[i] for i in rng.permutation(len(pool))]
    k = 0
    while len(out) < n:
        name = order[k % len(order)]
        k += 1
        clip = source_floats(cache, name)
        start = (
            int(rng.integers(0, len(clip) - (n - len(out))))
            if len(clip) > n - len(out) + fade
            else 0
        )
        clip = clip[start : start + n - len(out) + fade]
        at = max(len(out) - fade, 0)
        pieces.append(
            {
                "source": name,
                "from_s": round(start / RATE, 3),
                "at_s": round(at / RATE, 3),
                "dur_s": round(len(clip) / RATE, 3),
            }
        )
        if len(out) >= fade and len(clip) >= fade:
            clip[:fade] = np.sqrt(ramp) * clip[:fade] + np.sqrt(1 - ramp) * out[-fade:]
            out = out[:-fade]
        out = np.concatenate([out, clip])
    out = out[:n]
    edge = int(EDGE_S * RATE)
    out[:edge] *= np.linspace(0.0, 1.0, edge)
    out[-edge:] *= np.linspace(1.0, 0.0, edge)
    return out, pieces
