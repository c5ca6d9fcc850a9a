"""Counter-based random numbers of the cohort engine: one stream per patient.

Patient ``i`` of a cohort with root entropy ``e`` has the 128-bit key
``SeedSequence(e, spawn_key=(i,)).generate_state(2, uint64)`` (:func:`patient_keys`).
Every random number it uses is a block of the Philox4x64-10 counter-based generator
(Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3",
SC'11) under that key, at a counter whose four words say what the number is for. A
block depends on the key and the counter only, so a patient's numbers are the same in
any batch, order or worker, and the blocks of many patients are computed at once in
uint64 numpy arithmetic (:func:`philox_block`, bit for bit
``numpy.random.Philox(key=key, counter=(c0 - 1, c1, c2, c3)).random_raw(4)``). Draws
are by inversion (:func:`poisson_inverse`, :func:`scipy.special.ndtri`), so each is a
function of its uniform number alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import special

__all__ = ["patient_keys", "philox_block", "uniforms", "poisson_inverse"]

_U64 = np.uint64
_M0, _M1 = _U64(0xD2E7470EE14C6C93), _U64(0xCA5A826395121157)
_W0, _W1 = _U64(0x9E3779B97F4A7C15), _U64(0xBB67AE8584CAA73B)
_LO, _S32 = _U64(0xFFFFFFFF), _U64(32)


def _mulhilo(a: np.ndarray, m: np.uint64) -> tuple[np.ndarray, np.ndarray]:
    """High and low 64-bit words of ``a * m`` (128-bit product) in uint64 arithmetic."""
    m0, m1 = m & _LO, m >> _S32
    a0, a1 = a & _LO, a >> _S32
    p00, p01, p10 = a0 * m0, a0 * m1, a1 * m0
    mid = (p00 >> _S32) + (p01 & _LO) + (p10 & _LO)
    hi = a1 * m1 + (p01 >> _S32) + (p10 >> _S32) + (mid >> _S32)
    return hi, a * m


def philox_block(counter: tuple[Any, Any, Any, Any], key: np.ndarray) -> np.ndarray:
    """Philox4x64-10 of ``counter`` (4 words, broadcast) under ``key`` (n x 2 uint64).

    Returns an ``n x 4`` uint64 array; row ``j`` equals
    ``numpy.random.Philox(key=key[j], counter=(c0 - 1, c1, c2, c3)).random_raw(4)``.

    Examples
    --------
    >>> import numpy as np
    >>> key = np.array([[5, 7]], dtype=np.uint64)
    >>> ours = philox_block((1, 0, 0, 0), key)[0]
    >>> ref = np.random.Philox(key=key[0], counter=0).random_raw(4)
    >>> bool((ours == ref).all())
    True
    """
    k0 = np.ascontiguousarray(key[:, 0])
    k1 = np.ascontiguousarray(key[:, 1])
    n = k0.shape[0]
    c0, c1, c2, c3 = (np.broadcast_to(np.asarray(c, dtype=_U64), (n,)) for c in counter)
    with np.errstate(over="ignore"):
        for r in range(10):
            if r:
                k0 = k0 + _W0
                k1 = k1 + _W1
            hi0, lo0 = _mulhilo(c0, _M0)
            hi1, lo1 = _mulhilo(c2, _M1)
            c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return np.stack([c0, c1, c2, c3], axis=1)


def uniforms(key: np.ndarray, c0: Any, c1: Any, c2: Any, c3: Any) -> np.ndarray:
    """``n x 4`` uniform numbers in the open interval (0, 1) of one Philox block each."""
    bits = philox_block((c0, c1, c2, c3), key)
    return ((bits >> _U64(11)).astype(np.float64) + 0.5) * 2.0**-53


def patient_keys(entropy: int, ids: np.ndarray, prefix: tuple[int, ...] = ()) -> np.ndarray:
    """Philox keys of patients ``ids``: ``SeedSequence(entropy, spawn_key=prefix + (i,))``.

    Examples
    --------
    >>> patient_keys(1, np.array([0, 1])).shape
    (2, 2)
    """
    out = np.empty((len(ids), 2), dtype=_U64)
    for j, i in enumerate(ids):
        seq = np.random.SeedSequence(entropy, spawn_key=(*prefix, int(i)))
        out[j] = seq.generate_state(2, _U64)
    return out


def poisson_inverse(u: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """The Poisson(``mean``) quantile of ``u``: smallest ``k`` with ``P(X <= k) >= u``.

    Exact inversion (regularised incomplete gamma of :func:`scipy.special.pdtr`) from a
    Cornish-Fisher start, so the draw is a function of ``u`` alone (batch invariant).

    Examples
    --------
    >>> import numpy as np
    >>> poisson_inverse(np.array([0.1, 0.5, 0.99]), np.array([0.0, 3.0, 3.0])).tolist()
    [0, 3, 8]
    """
    u, mean = np.broadcast_arrays(np.asarray(u, float), np.asarray(mean, float))
    out = np.zeros(u.shape, dtype=np.int64)
    idx = np.flatnonzero(mean > 0)
    if not idx.size:
        return out
    m, uu = mean.ravel()[idx], u.ravel()[idx]
    z = special.ndtri(uu)
    k = np.floor(m + np.sqrt(m) * z + (z * z - 1.0) / 6.0 + 0.5)
    k = np.where(m < 20.0, 0.0, np.maximum(k, 0.0))
    act = np.arange(idx.size)
    while act.size:  # step up while the cdf is below u
        up = special.pdtr(k[act], m[act]) < uu[act]
        act = act[up]
        k[act] += 1.0
    act = np.flatnonzero(k > 0)
    while act.size:  # step down while the cdf one below still reaches u
        down = special.pdtr(k[act] - 1.0, m[act]) >= uu[act]
        act = act[down]
        k[act] -= 1.0
        act = act[k[act] > 0]
    out.ravel()[idx] = k.astype(np.int64)
    return out
