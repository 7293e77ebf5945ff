"""The acoustic model of the floor: what a band on a wrist hears, and how loud.

One model for every simulator mode.  The twin's scene (sim/scene.py) mixes
its sounds at these levels and runs them through the DSP twin; the fast
emitter (sim/emit.py) adds their powers with constants measured on that twin;
the faithful mode feeds the same scene to the real firmware.  Every number
here is taken from a published measurement, and docs/sim.md gives each one
with its source (tests/test_acoustics.py checks that the two agree).  Where
the literature gives a range, the model takes a central value and `RANGES`
holds the range, which the accuracy bench sweeps (bench/sweep.py).

Levels are A-weighted dB SPL at the band's microphone, on the wearer's
wrist: LAeq for steady sounds; for one clap, the level over the 30 ms after
its onset.  "The whole zone cheering" means every present person in the
band's zone cheering; a share of them gives that share of the power.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

# Fields that are crowd sounds: the sweep's crowd-to-PA offset moves them together.
CROWD_FIELDS = ("applause_db", "cheer_db", "own_voice_db", "sing_db", "clap_db")


@dataclass(frozen=True)
class Floor:
    """A dance floor as a band on a wrist hears it (central values; sources in docs/sim.md)."""

    # the PA: a dance floor's LAeq at the band (clubbers' personal exposure ~98 dB(A))
    pa_db: float = 98.0
    # the crowd around the band, LAeq at the wrist
    applause_db: float = 90.0  # the whole zone clapping
    cheer_db: float = 95.0  # the whole zone cheering and shouting
    own_voice_db: float = 89.0  # the wearer shouting, ~0.45 m from the mouth
    sing_db: float = 86.0  # the wearer and neighbours singing along (loud vocal effort)
    # the wearer's own claps, ~0.25 m from the wrist: level over the 30 ms after the onset
    clap_db: float = 102.0
    clap_spread_db: float = 4.0  # one clap to the next: clap_db +- this, uniformly
    clap_jitter_ms: float = 15.0  # sd of a clap's asynchrony to the beat
    # the room between tracks: the microphone's self-noise and the ventilation
    quiet_db: float = 35.0
    # the wrist on a body among bodies: a fixed offset per band on the PA's sound
    body_sd_db: float = 2.0
    pa_delay_max_ms: float = 60.0  # the PA's sound arrives up to ~20 m late
    # the music reference's line input: the mix's LAeq on the band's scale, with the
    # ADC's gain set so the bass-heavy mix never reaches full scale (120 on that scale)
    line_db: float = 88.0
    # the wearer's wrist (bands with an IMU)
    clap_jolt_g: float = 4.0  # a clap's jolt, as the 100 Hz accelerometer samples it ...
    clap_jolt_spread_g: float = 2.0  # ... +- this, uniformly
    # the sweep: every crowd sound moved by this against the PA (0 = the model)
    crowd_offset_db: float = 0.0

    @property
    def crowd_to_pa_db(self) -> float:
        """A whole zone cheering against the PA, dB (the quantity the sweep moves)."""
        return self.cheer_db - self.pa_db

    def shifted(self, crowd_db: float) -> Floor:
        """The same floor with every crowd sound crowd_db louder (negative: quieter)."""
        moved = {name: getattr(self, name) + crowd_db for name in CROWD_FIELDS}
        return replace(self, crowd_offset_db=self.crowd_offset_db + crowd_db, **moved)


# What the literature leaves open: (low, high) around the model's value.  The accuracy
# bench sweeps pa_db and crowd_offset_db over these; the others are documented ranges.
RANGES: dict[str, tuple[float, float]] = {
    "pa_db": (88.0, 104.0),
    "crowd_offset_db": (-6.0, 6.0),
    "applause_db": (88.5, 95.0),
    "cheer_db": (89.0, 101.0),
    "own_voice_db": (85.0, 95.0),
    "clap_db": (98.0, 106.0),
    "body_sd_db": (0.0, 3.4),
}

# The short name of each field's source, as docs/sim.md's table cites it.
SOURCES: dict[str, str] = {
    "pa_db": "Williams et al. 2010; décret 2017-1244; DIN 15905-5; Twardella et al. 2008",
    "applause_db": "Kok et al. 2022; Guinness clapping record; Chan Centre 1999",
    "cheer_db": "Cranston et al. 2013; Mapp (stadium); Lee & Han 2019; Hayne et al. 2006",
    "own_voice_db": "ANSI S3.5-1997; Pearsons et al. 1977",
    "sing_db": "ANSI S3.5-1997",
    "clap_db": "Guinness loudest clap 2006/2008; Repp 1987",
    "clap_spread_db": "Papadakis & Stavroulakis 2020; de Vos et al. 2020",
    "clap_jitter_ms": "Repp 2005",
    "quiet_db": "InvenSense INMP441 datasheet",
    "body_sd_db": "Giardino & Seiler 1996; Roberts et al. 2022",
    "pa_delay_max_ms": "speed of sound, 343 m/s",
    "line_db": "setting: headroom to full scale (EBU R 68)",
    "clap_jolt_g": "estimate (no measurement found)",
    "clap_jolt_spread_g": "estimate (no measurement found)",
    "crowd_offset_db": "the sweep",
}


def levels() -> dict[str, float]:
    """The model's central values by field name (docs and tests read them here)."""
    floor = Floor()
    return {f.name: float(getattr(floor, f.name)) for f in fields(Floor)}
