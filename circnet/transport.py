"""Markov transport of detached cells: labelled states, sparse generator, exact fates.

A cell's state is a continuous-time Markov chain on labelled states:

=====================  =====================================================
``transit:<node>``     in transit at a pool, capillary bed, lymph node or duct
``lodged:<bed>``       arrested in a capillary bed
``tissue:<organ>``     extravasated into an organ's tissue
``trapped:<node>``     retained in a lymph-node group
``dead``               absorbing: died (blood, lymph, tissue, immune kill)
``colony:<organ>``     absorbing: founded a micrometastasis in that organ
``node:<node>``        absorbing: founded a nodal tumour in that node group
=====================  =====================================================

The generator ``Q`` (``scipy.sparse`` CSR array, rates per minute, rows sum to
zero, absorbing rows zero) follows the row-vector convention
``p(t) = p(0) expm(t Q)``. Transient states come first, in :attr:`TransportModel.states`
order, then the absorbing fates. Residence times come from volumes and flows (a pool
of volume ``V`` with outflow ``F`` is left at rate ``F / V``); out-edges are chosen
in proportion to flow; the cell-side parameters come from
:class:`~circnet.CellProfile` (see :mod:`circnet.cells`).

Absorption: with ``M = -Q_TT`` (transient block) and ``R = Q_TA``, a cell started
from distribution ``p0`` spends expected time ``x = M^-T p0`` in each transient state
(minutes), ends in fate ``a`` with probability ``(x^T R)_a``, and is absorbed after
``sum(x)`` minutes on average. One sparse LU factorisation of ``M`` serves every
source; its answers are checked by their residual.

What is cached (a model is immutable): the state labels and their index, the
factorisation of ``M`` (built once, on first use) and the fate matrix ``M^-1 R``
(on first use). :meth:`TransportModel.with_cells` and
:meth:`TransportModel.with_body` return new models that reuse the validated body
(``with_cells``) and skip validation of an unchanged structure; the generator is
rebuilt (a few milliseconds for the default body) and refactorised lazily.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy.sparse import csgraph

from .body import lymph_nodes, organs, validate
from .cells import CellProfile
from .errors import CircnetError, ParameterError, UnknownNameError

__all__ = ["TransportModel", "AbsorbingChain", "FateResult"]

#: Largest relative residual accepted from a linear solve before refinement / error.
RESIDUAL_TOL = 1e-10


class SolverError(CircnetError, ArithmeticError):
    """A linear solve did not reach the required residual."""


@dataclass(frozen=True)
class FateResult:
    """Fates of cells released from one source.

    Attributes
    ----------
    probabilities : pandas.Series
        Absorption probability of each fate (sums to 1).
    expected_time : float
        Expected time to absorption, minutes.
    conditional_times : pandas.Series
        Expected time to absorption given each fate, minutes (NaN where the fate has
        probability 0).
    occupation : pandas.Series
        Expected minutes spent in each transient state.
    """

    probabilities: pd.Series
    expected_time: float
    conditional_times: pd.Series
    occupation: pd.Series

    def to_frame(self) -> pd.DataFrame:
        """Fates as a table: probability and conditional expected time (min)."""
        return pd.DataFrame(
            {"probability": self.probabilities, "expected_time_min": self.conditional_times}
        )


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
        if method not in ("auto", "direct", "iterative"):
            raise ParameterError(
                f"`method` must be 'auto', 'direct' or 'iterative' (got {method!r})"
            )
        if not np.all(np.isfinite(q.data)):
            raise ParameterError("`generator` has non-finite rates")
        self.generator = q
        self.labels = tuple(labels)
        self.n_transient = int(n_transient)
        nt = self.n_transient
        self._m = (-q[:nt, :nt]).tocsc()
        self._r = q[:nt, nt:].tocsc()
        self.method = _choose_method(self._m) if method == "auto" else method

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

    def _scaled(self, transpose: bool) -> Any:
        """``M^T D^-1 = I - P^T`` (or ``M D^-1``), ``D = diag(M)``, as CSR (scaled data)."""
        key = "_scaled_t" if transpose else "_scaled_n"
        if key not in self.__dict__:
            d = self._diag
            if transpose:  # CSC arrays of M are the CSR arrays of M^T; column j of it / d_j
                m = self._m
                a = sp.csr_array((m.data / d[m.indices], m.indices, m.indptr), shape=m.shape)
            else:
                m = self._m_csr
                a = sp.csr_array((m.data / d[m.indices], m.indices, m.indptr), shape=m.shape)
            self.__dict__[key] = a
        return self.__dict__[key]

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
        a, d = self._scaled(transpose), self._diag
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
    def _pattern(self) -> sp.csr_array:
        return sp.csr_array((self.generator != 0).astype(np.int8))

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


def _clean_probabilities(p: np.ndarray, mass: Any = 1.0) -> np.ndarray:
    """Clip round-off negatives and rescale each column to its exact sum ``mass``.

    The columns sum to ``mass`` up to round-off, which in a stiff chain (residence times
    of a second next to hours of circulation) reaches ~1e-12: the rescaling removes it.
    """
    p = np.where(np.abs(p) < 1e-300, 0.0, np.maximum(p, 0.0))
    total = p.sum(axis=0)
    scale = np.divide(mass, total, out=np.ones_like(total, dtype=float), where=total > 0)
    return p * scale


# ============================================================================ the model
def _entry_state(kind: str, node: Any) -> str:
    if kind in ("pool", "capillary_bed", "lymph_node", "lymph_duct"):
        return f"transit:{node}"
    raise CircnetError(f"flow cannot carry a cell into {kind} node {node!r}")


def _moves(
    g: nx.DiGraph, kinds: Mapping[Any, str], node: Any, channel: str | None
) -> list[tuple[str, float]]:
    """Where flow carries a cell leaving ``node``: (entry state, share by flow) per out-edge
    of ``channel`` (any if None); the bed-to-tissue filtration edge carries no cells."""
    out = [
        (v, float(d["flow"]))
        for _, v, d in g.out_edges(node, data=True)
        if (channel is None or d["channel"] == channel) and kinds[v] != "tissue"
    ]
    total = sum(f for _, f in out)
    return [(_entry_state(kinds[v], v), f / total) for v, f in out]


class TransportModel:
    """Transport of a detached cell through a body, as an absorbing Markov chain.

    Parameters
    ----------
    body : networkx.DiGraph
        A body graph (validated here; see :func:`circnet.validate`).
    cells : CellProfile, optional
        Parameters of the cell; default :class:`~circnet.CellProfile()`.
    method : {"auto", "direct", "iterative"}
        Linear solver (see :class:`AbsorbingChain`).

    Attributes
    ----------
    states : tuple of str
        All state labels: transient first, then fates. Fixes the matrix order.
    transient_states, fate_labels : tuple of str
    generator : scipy.sparse.csr_array
        ``Q``, rates per minute.

    Examples
    --------
    >>> import circnet
    >>> model = circnet.TransportModel(circnet.default_body())
    >>> fates = model.fates("colon_rectum")
    >>> bool(abs(fates.sum() - 1) < 1e-12)
    True
    >>> fates.drop("dead").idxmax()
    'colony:liver'
    """

    def __init__(
        self,
        body: nx.DiGraph,
        cells: CellProfile | None = None,
        *,
        method: str = "auto",
        _validated: bool = False,
    ) -> None:
        if not _validated:
            validate(body)
        if cells is None:
            cells = CellProfile()
        if not isinstance(cells, CellProfile):
            raise ParameterError(f"`cells` must be a CellProfile (got {type(cells).__name__})")
        self.body = body
        self.cells = cells
        self._method = method
        self._organs = organs(body)
        self._nodes = lymph_nodes(body)
        cells.check_sites(set(self._organs), set(self._nodes))
        self._build()

    # ------------------------------------------------------------------ build
    def _build(self) -> None:
        g, cells = self.body, self.cells
        transient: list[str] = []
        for n, d in g.nodes(data=True):
            k = d["kind"]
            if k in ("pool", "lymph_duct"):
                transient.append(f"transit:{n}")
            elif k == "capillary_bed":
                transient += [f"transit:{n}", f"lodged:{n}"]
            elif k == "tissue":
                transient.append(f"tissue:{d['organ']}")
            elif k == "lymph_node":
                transient += [f"transit:{n}", f"trapped:{n}"]
        fates = (
            ["dead"] + [f"colony:{o}" for o in self._organs] + [f"node:{n}" for n in self._nodes]
        )
        states = transient + fates
        index = {s: i for i, s in enumerate(states)}
        rows: list[int] = []
        cols: list[int] = []
        vals: list[float] = []

        def add(src: str, dst: str, rate: float) -> None:
            if rate > 0:
                rows.append(index[src])
                cols.append(index[dst])
                vals.append(rate)

        kinds = nx.get_node_attributes(g, "kind")

        def spread(src: str, node: Any, rate: float, channel: str | None) -> None:
            for dst, share in _moves(g, kinds, node, channel):
                add(src, dst, rate * share)

        for n, d in g.nodes(data=True):
            k = d["kind"]
            if k in ("pool", "lymph_duct"):
                s = f"transit:{n}"
                fout = sum(float(e["flow"]) for _, _, e in g.out_edges(n, data=True))
                spread(s, n, fout / float(d["volume"]), None)
                add(s, "dead", cells.death_rate_blood if k == "pool" else cells.death_rate_lymph)
            elif k == "capillary_bed":
                s, lodged = f"transit:{n}", f"lodged:{n}"
                organ = d["organ"]
                fout = sum(
                    float(e["flow"])
                    for _, _, e in g.out_edges(n, data=True)
                    if e["channel"] == "blood"
                )
                q = fout / float(d["volume"])
                p = cells.lodging(float(d["diameter"]))
                add(s, lodged, q * p)
                spread(s, n, q * (1.0 - p), "blood")
                add(s, "dead", cells.death_rate_blood)
                t_l = cells.site_value("lodged_time_min", organ)
                p_ex = cells.site_value("extravasation_probability", organ)
                add(lodged, f"tissue:{organ}", p_ex / t_l)
                add(lodged, "dead", (1.0 - p_ex) / t_l)
            elif k == "tissue":
                organ = d["organ"]
                s = f"tissue:{organ}"
                t_t = cells.site_value("tissue_time_min", organ)
                p_c = cells.colonisation(organ)
                add(s, f"colony:{organ}", p_c / t_t)
                add(s, "dead", (1.0 - p_c) / t_t)
            elif k == "lymph_node":
                s, trapped = f"transit:{n}", f"trapped:{n}"
                fout = sum(float(e["flow"]) for _, _, e in g.out_edges(n, data=True))
                q = fout / float(d["volume"])
                p = cells.site_value("trapping_probability", n)
                add(s, trapped, q * p)
                spread(s, n, q * (1.0 - p), None)
                add(s, "dead", cells.death_rate_lymph)
                add(trapped, "dead", cells.site_value("immune_kill_rate", n))
                add(trapped, f"node:{n}", cells.site_value("nodal_growth_rate", n))
                spread(trapped, n, cells.site_value("node_release_rate", n), None)
        n_states = len(states)
        off = sp.coo_array((vals, (rows, cols)), shape=(n_states, n_states)).tocsr()
        off.sum_duplicates()
        diag = np.asarray(off.sum(axis=1)).ravel()
        q = (off - sp.diags_array(diag)).tocsr()
        self.states = tuple(states)
        self.transient_states = tuple(transient)
        self.fate_labels = tuple(fates)
        self.generator = q
        self._index = index
        # a transient state no rate leaves would make M singular: name it
        stuck = [s for s, r in zip(transient, diag[: len(transient)], strict=True) if r <= 0]
        if stuck:
            raise ParameterError(
                f"cells can never leave state(s) {stuck}: give them a positive death or exit rate"
            )

    @cached_property
    def chain(self) -> AbsorbingChain:
        """The :class:`AbsorbingChain` (factorised on first use, then cached)."""
        return AbsorbingChain(
            self.generator, self.states, len(self.transient_states), method=self._method
        )

    # ------------------------------------------------------------------ what if
    def with_cells(self, cells: CellProfile | None = None, **changes: Any) -> TransportModel:
        """A model of the same body with other cell parameters.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> bigger = model.with_cells(diameter_um=20.0)
        >>> bool(bigger.fates("prostate")["colony:lung"] > 0)
        True
        """
        cells = (cells or self.cells).replace(**changes) if changes else (cells or self.cells)
        return TransportModel(self.body, cells, method=self._method, _validated=True)

    def with_body(self, body: nx.DiGraph) -> TransportModel:
        """A model of another body (e.g. with changed flows) and the same cells."""
        return TransportModel(body, self.cells, method=self._method)

    # ------------------------------------------------------------------ sources
    @property
    def organs(self) -> tuple[str, ...]:
        """Organs of the body (each a possible primary site)."""
        return tuple(self._organs)

    @property
    def lymph_nodes(self) -> tuple[str, ...]:
        """Lymph-node groups of the body."""
        return tuple(str(n) for n in self._nodes)

    def index(self, label: str) -> int:
        """Position of a state label in :attr:`states`."""
        try:
            return self._index[label]
        except KeyError:
            raise UnknownNameError(f"unknown state {label!r}") from None

    def release(self, primary: str) -> pd.Series:
        """Initial distribution of a cell shed by a tumour at ``primary``.

        ``primary`` is an organ (a share ``cells.lymph_fraction`` enters the organ's
        afferent lymph, the rest its venous outflow; an organ with no lymph flow sheds
        all into blood) or a lymph-node group (cells leave with its efferent lymph).
        Returns a Series over the transient states that sums to 1.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> p0 = model.release("colon_rectum")
        >>> sorted(p0[p0 > 0].index)
        ['transit:mesenteric_nodes', 'transit:portal_vein']
        """
        g = self.body
        kinds = nx.get_node_attributes(g, "kind")
        p = dict.fromkeys(self.transient_states, 0.0)

        def pour(node: Any, share: float, channel: str | None) -> None:
            for dst, part in _moves(g, kinds, node, channel):
                p[dst] += share * part

        if primary in self._organs:
            bed = next(
                n
                for n, d in g.nodes(data=True)
                if d["kind"] == "capillary_bed" and d["organ"] == primary
            )
            tissue = next(
                n for n, d in g.nodes(data=True) if d["kind"] == "tissue" and d["organ"] == primary
            )
            has_lymph = sum(float(d["flow"]) for _, _, d in g.out_edges(tissue, data=True)) > 0
            lf = self.cells.lymph_fraction if has_lymph else 0.0
            pour(bed, 1.0 - lf, "blood")
            if lf > 0:
                pour(tissue, lf, None)
        elif primary in self._nodes:
            pour(primary, 1.0, None)
        else:
            raise UnknownNameError(
                f"unknown primary site {primary!r}: expected an organ "
                f"({', '.join(self._organs)}) or a lymph-node group"
            )
        return pd.Series(p, name=f"release:{primary}")

    def initial(self, initial: Any) -> np.ndarray:
        """Turn a source into a probability vector over transient states.

        ``initial`` is an organ / node name, a mapping or Series of state label to
        probability, or an array over the transient states; it must be non-negative
        and sum to 1.
        """
        nt = len(self.transient_states)
        if isinstance(initial, str):
            return self.release(initial).to_numpy()
        if isinstance(initial, (Mapping, pd.Series)):
            v = np.zeros(nt)
            for k, x in dict(initial).items():
                i = self.index(k)
                if i >= nt:
                    raise ParameterError(f"initial state {k!r} is a fate, not a transient state")
                v[i] += float(x)
        else:
            v = np.asarray(initial, dtype=float)
            if v.shape != (nt,):
                raise ParameterError(f"`initial` array must have shape ({nt},) (got {v.shape})")
        if not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ParameterError("`initial` must be finite and non-negative")
        if abs(v.sum() - 1.0) > 1e-9:
            raise ParameterError(f"`initial` must sum to 1 (got {v.sum()!r})")
        return v

    # ------------------------------------------------------------------ answers
    def fates(self, primary: Any = None, *, initial: Any = None) -> pd.Series | pd.DataFrame:
        """Absorption probabilities of the fates of cells released from a source.

        Parameters
        ----------
        primary : str or list of str, optional
            An organ or lymph-node group, or a list of them (one row each), or
            ``"all"`` for every organ. Default: all organs.
        initial : mapping or array, optional
            Instead of ``primary``: an arbitrary initial distribution over transient
            states (see :meth:`initial`).

        Returns
        -------
        pandas.Series (one source) or pandas.DataFrame (rows: sources; columns: fates)
            Probabilities summing to 1 within 1e-12.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> table = model.fates(["colon_rectum", "lung"])
        >>> table.shape[0]
        2
        """
        if initial is not None:
            p = self.chain.absorption(self.initial(initial))
            return pd.Series(p, index=list(self.fate_labels), name="probability")
        if primary is None or (isinstance(primary, str) and primary == "all"):
            primary = list(self._organs)
        if isinstance(primary, str):
            p = self.chain.absorption(self.initial(primary))
            return pd.Series(p, index=list(self.fate_labels), name=primary)
        sources = list(primary)
        p0 = np.column_stack([self.initial(s) for s in sources])
        out = self.chain.absorption(p0)
        return pd.DataFrame(
            out.T, index=pd.Index(sources, name="primary"), columns=list(self.fate_labels)
        )

    def fate_result(self, primary: Any = None, *, initial: Any = None) -> FateResult:
        """Fates with expected times (minutes): total and conditional on each fate.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> res = model.fate_result("breast" if "breast" in model.organs else "prostate")
        >>> res.expected_time > 0
        True
        """
        p0 = self.initial(initial if initial is not None else primary)
        x = self.chain.occupation(p0)
        total, cond = self.chain.expected_times(p0)
        probs = self.chain.absorption(p0)
        fl = list(self.fate_labels)
        return FateResult(
            probabilities=pd.Series(probs, index=fl, name="probability"),
            expected_time=total,
            conditional_times=pd.Series(cond, index=fl, name="expected_time_min"),
            occupation=pd.Series(x, index=list(self.transient_states), name="minutes"),
        )

    def expected_time(self, primary: Any = None, *, initial: Any = None) -> float:
        """Expected time (minutes) until a released cell reaches its fate."""
        p0 = self.initial(initial if initial is not None else primary)
        return float(self.chain.occupation(p0).sum())

    def lodging_table(self) -> pd.Series:
        """Lodging probability per passage of each capillary bed, for these cells."""
        return pd.Series(
            {
                d["organ"]: self.cells.lodging(float(d["diameter"]))
                for _, d in self.body.nodes(data=True)
                if d["kind"] == "capillary_bed"
            },
            name="lodging_probability",
        )

    # ------------------------------------------------------------------ propagation
    def propagate(
        self,
        primary: Any = None,
        times: Iterable[float] = (0.0,),
        *,
        initial: Any = None,
        method: str = "expm",
        tol: float = 1e-12,
    ) -> pd.DataFrame:
        """Distribution over all states at the given times (minutes) after release.

        See :func:`circnet.propagate.propagate`; returns a DataFrame indexed by time
        with one column per state (transient and fates), each row summing to 1.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> dist = model.propagate("colon_rectum", [1.0, 60.0])
        >>> bool(abs(dist.sum(axis=1) - 1).max() < 1e-12)
        True
        """
        from .propagate import propagate as _propagate

        p0 = self.initial(initial if initial is not None else primary)
        full = np.zeros(len(self.states))
        full[: len(p0)] = p0
        times = np.asarray(list(times), dtype=float)
        out = _propagate(self.generator, full, times, method=method, tol=tol)
        return pd.DataFrame(out, index=pd.Index(times, name="time_min"), columns=list(self.states))

    def transition_matrix(self, dt: float) -> sp.csr_array:
        """Discrete-time transition matrix ``expm(dt Q)`` for a step of ``dt`` minutes."""
        from .propagate import transition_matrix as _tm

        return _tm(self.generator, dt)

    # ------------------------------------------------------------------ sensitivity
    def sensitivity(
        self,
        fate: str,
        primary: str,
        *,
        parameters: Sequence[str] | None = None,
        flows: Sequence[str] | None = None,
        rel_step: float = 1e-4,
    ) -> pd.Series:
        """Elasticities ``d ln P(fate) / d ln theta`` by central finite differences.

        For each cell parameter (global value) and each organ's arterial flow (changed
        with :func:`circnet.scale_organ_flow`, cardiac output kept), the relative change
        of the fate probability per relative change of the parameter.

        Parameters
        ----------
        fate : str
            A fate label, e.g. ``"colony:liver"``.
        primary : str
            The source.
        parameters, flows : sequence of str, optional
            Which cell parameters / organ flows; default all numeric parameters and
            all organs with an arterial supply.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> e = model.sensitivity("colony:liver", "colon_rectum", flows=["liver"],
        ...                       parameters=["death_rate_blood"])
        >>> bool(e["death_rate_blood"] < 0)
        True
        """
        from .body import scale_organ_flow
        from .cells import PARAMETERS

        if fate not in self.fate_labels:
            raise UnknownNameError(f"unknown fate {fate!r}")
        j = self.fate_labels.index(fate)
        base = self.fates(primary)[fate]
        if base <= 0:
            raise ParameterError(f"fate {fate!r} has probability 0 from {primary!r}: no elasticity")
        out: dict[str, float] = {}
        if parameters is None:
            parameters = [k for k, p in PARAMETERS.items() if getattr(self.cells, k) > 0]
        for name in parameters:
            v = getattr(self.cells, name, None)
            if name not in PARAMETERS or v is None:
                raise UnknownNameError(f"unknown cell parameter {name!r}")
            if v == 0:
                out[name] = math.nan
                continue
            hi = self.with_cells(**{name: v * (1 + rel_step)}).fates(primary).iloc[j]
            lo = self.with_cells(**{name: v * (1 - rel_step)}).fates(primary).iloc[j]
            out[name] = (hi - lo) / (2 * rel_step * base)
        if flows is None:
            flows = [o for o in self._organs if self.body.has_edge("left_heart", f"{o}_bed")]
        for organ in flows:
            hi = self.with_body(scale_organ_flow(self.body, organ, 1 + rel_step)).fates(primary)
            lo = self.with_body(scale_organ_flow(self.body, organ, 1 - rel_step)).fates(primary)
            out[f"flow:{organ}"] = (hi.iloc[j] - lo.iloc[j]) / (2 * rel_step * base)
        return pd.Series(out, name=f"elasticity of P({fate}) from {primary}")

    # ------------------------------------------------------------------ simulation
    def simulate(
        self,
        source: Any,
        n_cells: int = 0,
        times: Iterable[float] = (60.0,),
        rng: Any = None,
        *,
        shed_rate: float = 0.0,
        dt: float | None = None,
        checkpoint: Any = None,
        checkpoint_every: int = 100,
        stop_after: int | None = None,
        progress: bool | None = None,
    ) -> Any:
        """Integer counts of cells in every state at ``times`` (minutes), exact in law.

        Parameters
        ----------
        source : str or mapping
            An organ or lymph-node group (its ``n_cells`` are split over the release
            distribution by one multinomial draw, and ``shed_rate`` releases more),
            or a mapping of state label to integer count (a burst).
        n_cells : int
            Cells released at time 0 (up to ``2**53``; 1e12 is fine).
        times : sequence of float
            Sorted times (minutes) at which to record counts.
        rng : int, numpy.random.Generator or None
        shed_rate : float
            Cells released per minute from ``source`` (a Poisson process), on top of
            the burst.
        dt : float, optional
            Grid step in minutes (exact at grid times whatever its size; see
            :mod:`circnet.simulate`). Default: from one requested time to the next.
        checkpoint, checkpoint_every, stop_after, progress
            See :func:`circnet.simulate.simulate_counts`.

        Returns
        -------
        circnet.simulate.SimulationResult

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> res = model.simulate("colon_rectum", 10**12, [60.0, 1440.0], rng=1)
        >>> int(res.counts[-1].sum()) == 10**12
        True
        """
        from .simulate import _rng, counts_from, simulate_counts

        gen = _rng(rng)
        nt = len(self.transient_states)
        release = None
        if isinstance(source, str):
            p0 = self.initial(source)
            release = np.zeros(len(self.states))
            release[:nt] = p0
            if isinstance(n_cells, bool) or int(n_cells) != n_cells or n_cells < 0:
                raise ParameterError(f"`n_cells` must be a non-negative integer (got {n_cells!r})")
            from .simulate import MAX_CELLS

            if n_cells > MAX_CELLS:
                raise ParameterError(f"`n_cells` must be at most 2**53 (got {n_cells:.3g})")
            c0 = np.zeros(len(self.states), dtype=np.int64)
            c0[:nt] = gen.multinomial(int(n_cells), p0 / p0.sum())
        else:
            if shed_rate:
                raise ParameterError("`shed_rate` needs a named source (organ or node)")
            if n_cells:
                raise ParameterError(
                    "`n_cells` goes with a named source; with initial counts "
                    "per state, the counts are the cells (leave n_cells at 0)"
                )
            c0 = counts_from(source, self.states, nt, None, n_cells)
        return simulate_counts(
            self.generator,
            self.states,
            c0,
            list(times),
            dt=dt,
            rng=gen,
            release=release,
            release_rate=shed_rate,
            checkpoint=checkpoint,
            checkpoint_every=checkpoint_every,
            stop_after=stop_after,
            progress=progress,
        )

    def trajectories(self, source: Any, n: int, rng: Any = None) -> pd.DataFrame:
        """Paths of ``n`` individual cells from ``source``, each followed to its fate.

        Returns a tidy table: ``cell``, ``step``, ``state``, ``time_min``.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> paths = model.trajectories("colon_rectum", 5, rng=0)
        >>> sorted(paths.columns)
        ['cell', 'state', 'step', 'time_min']
        """
        from .simulate import trajectories as _trajectories

        p0 = self.initial(source)
        return _trajectories(
            self.generator, self.states, len(self.transient_states), p0, n, rng=rng
        )
