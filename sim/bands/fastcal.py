"""The fast model's constants: how the band's DSP reads each sound of the floor.

Measured on the DSP twin (`calibrate()` in tests/test_sim_calibration.py):
scenes of sim/world/scene.py at the levels of the acoustic model (sim/world/acoustics.py),
the PA from 56 to 106 dB(A), after the DSP's 20 s warm-up, one report per
250 ms, 40 bands a situation.  The test checks that the shipped values are the
measured ones, and that the fast fields then match the twin's.  Nothing here
is a level of the floor: those are the acoustic model's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sound:
    """How the DSP reads one sound heard alone: each sub-band's power against the
    sound's LAeq (dB; the mid and top bands before the DSP's own floor, below),
    and the sound's two textures."""

    voice_db: float
    mid_db: float
    low_db: float
    top_db: float
    tonal: float  # share of voice-band energy in steady lines
    fluct: float  # mean 40 ms voice-band level step, dB
    # a crowd sound over music: how far (dB) the music's voice band must stand above
    # this sound's for the music to keep half its steady lines (voices break them sooner)
    masks_db: float = 0.0
    sd_db: float = 0.0  # a crowd sound's own 250 ms level variation (sd, dB)


Levels5 = tuple[float, float, float, float, float]
Curve = tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Calibration:
    """Every constant of the fast model (sim/bands/emit.py), measured on the twin."""

    # each sound alone (voice, mid, low, top, tonal, fluct, masks_db, sd_db)
    music: Sound = Sound(0.586, -14.8, 14.66, -5.74, 0.591, 0.822, 0.0, 0.0)
    # the music reference: the dry mix, at line level
    reference: Sound = Sound(0.379, -13.38, 11.73, -3.29, 0.544, 1.12, 0.0, 0.0)
    applause: Sound = Sound(-1.87, -11.04, -24.3, -10.31, 0.352, 0.942, 4.48, 0.303)
    # the zone's and the wearer's voices
    cheer: Sound = Sound(0.885, -16.11, -12.52, -20.7, 0.379, 1.59, 7.63, 0.533)
    sing: Sound = Sound(1.06, -18.67, -13.22, -41.63, 0.419, 2.03, 8.46, 1.08)
    # one of the wearer's claps, against its exposure
    clap: Sound = Sound(-2.24, -10.37, -28.07, -6.95, 0.492, 7.28, 0.0, 0.0)
    # the room between tracks
    quiet: Sound = Sound(-1.4, -10.48, 12.23, -2.16, 0.0, 0.415, 0.0, 0.0)
    # mean 250 ms LAeq code - the music's LAeq: it is louder on its beats
    music_window_db: float = -0.226
    # how 250 ms of music vary about their mean, per field (laeq, voice, mid, low, top),
    # dB: the programme's own beats, the same for every band at once (and for the
    # reference, which hears the dry mix), and what differs from band to band
    music_sd: Levels5 = (1.05, 0.942, 2.19, 1.54, 2.55)
    band_sd: Levels5 = (0.259, 0.267, 0.47, 0.466, 0.653)
    reference_sd: Levels5 = (1.15, 1.01, 2.47, 1.61, 2.69)
    # what the DSP reads of each crowd sound over the acoustic model's level (~0: as designed)
    applause_read_db: float = 0.041
    cheer_read_db: float = -0.044
    sing_read_db: float = -0.025
    # one clap's exposure (dB re 1 s) against its 30 ms level
    clap_sel_db: float = -17.11
    # the mid and top bands' own floor: 2 ms energies below ~66 dB are truncated away
    # (the level a sub-band would read with exact arithmetic, dB; what the DSP reads less)
    mid_floor: Curve = (
        (56.97, -20.47),
        (60.97, -5.35),
        (64.97, -2.49),
        (68.97, -0.81),
        (76.97, 0.0),
    )
    top_floor: Curve = (
        (58.03, -8.75),
        (62.03, -3.05),
        (66.03, -1.64),
        (70.03, -0.28),
        (74.03, -0.28),
        (78.03, 0.08),
        (86.03, 0.0),
    )
    # the tonal share of a mixture: the background's (music or room) weight grows with
    # how far its voice band stands over the crowd's (logistic of that less the crowd's
    # masks_db, this wide)
    tonal_width_db: float = 3.86
    # fluctuation of a mixture: the p-norm of each sound's own, times its voice-band share
    fluct_norm: float = 1.99
    # the wearer's claps break the voice band's steady lines and make it jump: tonal share
    # taken and fluctuation added per clap/s, falling as the clap's exposure sinks into
    # the level around it (logistic, dB)
    clap_tonal: float = 0.0376
    clap_tonal_mid_db: float = 1.19
    clap_tonal_width_db: float = 10.38
    clap_fluct_db: float = 3.30
    clap_fluct_mid_db: float = 12.0
    clap_fluct_width_db: float = 8.21
    # claps counted: the detector needs the clap's transient clear of what it sits on;
    # the share counted when nothing masks it, and the clap exposure above the music's
    # LAeq at which half are (logistic, dB)
    clap_detect: float = 0.981
    clap_mask_db: float = -11.18
    clap_mask_width_db: float = 3.08
    # the microphone clips (0 dBFS = 120 dB SPL): as the bass-heavy waveform's level x
    # (its low band's, dB) passes x0, every level reads k*(x - x0)^1.5 dB low, the low
    # band more, and the tonal share drops (the distortion smears the lines)
    clip_x0_db: float = 113.05
    clip_k: float = 0.069
    clip_low_k: float = 0.052
    clip_tonal_k: float = 0.005
    # the IMU: what one clap's jolt adds to the interval's sum of | |a| - 1 g |, in g
    jolt_motion_g: float = 2.0
