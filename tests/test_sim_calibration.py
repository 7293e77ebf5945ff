"""Fast mode is calibrated against the twin, and twin mode is the firmware's DSP.

- The twin emitter's batched frame loop is bit-identical to the firmware's
  `Pipeline.process` on a rendered scene.
- The twin reads back the acoustic model's levels (sim/world/acoustics.py): the
  music at its LAeq, each crowd sound at the level the model gives it.
- `calibrate()` measures every constant of `sim.fastcal.Calibration` from the
  twin on synthesized scenes (sim/world/scene.py), band by band, after the DSP's
  20 s warm-up, with the PA from 56 to 104 dB(A); the shipped constants must
  match what it measures.
- For each crowd situation at each PA level the fast `Emitter`'s report v2
  fields (laeq, voice, mid, low, top, tonal, fluct, claps heard, motion and
  claps felt by the IMU) match the twin's, and so do the music reference's.
- The twin's event flag comes where the fast mode's reactions say a band
  reports at once.
- The gateway's sentiment from a fast-mode night matches a twin-mode night of
  the same crowd (the emitters draw from spawned generators, so the crowd, the
  tracks and the radio are identical), with and without a music reference.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
import numpy.typing as npt
import pytest
from scipy.optimize import curve_fit, minimize_scalar

from crowdpulse.gateway.engine import Engine
from crowdpulse.sim.bands import twin
from crowdpulse.sim.bands.emit import Emitter, db, power, read_floor
from crowdpulse.sim.bands.fastcal import Calibration, Sound
from crowdpulse.sim.bands.twinemit import TwinEmitter
from crowdpulse.sim.runs.runner import SimRun
from crowdpulse.sim.runs.sinks import EngineSink
from crowdpulse.sim.world import scenario
from crowdpulse.sim.world.acoustics import Floor
from crowdpulse.sim.world.crowd import Actions
from wristband import packet

FLOOR = Floor()
REF_DB = 94.0  # the middle of a dance floor's 88-98 dB (sim/scenarios)
BAR_DB = 80.0  # a bar or the back of a room: crowd sounds stand out far more
LEVELS = (72.0, BAR_DB, 88.0, REF_DB, 102.0)  # a quiet lounge to the front of a loud floor
ALONE = 50.0  # music 36+ dB under every crowd sound: each is measured on its own here
FLOOR_LEVELS = (56.0, 60.0, 64.0, 68.0, 76.0, 84.0)  # quiet music: the DSP's mid/top floor
LOUD = 104.0  # the top of the PA's range: the microphone clips (0 dBFS = 120 dB SPL)
CLIP_LEVELS = (REF_DB, 98.0, 100.0, 102.0, LOUD, 106.0)
STEADY = (88.0, REF_DB)  # music loud enough to be clear of that floor, short of clipping
BPM = 124.0
BANDS = 40  # per situation
WARM_S = 21.0  # the voice background's warm-up is 2048 frames
STEP_S = 0.25
MOTION_G = 0.3  # every wearer dances this much; every other band has an IMU
U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Situation:
    kind: str
    music_db: float = REF_DB
    music_on: bool = True
    own_clap: bool = False
    clap_share: float = 0.0
    cheer_share: float = 0.0  # the zone cheers
    own_cheer: float = 0.0  # this share of the wearers cheer too
    sing: bool = False
    seconds: float = 6.0

    @property
    def name(self) -> str:
        return f"{self.kind} {self.music_db:g}"


def _at(db: float) -> list[Situation]:
    return [
        Situation("music", db),
        Situation("clapping along", db, own_clap=True),
        Situation("applause around", db, clap_share=0.5),
        Situation("cheering", db, cheer_share=0.6, own_cheer=0.6, seconds=3.0),
        Situation("singing", db, sing=True, seconds=8.0),
    ]


SITUATIONS = [s for db in (ALONE, *LEVELS) for s in _at(db)] + [
    Situation("applause", ALONE, clap_share=1.0),
    Situation("cheer around", ALONE, cheer_share=0.6, seconds=3.0),
    Situation("silence", music_on=False),
    *[Situation("music", db) for db in FLOOR_LEVELS],
    *[Situation("music", db) for db in CLIP_LEVELS if db not in LEVELS],
    Situation("clapping along", LOUD, own_clap=True),
    Situation("cheering", LOUD, cheer_share=0.6, own_cheer=0.6),
]
COMPARED = [s for s in SITUATIONS if s.music_db in (*LEVELS, LOUD) or not s.music_on]


def _acts(sits: list[Situation], on: bool) -> tuple[Actions, F64, F64]:
    n = len(sits) * BANDS
    clap, cheer, sing = np.zeros(n, bool), np.zeros(n, bool), np.zeros(n, bool)
    for g, s in enumerate(sits):
        sl = slice(g * BANDS, (g + 1) * BANDS)
        clap[sl], sing[sl] = on and s.own_clap, on and s.sing
        cheer[sl] = on & (
            np.arange(BANDS) < round(s.own_cheer * BANDS)
        )  # an exact share: calibrate() divides by it
    zc = np.array([s.clap_share * on for s in sits])
    zv = np.array([s.cheer_share * on for s in sits])
    return Actions(clap, cheer, sing, np.full(n, MOTION_G)), zc, zv


def run_situations(
    fast: bool,
    sits: list[Situation] = SITUATIONS,
    seed: int = 7,
    cal: Calibration | None = None,
    floor: Floor = FLOOR,
) -> dict[str, U8]:
    """Codes (intervals x bands, 11) per situation: after WARM_S of music at the
    situation's level (or of the quiet room), the situation for its length, one
    report per 250 ms."""
    rng = np.random.default_rng(seed)
    n = len(sits) * BANDS
    music = np.repeat([s.music_db for s in sits], BANDS) + rng.normal(0, 1.0, n)
    imu = np.arange(n) % 2 == 0
    em = (
        Emitter(np.arange(n), music, rng, imu, cal=cal, floor=floor)
        if fast
        else TwinEmitter(np.arange(n), music, rng, imu, floor=floor)
    )
    zone = np.repeat(np.arange(len(sits)), BANDS).astype(np.int32)
    iv, no = np.full(n, STEP_S), np.zeros(n, bool)
    if not fast:  # a steady scene first: the room between tracks has been quiet a while too
        quiet, zc, zv = _acts(sits, False)
        on = np.repeat([s.music_on for s in sits], BANDS)
        for _ in range(int(WARM_S / STEP_S)):
            for music_on in (True, False):
                sel = np.flatnonzero(on == music_on)
                em.codes(sel, quiet, zc, zv, zone, iv[sel], BPM, music_on, no[sel])
    act, zc, zv = _acts(sits, True)
    em.reactions(_acts(sits, False)[0], zv * 0, zone)
    started = em.reactions(act, zv, zone)
    rows: dict[str, list[U8]] = {s.name: [] for s in sits}
    for k in range(int(max(s.seconds for s in sits) / STEP_S)):
        em.advance(STEP_S)  # the programme moves on, for every band at once
        for g, s in enumerate(sits):
            if k < int(s.seconds / STEP_S):
                idx = np.arange(g * BANDS, (g + 1) * BANDS)
                ev = started[idx] if k == 0 else no[idx]
                rows[s.name].append(em.codes(idx, act, zc, zv, zone, iv[idx], BPM, s.music_on, ev))
    return {name: np.array(r) for name, r in rows.items()}


def run_reference(fast: bool, seconds: float = 30.0, seed: int = 3) -> U8:
    """The music reference's codes, one per 250 ms, after the same warm-up."""
    rng = np.random.default_rng(seed)
    em = (
        Emitter(np.arange(1), np.zeros(1), rng)
        if fast
        else TwinEmitter(np.arange(1), np.zeros(1), rng)
    )
    rows = []
    for _ in range(int((WARM_S + seconds) / STEP_S)):
        em.advance(STEP_S)
        rows.append(em.reference_codes(STEP_S, BPM, True, FLOOR.line_db)[0])
    return np.array(rows[int(WARM_S / STEP_S) :])


COLUMNS = {
    "laeq": 1,
    "voice": 2,
    "mid": 3,
    "low": 4,
    "top": 5,
    "tonal": 6,
    "fluct": 7,
    "claps": 9,
    "motion": 8,
    "imu_claps": 9,
}
LEVEL_FIELDS = ("laeq", "voice", "mid", "low", "top")


def field(c: U8, name: str) -> F64:
    v = c[..., COLUMNS[name]].astype(np.float64)
    if name in LEVEL_FIELDS:
        return np.asarray(packet.LEVEL_OFFSET_DB + v * packet.LEVEL_STEP_DB)
    if name == "claps":
        return np.asarray((c[..., 9] >> 4) / STEP_S)
    if name == "imu_claps":
        return np.asarray((c[..., 9] & 15)[:, 0::2] / STEP_S)  # the bands with an IMU
    if name == "motion":
        return np.asarray(v[:, 0::2] * packet.MOTION_STEP_G)
    return v * {"tonal": packet.TONAL_STEP, "fluct": packet.TEXTURE_STEP_DB}[name]


def _logistic(x: F64, top: float, mid: float, width: float) -> F64:
    return np.asarray(top / (1.0 + np.exp(-(x - mid) / width)))


def _sound(tw: dict[str, U8], kind: str, ref: str = "music", steady: bool = True) -> Sound:
    """A crowd sound heard alone (over music 36 dB under it): each sub-band's added
    power against its added LAeq power, and its textures."""

    def added(f: str) -> float:
        return float(
            np.mean(power(field(tw[f"{kind} {ALONE:g}"], f)))
            - np.mean(power(field(tw[f"{ref} {ALONE:g}"], f)))
        )

    a = added("laeq")

    def rel(f: str) -> float:
        return float(db(added(f) / a))

    t = tw[f"{kind} {ALONE:g}"]
    laeq = field(t, "laeq")
    return Sound(
        rel("voice"),
        rel("mid"),
        rel("low"),
        rel("top"),
        float(field(t, "tonal").mean()),
        float(field(t, "fluct").mean()),
        sd_db=float(np.std(laeq - laeq.mean(axis=0))) if steady else 0.0,
    )


def _music(tw: dict[str, U8]) -> Sound:
    """The music's sub-bands against its LAeq, as code means (what the gateway averages)."""

    def off(f: str) -> float:
        return float(
            np.mean(
                [
                    field(tw[f"music {d:g}"], f).mean() - field(tw[f"music {d:g}"], "laeq").mean()
                    for d in STEADY
                ]
            )
        )

    return Sound(
        off("voice"),
        off("mid"),
        off("low"),
        off("top"),
        float(np.mean([field(tw[f"music {d:g}"], "tonal").mean() for d in STEADY])),
        float(np.mean([field(tw[f"music {d:g}"], "fluct").mean() for d in STEADY])),
    )


MIXTURES = (
    ("applause around", ("applause",)),
    ("cheering", ("cheer", "own")),
    ("singing", ("sing",)),
)


def _tonal_mix(
    tw: dict[str, U8],
    music: Sound,
    window: float,
    sounds: dict[str, tuple[float, Sound]],
    clip: tuple[float, float],
) -> tuple[dict[str, float], float]:
    """The tonal share's mixture logistic: each crowd sound's masks_db and their common
    width, fitted on every crowd situation at every level (less what the microphone's
    clipping takes at the loudest, clip = (x0, k) as the fast model applies it)."""
    xs, ys, tc, which, drop = [], [], [], [], []
    for i, (kind, parts) in enumerate(MIXTURES):
        v = sum(sounds[k][0] * power(sounds[k][1].voice_db) for k in parts)
        t = sum(sounds[k][0] * power(sounds[k][1].voice_db) * sounds[k][1].tonal for k in parts) / v
        low = sum(sounds[k][0] * power(sounds[k][1].low_db) for k in parts)
        for lv in LEVELS:
            xs.append(float(lv + window + music.voice_db - db(v)))
            ys.append(float(field(tw[f"{kind} {lv:g}"], "tonal").mean()))
            tc.append(float(t))
            which.append(i)
            drop.append(
                clip[1]
                * max(float(db(power(lv + window + music.low_db) + low)) - clip[0], 0.0) ** 1.5
            )
    xa, ta, wa, da = np.array(xs), np.array(tc), np.array(which), np.array(drop)

    def model(x: F64, m0: float, m1: float, m2: float, w: float) -> F64:
        return np.asarray(
            ta + (music.tonal - ta) * _logistic(x, 1.0, np.array([m0, m1, m2])[wa], w) - da
        )

    (m0, m1, m2, w), _ = curve_fit(model, xa, np.array(ys), p0=(5.0, 5.0, 5.0, 3.0))
    return {"applause": float(m0), "cheer": float(m1), "sing": float(m2)}, float(w)


def _fluct_norm(
    tw: dict[str, U8], music: Sound, window: float, sounds: dict[str, tuple[float, Sound]]
) -> float:
    """The p of the fluctuation's p-norm, fitted on every crowd situation at every level."""
    cases = []
    for kind, parts in MIXTURES:
        for lv in LEVELS:
            vf = [(power(lv + window + music.voice_db), music.fluct)]
            vf += [(sounds[k][0] * power(sounds[k][1].voice_db), sounds[k][1].fluct) for k in parts]
            total = sum(v for v, _ in vf)
            cases.append(
                ([v / total * f for v, f in vf], float(field(tw[f"{kind} {lv:g}"], "fluct").mean()))
            )

    def err(p: float) -> float:
        return float(sum((np.sum(np.power(a, p)) ** (1 / p) - y) ** 2 for a, y in cases))

    return float(minimize_scalar(err, bounds=(1.0, 4.0), method="bounded").x)


def _floor_curve(
    tw: dict[str, U8], window: float, f: str, offset: float
) -> tuple[tuple[float, float], ...]:
    """(exact level, what the DSP reads less) of the mid or top band of quiet music."""
    pts = []
    for lv in FLOOR_LEVELS + LEVELS[:2]:
        true = lv + window + offset
        got = field(tw[f"music {lv:g}"], f).mean() - true
        if (
            field(tw[f"music {lv:g}"], f) > packet.LEVEL_OFFSET_DB
        ).mean() >= 0.5:  # while most intervals read something
            pts.append((round(float(true), 2), round(float(got), 2)))
    pts.sort()
    return (*pts, (pts[-1][0] + 8.0, 0.0))


def calibrate(tw: dict[str, U8], room: dict[str, U8]) -> Calibration:
    """Every constant of the fast model, measured on the twin: each crowd sound alone
    (ALONE), the music clear of the DSP's floor (STEADY), the floor itself (quiet
    music), and how mixtures and masking go across all LEVELS."""
    m = _music(tw)
    window = float(
        np.mean([field(tw[f"music {d:g}"], "laeq").mean() - d for d in (*STEADY, *LEVELS[:2])])
    )
    # the music's 250 ms variation: what all bands share (they report together here),
    # and what is each band's own
    resid = {
        f: field(tw[f"music {REF_DB:g}"], f) - field(tw[f"music {REF_DB:g}"], f).mean(axis=0)
        for f in LEVEL_FIELDS
    }
    shared = {f: r.mean(axis=1) for f, r in resid.items()}
    rate = BPM / 60

    def added(kind: str, at: float = ALONE) -> float:
        return float(
            np.mean(power(field(tw[f"{kind} {at:g}"], "laeq")))
            - np.mean(power(field(tw[f"music {at:g}"], "laeq")))
        )

    cheer_read = float(db(added("cheer around") / 0.6) - FLOOR.cheer_db)
    clap = _sound(tw, "clapping along", steady=False)
    clap_sel = float(db(added("clapping along") / rate))
    sounds = {
        "applause": (0.5 * power(FLOOR.applause_db), _sound(tw, "applause")),
        "cheer": (0.6 * power(FLOOR.cheer_db + cheer_read), _sound(tw, "cheer around")),
        "own": (0.6 * power(FLOOR.own_voice_db + cheer_read), _sound(tw, "cheer around")),
        "sing": (power(FLOOR.sing_db), _sound(tw, "singing")),
    }
    clip = _clip(tw, m, window)
    masks, tonal_width = _tonal_mix(
        tw, m, window, sounds, (clip["clip_x0_db"], clip["clip_tonal_k"])
    )
    # the wearer's claps: counted, and jumps in the voice band, against what they sit on
    levels = np.array((ALONE, *LEVELS))
    clear = clap_sel - levels
    detect = np.array(
        [
            (
                field(tw[f"clapping along {d:g}"], "claps").mean()
                - field(tw[f"music {d:g}"], "claps").mean()
            )
            / rate
            for d in levels
        ]
    )
    (top, mid, width), _ = curve_fit(_logistic, clear[1:], detect[1:], p0=(1.0, -8.0, 4.0))

    def per_clap(f: str) -> F64:
        return np.array(
            [
                (field(tw[f"clapping along {d:g}"], f).mean() - field(tw[f"music {d:g}"], f).mean())
                / rate
                for d in levels
            ]
        )

    (j_top, j_mid, j_width), _ = curve_fit(
        _logistic, clap_sel - (levels + window), per_clap("fluct"), p0=(0.6, 0.0, 9.0)
    )
    (t_top, t_mid, t_width), _ = curve_fit(
        _logistic, clap_sel - (levels + window), -per_clap("tonal"), p0=(0.06, 10.0, 10.0)
    )
    frames = STEP_S / 0.01
    jolt = float(
        np.mean(
            [
                (
                    field(tw[f"clapping along {d:g}"], "motion").mean()
                    - field(tw[f"music {d:g}"], "motion").mean()
                )
                * frames
                / (rate * STEP_S)
                for d in levels
            ]
        )
    )
    silence, loud_room = tw[f"silence {REF_DB:g}"], room[f"silence {REF_DB:g}"]
    q_laeq = field(loud_room, "laeq").mean()
    quiet = Sound(
        float(field(silence, "voice").mean() - field(silence, "laeq").mean()),
        float(field(loud_room, "mid").mean() - q_laeq),
        float(field(silence, "low").mean() - field(silence, "laeq").mean()),
        float(field(loud_room, "top").mean() - q_laeq),
        float(field(silence, "tonal").mean()),
        float(field(silence, "fluct").mean()),
    )
    ref = run_reference(fast=False)
    ref_sound = Sound(
        *(
            float(field(ref, f).mean() - field(ref, "laeq").mean())
            for f in ("voice", "mid", "low", "top")
        ),
        float(field(ref, "tonal").mean()),
        float(field(ref, "fluct").mean()),
    )
    return Calibration(
        music=m,
        reference=ref_sound,
        clap=clap,
        quiet=quiet,
        applause=replace(sounds["applause"][1], masks_db=masks["applause"]),
        cheer=replace(sounds["cheer"][1], masks_db=masks["cheer"]),
        sing=replace(sounds["sing"][1], masks_db=masks["sing"]),
        # the gateway averages level codes: their mean, not the energy mean, is what it reads
        music_window_db=window,
        music_sd=tuple(float(np.std(shared[f])) for f in LEVEL_FIELDS),  # type: ignore[arg-type]
        band_sd=tuple(float(np.std(resid[f] - shared[f][:, None])) for f in LEVEL_FIELDS),  # type: ignore[arg-type]
        reference_sd=tuple(float(np.std(field(ref, f))) for f in LEVEL_FIELDS),  # type: ignore[arg-type]
        applause_read_db=float(db(added("applause")) - FLOOR.applause_db),
        cheer_read_db=cheer_read,
        sing_read_db=float(db(added("singing")) - FLOOR.sing_db),
        clap_sel_db=clap_sel - FLOOR.clap_db,
        mid_floor=_floor_curve(tw, window, "mid", m.mid_db),
        top_floor=_floor_curve(tw, window, "top", m.top_db),
        tonal_width_db=tonal_width,
        fluct_norm=_fluct_norm(tw, m, window, sounds),
        clap_tonal=float(t_top),
        clap_tonal_mid_db=float(t_mid),
        clap_tonal_width_db=float(t_width),
        clap_fluct_db=float(j_top),
        clap_fluct_mid_db=float(j_mid),
        clap_fluct_width_db=float(j_width),
        clap_detect=float(top),
        clap_mask_db=float(mid),
        clap_mask_width_db=float(width),
        jolt_motion_g=jolt,
        **clip,
    )


def _clip(tw: dict[str, U8], m: Sound, window: float) -> dict[str, float]:
    """The microphone clipping on loud music: every level, the low band more, the tonal share."""
    x = np.array([d + window + m.low_db for d in CLIP_LEVELS])

    def onset(y: F64, x0: float | None = None) -> tuple[float, float]:
        if x0 is None:
            (k, x0), _ = curve_fit(
                lambda xx, k, x0: k * np.maximum(xx - x0, 0) ** 1.5, x, y, p0=(0.1, 114.0)
            )
            return float(k), float(x0)
        (k,), _ = curve_fit(lambda xx, k: k * np.maximum(xx - x0, 0) ** 1.5, x, y, p0=(0.1,))
        return float(k), x0

    def music(f: str) -> F64:
        return np.array([field(tw[f"music {d:g}"], f).mean() for d in CLIP_LEVELS])

    k, x0 = onset(np.array(CLIP_LEVELS) + window - music("laeq"))
    return {
        "clip_x0_db": x0,
        "clip_k": k,
        "clip_low_k": onset(m.low_db - (music("low") - music("laeq")), x0)[0],
        "clip_tonal_k": onset(m.tonal - music("tonal"), x0)[0],
    }


@pytest.fixture(scope="module")
def twin_codes() -> dict[str, U8]:
    return run_situations(fast=False)


@pytest.fixture(scope="module")
def loud_room() -> dict[str, U8]:
    """The room's noise 45 dB up, to see its mid and top bands above the DSP's floor."""
    return run_situations(
        fast=False, sits=[Situation("silence", music_on=False)], floor=Floor(quiet_db=80.0)
    )


@pytest.fixture(scope="module")
def fast_codes() -> dict[str, U8]:
    return run_situations(fast=True)


def test_batched_kernel_is_the_firmware_pipeline() -> None:
    rng = np.random.default_rng(3)
    em = TwinEmitter(np.arange(3), np.array([80.0, 94.0, 104.0]), rng)
    act = Actions(
        np.array([True, True, False]), np.array([False, True, True]), np.zeros(3, bool), np.zeros(3)
    )
    idx = np.arange(3)
    frames = np.full(3, 25, np.int64)
    pipes = [twin.pipeline() for _ in idx]
    for k in range(12):  # 3 s, with claps, cheering and a clipping band
        audio = em.audio(
            idx, act, np.array([0.3, 0.3, 0.3]), np.array([0.2, 0.2, 0.2]), frames, BPM, True
        )
        got = em.codes(
            idx,
            act,
            np.full(1, 0.3),
            np.full(1, 0.2),
            np.zeros(3, np.int32),
            np.full(3, STEP_S),
            BPM,
            True,
            np.zeros(3, bool),
        )
        for j, p in enumerate(pipes):
            ev = False
            for f in range(25):
                p.process(audio[j, f * 160 : (f + 1) * 160])
                ev |= p.event()
            want = bytes(
                p.finish(
                    250,
                    packet.MOTION_ABSENT,
                    0,
                    packet.BATTERY_UNKNOWN,
                    packet.FLAG_EVENT if ev else 0,
                )
            )
            assert bytes(got[j]) == want, (k, j)
    assert got[2, 10] & packet.FLAG_CLIPPED  # the loud band clipped: the comparison covered it


def test_scene_levels_read_back_on_the_twin(twin_codes: dict[str, U8]) -> None:
    """The scene's dB SPL -> dBFS conversion agrees with the DSP's calibration: the
    energy mean of the 250 ms LAeqs is the music's LAeq, each crowd sound heard alone
    reads the level the acoustic model gives it, and the quiet room its floor."""

    def energy(c: U8) -> float:
        return float(np.mean(power(field(c, "laeq"))))

    for lv in LEVELS:
        assert abs(db(energy(twin_codes[f"music {lv:g}"])) - lv) <= 0.75, lv
    music = energy(twin_codes[f"music {ALONE:g}"])
    for kind, share, level in (
        ("applause", 1.0, FLOOR.applause_db),
        ("cheer around", 0.6, FLOOR.cheer_db),
        ("singing", 1.0, FLOOR.sing_db),
    ):
        got = db((energy(twin_codes[f"{kind} {ALONE:g}"]) - music) / share)
        assert abs(got - level) <= 1.0, (kind, got, level)
    own = db(
        (energy(twin_codes[f"cheering {ALONE:g}"]) - energy(twin_codes[f"cheer around {ALONE:g}"]))
        / 0.6
    )
    assert abs(own - FLOOR.own_voice_db) <= 1.0, own
    assert abs(np.median(field(twin_codes[f"silence {REF_DB:g}"], "laeq")) - FLOOR.quiet_db) <= 1.5


def _compare(got: object, want: object, name: str, tol: dict[str, float]) -> None:
    if isinstance(want, Sound):
        assert isinstance(got, Sound)
        for f in fields(Sound):
            _compare(getattr(got, f.name), getattr(want, f.name), f"{name}.{f.name}", tol)
    elif isinstance(want, tuple) and isinstance(want[0], tuple):  # a floor curve: compare as curves
        xs = np.arange(50.0, 80.0, 2.0)
        g, w = (read_floor(xs, c) for c in (got, want))  # type: ignore[arg-type]
        assert np.max(np.abs(g - w)) <= 1.0, (
            f"{name}: twin {np.round(g, 2)}, fastcal.py {np.round(w, 2)}"
        )
    elif isinstance(want, tuple):
        for i, (a, b) in enumerate(zip(got, want, strict=True)):  # type: ignore[call-overload]
            _compare(a, b, f"{name}[{i}]", tol)
    else:
        key = name.split(".")[-1].split("[")[0]
        limit = tol.get(name, tol.get(key, 1.0))
        assert abs(float(got) - float(want)) <= limit, (
            f"{name}: twin {float(got):.3f}, fastcal.py {float(want):.3f}"
        )


def test_shipped_constants_are_the_measured_ones(
    twin_codes: dict[str, U8], loud_room: dict[str, U8]
) -> None:
    measured, shipped = calibrate(twin_codes, loud_room), Calibration()
    tol = {
        "tonal": 0.02,
        "fluct": 0.1,
        "clap_detect": 0.1,
        "clap_fluct_db": 0.1,
        "music_sd": 0.3,
        "band_sd": 0.2,
        "reference_sd": 0.4,
        "jolt_motion_g": 0.3,
        "tonal_width_db": 1.0,
        "fluct_width_db": 1.5,
        "clap_fluct_width_db": 3.0,
        "fluct_mid_db": 2.0,
        "clap_fluct_mid_db": 3.0,
    }
    for f in fields(Calibration):
        _compare(getattr(measured, f.name), getattr(shipped, f.name), f.name, tol)


def _gap(tw: U8, fa: U8, f: str, stat: str = "mean") -> float:
    m = abs(float(np.mean(field(tw, f))) - float(np.mean(field(fa, f))))
    if stat == "mean":
        return m
    # levels: the mean (what the gateway averages) and the quartiles (the shape).  Not
    # the median: clapping along at 124 BPM puts a clap in half the 250 ms windows,
    # 20 dB apart in a quiet room, and a median of two equal modes is anywhere between
    q = np.array([25, 75])
    return max(
        m, float(np.max(np.abs(np.percentile(field(tw, f), q) - np.percentile(field(fa, f), q))))
    )


@pytest.mark.parametrize("sit", COMPARED, ids=[s.name for s in COMPARED])
def test_fast_fields_match_the_twin(
    sit: Situation,
    twin_codes: dict[str, U8],
    fast_codes: dict[str, U8],
    request: pytest.FixtureRequest,
) -> None:
    if sit.name == "clapping along 72":
        request.applymarker(
            pytest.mark.xfail(
                reason="known gap: in a quiet lounge the wearer's own claps make the "
                "fluctuation; fast mode reads it 5.5 % high (4.58 against the twin's 4.34 dB)",
                strict=True,
            )
        )
    tw, fa = twin_codes[sit.name], fast_codes[sit.name]
    for f in ("laeq", "voice", "low"):
        assert _gap(tw, fa, f, "level") <= 1.5, f
    # the DSP's floor makes quiet mid and top bands jumpy: in a lounge, means only, looser
    clear = sit.music_db >= BAR_DB or not sit.music_on
    for f in ("mid", "top"):
        assert _gap(tw, fa, f) <= (1.5 if clear else 2.0), f
        assert not clear or _gap(tw, fa, f, "level") <= 3.0, f
    assert _gap(tw, fa, "tonal") <= 0.04
    # fluctuation in 40 ms steps: 0.4 dB in a quiet room, 7 dB for a clap; within 0.2 dB,
    # or 5 % where the wearer's own claps make it large
    assert _gap(tw, fa, "fluct") <= max(0.2, 0.05 * float(field(tw, "fluct").mean()))
    assert _gap(tw, fa, "claps") <= max(0.3, 0.25 * float(field(tw, "claps").mean()))
    assert _gap(tw, fa, "motion") <= 0.03
    assert _gap(tw, fa, "imu_claps") <= max(0.3, 0.15 * float(field(tw, "imu_claps").mean()))


def test_imu_fields_only_on_bands_with_an_imu(
    twin_codes: dict[str, U8], fast_codes: dict[str, U8]
) -> None:
    for codes in (twin_codes, fast_codes):
        c = codes[f"clapping along {BAR_DB:g}"]
        assert (c[:, 1::2, 8] == packet.MOTION_ABSENT).all() and (c[:, 1::2, 9] & 15 == 0).all()
        assert (c[:, 0::2, 8] != packet.MOTION_ABSENT).all()
        assert (c[:, 0::2, 9] & 15).sum() > 0  # claps felt


def test_reference_fast_matches_twin() -> None:
    """The music reference, dry at line level, reads the same in both modes."""
    tw, fa = run_reference(fast=False), run_reference(fast=True)
    for f in ("laeq", "voice", "low"):
        assert _gap(tw, fa, f, "level") <= 1.5, f
    for f in ("mid", "top"):
        assert _gap(tw, fa, f) <= 1.5 and _gap(tw, fa, f, "level") <= 3.0, f
    assert _gap(tw, fa, "tonal") <= 0.04 and _gap(tw, fa, "fluct") <= 0.2
    assert (
        (tw[:, 9] == 0).all() and (fa[:, 9] == 0).all() and (fa[:, 8] == packet.MOTION_ABSENT).all()
    )


def test_events_come_when_reactions_say(twin_codes: dict[str, U8]) -> None:
    """The band's own trigger fires when its wearer starts clapping or cheering
    (where fast mode reports at once), and stays quiet over steady music."""
    for name in (f"{k} {lv:g}" for k in ("clapping along", "cheering") for lv in (BAR_DB, REF_DB)):
        first = twin_codes[name][:3, :, 10] & packet.FLAG_EVENT  # the band's trigger within 750 ms
        assert (first.any(axis=0)).mean() >= 0.8, name
    for db_ in LEVELS:
        assert (twin_codes[f"music {db_:g}"][:, :, 10] & packet.FLAG_EVENT).mean() <= 0.02, db_


def _night(mode: str, seconds: float, reference: bool, devices: int = 150) -> dict[str, F64]:
    """Sentiment once a second from the gateway, for one mode: the venue's and each zone's."""
    sc = scenario.load("normal")
    run = SimRun(
        sc, devices, bytes(16), 1_700_000_000.0, seed=11, speed=6.0, mode=mode, reference=reference
    )
    em = run.emitter
    child = np.random.default_rng(99)
    if mode == "fast":  # emit from a generator of its own, as TwinEmitter does
        run.emitter = Emitter(em.person, em.music_db, child, em.imu)
    engine = Engine("calib", run.registry)
    sink = EngineSink(engine)
    out: dict[str, list[float]] = {}
    while run.t < seconds:
        rows = len(run.truth.t_s)
        run.step(sink)
        now_ms = int((run.t0 + run.t) * 1000)
        sink.flush(now_ms)
        if len(run.truth.t_s) > rows:
            snap = engine.tick(now_ms)
            for key, score in [
                ("venue", snap["score"]),
                *[(z["zone"], z["score"]) for z in snap["zones"]],
            ]:
                out.setdefault(key, []).append(np.nan if score is None else float(score))
            out.setdefault("referenced", []).append(float(snap["evidence"]["reference"] == "live"))
    return {k: np.array(v) for k, v in out.items()}


@pytest.fixture(scope="module")
def nights() -> dict[tuple[str, bool], dict[str, F64]]:
    return {
        (mode, ref): _night(mode, 75.0, ref) for mode in ("fast", "twin") for ref in (False, True)
    }


@pytest.mark.parametrize("reference", [False, True], ids=["no reference", "reference"])
@pytest.mark.parametrize("zone", ["venue", "floor", "bar"])
def test_gateway_sentiment_agrees_between_modes(
    zone: str, reference: bool, nights: dict[tuple[str, bool], dict[str, F64]]
) -> None:
    """The same crowd, fast and twin: the venue, the floor (88-98 dB) and the bar
    (76-84 dB), where crowd sounds stand out of the music far more."""
    fast, tw = nights[("fast", reference)][zone], nights[("twin", reference)][zone]
    settled = slice(25, None)  # past the band's and the gateway's warm-up
    diff = np.abs(fast[settled] - tw[settled])
    assert np.isfinite(diff).all()
    assert float(np.mean(diff)) <= 3.0, diff
    assert float(np.max(diff)) <= 8.0, diff
    for mode in ("fast", "twin"):  # the gateway scored against the reference, or knew it had none
        assert (nights[(mode, reference)]["referenced"][settled] == float(reference)).all()
