"""The gateway's fast path for reactions (gateway/reaction.py), on simulated time."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdpulse.gateway import aggregate
from crowdpulse.gateway.engine import Engine
from crowdpulse.gateway.reaction import BUCKET_MS, N_BUCKETS, Detector
from crowdpulse.gateway.registry import Registry
from crowdpulse.gateway.sentiment import Model
from crowdpulse.reportcodec import relay_batch
from crowdpulse.sim.runs.runner import sign
from wristband import packet

T0 = 1_800_000_000_000


def _records(bands: np.ndarray, at: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    r = np.zeros(len(bands), aggregate.RECORD)
    r["band"], r["arrival_ms"] = bands, at
    r["flags"] = np.where(flagged, packet.FLAG_EVENT, 0)
    r["interval_ms"] = 250
    return r


def _stream(
    det: Detector,
    rng: np.random.Generator,
    start: int,
    ms: int,
    rate_per_s: float,
    share: float,
    bands: int,
    direct: bool = False,
    step: int = 10,
) -> list[tuple[int, list[int]]]:
    """Reports at rate_per_s with `share` of them flagged, handed in every `step` ms."""
    fired = []
    for t in range(start, start + ms, step):
        k = rng.poisson(rate_per_s * step / 1000)
        rec = _records(
            rng.integers(0, bands, k), t + rng.integers(0, step, k), rng.random(k) < share
        )
        got = det.update(rec, t + step, direct)
        if got:
            fired.append((t + step, got))
    return fired


def test_a_steady_background_of_flagged_reports_is_no_reaction() -> None:
    rng = np.random.default_rng(1)
    det = Detector(np.zeros(5000, np.int32), ["floor"])
    assert _stream(det, rng, T0, 120_000, 490, 0.08, 5000) == []  # two minutes of a clapping crowd


def test_a_whole_crowd_onset_is_seen_within_a_few_reports() -> None:
    rng = np.random.default_rng(2)
    det = Detector(np.zeros(5000, np.int32), ["floor"])
    assert _stream(det, rng, T0, 10_000, 490, 0.03, 5000) == []
    fired = _stream(det, rng, T0 + 10_000, 200, 490, 0.95, 5000)
    assert fired and fired[0][1] == [0, 1]  # the zone and the venue
    assert (
        fired[0][0] - (T0 + 10_000) <= 30
    )  # a few tens of ms of reports at the BLE channel's rate
    state = det.state(fired[0][0])
    assert state["active"] and state["zones"][0]["active"] and state["share"] > 0.5


def test_a_tenth_of_the_crowd_starting_to_clap_is_no_reaction() -> None:
    rng = np.random.default_rng(3)
    det = Detector(np.zeros(5000, np.int32), ["floor"])
    _stream(det, rng, T0, 10_000, 490, 0.03, 5000)
    assert _stream(det, rng, T0 + 10_000, 2000, 490, 0.10, 5000) == []


def test_nothing_is_told_before_the_background_is_known() -> None:
    rng = np.random.default_rng(7)
    det = Detector(np.zeros(5000, np.int32), ["floor"])
    assert _stream(det, rng, T0, 150, 490, 1.0, 5000) == []  # a zone's first reports, all flagged


def test_relay_and_direct_streams_keep_their_own_background() -> None:
    """WiFi bands flag onsets rarely among their many reports; BLE adverts often."""
    rng = np.random.default_rng(4)
    det = Detector(np.zeros(6000, np.int32), ["floor"])
    for second in range(20):
        t = T0 + second * 1000
        assert _stream(det, rng, t, 1000, 490, 0.30, 5000) == []
        assert _stream(det, rng, t, 1000, 2000, 0.01, 1000, direct=True) == []
    fired = _stream(det, rng, T0 + 20_000, 100, 2000, 0.9, 1000, direct=True)
    assert fired


def test_a_reaction_ends() -> None:
    rng = np.random.default_rng(5)
    det = Detector(np.zeros(5000, np.int32), ["floor"])
    _stream(det, rng, T0, 6000, 490, 0.02, 5000)
    fired = _stream(det, rng, T0 + 6000, 100, 490, 1.0, 5000)
    at = fired[0][0]
    assert det.state(at)["active"] and det.state(at)["zones"][0]["active"]
    assert det.expire(at + 60_000) and det.state(at + 60_000)["active"] is False


def test_an_onset_of_the_music_reference_is_no_reaction() -> None:
    """The programme's own onset flags every band at once: with the reference's onset
    around it, it starts no reaction, and one already started ends."""
    rng = np.random.default_rng(5)
    det = Detector(np.zeros(5000, np.int32), ["floor"])
    _stream(det, rng, T0, 6000, 490, 0.02, 5000)
    det.music_onset(T0 + 6000)
    assert _stream(det, rng, T0 + 6000, 100, 490, 1.0, 5000) == []
    _stream(det, rng, T0 + 8000, 6000, 490, 0.02, 5000)
    fired = _stream(det, rng, T0 + 14_000, 100, 490, 1.0, 5000)
    assert fired and det.state(fired[0][0])["active"]
    det.music_onset(fired[0][0] + 500)  # the reference's report came a little later
    assert not det.active


def test_an_engine_publishes_the_reaction_at_once_beside_the_score() -> None:
    key = bytes(range(32))
    reg = Registry(key, [(f"B{i:04d}", "floor") for i in range(400)], ["floor"])
    eng = Engine("club", reg, Model())
    rng = np.random.default_rng(6)
    seq = np.zeros(400, np.int64)
    ids = reg.ids_for_epoch(packet.epoch_of(T0 // 1000))

    def batch(t: int, idx: np.ndarray, flagged: bool) -> bytes:
        codes = np.zeros((len(idx), 11), np.uint8)
        codes[:, 0], codes[:, 1], codes[:, 7], codes[:, 8], codes[:, 9] = 25, 150, 30, 255, 255
        codes[:, 10] = packet.FLAG_EVENT if flagged else 0
        reps = sign(reg, ids, seq, idx, codes, packet.epoch_of(T0 // 1000))
        return relay_batch(reps, np.full(len(idx), -60.0), np.full(len(idx), t))

    t = T0
    while t < T0 + 6000:  # 400 bands, every 250 ms, nothing flagged
        eng.ingest_batch(batch(t, rng.choice(400, 16, replace=False), False), at_ms=t)
        t += 10
    before = eng.tick(t)["score"]
    assert before is not None and not eng.take_reaction()
    eng.ingest_batch(batch(t, rng.choice(400, 12, replace=False), True), at_ms=t)
    assert eng.take_reaction() and not eng.take_reaction()
    snap = eng.tick(t + 5)
    assert snap["reaction"]["active"] and snap["zones"][0]["reaction"] > 0.3
    assert (
        abs(snap["score"] - before) < 5
    )  # the score is the model's: the reaction is reported beside it
    assert eng.reaction_state(t + 5)["zones"][0]["active"]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 400), st.booleans()),
            max_size=40,
        ),
        max_size=12,
    )
)
def test_each_ring_slot_counts_every_report_of_the_bucket_it_holds(
    batches: list[list[tuple[int, int, bool]]],
) -> None:
    # buckets only move forwards, so a slot holding bucket b has counted every
    # report of b ever added, whatever order the batches came in (late ones too)
    det = Detector(np.array([0, 1, 1], np.int32), ["a", "b"])
    seen: list[tuple[int, int, bool]] = []
    for n, reports in enumerate(batches):
        if not reports:
            continue
        band, ms, flag = (np.array(col) for col in zip(*reports, strict=True))
        at = T0 + 60 * n + ms
        det.update(_records(band, at, flag.astype(bool)), int(at.max()))
        seen += [
            (r, t // BUCKET_MS, f)
            for b, t, f in zip(band, at, flag, strict=True)
            for r in (int(det.zone_of[b]), det.rows - 1)
        ]
    for r in range(det.rows):
        for k in range(N_BUCKETS):
            held = [f for row, bucket, f in seen if row == r and bucket == det.bn[r, k]]
            assert (det.all[r, k], det.ev[r, k]) == (len(held), sum(held)), (r, k)


def test_a_report_several_relays_pass_on_counts_once_for_reactions() -> None:
    # the binomial test needs independent reports: a copy from a second relay is
    # the same report, and counting it would make every flagged advert a clump
    key = bytes(range(32))
    reg = Registry(key, [(f"B{i:04d}", "floor") for i in range(50)], ["floor"])
    eng = Engine("club", reg, Model())
    codes = np.zeros((50, packet.N_CODES), np.uint8)
    codes[:, 0], codes[:, 10] = 25, packet.FLAG_EVENT
    seq = np.zeros(50, np.int64)
    epoch = packet.epoch_of(T0 // 1000)
    reps = sign(reg, reg.ids_for_epoch(epoch), seq, np.arange(50), codes, epoch)
    for t in (T0, T0 + 3):  # two relays heard the same adverts
        eng.ingest_batch(relay_batch(reps, np.full(50, -60.0), np.full(50, t)), at_ms=T0 + 5)
    rings = eng.reactions
    assert (rings.all.sum(), rings.ev.sum()) == (2 * 50, 2 * 50)  # the zone's row and the venue's
