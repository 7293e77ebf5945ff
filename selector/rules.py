"""Transition rules between tracks, and the one-line reasons people read.

What a DJ would check before mixing two tracks: the tempo is close, the keys
sit well together on the Camelot wheel, the artist has not just played, and
the track has not been played tonight.
"""

from __future__ import annotations

from dataclasses import dataclass

from crowdpulse.selector.library import Track


@dataclass(frozen=True)
class Rules:
    bpm_window: float = 0.06  # +-6 %: what a pitch fader covers without sounding wrong
    artist_separation_s: float = 3600.0
    allow_energy_boost: bool = True  # +2 on the wheel: the "energy boost" mix


def parse_camelot(key: str) -> tuple[int, str] | None:
    k = key.strip().upper()
    if len(k) < 2 or k[-1] not in "AB" or not k[:-1].isdigit():
        return None
    n = int(k[:-1])
    return (n, k[-1]) if 1 <= n <= 12 else None


def key_move(a: str, b: str) -> str | None:
    """How key b follows key a: 'same', '+1', '-1', 'relative', '+2 boost', or None (clashes)."""
    pa, pb = parse_camelot(a), parse_camelot(b)
    if pa is None or pb is None:
        return None
    (na, la), (nb, lb) = pa, pb
    step = (nb - na) % 12
    if la == lb:
        return {0: "same", 1: "+1", 11: "-1", 2: "+2 boost"}.get(step)
    return "relative" if step == 0 else None


def bpm_ok(a: float, b: float, window: float) -> bool:
    """Within the window, directly or at half/double time (a 70 BPM track mixes at 140)."""
    return any(abs(b * factor - a) <= window * a for factor in (1.0, 2.0, 0.5))


def _keys_mix(a: str, b: str, r: Rules) -> bool:
    """Key b may follow key a under the rules: a wheel move, the boost only when allowed."""
    move = key_move(a, b)
    return move is not None and (move != "+2 boost" or r.allow_energy_boost)


def allowed(
    prev: Track | None,
    cand: Track,
    played_ids: set[str],
    artist_last_s: dict[str, float],
    now_s: float,
    r: Rules,
) -> str | None:
    """None when cand may follow prev, else the rule it breaks.

    The hard rules first, the same ones the picker applies on their own.
    """
    blocked = hard_block(cand, played_ids, artist_last_s, now_s, r)
    if blocked is not None or prev is None:
        return blocked
    if not bpm_ok(prev.bpm, cand.bpm, r.bpm_window):
        return f"{prev.bpm:.0f}->{cand.bpm:.0f} BPM is outside the window"
    if not _keys_mix(prev.key, cand.key, r):
        return f"{prev.key}->{cand.key} clashes"
    return None


def tier(prev: Track | None, cand: Track, r: Rules) -> tuple[int, str]:
    """How well cand mixes out of prev: 0 by the rules; 1 a key clash (mix on a
    break); 2 a tempo change within +-15 %; 3 anything else.  With the note a
    reason line carries when a rule had to give."""
    if prev is None:
        return 0, ""
    tempo = bpm_ok(prev.bpm, cand.bpm, r.bpm_window)
    keys = _keys_mix(prev.key, cand.key, r)
    if tempo and keys:
        return 0, ""
    if tempo:
        return 1, "key clash: mix on a break"
    if bpm_ok(prev.bpm, cand.bpm, 0.15):
        return 2, f"tempo change {prev.bpm:.0f}->{cand.bpm:.0f}"
    return 3, "new section: no close tempo left"


def hard_block(
    cand: Track, played_ids: set[str], artist_last_s: dict[str, float], now_s: float, r: Rules
) -> str | None:
    """The rules that never give: no repeats, artist separation."""
    if cand.id in played_ids:
        return "already played tonight"
    last = artist_last_s.get(cand.artist.lower())
    if last is not None and now_s - last < r.artist_separation_s:
        return f"{cand.artist} played {int((now_s - last) / 60)} min ago"
    return None


def reason(
    prev: Track | None,
    cand: Track,
    trend_per_min: float | None,
    recovery: bool,
    target_energy: float | None,
) -> str:
    """'energy up: crowd trending +8 in 2 min, 124->126 BPM, 8A->9A'."""
    parts = []
    direction = "hold"
    if prev is not None:
        delta = cand.energy - prev.energy
        direction = (
            "energy up" if delta > 0.05 else ("energy down" if delta < -0.05 else "hold energy")
        )
    if recovery:
        direction = "mood recovery" + (" (crowd favourite)" if cand.recovery else "")
    parts.append(direction)
    if trend_per_min is not None:
        parts.append(f"crowd trending {trend_per_min * 2:+.0f} in 2 min")
    if target_energy is not None:
        parts.append(f"arc wants energy {target_energy:.1f}")
    if prev is not None:
        parts.append(f"{prev.bpm:.0f}->{cand.bpm:.0f} BPM")
        move = key_move(prev.key, cand.key)
        parts.append(f"{prev.key}->{cand.key}" + (" boost" if move == "+2 boost" else ""))
    else:
        parts.append(f"{cand.bpm:.0f} BPM, {cand.key}")
    return f"{parts[0]}: " + ", ".join(parts[1:])
