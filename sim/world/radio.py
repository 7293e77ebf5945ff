"""The radio medium: BLE legacy adverts, three advertising channels, pure ALOHA.

Every advertising event sends the band's latest report as one PDU on each of
channels 37, 38 and 39, a fraction of a millisecond apart; a PDU is on the
air for AIRTIME_S (31 bytes of AD data: 376 us at 1 Mbit/s).  A relay listens
to one channel at a time, switching every SCAN_WINDOW_S, and hears a PDU when
(a) it is on that channel, (b) the signal, after distance and the bodies in
between, is above its sensitivity, and (c) no other PDU it can hear overlaps
it on that channel (pure ALOHA: no capture).  The medium counts what it lost
and why, so that tests can check the gateway against it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.ratecontrol import AIRTIME_S

CHANNEL_GAP_S = 0.6e-3  # between the three PDUs of one advertising event
SCAN_WINDOW_S = 0.030
TX_DBM = 0.0
SENSITIVITY_DBM = -92.0
ADV_DELAY_S = 0.010  # BLE adds 0-10 ms at random to every advertising interval


@dataclass
class Stats:
    sent_events: int = 0
    heard: int = 0
    lost_range: int = 0
    lost_collision: int = 0
    lost_channel: int = 0
    per_relay: dict[int, int] = field(default_factory=dict)

    @property
    def loss(self) -> float:
        return 1.0 - self.heard / self.sent_events if self.sent_events else 0.0


def path_loss_db(d_m: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Indoor, through a crowd: 40 dB at 1 m, exponent 2.5."""
    return 40.0 + 25.0 * np.log10(np.maximum(d_m, 0.3))


class Medium:
    """Bands at band_xy, relays at relay_xy (metres); body loss drawn per path."""

    def __init__(
        self,
        band_xy: npt.NDArray[np.float64],
        relay_xy: npt.NDArray[np.float64],
        rng: np.random.Generator,
        body_db_mean: float = 6.0,
    ) -> None:
        self.rng = rng
        d = np.linalg.norm(band_xy[:, None, :] - relay_xy[None, :, :], axis=2)
        self.rssi = TX_DBM - path_loss_db(d) - rng.exponential(body_db_mean, d.shape)
        self.relay_up = np.ones(len(relay_xy), dtype=bool)
        self.stats = Stats()

    def events(
        self,
        start: float,
        end: float,
        next_event: npt.NDArray[np.float64],
        interval_s: npt.NDArray[np.float64],
        active: npt.NDArray[np.bool_],
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Advertising events of every active band in [start, end): (band, time);
        moves next_event on."""
        bands, times = [], []
        t = next_event.copy()
        while True:
            due = active & (t < end)
            if not due.any():
                break
            idx = np.flatnonzero(due)
            bands.append(idx)
            times.append(t[idx])
            t[idx] += interval_s[idx] + self.rng.uniform(0, ADV_DELAY_S, len(idx))
        next_event[:] = np.where(active, t, next_event)
        if not bands:
            return np.zeros(0, np.int64), np.zeros(0)
        return np.concatenate(bands), np.concatenate(times)

    def deliver(
        self, band: npt.NDArray[np.int64], t: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Which events each relay hears: (event index, relay, rssi) for every reception."""
        n = len(band)
        self.stats.sent_events += n
        if n == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)
        ev, rl, rs = [], [], []
        heard_any = np.zeros(n, dtype=bool)
        why_range = np.ones(n, dtype=bool)
        why_channel = np.ones(n, dtype=bool)
        for r in np.flatnonzero(self.relay_up):
            rssi = self.rssi[band, r]
            audible = rssi >= SENSITIVITY_DBM
            why_range &= ~audible
            ok = np.zeros(n, dtype=bool)
            for ch in range(3):
                pdu = t + ch * CHANNEL_GAP_S
                listening = (np.floor(pdu / SCAN_WINDOW_S).astype(np.int64) + r) % 3 == ch
                why_channel &= ~(audible & listening)
                ok |= audible & listening & ~_collides(pdu, audible)
            ev.append(np.flatnonzero(ok))
            rl.append(np.full(int(ok.sum()), r))
            rs.append(rssi[ok])
            heard_any |= ok
        self.stats.heard += int(heard_any.sum())
        self.stats.lost_range += int(why_range.sum())
        self.stats.lost_channel += int((~why_range & why_channel).sum())
        self.stats.lost_collision += int((~heard_any & ~why_range & ~why_channel).sum())
        return np.concatenate(ev), np.concatenate(rl), np.concatenate(rs)


def _collides(t: npt.NDArray[np.float64], audible: npt.NDArray[np.bool_]) -> npt.NDArray[np.bool_]:
    """Pure ALOHA on one channel: a PDU is lost if any other audible PDU overlaps it."""
    out = np.zeros(len(t), dtype=bool)
    idx = np.flatnonzero(audible)
    if len(idx) < 2:
        return out
    order = idx[np.argsort(t[idx])]
    ts = t[order]
    close = np.diff(ts) < AIRTIME_S
    hit = np.zeros(len(order), dtype=bool)
    hit[:-1] |= close
    hit[1:] |= close
    out[order] = hit
    return out


def aloha_success(events_per_s: float) -> float:
    """The textbook pure-ALOHA success probability at this offered rate, one channel."""
    return float(np.exp(-2.0 * events_per_s * AIRTIME_S))
