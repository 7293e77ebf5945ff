"""Many bands hearing one scene, through the real DSP (twin), packets and gateway.

Used by `crowdpulse score` and by the sentiment calibration tests: every band
gets its own gain (distance to the PA, a pocket), a small delay and its own
noise; its twin pipeline cuts reports as the firmware does; reports are signed
with the band's key, batched as a relay would, and fed to a gateway Engine on
a simulated clock.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.registry import Registry
from crowdpulse.sim.bands import bandfeatures
from crowdpulse.sim.world import signals
from wristband import packet

T0_MS = 1_800_000_000_000  # a fixed simulated epoch, for repeatable ids
BATCH_MS = 50


@dataclass(frozen=True)
class BandReport:
    arrival_ms: int
    band: int
    report: bytes


def band_mixes(
    scene: npt.NDArray[np.float64],
    n: int,
    rng: np.random.Generator,
    personal: Callable[[int, np.random.Generator], npt.NDArray[np.float64]] | None = None,
) -> Iterator[npt.NDArray[np.int16]]:
    """What each of n bands hears: the scene at its own gain and delay, its own
    noise floor, and (optionally) its wearer's own sounds."""
    for i in range(n):
        gain = signals.db_to_gain(rng.uniform(-8.0, 4.0))
        delay = int(rng.integers(0, signals.seconds(0.03)))
        x = np.zeros_like(scene)
        x[delay:] = scene[: len(scene) - delay] * gain
        x += signals.db_to_gain(rng.uniform(-75.0, -65.0)) * rng.standard_normal(len(x))
        if personal is not None:
            x += personal(i, rng)[: len(x)]
        yield signals.to_int16(np.clip(x, -1.0, 1.0))


def reports(
    mixes: Iterator[npt.NDArray[np.int16]],
    keys: npt.NDArray[np.uint8],
    rng: np.random.Generator,
    t0_ms: int = T0_MS,
) -> list[BandReport]:
    out = []
    for b, audio in enumerate(mixes):
        key = bytes(keys[b])
        seq = int(rng.integers(0, 65536))
        for iv in bandfeatures.on_twin(audio):
            end_ms = t0_ms + (iv.start_sample * 1000) // 16000 + iv.codes[0] * 10
            report = packet.encode_codes(key, packet.epoch_of(end_ms // 1000), seq, iv.codes)
            seq = (seq + 1) & 0xFFFF
            out.append(BandReport(end_ms + int(rng.integers(1, 15)), b, report))
    out.sort(key=lambda r: r.arrival_ms)
    return out


def replay(
    engine: Engine,
    stream: list[BandReport],
    tick_ms: int = 100,
    keep: Callable[[BandReport], bool] | None = None,
) -> list[dict[str, Any]]:
    """Feed reports as relay batches every BATCH_MS, tick every tick_ms; snapshots."""
    if not stream:
        return []
    snaps = []
    t = stream[0].arrival_ms
    end = stream[-1].arrival_ms
    i = 0
    next_tick = t + tick_ms
    while t <= end + BATCH_MS:
        t += BATCH_MS
        batch = []
        while i < len(stream) and stream[i].arrival_ms <= t:
            if keep is None or keep(stream[i]):
                batch.append((stream[i].report, -60, stream[i].arrival_ms))
            i += 1
        if batch:
            engine.ingest_batch(packet.encode_batch(batch, batch[0][2]), at_ms=t)
        if t >= next_tick:
            snaps.append(engine.tick(t))
            next_tick += tick_ms
    return snaps


REFERENCE_ID = "REF"


def engine_for(
    n: int,
    zones: int = 1,
    venue_key: bytes = bytes(range(32)),
    reference: bool = False,
    **model: Any,
) -> tuple[Engine, npt.NDArray[np.uint8]]:
    """A gateway engine for n bands (ids S00000...), plus band REF last when there
    is a music reference."""
    from crowdpulse.gateway.sentiment import Model

    names = [f"zone{z}" for z in range(zones)]
    bands = [(f"S{b:05d}", names[b % zones]) for b in range(n)]
    refs = [REFERENCE_ID] if reference else []
    reg = Registry(venue_key, bands + [(r, names[0]) for r in refs], names, refs)
    return Engine("sim", reg, Model(**model)), reg.keys


def score(
    scene: npt.NDArray[np.float64],
    devices: int,
    seed: int = 0,
    music: npt.NDArray[np.float64] | None = None,
    **model: Any,
) -> tuple[Engine, list[dict[str, Any]]]:
    """N bands hear scene; with music, a reference band hears the programme alone.
    Returns the engine and its snapshot every 100 ms."""
    rng = np.random.default_rng(seed)
    engine, keys = engine_for(
        devices, reference=music is not None, k_anonymity=min(5, devices), **model
    )
    mixes = band_mixes(scene, devices, rng)
    if music is not None:
        n = min(len(music), len(scene))
        mixes = itertools.chain(mixes, [signals.to_int16(np.clip(music[:n], -1.0, 1.0))])
    return engine, replay(engine, reports(mixes, keys, rng))


def summary(snaps: list[dict[str, Any]], skip_s: float = 4.0) -> dict[str, Any]:
    """mean, p10, p90 of the venue score after the first skip_s (bands warming up)."""
    if not snaps:
        return {"mean": None, "p10": None, "p90": None, "ticks": 0}
    t0 = snaps[0]["t"]
    vals = np.array(
        [s["score"] for s in snaps if s["score"] is not None and s["t"] - t0 >= skip_s * 1000]
    )
    if len(vals) == 0:
        return {"mean": None, "p10": None, "p90": None, "ticks": len(snaps)}
    return {
        "mean": round(float(vals.mean()), 1),
        "p10": round(float(np.percentile(vals, 10)), 1),
        "p90": round(float(np.percentile(vals, 90)), 1),
        "ticks": len(snaps),
    }
