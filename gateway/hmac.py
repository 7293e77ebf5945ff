"""HMAC-SHA256 for many short messages at once, with per-key precomputed state.

A report's tag is HMAC-SHA256(band key, 18 bytes)[:5].  With the key fixed,
the first block of each of the two hashes (key XOR ipad, key XOR opad) is
the same for every message, so the gateway hashes it once per band (the
"midstates") and then needs two SHA-256 compressions per report.

The compressions run in OpenSSL's SHA256_Transform (libcrypto, which uses the
CPU's SHA extensions where it has them), called from a numba loop that
releases the GIL: ~10x a pure-numba SHA-256, which is kept as the fallback
for a system without libcrypto.  Tests check both against Python's hmac.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

_K = np.array(
    [
        0x428A2F98,
        0x71374491,
        0xB5C0FBCF,
        0xE9B5DBA5,
        0x3956C25B,
        0x59F111F1,
        0x923F82A4,
        0xAB1C5ED5,
        0xD807AA98,
        0x12835B01,
        0x243185BE,
        0x550C7DC3,
        0x72BE5D74,
        0x80DEB1FE,
        0x9BDC06A7,
        0xC19BF174,
        0xE49B69C1,
        0xEFBE4786,
        0x0FC19DC6,
        0x240CA1CC,
        0x2DE92C6F,
        0x4A7484AA,
        0x5CB0A9DC,
        0x76F988DA,
        0x983E5152,
        0xA831C66D,
        0xB00327C8,
        0xBF597FC7,
        0xC6E00BF3,
        0xD5A79147,
        0x06CA6351,
        0x14292967,
        0x27B70A85,
        0x2E1B2138,
        0x4D2C6DFC,
        0x53380D13,
        0x650A7354,
        0x766A0ABB,
        0x81C2C92E,
        0x92722C85,
        0xA2BFE8A1,
        0xA81A664B,
        0xC24B8B70,
        0xC76C51A3,
        0xD192E819,
        0xD6990624,
        0xF40E3585,
        0x106AA070,
        0x19A4C116,
        0x1E376C08,
        0x2748774C,
        0x34B0BCB5,
        0x391C0CB3,
        0x4ED8AA4A,
        0x5B9CCA4F,
        0x682E6FF3,
        0x748F82EE,
        0x78A5636F,
        0x84C87814,
        0x8CC70208,
        0x90BEFFFA,
        0xA4506CEB,
        0xBEF9A3F7,
        0xC67178F2,
    ],
    dtype=np.uint64,
)
_H0 = np.array(
    [
        0x6A09E667,
        0xBB67AE85,
        0x3C6EF372,
        0xA54FF53A,
        0x510E527F,
        0x9B05688C,
        0x1F83D9AB,
        0x5BE0CD19,
    ],
    dtype=np.uint64,
)
_M32 = np.uint64(0xFFFFFFFF)


@numba.njit(inline="always")
def _rotr(x: np.uint64, n: int) -> np.uint64:
    return ((x >> np.uint64(n)) | (x << np.uint64(32 - n))) & _M32


@numba.njit(nogil=True, cache=True)
def _compress(state: np.ndarray, w: np.ndarray) -> None:
    """One SHA-256 block: w[0:16] holds the block's words; state updated in place."""
    for t in range(16, 64):
        s0 = _rotr(w[t - 15], 7) ^ _rotr(w[t - 15], 18) ^ (w[t - 15] >> np.uint64(3))
        s1 = _rotr(w[t - 2], 17) ^ _rotr(w[t - 2], 19) ^ (w[t - 2] >> np.uint64(10))
        w[t] = (w[t - 16] + s0 + w[t - 7] + s1) & _M32
    a, b, c, d, e, f, g, h = (
        state[0],
        state[1],
        state[2],
        state[3],
        state[4],
        state[5],
        state[6],
        state[7],
    )
    for t in range(64):
        s1 = _rotr(e, 6) ^ _rotr(e, 11) ^ _rotr(e, 25)
        ch = (e & f) ^ ((~e & _M32) & g)
        t1 = (h + s1 + ch + _K[t] + w[t]) & _M32
        s0 = _rotr(a, 2) ^ _rotr(a, 13) ^ _rotr(a, 22)
        maj = (a & b) ^ (a & c) ^ (b & c)
        t2 = (s0 + maj) & _M32
        h, g, f, e, d, c, b, a = g, f, e, (d + t1) & _M32, c, b, a, (t1 + t2) & _M32
    state[0] = (state[0] + a) & _M32
    state[1] = (state[1] + b) & _M32
    state[2] = (state[2] + c) & _M32
    state[3] = (state[3] + d) & _M32
    state[4] = (state[4] + e) & _M32
    state[5] = (state[5] + f) & _M32
    state[6] = (state[6] + g) & _M32
    state[7] = (state[7] + h) & _M32


@numba.njit(nogil=True, cache=True)
def _load_tail(w: np.ndarray, msg: np.ndarray, n: int, total_bits: int) -> None:
    """Words of the last block: msg[0:n] (n <= 55), 0x80, zeros, bit length."""
    for i in range(16):
        w[i] = 0
    for i in range(n):
        w[i >> 2] |= np.uint64(msg[i]) << np.uint64(24 - 8 * (i & 3))
    w[n >> 2] |= np.uint64(0x80) << np.uint64(24 - 8 * (n & 3))
    w[15] = np.uint64(total_bits)


@numba.njit(nogil=True, cache=True)
def midstates(keys: np.ndarray, pad: int) -> np.ndarray:
    """SHA-256 state after one block of (key zero-padded to 64) XOR pad, per key."""
    out = np.empty((keys.shape[0], 8), dtype=np.uint64)
    w = np.zeros(64, dtype=np.uint64)
    for k in range(keys.shape[0]):
        for i in range(16):
            v = np.uint64(0)
            for j in range(4):
                byte = pad
                if 4 * i + j < keys.shape[1]:
                    byte = keys[k, 4 * i + j] ^ pad
                v = (v << np.uint64(8)) | np.uint64(byte)
            w[i] = v
        st = _H0.copy()
        _compress(st, w)
        out[k] = st
    return out


@numba.njit(nogil=True, cache=True)
def hmac_prefix(
    msgs: np.ndarray,
    length: int,
    who: np.ndarray,
    inner: np.ndarray,
    outer: np.ndarray,
    nbytes: int,
) -> np.ndarray:
    """First nbytes of HMAC-SHA256(key[who[i]], msgs[i, :length]) for every row; rows
    with who < 0 are skipped (left zero)."""
    n = msgs.shape[0]
    out = np.zeros((n, nbytes), dtype=np.uint8)
    w = np.zeros(64, dtype=np.uint64)
    st = np.zeros(8, dtype=np.uint64)
    for r in range(n):
        k = who[r]
        if k < 0:
            continue
        st[:] = inner[k]
        _load_tail(w, msgs[r], length, (64 + length) * 8)
        _compress(st, w)
        # the inner digest's big-endian words are the outer block's first words
        for i in range(8):
            w[i] = st[i]
        w[8] = np.uint64(0x80000000)
        for i in range(9, 15):
            w[i] = 0
        w[15] = np.uint64((64 + 32) * 8)
        st[:] = outer[k]
        _compress(st, w)
        for b in range(nbytes):
            out[r, b] = (st[b >> 2] >> np.uint64(24 - 8 * (b & 3))) & np.uint64(0xFF)
    return out


def _openssl_transform() -> Any:
    name = ctypes.util.find_library("crypto")
    if name is None:
        return None
    try:
        fn = ctypes.CDLL(name).SHA256_Transform
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    fn.restype = None
    return fn


_TRANSFORM = _openssl_transform()
BACKEND = "openssl" if _TRANSFORM is not None else "numba"


def _make_openssl_kernel(transform: Any) -> Any:
    @numba.njit(nogil=True)
    def kernel(
        msgs: np.ndarray,
        length: int,
        who: np.ndarray,
        inner: np.ndarray,
        outer: np.ndarray,
        nbytes: int,
    ) -> np.ndarray:
        n = msgs.shape[0]
        out = np.zeros((n, nbytes), dtype=np.uint8)
        ctx = np.zeros(32, dtype=np.uint32)  # SHA256_CTX: h[8] first
        # the padding of both second blocks is the same for every row: set it once
        inner_blk = np.zeros(64, dtype=np.uint8)
        inner_bits = (64 + length) * 8
        inner_blk[length] = 0x80
        inner_blk[62] = (inner_bits >> 8) & 0xFF
        inner_blk[63] = inner_bits & 0xFF
        outer_blk = np.zeros(64, dtype=np.uint8)
        outer_blk[32] = 0x80
        outer_blk[62] = 0x03  # (64 + 32) * 8 = 768 bits
        for r in range(n):
            k = who[r]
            if k < 0:
                continue
            ctx[:8] = inner[k]
            inner_blk[:length] = msgs[r]
            transform(ctx.ctypes.data, inner_blk.ctypes.data)
            for i in range(8):
                v = ctx[i]
                outer_blk[4 * i] = (v >> 24) & 0xFF
                outer_blk[4 * i + 1] = (v >> 16) & 0xFF
                outer_blk[4 * i + 2] = (v >> 8) & 0xFF
                outer_blk[4 * i + 3] = v & 0xFF
            ctx[:8] = outer[k]
            transform(ctx.ctypes.data, outer_blk.ctypes.data)
            for b in range(nbytes):
                out[r, b] = (ctx[b >> 2] >> (24 - 8 * (b & 3))) & 0xFF
        return out

    return kernel


_OPENSSL_KERNEL = _make_openssl_kernel(_TRANSFORM) if _TRANSFORM is not None else None


class KeyState:
    """Precomputed HMAC state for a set of 16-byte keys."""

    def __init__(self, keys: npt.NDArray[np.uint8]) -> None:
        keys = np.ascontiguousarray(keys, dtype=np.uint8).reshape(-1, 16)
        self.inner = midstates(keys, 0x36)
        self.outer = midstates(keys, 0x5C)
        # 32-bit copies for the OpenSSL path: half the memory to walk per report
        self.inner32 = self.inner.astype(np.uint32)
        self.outer32 = self.outer.astype(np.uint32)

    def prefix(
        self,
        msgs: npt.NDArray[np.uint8],
        who: npt.NDArray[np.int64],
        nbytes: int,
        backend: str = BACKEND,
    ) -> npt.NDArray[np.uint8]:
        """First nbytes of HMAC(key[who[i]], msgs[i]); rows with who < 0 stay zero."""
        msgs = np.ascontiguousarray(msgs, dtype=np.uint8)
        who = np.ascontiguousarray(who, dtype=np.int64)
        if backend == "openssl":
            if _OPENSSL_KERNEL is None:
                raise RuntimeError("OpenSSL's SHA256_Transform is not available here")
            out: npt.NDArray[np.uint8] = _OPENSSL_KERNEL(
                msgs, msgs.shape[1], who, self.inner32, self.outer32, nbytes
            )
        else:
            out = hmac_prefix(msgs, msgs.shape[1], who, self.inner, self.outer, nbytes)
        return out
