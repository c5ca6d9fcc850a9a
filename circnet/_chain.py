"""Linear algebra of an absorbing continuous-time Markov chain, on state positions.

The chain has ``n`` states, the first ``n_transient`` transient and the rest absorbing,
and a generator ``Q`` (rates per unit time, rows sum to zero, absorbing rows zero). With
``M = -Q_TT`` and ``R = Q_TA``, a chain started from ``p0`` spends expected time
``x = M^-T p0`` in each transient state and ends in absorbing state ``a`` with
probability ``(x^T R)_a``. This module knows positions only; the labels of the states
belong to :mod:`circnet.states` and the transport model.

Solvers
-------
``direct``
    Sparse LU (SuperLU, COLAMD ordering) of ``M``, built once and reused for every
    right-hand side; best on tree-like bodies.
``iterative``
    Restarted GMRES (:func:`_gmres`) on the diagonally scaled system ``I - P``, for large
    random-like networks where LU fills in.

One-step kernel
---------------
:func:`transition_kernel` builds ``P = expm(dt Q)`` for simulation: a dense Pade
exponential up to :data:`~circnet.propagate.DENSE_EXPM_MAX` states; above, uniformisation
with scaling and squaring (:func:`_uniformized_kernel`), sparse while ``P`` is sparse, with
entries below a threshold dropped and the dropped mass measured: the rows lose at most
``tol`` (default :data:`KERNEL_TOL`) in total variation before they are renormalised.

:func:`_choose_method` picks one by structure. Every answer is checked by its normwise
backward error against :data:`RESIDUAL_TOL` (refined up to three times) and a
:class:`~circnet.SolverError` is raised if it stays above.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from ._validation import check_choice, check_number
from .errors import ParameterError, SolverError
from .propagate import DENSE_EXPM_MAX

__all__ = [
    "AbsorbingChain",
    "RESIDUAL_TOL",
    "METHODS",
    "KERNEL_TOL",
    "KERNEL_METHODS",
    "transition_kernel",
]

logger = logging.getLogger(__name__)

#: Largest relative residual accepted from a linear solve before refinement / error.
RESIDUAL_TOL = 1e-10

#: Solvers an :class:`AbsorbingChain` accepts.
METHODS = ("auto", "direct", "iterative")

#: Largest total-variation error of a row of a uniformised one-step kernel (mass dropped).
KERNEL_TOL = 1e-12
#: How :func:`transition_kernel` may build ``P``.
KERNEL_METHODS = ("auto", "dense", "uniformized")
#: Largest ``L h`` of the uniformised series before the squarings (Poisson weights from
#: ``exp(-L h)``, far from underflow).
_MAX_SERIES_MEAN = 128.0
#: Cost of a sparse-times-dense product term relative to a dense BLAS one, per flop
#: (measured on 2 cores: scipy's single-threaded CSR products against OpenBLAS).
_SPARSE_PENALTY = 10.0
#: Rounding drift allowed in a row's lost mass, in units of ``L dt eps`` (see
#: :func:`_uniformized_kernel`; measured 0.1-0.2 on the default body).
_ROUNDING = 16.0
#: Above this share of non-zeros the squarings go on in dense arrays (BLAS).
_DENSE_SHARE = 0.1
#: Most entries of a dense one-step matrix (3.2 GB of float64).
MAX_DENSE_KERNEL_ENTRIES = 400_000_000


class AbsorbingChain:
    """Linear algebra of an absorbing continuous-time Markov chain.

    Parameters
    ----------
    generator : sparse array (n, n)
        Rates per unit time; rows sum to zero; the rows of absorbing states are zero.
    labels : sequence of str
        One label per state.
    n_transient : int
        The first ``n_transient`` states are transient, the rest absorbing.
    method : {"auto", "direct", "iterative"}
        ``direct``: sparse LU (SuperLU, COLAMD ordering), best on tree-like bodies;
        ``iterative``: restarted GMRES on the diagonally scaled system (``I - P``), for
        large networks where LU fills in; ``auto`` picks by structure: direct up to
        2 000 transient states, and above that direct unless the transient states have
        more than 6 distinct neighbours on average (random-like networks, where sparse LU
        fills in catastrophically).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> q = sp.csr_array([[-3.0, 1.0, 2.0], [0, 0, 0], [0, 0, 0]])
    >>> chain = AbsorbingChain(q, ["x", "a", "b"], 1)
    >>> chain.absorption([1.0]).round(6).tolist()
    [0.333333, 0.666667]
    """

    def __init__(
        self, generator: Any, labels: Sequence[str], n_transient: int, method: str = "auto"
    ) -> None:
        q = sp.csr_array(generator, dtype=float)
        n = q.shape[0]
        if q.shape != (n, n) or len(labels) != n:
            raise ParameterError("`generator` must be square with one label per state")
        if not 0 < n_transient <= n:
            raise ParameterError(f"`n_transient` must lie in 1..{n} (got {n_transient})")
        check_choice(method, "method", METHODS)
        if not np.all(np.isfinite(q.data)):
            raise ParameterError("`generator` has non-finite rates")
        self.generator = q
        self.labels = tuple(labels)
        self.n_transient = int(n_transient)
        nt = self.n_transient
        self._m = (-q[:nt, :nt]).tocsc()
        self._r = q[:nt, nt:].tocsc()
        self.method = _choose_method(self._m) if method == "auto" else method
        how = "chosen by structure" if method == "auto" else "as asked"
        logger.debug("absorbing chain: %d transient states, %s solver (%s)", nt, self.method, how)

    # ------------------------------------------------------------------ solves
    @cached_property
    def _lu(self) -> Any:
        # M = -Q_TT is a row diagonally dominant M-matrix, so its diagonal pivots are safe
        # (no row interchanges); relax=1 / panel_size=1 suit the thin supernodes of
        # tree-like bodies (about 1.5x faster than SuperLU's defaults there). The residual
        # of every answer is checked below all the same.
        try:
            return spla.splu(
                self._m, permc_spec="COLAMD", diag_pivot_thresh=0.0, relax=1, panel_size=1
            )
        except RuntimeError as err:  # SuperLU: "Factor is exactly singular"
            raise SolverError(
                "the transient block of the generator is singular: some cells never reach a "
                "fate (a loop of states with no death, lodging or exit rate above round-off)"
            ) from err

    @cached_property
    def _diag(self) -> np.ndarray:
        return self._m.diagonal()

    @cached_property
    def _scaled_t(self) -> Any:
        """``M^T D^-1 = I - P^T``, ``D = diag(M)``, as CSR (the CSC arrays of M, scaled)."""
        m, d = self._m, self._diag
        return sp.csr_array((m.data / d[m.indices], m.indices, m.indptr), shape=m.shape)

    @cached_property
    def _scaled_n(self) -> Any:
        """``M D^-1``, as CSR."""
        m, d = self._m_csr, self._diag
        return sp.csr_array((m.data / d[m.indices], m.indices, m.indptr), shape=m.shape)

    @cached_property
    def _mt(self) -> Any:
        return self._m.T.tocsr()

    def _solve(self, b: np.ndarray, transpose: bool) -> np.ndarray:
        """Solve ``M x = b`` (or ``M^T x = b``) to :data:`RESIDUAL_TOL`, checking the residual."""
        a = self._mt if transpose else self._m_csr
        b = np.asarray(b, dtype=float)
        if self.method == "direct":
            x = self._lu.solve(b, trans="T" if transpose else "N")
        else:
            x = self._iterative(b, transpose)
        x = self._refine(a, b, x, transpose)
        return x

    @cached_property
    def _m_csr(self) -> Any:
        return self._m.tocsr()

    @cached_property
    def _norm(self) -> float:
        """Infinity norm of ``M`` (for the backward error of every solve; computed once)."""
        return float(abs(self._m_csr).sum(axis=1).max())

    @cached_property
    def _norm_t(self) -> float:
        """Infinity norm of ``M^T``."""
        return float(abs(self._mt).sum(axis=1).max())

    def _iterative(self, b: np.ndarray, transpose: bool) -> np.ndarray:
        """GMRES on the diagonally scaled system ``(M D^-1) (D x) = b``.

        With ``M = D (I - P)``, ``M^T D^-1 = I - P^T`` (and ``M D^-1`` is similar to
        ``I - P``): eigenvalues in a disc around 1 of radius ``rho(P) < 1``, so Krylov
        iterations converge at a rate set by the spread of the rates, not their scale.
        """
        a, d = (self._scaled_t if transpose else self._scaled_n), self._diag
        cols = b.reshape(b.shape[0], -1)
        out = np.empty_like(cols)
        for j in range(cols.shape[1]):
            c = cols[:, j]
            # the max-norm check in _refine needs |r|_inf <= RESIDUAL_TOL |b|_inf
            norms = float(np.abs(c).max()), float(np.linalg.norm(c))
            tol = 0.1 * RESIDUAL_TOL * norms[0] / norms[1] if norms[1] > 0 else 1.0
            out[:, j] = _gmres(a, c, tol=tol) / d
        return out.reshape(b.shape)

    def _refine(self, a: Any, b: np.ndarray, x: np.ndarray, transpose: bool) -> np.ndarray:
        # normwise backward error |b - a x| / (|a| |x| + |b|): a stiff chain (rates 1e3/min
        # next to 1e-4/min) cannot get below eps |a| |x| relative to |b| alone
        norm_a = self._norm_t if transpose else self._norm
        for _ in range(3):
            res = b - a @ x
            scale = max(float(np.abs(b).max()), norm_a * float(np.abs(x).max()), 1e-300)
            rel = float(np.abs(res).max()) / scale
            if rel <= RESIDUAL_TOL:
                return x
            logger.info(
                "solve: relative residual %.2e > %g, refining (%s)", rel, RESIDUAL_TOL, self.method
            )
            if self.method == "direct":
                x = x + self._lu.solve(res, trans="T" if transpose else "N")
            else:
                x = x + self._iterative(res, transpose)
        raise SolverError(
            f"linear solve did not converge: relative residual {rel:.2e} > {RESIDUAL_TOL:g}"
        )

    # ------------------------------------------------------------------ answers
    def occupation(self, p0: Any) -> np.ndarray:
        """Expected time spent in each transient state from initial distribution(s) ``p0``.

        ``p0`` has shape ``(n_transient,)`` or ``(n_transient, k)`` (one column per source).
        """
        return self._solve(np.asarray(p0, dtype=float), transpose=True)

    def reachable_fates(self, p0: Any) -> np.ndarray:
        """Which absorbing states the chain can reach at all from the support of ``p0``.

        Structural (by the sparsity of the generator), so that a fate no path leads to
        gets probability exactly 0 rather than round-off, and no conditional time.
        """
        p = np.asarray(p0, dtype=float)
        cols = p.reshape(p.shape[0], -1)
        nt = self.n_transient
        out = np.zeros((self.generator.shape[0] - nt, cols.shape[1]), dtype=bool)
        for j in range(cols.shape[1]):
            seen = np.zeros(self.generator.shape[0], dtype=bool)
            for s in np.flatnonzero(cols[:, j] > 0):
                if not seen[s]:
                    seen[
                        csgraph.breadth_first_order(
                            self._pattern, s, directed=True, return_predecessors=False
                        )
                    ] = True
            out[:, j] = seen[nt:]
        return out.reshape((-1,) + p.shape[1:])

    @cached_property
    def _pattern(self) -> sp.csr_matrix:
        # float64 CSR matrix with sorted indices: what csgraph validates every call to,
        # so each breadth-first search does not copy the pattern again
        m = sp.csr_matrix((self.generator != 0).astype(np.float64))
        m.sort_indices()
        return m

    def absorption(self, p0: Any) -> np.ndarray:
        """Absorption probabilities over the absorbing states, from ``p0``."""
        x = self.occupation(p0)
        out = np.where(self.reachable_fates(p0), self._r.T @ x, 0.0)
        return _clean_probabilities(out, np.asarray(p0, dtype=float).sum(axis=0))

    @cached_property
    def fate_matrix(self) -> np.ndarray:
        """``H = M^-1 R``: probability of each fate (columns) from each transient state."""
        h = self._solve(self._r.toarray(), transpose=False)
        return _clean_probabilities(h.T).T

    def expected_times(self, p0: Any) -> tuple[float, np.ndarray]:
        """Expected time to absorption, and to each fate conditionally, from ``p0``."""
        x = self.occupation(p0)
        total = float(x.sum())
        probs = self.absorption(p0)
        # E[T 1{fate a}] = x^T M^-1 R = (M^-T x)^T R: one more transposed solve, not the
        # whole fate matrix (unless that is already cached)
        if "fate_matrix" in self.__dict__:
            joint = self.fate_matrix.T @ x
        else:
            joint = self._r.T @ self._solve(x, transpose=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            cond = np.where(probs > 0, joint / probs, np.nan)
        return total, cond


#: Mean number of distinct neighbours (in or out) above which ``auto`` goes iterative.
#: Bodies, refined capillary trees included, have 3-5; random 4-out networks about 8.
_DIRECT_MAX_DEGREE = 6.0


def _choose_method(m: Any) -> str:
    """``direct`` for small or tree-like chains, ``iterative`` for random-like ones."""
    n = m.shape[0]
    if n <= 2_000:
        return "direct"
    pattern = sp.csr_array((m != 0).astype(np.int8))
    sym = pattern + pattern.T
    degree = (sym.nnz - n) / n  # distinct neighbours, the diagonal left out
    return "iterative" if degree > _DIRECT_MAX_DEGREE else "direct"


def _gmres(
    a: Any, b: np.ndarray, *, tol: float, restart: int = 30, maxiter: int = 2_000
) -> np.ndarray:
    """Restarted GMRES for ``a x = b`` to relative residual ``tol`` (2-norm).

    Classical Gram-Schmidt with one re-orthogonalisation, as matrix-vector products
    over the basis (BLAS), Givens rotations on the small Hessenberg matrix.
    """
    n = b.shape[0]
    x = np.zeros(n)
    bnorm = float(np.linalg.norm(b))
    if bnorm == 0:
        return x
    v = np.empty((restart + 1, n))
    done = 0
    while done < maxiter:
        r = b - a @ x
        beta = float(np.linalg.norm(r))
        if beta <= tol * bnorm:
            return x
        h = np.zeros((restart + 1, restart))
        g = np.zeros(restart + 1)
        cs = np.zeros(restart)
        sn = np.zeros(restart)
        g[0] = beta
        np.divide(r, beta, out=v[0])
        k = 0
        for j in range(restart):
            w = a @ v[j]
            basis = v[: j + 1]
            c1 = basis @ w
            w -= c1 @ basis
            c2 = basis @ w
            w -= c2 @ basis
            h[: j + 1, j] = c1 + c2
            hn = float(np.linalg.norm(w))
            h[j + 1, j] = hn
            for i in range(j):
                t = cs[i] * h[i, j] + sn[i] * h[i + 1, j]
                h[i + 1, j] = -sn[i] * h[i, j] + cs[i] * h[i + 1, j]
                h[i, j] = t
            den = math.hypot(h[j, j], h[j + 1, j])
            cs[j], sn[j] = h[j, j] / den, h[j + 1, j] / den
            h[j, j] = den
            h[j + 1, j] = 0.0
            g[j + 1] = -sn[j] * g[j]
            g[j] = cs[j] * g[j]
            k = j + 1
            done += 1
            if abs(g[j + 1]) <= tol * bnorm or hn == 0.0:
                break
            np.divide(w, hn, out=v[j + 1])
        y = np.linalg.solve(np.triu(h[:k, :k]), g[:k])
        x += y @ v[:k]
    raise SolverError(f"GMRES did not reach relative residual {tol:g} in {maxiter} iterations")


def transition_kernel(
    generator: Any, dt: float, *, tol: float = KERNEL_TOL, method: str = "auto"
) -> tuple[sp.csr_array, float]:
    """The one-step transition matrix ``P = expm(dt Q)`` of a simulation, and its error.

    Parameters
    ----------
    generator : sparse array (n, n)
        Rates per unit time; rows sum to zero.
    dt : float
        Step (> 0), in the unit of the rates.
    tol : float
        Uniformisation only: the most probability mass a row may lose to truncation and
        dropped entries before it is renormalised (its total-variation error).
    method : {"auto", "dense", "uniformized"}
        ``dense``: Pade scaling and squaring (:func:`scipy.linalg.expm`), rows checked to
        sum to 1 within 1e-8 and renormalised (rounding only, ~1e-15 per row on the
        default body); ``uniformized``: :func:`_uniformized_kernel`; ``auto``: dense up to
        :data:`~circnet.propagate.DENSE_EXPM_MAX` states.

    Returns
    -------
    P : scipy.sparse.csr_array
        Rows sum to 1 (within rounding, ~1e-15); non-negative.
    missing : float
        The largest mass a row lost before renormalising (0.0 for ``dense``).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> q = sp.csr_array([[-1.0, 1.0], [0.0, 0.0]])
    >>> p, missing = transition_kernel(q, 1.0, method="uniformized")
    >>> p.toarray().round(6).tolist(), missing <= KERNEL_TOL
    ([[0.367879, 0.632121], [0.0, 1.0]], True)
    """
    h = check_number(dt, "dt", low=0.0, low_open=True)
    tol = check_number(tol, "tol", low=0.0, low_open=True, high=1e-3)
    check_choice(method, "method", KERNEL_METHODS)
    q = sp.csr_array(generator, dtype=float)
    if method == "dense" or (method == "auto" and q.shape[0] <= DENSE_EXPM_MAX):
        p = sp.csr_array(scipy.linalg.expm(q.toarray() * h))
        missing = 0.0
    else:
        p, missing = _uniformized_kernel(q, h, tol)
    p.data[p.data < 0] = 0.0
    p.eliminate_zeros()
    rows = np.asarray(p.sum(axis=1)).ravel()
    if rows.size and np.abs(rows - 1).max() > 1e-8 + missing:
        raise SolverError(
            f"transition matrix rows do not sum to 1 (error {np.abs(rows - 1).max():.2e})"
        )
    return sp.csr_array(sp.diags_array(1.0 / rows) @ p), missing


def _uniformized_kernel(q: sp.csr_array, dt: float, tol: float) -> tuple[sp.csr_array, float]:
    """``expm(dt Q)`` by uniformisation, scaling and squaring, with dropped mass measured.

    With ``L = max_i |Q_ii|`` and ``A = I + Q / L`` (non-negative, rows sum to 1),
    ``expm(h Q) = sum_k Poisson(k; L h) A^k``. The step is halved ``s`` times
    (:func:`_squarings`: ``L h <= 128``, fewest estimated flops); the series is
    truncated and ``expm(dt Q) = expm(h Q)^(2^s)`` by ``s``
    squarings, each followed by dropping entries below a threshold. Every term is
    non-negative, so each stage is an entrywise lower bound of the exact matrix and a row's
    lost mass (1 minus its sum) *is* its total-variation error. A row losing ``m`` loses
    at most ``2 m`` after a squaring, so the budget ``tol`` is spread over the stages
    with weights ``2^-(s - k)`` (a quarter to the series, half to the squarings, a
    quarter to the last drop); the rows are renormalised at the end (so the result
    errs by at most ``2 tol`` per row, plus rounding). Rounding: ``A``'s rows sum to 1
    only within an ulp, and the ``L dt`` effective products turn that into a drift of
    the row sums of about ``L dt eps`` (the same drift as Pade scaling and squaring of
    ``dt Q``: 2e-12 for an hour, 8e-11 for a day on the default body), which the
    measured loss includes and the renormalisation removes; more than
    ``tol + 16 L dt eps`` raises :class:`~circnet.SolverError`. Cost: the series' products by the
    sparse ``A`` (sparse, or dense once more than 10 % full), plus ``s`` sparse or dense
    (BLAS) squarings.
    """
    n = q.shape[0]
    rate = float(np.abs(q.diagonal()).max()) if n else 0.0
    if rate == 0.0:
        return sp.eye_array(n, format="csr"), 0.0
    s = _squarings(rate * dt, n, q.nnz)
    mu = rate * dt / 2**s
    # A = I + Q / L with its diagonal set from the off-diagonal rates (as Q's should be):
    # rows sum to 1 to rounding, whatever the rounding of Q's row sums (which expm(dt Q)
    # would turn into a mass drift of about dt L eps per row)
    off = sp.csr_array(q / rate)
    off.setdiag(0.0)
    off.data[off.data < 0] = 0.0
    off.eliminate_zeros()
    stay = np.maximum(1.0 - np.asarray(off.sum(axis=1)).ravel(), 0.0)
    a = (off + sp.diags_array(stay)).tocsr()
    # budgets (a row's loss is at most doubled by each later squaring): the series gets
    # tol / 4 / 2^s, squaring k (1..s) tol / 2 / s / 2^(s-k), the final dense drop tol / 4
    budget0 = tol / 2 ** (s + 2)
    weights = [math.exp(-mu)]
    while True:  # Poisson tail beyond the last weight, bounded by a geometric series
        after = weights[-1] * mu / len(weights)
        if len(weights) + 1 > 2 * mu and after / (1.0 - mu / (len(weights) + 1)) <= budget0 / 2:
            break
        weights.append(after)
    # sum_k w_k A^k; an entry x of A^k feeds at most x * (w_k + w_k+1 + ...) to the sum.
    # Sparse while A^k is; then dense, as X^T <- A^T X^T (sparse times dense)
    x: Any = sp.eye_array(n, format="csr")
    acc: Any = x * weights[0]
    at = a.T.tocsr()
    for k in range(1, len(weights)):
        budget = budget0 / 2 / (math.fsum(weights[k:]) * len(weights))
        if isinstance(x, np.ndarray):
            x = at @ x  # x holds X^T
            x[x < budget / n] = 0.0
            acc += weights[k] * x
            continue
        x = (x @ a).tocsr()
        _drop(x, budget)
        acc = acc + x * weights[k]
        if x.nnz > _DENSE_SHARE * n * n:
            _check_dense(n, x.nnz, dt)
            x, acc = x.T.toarray(), acc.T.toarray()
    p: Any = np.ascontiguousarray(acc.T) if isinstance(acc, np.ndarray) else acc.tocsr()
    for k in range(1, s + 1):
        dense = isinstance(p, np.ndarray)
        if not dense and p.nnz > _DENSE_SHARE * n * n:
            _check_dense(n, p.nnz, dt)
            p, dense = p.toarray(), True
        p = p @ p
        budget = tol / (2 * s * 2 ** (s - k))
        if dense:  # also keeps subnormal numbers (100x slower products) out
            p[p < budget / n] = 0.0
        else:
            p = sp.csr_array(p)
            _drop(p, budget)
    if isinstance(p, np.ndarray):
        p[p < tol / (4 * n)] = 0.0  # the last quarter of the budget
        p = sp.csr_array(p)
    # the measured loss also holds the rounding drift of about (L dt) eps that every
    # scaling and squaring has (A's rows sum to 1 only to rounding): allowed on top of tol
    missing = float(np.max(1.0 - np.asarray(p.sum(axis=1)).ravel(), initial=0.0))
    allowed = tol + _ROUNDING * rate * dt * np.finfo(float).eps
    if missing > allowed:
        raise SolverError(
            f"uniformised kernel lost {missing:.2e} of a row's mass (allowed {allowed:.2e})"
        )
    return p, max(missing, 0.0)


def _squarings(mean: float, n: int, nnz: int) -> int:
    """How many times to halve a step of ``L dt = mean`` before the series: the fewest
    estimated flops, with the series term (``nnz`` of ``A`` times ``n``, for a dense
    ``A^k``; about ``mu + 6 sqrt(mu) + 10`` terms) against a dense squaring (``n^3``)."""
    best, best_cost = 0, math.inf
    top = max(0, math.ceil(math.log2(mean))) if mean > 1 else 0
    for s in range(top + 1):
        mu = mean / 2**s
        if mu > _MAX_SERIES_MEAN:
            continue
        terms = mu + 6 * math.sqrt(mu) + 10
        cost = terms * nnz * n * _SPARSE_PENALTY + s * float(n) ** 3
        if cost < best_cost:
            best, best_cost = s, cost
    return best


def _check_dense(n: int, nnz: int, dt: float) -> None:
    if n * n > MAX_DENSE_KERNEL_ENTRIES:
        raise ParameterError(
            f"the one-step matrix of `dt` = {dt:g} is dense ({nnz:,} non-zeros on {n:,} "
            "states and filling in): take a smaller `dt`"
        )


def _drop(m: sp.csr_array, budget: float) -> None:
    """Drop (in place) the entries of ``m`` below ``budget / (longest row)``: no row loses
    more than ``budget``."""
    if m.nnz == 0:
        return
    longest = int(np.diff(m.indptr).max())
    m.data[m.data < budget / longest] = 0.0
    m.eliminate_zeros()


def _clean_probabilities(p: np.ndarray, mass: Any = 1.0) -> np.ndarray:
    """Clip round-off negatives and rescale each column to its exact sum ``mass``.

    The columns sum to ``mass`` up to round-off, which in a stiff chain (residence times
    of a second next to hours of circulation) reaches ~1e-12: the rescaling removes it.
    """
    p = np.where(np.abs(p) < 1e-300, 0.0, np.maximum(p, 0.0))
    total = p.sum(axis=0)
    scale = np.divide(mass, total, out=np.ones_like(total, dtype=float), where=total > 0)
    return p * scale
