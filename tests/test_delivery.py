"""The true "loss" figure: on a simulated night (normal scenario, 2,000 bands,
real radio model), the gateway's per-zone delivery matches the share of adverts
the simulated relays really heard from the bands the gateway counts, and the
reports held back by the rate control are counted apart from those lost."""

from __future__ import annotations

import time

import numpy as np
import numpy.typing as npt
import pytest

from crowdpulse.gateway import aggregate, sentiment
from crowdpulse.gateway.delivery import RelayBands, relay_rows, zone_delivery
from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.sentiment import Model
from crowdpulse.sim.runs.runner import SimRun
from crowdpulse.sim.runs.sinks import EngineSink
from crowdpulse.sim.world import scenario


@pytest.mark.xfail(
    strict=False,
    reason=(
        "known gap since issue 17's event adverts: in the bar (few bands, a short advertising "
        "interval) the estimate reads about 0.08 under the adverts heard/sent; docs/protocol.md"
    ),
)
def test_delivery_and_held_match_the_simulated_radio() -> None:
    sc = scenario.load("normal")
    run = SimRun(sc, 2000, bytes(range(32)), float(int(time.time())))
    engine = Engine("sim", run.registry, Model())
    sink = EngineSink(engine)
    sent, heard = np.zeros(2000), np.zeros(2000)
    deliver = run.medium.deliver

    def counted(
        band: npt.NDArray[np.int64], t: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        ev, relay, rssi = deliver(band, t)
        np.add.at(sent, band, 1)
        got = np.zeros(len(band), bool)
        got[ev] = True
        np.add.at(heard, band[got], 1)
        return ev, relay, rssi

    run.medium.deliver = counted  # type: ignore[method-assign]
    next_rate, checks = 0.0, []
    while run.st < 100.0:
        run.step(sink)
        now_ms = int((run.t0 + run.t) * 1000)
        sink.flush(now_ms)
        if run.t >= next_rate:
            run.command({"adv_interval_ms": engine.adv_interval_ms(now_ms)})
            next_rate += 5.0
            if run.t >= 70.0:  # the rate control has settled
                snap = engine.tick(now_ms)
                recent, base = engine.agg.window(now_ms)
                active = sentiment.band_view(
                    recent, base, engine.agg.last_ms, now_ms, engine.model
                ).active
                for z, zone in enumerate(snap["zones"]):
                    ble = active & ~run.direct & (run.zone_of == z)
                    share = ble.sum() / (active & (run.zone_of == z)).sum()  # held: BLE bands only
                    checks.append(
                        (
                            zone,
                            heard[ble].sum() / sent[ble].sum(),
                            share * (1 - 250 / engine.adv_ms),
                        )
                    )
            sent[:], heard[:] = 0, 0
    assert len(checks) >= 10
    for zone, truth, held in checks:
        assert abs(zone["delivery"] - truth) < 0.08, (zone, truth)
        assert abs(zone["loss"] - (1 - zone["delivery"])) < 1e-3
        # held back on purpose: each BLE band advertises every adv_ms and reports every 250 ms
        assert abs(zone["held"] - held) < 0.03, (zone, held)
    # in this normal night nothing is wrong: most of what is missing was never sent, and the
    # console's amber mark (delivery below 25 %) stays off
    assert all(z["delivery"] > 0.3 and z["held"] > z["loss"] * 0.9 for z, _t, _a in checks)


def test_wifi_only_zone_and_relay_counts() -> None:
    recent = np.zeros((4, aggregate.N_F), np.int64)
    recent[:, aggregate.F_N] = 16  # four reports a second for 4 s
    recent[:, aggregate.F_DUR] = 4000
    active = np.ones(4, bool)
    zones = zone_delivery(
        recent,
        active,
        np.array([0, 0, 1, 1], np.int32),
        np.array([True, True, False, False]),
        2,
        4000.0,
        1000.0,
    )
    assert zones[0] == {"delivery": 1.0, "loss": 0.0, "held": 0.0}  # WiFi: every report is sent
    assert (
        zones[1]["held"] == 0.75 and zones[1]["delivery"] == 1.0
    )  # capped: 16 heard, 4 on air each
    rb = RelayBands(4)
    rb.add("r1", np.array([0, 1, 2], np.int32), 1000)
    rb.add("r2", np.array([2], np.int32), 1000)
    assert rb.counts(5000) == {"r1": 3, "r2": 1} and rb.counts(20_000) == {"r1": 0, "r2": 0}
    rows = relay_rows({"r2": {"state": "offline"}, "r9": {"state": "online"}}, rb.counts(5000))
    assert rows == [
        {"relay": "r1", "state": "online", "bands": 3},
        {"relay": "r2", "state": "offline", "bands": 1},
        {"relay": "r9", "state": "online", "bands": 0},
    ]
