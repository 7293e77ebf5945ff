"""A band's excess over the music reference, from its last seconds' 500 ms buckets
(gateway/reference.py bucket_excess): levels arrive in 0.5 dB steps, and a
crowd 10 dB under a loud PA adds less than one step, so the estimate must not
snap to the grid; a bucket that a drop straddles must still move nothing."""

from __future__ import annotations

import numpy as np

from crowdpulse.gateway import reference
from wristband import packet

BUCKETS, COLUMNS = 8, 6
STEP_DB = packet.LEVEL_STEP_DB
CROWD_EXCESS_DB = 10 * np.log10(1 + 10 ** (-10 / 10))  # a crowd 10 dB under the music: 0.41


def _buckets(
    music_db: np.ndarray, band_db: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(valid, means in level codes, g) for a reference (row 0) and bands (rows 1...)."""
    levels = np.vstack([music_db[None, :], band_db])
    means = np.repeat(np.round(levels / STEP_DB)[:, :, None], COLUMNS, axis=2)
    valid = np.ones(levels.shape, bool)
    return valid, means, np.zeros((len(levels), len(reference.BANDS)))


def test_a_crowd_under_one_level_step_reads_its_excess_not_the_grid() -> None:
    rng = np.random.default_rng(7)
    bands = 400
    music = 95.0 + rng.uniform(-2.0, 2.0, BUCKETS)  # the programme moves within 4 s
    body = rng.normal(0.0, 2.0, (bands, 1))  # each band's own coupling (g = 0 here)
    valid, means, g = _buckets(music, music[None, :] + CROWD_EXCESS_DB + body)
    # each band's coupling, as it would have been learned from its quantized levels
    g = np.round(body / STEP_DB) * STEP_DB
    g = np.vstack([np.zeros((1, 1)), g]) * np.ones((1, len(reference.BANDS)))
    have, d = reference.bucket_excess(valid, means, 0, g)
    assert have.all()
    mean_excess = float(d[1:, 0].mean())
    assert abs(mean_excess - CROWD_EXCESS_DB) < 0.12, mean_excess
    # every band reads a value between the grid's points, not only on them
    assert np.unique(np.round(d[1:, 0], 3)).size > 3


def test_a_drop_that_one_bucket_straddles_moves_nothing() -> None:
    music = np.full(BUCKETS, 95.0)
    band = np.full((1, BUCKETS), 95.0)
    band[0, 3] += 6.0  # the band's reports caught the drop a bucket before the reference's
    valid, means, g = _buckets(music, band)
    _, d = reference.bucket_excess(valid, means, 0, g)
    assert abs(float(d[1, 0])) < 1e-9


def test_buckets_the_reference_does_not_share_are_left_out() -> None:
    music = np.full(BUCKETS, 95.0)
    valid, means, g = _buckets(music, np.full((1, BUCKETS), 96.0))
    valid[0, :4] = False  # the reference missed the first two seconds
    means[1, :4] = np.round(120.0 / STEP_DB)  # what the band heard then does not count
    have, d = reference.bucket_excess(valid, means, 0, g)
    assert have[1] and abs(float(d[1, 0]) - 1.0) < 1e-9
    valid[0, :] = False
    have, d = reference.bucket_excess(valid, means, 0, g)
    assert not have[1] and float(d[1, 0]) == 0.0
