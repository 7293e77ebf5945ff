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
from crowdpulse.reportcodec import mask_rows
from wristband import packet


class Registry:
    def __init__(
        self,
        venue_key: bytes,
        bands: Sequence[tuple[str, str]],
        zones: Sequence[str],
        references: Sequence[str] = (),
    ) -> None:
        self.zones = list(zones)
        zone_index = {z: i for i, z in enumerate(self.zones)}
        self.band_ids = [b for b, _ in bands]
        if len(set(self.band_ids)) != len(self.band_ids):
            raise ValueError("a band id appears twice in the fleet")
        self.index = {b: i for i, b in enumerate(self.band_ids)}
        self.zone_of = np.array([zone_index[z] for _, z in bands], dtype=np.int32)
        # bands that hear the programme itself (docs/sentiment.md): not part of any crowd
        unknown = set(references) - set(self.index)
        if unknown:
            raise ValueError(f"reference band {sorted(unknown)[0]} is not in the fleet")
        self.is_reference = np.zeros(len(self.band_ids), dtype=bool)
        self.is_reference[[self.index[b] for b in references]] = True
        keys = b"".join(packet.band_key(venue_key, b) for b in self.band_ids)
        self.keys = np.frombuffer(keys, dtype=np.uint8).reshape(-1, 16)
        self.hmac = KeyState(self.keys)
        self._tables: dict[
            int,
            tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.int64], set[int]],
        ] = {}
        self._offsets: dict[int, npt.NDArray[np.int64]] = {}
        self._masks: dict[int, npt.NDArray[np.uint8]] = {}

    def __len__(self) -> int:
        return len(self.band_ids)

    def _derived(self, label: bytes, epoch: int, nbytes: int) -> npt.NDArray[np.uint32]:
        """Every band's HMAC(key, label + epoch), first nbytes as a big-endian integer."""
        msg = np.frombuffer(label + struct.pack(">I", epoch), np.uint8)
        msgs = np.broadcast_to(msg, (len(self), len(msg)))
        pre = self.hmac.prefix(msgs, np.arange(len(self), dtype=np.int64), nbytes)
        weights = np.array([1 << (8 * (nbytes - 1 - i)) for i in range(nbytes)], dtype=np.uint32)
        return pre.astype(np.uint32) @ weights

    def ids_for_epoch(self, epoch: int) -> npt.NDArray[np.uint32]:
        return self._derived(packet.ID_LABEL, epoch, 4)

    def field_masks(self, epoch: int) -> npt.NDArray[np.uint8]:
        """packet.field_mask of every band in this epoch, (bands, MASK_SIZE) (cached)."""
        masks = self._masks.get(epoch)
        if masks is None:
            msg = np.frombuffer(packet.FIELD_LABEL + struct.pack(">I", epoch), np.uint8)
            msgs = np.broadcast_to(msg, (len(self), len(msg)))
            masks = self.hmac.prefix(msgs, np.arange(len(self), dtype=np.int64), packet.MASK_SIZE)
            if len(self._masks) > 8:
                self._masks.clear()
            self._masks[epoch] = masks
        return masks

    def unmask(
        self,
        raw: npt.NDArray[np.uint8],
        band: npt.NDArray[np.int64],
        id_epoch: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.uint8]:
        """Report rows (n, REPORT_SIZE) with their masked fields in clear; rows of no
        known band (band < 0) are left as they came."""
        out = raw.copy()
        for e in np.unique(id_epoch[band >= 0]):
            rows = np.flatnonzero((band >= 0) & (id_epoch == e))
            mask_rows(out, rows, self.field_masks(int(e))[band[rows]])
        return out

    def seq_offsets(self, epoch: int) -> npt.NDArray[np.int64]:
        """packet.seq_offset of every band in this epoch (cached with the id tables)."""
        offsets = self._offsets.get(epoch)
        if offsets is None:
            offsets = self._derived(packet.SEQ_LABEL, epoch, 2).astype(np.int64)
            if len(self._offsets) > 8:
                self._offsets.clear()
            self._offsets[epoch] = offsets
        return offsets

    def _table(
        self, epoch: int
    ) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.int64], set[int]]:
        table = self._tables.get(epoch)
        if table is None:
            near = (epoch - 1, epoch, epoch + 1)
            ids = np.concatenate([self.ids_for_epoch(e) for e in near])
            owners = np.tile(np.arange(len(self), dtype=np.int64), 3)
            epochs = np.repeat(np.array(near, dtype=np.int64), len(self))
            order = np.argsort(ids, kind="stable")
            ids, owners, epochs = ids[order], owners[order], epochs[order]
            dup = ids[1:] == ids[:-1]
            clashes = set(int(v) for v in ids[1:][dup])
            table = (ids, owners, epochs, clashes)
            self._tables = {epoch: table}  # one epoch at a time: old ids expire
        return table

    def lookup(
        self, onair: npt.NDArray[np.uint32], epoch: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """(band index, the id's epoch) for each on-air id of the previous, current
        or next epoch; band -1 if none."""
        ids, owners, epochs, _ = self._table(epoch)
        if len(ids) == 0 or len(onair) == 0:
            return np.full(len(onair), -1, dtype=np.int64), np.full(len(onair), epoch, np.int64)
        order = np.argsort(onair)  # sorted queries walk the table forwards
        pos = np.empty(len(onair), dtype=np.int64)
        pos[order] = np.searchsorted(ids, onair[order])
        pos = np.minimum(pos, len(ids) - 1)
        hit = ids[pos] == onair
        return np.where(hit, owners[pos], -1), np.where(hit, epochs[pos], epoch)

    def candidates(self, onair: int, epoch: int) -> list[tuple[int, int]]:
        """Every (band, epoch) whose id this is: more than one only on a rare 32-bit clash."""
        ids, owners, epochs, clashes = self._table(epoch)
        if onair not in clashes:
            return []
        lo, hi = np.searchsorted(ids, onair, "left"), np.searchsorted(ids, onair, "right")
        return sorted(set(zip(owners[lo:hi].tolist(), epochs[lo:hi].tolist(), strict=True)))

    def counters(
        self,
        band: npt.NDArray[np.int64],
        id_epoch: npt.NDArray[np.int64],
        seq: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """The bands' running counters from the on-air seqs (packet.seq_offset)."""
        out = np.zeros(len(band), dtype=np.int64)
        for e in np.unique(id_epoch[band >= 0]):
            rows = (band >= 0) & (id_epoch == e)
            out[rows] = (seq[rows] - self.seq_offsets(int(e))[band[rows]]) & 0xFFFF
        return out
