"""The sentiment model, calibrated on scenes run through the real DSP (twin),
real packets and the gateway engine; and its robustness to bad bands and loss."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest

from crowdpulse.sim.runs import crowdscore
from crowdpulse.sim.world import clapset, signals
from wristband import packet

N = 30
DUR = 30.0
REACT = 18.0  # the crowd reacts from here; bands have heard 18 s of music before
BEAT = 60 / 124


def _after(x: np.ndarray) -> np.ndarray:
    y = np.zeros(signals.seconds(DUR))
    y[signals.seconds(REACT) :] = x[: signals.seconds(DUR - REACT)]
    return y


def _wearer_claps(i: int, r: np.random.Generator) -> np.ndarray:
    on = [signals.seconds(t + r.uniform(-0.02, 0.02)) for t in np.arange(REACT, DUR - 0.5, BEAT)]
    return signals.clap_track(
        signals.seconds(DUR),
        on,
        r,
        signals.room_ir(r, 0.8, 20),
        [r.uniform(2, 8)] * len(on),
        10 ** (-18 / 10) / 2,
    )


@pytest.fixture(scope="module")
def streams() -> dict[str, list[crowdscore.BandReport]]:
    """Each scene's reports from N bands, then a reference band (crowdscore.REFERENCE_ID,
    index N) that hears the programme alone."""
    rng = np.random.default_rng(2026)
    music = signals.at_level(clapset.music_at_band(DUR, rng), -18)
    quiet = signals.pink_noise(DUR, rng, -85)
    scenes: dict[str, tuple[np.ndarray, Any, np.ndarray]] = {
        "quiet": (quiet, None, quiet),
        "music": (music, None, music),
        "clap_along": (
            music
            + _after(signals.at_level(signals.crowd_applause(DUR - REACT, rng, people=200), -26)),
            _wearer_claps,
            music,
        ),
        "cheer_applause": (
            music
            + _after(
                signals.crowd_cheer(DUR - REACT, rng, dbfs=-16)
                + signals.crowd_applause(DUR - REACT, rng, dbfs=-15)
            ),
            None,
            music,
        ),
    }
    out = {}
    for name, (scene, personal, programme) in scenes.items():
        _, keys = crowdscore.engine_for(N, reference=True)
        mixes = itertools.chain(
            crowdscore.band_mixes(scene, N, np.random.default_rng(5), personal),
            [signals.to_int16(np.clip(programme, -1, 1))],
        )
        out[name] = crowdscore.reports(mixes, keys, np.random.default_rng(6))
    return out


def _scores(
    stream: list[crowdscore.BandReport], since_s: float, reference: bool = False, keep: Any = None
) -> np.ndarray:
    engine, _ = crowdscore.engine_for(N, reference=reference)
    if not reference:  # the reference band's reports are not there at all
        stream = [r for r in stream if r.band < N]
    snaps = crowdscore.replay(engine, stream, keep=keep)
    t0 = snaps[0]["t"]
    return np.array(
        [s["score"] for s in snaps if s["t"] - t0 >= since_s * 1000 and s["score"] is not None]
    )


@pytest.mark.parametrize("reference", [False, True], ids=["on-band evidence", "with reference"])
@pytest.mark.parametrize(
    "scene,lo,hi,since",
    [
        ("quiet", 0, 20, 5.0),
        ("music", 30, 45, 5.0),
        ("clap_along", 55, 80, REACT + 4),
        ("cheer_applause", 80, 100, REACT + 4),
    ],
)
def test_calibrated_mapping(
    streams: dict, scene: str, lo: float, hi: float, since: float, reference: bool
) -> None:
    s = _scores(streams[scene], since, reference)
    assert len(s) > 20
    assert lo <= float(np.mean(s)) <= hi, (scene, float(np.mean(s)))


def test_losing_half_the_reports_moves_the_score_by_at_most_3(streams: dict) -> None:
    for scene in ("music", "clap_along", "cheer_applause"):
        for reference in (False, True):
            full = _scores(streams[scene], REACT + 4, reference)
            rng = np.random.default_rng(1)
            half = _scores(
                streams[scene], REACT + 4, reference, keep=lambda r, rng=rng: rng.random() < 0.5
            )
            assert abs(float(np.mean(full) - np.mean(half))) <= 3.0, (scene, reference)


# every field at its maximum: levels, tonal share, fluctuation, motion, claps heard and
# felt, battery
MAXIMA = (147.5, 147.5, 147.5, 147.5, 147.5, 1.0, 12.75, 5.0, 15, 15, 100)


def _rogue(
    stream: list[crowdscore.BandReport], bands: int, keys: np.ndarray
) -> list[crowdscore.BandReport]:
    """`bands` extra bands, each sending the maximum of every field, correctly signed."""
    out = list(stream)
    t0, t1 = stream[0].arrival_ms, stream[-1].arrival_ms
    for k in range(bands):
        b = N + k
        for i, t in enumerate(range(t0, t1, 250)):
            r = packet.encode(bytes(keys[b]), packet.epoch_of(t // 1000), i, 250, *MAXIMA)
            out.append(crowdscore.BandReport(t, b, r))
    return sorted(out, key=lambda r: r.arrival_ms)


@pytest.mark.parametrize("bands,n_total", [(1, N + 1), (1, 100)])
def test_bands_sending_maximal_values_move_a_zone_by_at_most_5(
    streams: dict, bands: int, n_total: int
) -> None:
    # n_total bands in one zone; `bands` of them are rogue (1 of 31, and 1 % of 100)
    rng = np.random.default_rng(3)
    music = signals.at_level(clapset.music_at_band(15.0, rng), -18)
    engine, keys = crowdscore.engine_for(n_total)
    honest = crowdscore.reports(
        crowdscore.band_mixes(music, n_total - bands, np.random.default_rng(4)),
        keys,
        np.random.default_rng(5),
    )
    base = crowdscore.replay(engine, honest)
    engine2, _ = crowdscore.engine_for(n_total)
    attacked = crowdscore.replay(
        engine2,
        _rogue(honest, bands, keys)
        if n_total == N + 1
        else _rogue_at(honest, n_total - bands, keys),
    )
    a = np.mean([s["score"] for s in base[60:]])
    b = np.mean([s["score"] for s in attacked[60:]])
    assert abs(b - a) <= 5.0, (a, b)


def _rogue_at(
    stream: list[crowdscore.BandReport], first: int, keys: np.ndarray
) -> list[crowdscore.BandReport]:
    out = list(stream)
    t0, t1 = stream[0].arrival_ms, stream[-1].arrival_ms
    for i, t in enumerate(range(t0, t1, 250)):
        r = packet.encode(bytes(keys[first]), packet.epoch_of(t // 1000), i, 250, *MAXIMA)
        out.append(crowdscore.BandReport(t, first, r))
    return sorted(out, key=lambda r: r.arrival_ms)


def test_bands_that_stop_reporting_age_out(streams: dict) -> None:
    engine, _ = crowdscore.engine_for(N)
    stream = [r for r in streams["music"] if r.band < N]
    crowdscore.replay(engine, stream)
    end = stream[-1].arrival_ms
    assert engine.tick(end + 1000)["bands"] == N
    gone = engine.tick(end + 11_000)
    assert gone["bands"] == 0 and gone["score"] is None


def test_a_zone_below_k_bands_publishes_nothing() -> None:
    rng = np.random.default_rng(8)
    music = signals.at_level(clapset.music_at_band(10.0, rng), -18)
    engine, keys = crowdscore.engine_for(24, zones=6)  # zone z gets bands z, z+6, ...: 4 bands each
    engine.model = type(engine.model)(k_anonymity=5)
    snaps = crowdscore.replay(
        engine, crowdscore.reports(crowdscore.band_mixes(music, 24, rng), keys, rng)
    )
    last = snaps[-1]
    assert all(z["score"] is None and z["bands"] == 4 for z in last["zones"])
    assert last["score"] is None


def test_the_venue_weighs_zones_by_weight_and_bands() -> None:
    from crowdpulse.gateway.sentiment import Model, ZoneScore, venue_score

    zones = [
        ZoneScore("floor", 80.0, 0.9, 30),
        ZoneScore("bar", 40.0, 0.5, 10),
        ZoneScore("vip", None, 0, 3),
    ]
    score, _ = venue_score(zones, Model(zone_weights={"bar": 3.0}))
    assert score == pytest.approx((80 * 30 + 40 * 30) / 60)
