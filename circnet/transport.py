"""Markov transport of detached cells: labelled states, sparse generator, exact fates.

A cell's state is a continuous-time Markov chain on the labelled states of
:mod:`circnet.states` (``transit``, ``lodged``, ``tissue``, ``trapped``; absorbing
``dead``, ``colony``, ``node``). A model's :attr:`TransportModel.state_space` holds them:
transient states first, in body node order, then the fates.

The generator ``Q`` (``scipy.sparse`` CSR array, rates per minute, rows sum to
zero, absorbing rows zero) follows the row-vector convention
``p(t) = p(0) expm(t Q)``. Residence times come from volumes and flows (a pool
of volume ``V`` with outflow ``F`` is left at rate ``F / V``); out-edges are chosen
in proportion to flow; the cell-side parameters come from
:class:`~circnet.CellProfile` (see :mod:`circnet.cells`).

Absorption: with ``M = -Q_TT`` (transient block) and ``R = Q_TA``, a cell started
from distribution ``p0`` spends expected time ``x = M^-T p0`` in each transient state
(minutes), ends in fate ``a`` with probability ``(x^T R)_a``, and is absorbed after
``sum(x)`` minutes on average. The linear algebra lives in :mod:`circnet._chain`
(:class:`AbsorbingChain`): one sparse LU factorisation of ``M`` serves every source; its
answers are checked by their residual. Distributions in time come from
:mod:`circnet.propagate`, integer counts and paths from :mod:`circnet.simulate`.

A model is immutable: it keeps a private copy of the body (an edit to the caller's graph
afterwards does not change it), and caches the factorisation of ``M`` and the fate
matrix on first use. :meth:`TransportModel.with_cells` and
:meth:`TransportModel.with_body` return new models.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd
import scipy.sparse as sp

from . import _generator as _build
from . import _residence
from ._chain import METHODS, AbsorbingChain
from ._sensitivity import sensitivity as _sensitivity
from ._validation import check_choice, check_int, check_number, check_rng, check_times
from .body import lymph_nodes, organs, validate
from .cells import CellProfile
from .errors import ParameterError, SolverError
from .population import CellPopulation, as_population
from .propagate import propagate as _propagate
from .propagate import transition_matrix as _transition_matrix
from .simulate import MAX_CELLS, SimulationResult, counts_from, simulate_counts
from .simulate import trajectories as _trajectories
from .states import StateSpace

__all__ = ["TransportModel", "AbsorbingChain", "FateResult", "SolverError"]


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


# ============================================================================ the model
class TransportModel:
    """Transport of a detached cell through a body, as an absorbing Markov chain.

    Parameters
    ----------
    body : networkx.DiGraph
        A body graph (validated and copied here; see :func:`circnet.validate`).
    cells : CellProfile or CellPopulation, optional
        Parameters of the cell; default :class:`~circnet.CellProfile()`. A
        :class:`~circnet.CellPopulation` of several subpopulations gives one block of
        transient states per subpopulation (labels tagged ``@<name>``) and shared fates:
        the fates are the population-weighted mixture of the subpopulations' fates.
    method : {"auto", "direct", "iterative"}
        Linear solver (see :class:`AbsorbingChain`).

    Attributes
    ----------
    state_space : circnet.states.StateSpace
        The labelled states, their kinds and sites; fixes the matrix order.
    states, transient_states, fate_labels : tuple of str
        All state labels (transient first, then fates), and the two parts.
    generator : scipy.sparse.csr_array
        ``Q``, rates per minute.
    body, cells, method
        The model's own copy of the body, the cell parameters (as given) and the solver.
    population : CellPopulation
        The cells as a population (one subpopulation for a plain profile).

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

    body: nx.DiGraph
    cells: CellProfile | CellPopulation
    population: CellPopulation
    method: str
    state_space: StateSpace
    generator: sp.csr_array

    def __init__(
        self,
        body: nx.DiGraph,
        cells: CellProfile | CellPopulation | None = None,
        *,
        method: str = "auto",
        _validated: bool = False,
    ) -> None:
        check_choice(method, "method", METHODS)
        if not _validated:
            validate(body)
        self._setup(body.copy(), cells, method)

    def _setup(
        self, body: nx.DiGraph, cells: CellProfile | CellPopulation | None, method: str
    ) -> None:
        """Build the model on ``body``, a private copy that no one changes afterwards."""
        pop = as_population(cells)
        self._organs = tuple(organs(body))
        self._nodes = tuple(lymph_nodes(body))
        pop.check_sites(set(self._organs), set(self._nodes))
        self.body = body
        self.cells = pop.profiles[0] if cells is None else cells
        self.population = pop
        self.method = method
        self._blocks = pop.blocks()
        tags = [t for t, _ in self._blocks]
        self.state_space = _build.state_space(body, self._organs, self._nodes, tags)
        self.generator = _build.generator(body, self._blocks, self.state_space)
        # built once for every release from this (private, unchanging) body
        self._kinds = nx.get_node_attributes(body, "kind")
        self._shares: dict[Any, Any] = {}
        self._transient_index = pd.Index(self.state_space.transient)
        self._frozen = True

    def __setattr__(self, name: str, value: Any) -> None:
        if getattr(self, "_frozen", False):
            raise AttributeError(
                f"a TransportModel is immutable (cannot set {name!r}); "
                "use with_cells() or with_body() for a changed model"
            )
        super().__setattr__(name, value)

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"a TransportModel is immutable (cannot delete {name!r})")

    @cached_property
    def chain(self) -> AbsorbingChain:
        """The :class:`AbsorbingChain` (factorised on first use, then cached)."""
        return AbsorbingChain(
            self.generator, self.states, self.state_space.n_transient, method=self.method
        )

    # ------------------------------------------------------------------ what if
    def with_cells(
        self, cells: CellProfile | CellPopulation | None = None, **changes: Any
    ) -> TransportModel:
        """A model of the same body with other cell parameters (``changes`` apply to every
        subpopulation of a population).

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> bigger = model.with_cells(diameter_um=20.0)
        >>> bool(bigger.fates("prostate")["colony:lung"] > 0)
        True
        """
        new = cells or self.cells
        if changes:
            new = new.replace(**changes)
        model = TransportModel.__new__(TransportModel)
        model._setup(self.body, new, self.method)  # the body copy is shared: never changed
        return model

    def with_body(self, body: nx.DiGraph) -> TransportModel:
        """A model of another body (e.g. with changed flows) and the same cells."""
        return TransportModel(body, self.cells, method=self.method)

    # ------------------------------------------------------------------ states, sources
    @property
    def states(self) -> tuple[str, ...]:
        """All state labels, transient first; fixes the matrix order."""
        return self.state_space.labels

    @property
    def transient_states(self) -> tuple[str, ...]:
        """Transient state labels, in matrix order."""
        return self.state_space.transient

    @property
    def fate_labels(self) -> tuple[str, ...]:
        """Absorbing fate labels, in matrix order (``"dead"`` first)."""
        return self.state_space.fates

    def index(self, label: str) -> int:
        """Position of a state label in :attr:`states`."""
        return self.state_space.index(label)

    @property
    def organs(self) -> tuple[str, ...]:
        """Organs of the body (each a possible primary site)."""
        return self._organs

    @property
    def lymph_nodes(self) -> tuple[str, ...]:
        """Lymph-node groups of the body."""
        return tuple(str(n) for n in self._nodes)

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
        ['transit:mesenteric_nodes', 'transit:portal_vein', 'transit:vertebral_venous_plexus']
        """
        return _build.release(
            self.body,
            self.state_space,
            self._blocks,
            self._organs,
            self._nodes,
            primary,
            self.population.weights,
            kinds=self._kinds,
            cache=self._shares,
            labels=self._transient_index,
        )

    def initial(self, initial: Any) -> np.ndarray:
        """Turn a source into a probability vector over transient states.

        ``initial`` is an organ / node name, a mapping or Series of state label to
        probability, or an array over the transient states; it must be non-negative
        and sum to 1.
        """
        if isinstance(initial, str):
            return self.release(initial).to_numpy()
        return _build.initial_vector(self.state_space, initial)

    # ------------------------------------------------------------------ fates
    def fates(self, primary: Any = None, *, initial: Any = None) -> pd.Series:
        """Absorption probabilities of the fates of cells released from one source.

        Parameters
        ----------
        primary : str
            An organ or a lymph-node group. (A list, ``"all"`` or nothing still gives
            the table of :meth:`fate_table`, with a ``FutureWarning``: use that.)
        initial : mapping or array, optional
            Instead of ``primary``: an arbitrary initial distribution over transient
            states (see :meth:`initial`).

        Returns
        -------
        pandas.Series
            Probability of each fate, summing to 1 within 1e-12; named after the source.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> p = model.fates("colon_rectum")
        >>> p.name, bool(p["colony:liver"] > p["colony:lung"])
        ('colon_rectum', True)
        """
        if initial is not None:
            p = self.chain.absorption(self.initial(initial))
            return pd.Series(p, index=list(self.fate_labels), name="probability")
        if primary is None or not isinstance(primary, str) or primary == "all":
            warnings.warn(
                "TransportModel.fates() of a list, of 'all' or of no source returns a "
                "DataFrame; use TransportModel.fate_table(...) for a table (fates() will "
                "take one source only)",
                FutureWarning,
                stacklevel=2,
            )
            return self.fate_table("all" if primary is None else primary)
        p = self.chain.absorption(self.initial(primary))
        return pd.Series(p, index=list(self.fate_labels), name=primary)

    def fate_table(self, sources: str | Iterable[str] = "all") -> pd.DataFrame:
        """Fate probabilities of several sources at once (one factorisation).

        Parameters
        ----------
        sources : "all" or list of str
            Organs and lymph-node groups (one row each); ``"all"``: every organ.

        Returns
        -------
        pandas.DataFrame
            Rows: sources (index named ``primary``); columns: fates. Rows sum to 1.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> table = model.fate_table(["colon_rectum", "lung"])
        >>> table.shape[0], table.index.name
        (2, 'primary')
        """
        if isinstance(sources, str):
            names = list(self._organs) if sources == "all" else [sources]
        else:
            try:
                names = list(sources)
            except TypeError:
                names = [sources]  # type: ignore[list-item]
        if not names or not all(isinstance(s, str) for s in names):
            raise ParameterError(
                "`sources` must be 'all' or a non-empty list of organ / lymph-node names "
                f"(got {sources!r})"
            )
        p0 = np.column_stack([self.initial(s) for s in names])
        out = self.chain.absorption(p0)
        return pd.DataFrame(
            out.T, index=pd.Index(names, name="primary"), columns=list(self.fate_labels)
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

    def lodging_table(self, by_subpopulation: bool = False) -> pd.Series | pd.DataFrame:
        """Arrest on one passage through each bed (:meth:`CellProfile.arrest`), weighted
        by the population; per subpopulation too with ``by_subpopulation``.

        See :func:`circnet._residence.lodging_table`. Example:
        ``TransportModel(default_body()).lodging_table()["lung"]`` is about 0.996.
        """
        return _residence.lodging_table(self, by_subpopulation)

    def blood_residence(self, sources: Any = "all", times: Any = (60.0, 120.0)) -> pd.DataFrame:
        """Time shed cells spend in blood before their first arrest (or death there):
        mean, share still in blood at ``times`` (min), median; exact.

        See :func:`circnet._residence.blood_residence` (it has an example).
        """
        return _residence.blood_residence(self, sources, times)

    # ------------------------------------------------------------------ propagation
    def propagate(
        self,
        primary: Any = None,
        times: Any = (0.0,),
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
        p0 = self.initial(initial if initial is not None else primary)
        t = check_times(times, strictly_increasing=False, allow_empty=True)
        full = np.zeros(len(self.states))
        full[: len(p0)] = p0
        out = _propagate(self.generator, full, t, method=method, tol=tol)
        return pd.DataFrame(out, index=pd.Index(t, name="time_min"), columns=list(self.states))

    def transition_matrix(self, dt: float) -> sp.csr_array:
        """Discrete-time transition matrix ``expm(dt Q)`` for a step of ``dt`` minutes."""
        return _transition_matrix(self.generator, dt)

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

        See :func:`circnet._sensitivity.sensitivity` for the parameters.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> e = model.sensitivity("colony:liver", "colon_rectum", flows=["liver"],
        ...                       parameters=["death_rate_blood"])
        >>> bool(e["death_rate_blood"] < 0)
        True
        """
        return _sensitivity(
            self, fate, primary, parameters=parameters, flows=flows, rel_step=rel_step
        )

    # ------------------------------------------------------------------ simulation
    def simulate(
        self,
        source: Any,
        n_cells: int = 0,
        times: Any = (60.0,),
        rng: Any = None,
        *,
        shed_rate: float = 0.0,
        dt: float | None = None,
        checkpoint: Any = None,
        checkpoint_every: int = 100,
        stop_after: int | None = None,
        progress: bool | None = None,
    ) -> SimulationResult:
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
            Strictly increasing times (minutes) at which to record counts.
        rng : int, numpy.random.Generator, numpy.random.SeedSequence or None
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
            ``status`` ``"finished"``, or ``"stopped"`` after ``stop_after`` steps.

        Examples
        --------
        >>> import circnet
        >>> model = circnet.TransportModel(circnet.default_body())
        >>> res = model.simulate("colon_rectum", 10**12, [60.0, 1440.0], rng=1)
        >>> int(res.counts[-1].sum()) == 10**12, res.status
        (True, 'finished')
        """
        n = check_int(n_cells, "n_cells", low=0, high=MAX_CELLS)
        rate = check_number(shed_rate, "shed_rate", low=0.0, unit="cells/min")
        nt = self.state_space.n_transient
        release = None
        if isinstance(source, str):
            p0 = self.initial(source)
            rng = check_rng(rng)  # the burst is drawn first, from the same stream
            release = np.zeros(len(self.states))
            release[:nt] = p0
            c0 = np.zeros(len(self.states), dtype=np.int64)
            c0[:nt] = rng.multinomial(n, p0 / p0.sum())
        else:
            if rate:
                raise ParameterError("`shed_rate` needs a named source (organ or node)")
            if n:
                raise ParameterError(
                    "`n_cells` goes with a named source; with initial counts "
                    "per state, the counts are the cells (leave n_cells at 0)"
                )
            c0 = counts_from(source, self.states, nt)
        return simulate_counts(
            self.generator,
            self.states,
            c0,
            times,
            dt=dt,
            rng=rng,
            release=release,
            release_rate=rate,
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
        p0 = self.initial(source)
        nt = self.state_space.n_transient
        return _trajectories(self.generator, self.states, nt, p0, n, rng=rng)
