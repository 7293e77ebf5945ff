"""The music reference end to end: a venue file marks a reference band, and a real
gateway, over a real Mosquitto, scores what the music does not explain.

The bands' and the reference's reports come from the band's own DSP (the twin)
on one synthetic scene: music with a loud passage, then a crowd joining.  They
are signed and published in real time as a relay would.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from gateway_helpers import GatewayProc, band_ids, publisher, send_batch, write_venue

from crowdpulse.broker import Mosquitto
from crowdpulse.gateway import venue
from crowdpulse.keys import load_venue_key
from crowdpulse.sim.bands import bandfeatures
from crowdpulse.sim.runs import crowdscore
from crowdpulse.sim.world import clapset, signals
from wristband import packet

BOOTH = """
[[zones]]
name = "booth"
reference = true
bands = ["REF01"]
"""
DUR, LOUD, CROWD = 30.0, (8.0, 14.0), 20.0


def test_a_reference_zone_marks_its_bands_and_is_never_scored(tmp_path: Path) -> None:
    cfg = venue.load(write_venue(tmp_path, BOOTH))
    assert cfg.references == ["REF01"]
    assert [z.name for z in cfg.crowd_zones] == ["floor", "bar"]
    line_in = venue.load(write_venue(tmp_path, '[reference]\nline_in = "hw:1,0"\n'))
    assert line_in.references == [venue.LINE_IN_ID] and line_in.line_in == "hw:1,0"


def _scene() -> tuple[np.ndarray, np.ndarray]:
    """(what the crowd's bands hear, the programme alone)."""
    rng = np.random.default_rng(11)
    music = signals.at_level(clapset.music_at_band(DUR, rng), -24)
    loud = (np.arange(len(music)) >= signals.seconds(LOUD[0])) & (
        np.arange(len(music)) < signals.seconds(LOUD[1])
    )
    music = music * np.where(loud, signals.db_to_gain(6.0), 1.0)  # the chorus: 6 dB louder
    crowd = np.zeros_like(music)
    join = signals.seconds(CROWD)
    crowd[join:] = (
        signals.crowd_cheer(DUR - CROWD, rng, dbfs=-24)
        + signals.crowd_applause(DUR - CROWD, rng, dbfs=-24)
    )[: len(music) - join]
    return music + crowd, music


def _intervals() -> list[list[bytes]]:
    """Each band's report codes over the scene; the reference band last."""
    scene, music = _scene()
    mixes = list(crowdscore.band_mixes(scene, 30, np.random.default_rng(2)))
    mixes.append(signals.to_int16(np.clip(music, -1, 1)))
    return [[iv.codes for iv in bandfeatures.on_twin(audio)] for audio in mixes]


def test_a_real_gateway_scores_against_its_reference_band(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    cfg = write_venue(tmp_path, BOOTH)
    vk = load_venue_key(tmp_path / "venue.key")
    ids = [*band_ids(1, 30), "REF01"]
    keys = [packet.band_key(vk, b) for b in ids]
    codes = _intervals()
    gw = GatewayProc(mosquitto.url, cfg).wait_ready()
    pub = publisher(mosquitto.url)
    seen: list[tuple[float, float | None, str]] = []
    try:
        start = time.time()
        for step in range(min(len(c) for c in codes)):
            now = int(time.time() * 1000)
            epoch = packet.epoch_of(now // 1000)
            reports = [
                packet.encode_codes(k, epoch, step, c[step])
                for k, c in zip(keys, codes, strict=True)
            ]
            send_batch(pub, reports, now)
            if step % 2 == 1:
                state = gw.get("/api/state")
                seen.append((time.time() - start, state["score"], state["evidence"]["reference"]))
            time.sleep(max(0.0, start + 0.25 * (step + 1) - time.time()))
    finally:
        pub.loop_stop()
        gw.stop()
    assert seen[-1][2] == "live"
    # the reports are 250 ms of audio each, published every 250 ms: scene time = step / 4
    scored = [(t, s) for t, s, _ in seen if s is not None]
    music = [s for t, s in scored if 4.0 <= t < CROWD]
    chorus = [s for t, s in scored if LOUD[0] + 2 <= t < LOUD[1]]
    crowd = [s for t, s in scored if t >= CROWD + 4]
    assert music and chorus and crowd
    assert max(music) <= 55, music  # the louder chorus is the music's, not the crowd's
    assert np.mean(crowd) >= np.mean(music) + 20, (np.mean(music), np.mean(crowd))
