"""Two gateway workers on one Mosquitto, sharing ingestion through a shared
subscription, end with the same scores as one gateway on the same input."""

from __future__ import annotations

import random
import shutil
import time
from pathlib import Path

from gateway_helpers import Bands, GatewayProc, band_ids, metric, publisher, send_batch, write_venue

from crowdpulse.broker import Mosquitto


def _copy_venue(src: Path, dst: Path) -> Path:
    dst.mkdir()
    shutil.copy(src.parent / "venue.key", dst / "venue.key")
    return write_venue(dst)


def test_shared_subscription_workers_agree_with_a_single_gateway(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    solo_cfg = write_venue(tmp_path)
    w1_cfg, w2_cfg = _copy_venue(solo_cfg, tmp_path / "w1"), _copy_venue(solo_cfg, tmp_path / "w2")
    solo = GatewayProc(mosquitto.url, solo_cfg, "--worker", "solo")
    w1 = GatewayProc(mosquitto.url, w1_cfg, "--share-group", "gw", "--worker", "w1")
    w2 = GatewayProc(mosquitto.url, w2_cfg, "--share-group", "gw", "--worker", "w2")
    procs = [solo, w1, w2]
    try:
        for g in procs:
            g.wait_ready()
        time.sleep(0.5)
        bands = Bands(solo_cfg, band_ids(1, 30))
        rng = random.Random(4)
        pub = publisher(mosquitto.url)
        sent = 0
        last = 0
        for i in range(24):
            now = int(time.time() * 1000)
            reps = bands.reports(now, claps=i % 4, voice_db=85.0 + i % 9)
            send_batch(pub, reps, now, relay="r1")
            # a second relay hears about half the same adverts, a few ms later
            again = [r for r in reps if rng.random() < 0.5]
            send_batch(pub, again, now + 3, relay="r2")
            sent += len(reps)
            last = now
            time.sleep(0.25)
        pub.loop_stop()
        time.sleep(1.0)
        at = last + 500
        states = [g.get(f"/api/state?at={at}") for g in procs]
        accepted = [metric(g.get("/metrics"), "crowdpulse_reports_accepted_total") for g in procs]
    finally:
        for g in procs:
            g.stop()
    # the single gateway accepted every report once (the second relay's copies are
    # duplicates); the workers split the batches, so each saw only part of them
    assert accepted[0] == sent
    assert accepted[1] > 0 and accepted[2] > 0
    assert accepted[1] + accepted[2] >= sent
    for s in states[1:]:
        assert s["bands"] == states[0]["bands"] == 30
        assert s["score"] == states[0]["score"]
        assert [z["score"] for z in s["zones"]] == [z["score"] for z in states[0]["zones"]]
