"""The radio medium against pure-ALOHA theory, and the bands' rate adaptation."""

from __future__ import annotations

import numpy as np
import pytest

from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.ratecontrol import AIRTIME_S
from crowdpulse.gateway.sentiment import Model
from crowdpulse.sim.runs.runner import STEP_S, SimRun
from crowdpulse.sim.runs.sinks import EngineSink
from crowdpulse.sim.world import radio
from crowdpulse.sim.world.scenario import parse


@pytest.mark.parametrize("rate", [100.0, 500.0, 1330.0, 3000.0])
def test_collisions_follow_the_pure_aloha_formula(rate: float) -> None:
    """Poisson advertising events, everyone in range of one relay: the share of
    PDUs that the relay listened for and still lost is 1 - exp(-2G)."""
    rng = np.random.default_rng(int(rate))
    bands = 2000
    seconds = 20000 / rate
    medium = radio.Medium(
        rng.uniform(0, 2, (bands, 2)), np.array([[1.0, 1.0]]), rng, body_db_mean=0.0
    )
    t = np.sort(rng.uniform(0, seconds, int(rate * seconds)))
    band = rng.integers(0, bands, len(t))
    medium.deliver(band, t)
    s = medium.stats
    assert s.lost_range == 0
    listened = s.sent_events - s.lost_channel
    success = s.heard / listened
    assert success == pytest.approx(radio.aloha_success(rate), abs=0.02)
    assert radio.aloha_success(rate) == pytest.approx(np.exp(-2 * rate * AIRTIME_S))


def test_a_band_out_of_range_is_lost_to_range_not_collision() -> None:
    rng = np.random.default_rng(1)
    medium = radio.Medium(np.array([[0.0, 0.0], [500.0, 0.0]]), np.array([[1.0, 0.0]]), rng)
    medium.deliver(np.array([1, 1, 1]), np.array([0.1, 0.2, 0.3]))
    assert medium.stats.lost_range == 3 and medium.stats.heard == 0


def _crowd_around_one_relay(n: int) -> SimRun:
    sc = parse(
        {
            "name": "one relay",
            "duration_min": 2,
            "seed": 4,
            "mqtt_share": 0.0,
            "zones": [
                {"name": "floor", "size_m": [12, 12], "music_db": [90, 96], "relays": [[6, 6]]}
            ],
        }
    )
    return SimRun(sc, n, bytes(range(32)), 1.8e9)


def _delivered_per_s(run: SimRun, seconds: float, adapt: bool) -> float:
    engine = Engine("sim", run.registry, Model())
    sink = EngineSink(engine)
    steps = int(seconds / STEP_S)
    start = 0
    for i in range(steps):
        run.step(sink)
        now_ms = int((run.t0 + run.t) * 1000)
        if adapt and i % 100 == 0:  # the gateway's retained config, every 5 s
            run.command({"adv_interval_ms": engine.adv_interval_ms(now_ms)})
        if i == steps // 2:
            start = engine.counters()["accepted"]
    return (engine.counters()["accepted"] - start) / (seconds / 2)


def test_rate_adaptation_keeps_5000_bands_near_the_channel_capacity() -> None:
    best = 1 / (
        2 * np.e * AIRTIME_S
    )  # pure ALOHA's peak: one relay hears this many adverts a second
    adapted = _delivered_per_s(_crowd_around_one_relay(5000), 60.0, adapt=True)
    fixed = _delivered_per_s(_crowd_around_one_relay(5000), 30.0, adapt=False)
    # only new reports count: repeats of an advert already heard are not deliveries
    assert adapted >= 0.6 * best, (adapted, best)
    assert fixed < 0.2 * best, (fixed, best)  # at NimBLE's 100 ms floor the channel collapses
