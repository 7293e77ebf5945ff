"""The venue's bands: ids, zones, derived keys, and the on-air id tables.

Only the gateway can link a rotating on-air id to a band: it derives every
band key from the venue key and precomputes, per id epoch, the ids of all
bands for the previous, current and next epoch (clocks drift; epochs turn
over every 15 minutes).  Lookups are one numpy searchsorted per batch.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from crowdpulse.gateway.hmac import KeyState
from wristband import packet as P

_ID_PREFIX = np.frombuffer(b"crowdpulse/v1/id", dtype=np.uint8)


class Registry:
    def __init__(self, venue_key: bytes, bands: Sequence[tuple[str, str]],
                 zones: Sequence[str]) -> None:
        self.zones = list(zones)
        zone_index = {z: i for i, z in enumerate(self.zones)}
        self.band_ids = [b for b, _ in bands]
        if len(set(self.band_ids)) != len(self.band_ids):
            raise ValueError("a band id appears twice in the fleet")
        self.index = {b: i for i, b in enumerate(self.band_ids)}
        self.zone_of = np.array([zone_index[z] for _, z in bands], dtype=np.int32)
        keys = b"".join(P.band_key(venue_key, b) for b in self.band_ids)
        self.keys = np.frombuffer(keys, dtype=np.uint8).reshape(-1, 16)
        self.hmac = KeyState(self.keys)
        self._tables: dict[int, tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64],
                                      set[int]]] = {}

    def __len__(self) -> int:
        return len(self.band_ids)

    def ids_for_epoch(self, epoch: int) -> npt.NDArray[np.uint32]:
        msg = np.concatenate([_ID_PREFIX, np.frombuffer(struct.pack(">I", epoch), np.uint8)])
        msgs = np.broadcast_to(msg, (len(self), len(msg)))
        pre = self.hmac.prefix(msgs, np.arange(len(self), dtype=np.int64), 4)
        return pre.astype(np.uint32) @ np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.uint32)

    def _table(self, epoch: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], set[int]]:
        table = self._tables.get(epoch)
        if table is None:
            ids = np.concatenate([self.ids_for_epoch(e) for e in (epoch - 1, epoch, epoch + 1)])
            owners = np.tile(np.arange(len(self), dtype=np.int64), 3)
            order = np.argsort(ids, kind="stable")
            ids, owners = ids[order], owners[order]
            dup = ids[1:] == ids[:-1]
            clashes = set(int(v) for v in ids[1:][dup])
            table = (ids, owners, clashes)
            self._tables = {epoch: table}  # one epoch at a time: old ids expire
        return table

    def lookup(self, onair: npt.NDArray[np.uint32], epoch: int) -> npt.NDArray[np.int64]:
        """Band index for each on-air id (previous, current or next epoch); -1 if none."""
        ids, owners, _ = self._table(epoch)
        if len(ids) == 0 or len(onair) == 0:
            return np.full(len(onair), -1, dtype=np.int64)
        order = np.argsort(onair)  # sorted queries walk the table forwards
        pos = np.empty(len(onair), dtype=np.int64)
        pos[order] = np.searchsorted(ids, onair[order])
        pos = np.minimum(pos, len(ids) - 1)
        return np.where(ids[pos] == onair, owners[pos], -1)

    def candidates(self, onair: int, epoch: int) -> list[int]:
        """Every band whose id this is: more than one only on a rare 32-bit clash."""
        ids, owners, clashes = self._table(epoch)
        if onair not in clashes:
            return []
        lo, hi = np.searchsorted(ids, onair, "left"), np.searchsorted(ids, onair, "right")
        return sorted(set(int(o) for o in owners[lo:hi]))
