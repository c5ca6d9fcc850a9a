"""Reference solutions of an absorbing chain, independent of circnet's solvers.

``dense_solution``: the textbook dense solve, ``x = (-Q_TT)^-T p0`` with
:func:`numpy.linalg.solve`, fates ``x @ Q_TA``.

``quantecon_solution``: the same answers from QuantEcon's ``MarkovChain``, which has no
absorption solver, through a regenerative chain: take the embedded jump chain of ``Q``
(``P_ij = Q_ij / -Q_ii``) and send every absorbing state back to the start ``p0``. Each
cycle of the new chain is one cell's life, ending in exactly one fate, so its stationary
distribution ``pi`` (computed by QuantEcon with the subtraction-free GTH algorithm) gives
the fate probabilities ``pi_a / sum_A pi`` and the expected visits per life
``pi_j / sum_A pi``; a visit to state ``j`` lasts ``1 / -Q_jj`` on average.
"""

from __future__ import annotations

import numpy as np
import quantecon as qe

__all__ = ["dense_solution", "dense_fate_matrix", "quantecon_solution", "first_bed_lodging"]


def _blocks(model):
    q = model.generator.toarray()
    nt = len(model.transient_states)
    return q, nt


def dense_solution(model, p0) -> tuple[np.ndarray, np.ndarray]:
    """``(fates, occupation)`` by a dense :func:`numpy.linalg.solve` on ``-Q_TT``."""
    q, nt = _blocks(model)
    m = -q[:nt, :nt]
    b = np.asarray(p0, dtype=float)
    x = np.linalg.solve(m.T, b)
    # one step of iterative refinement: stiff chains (residence times of 0.1 s next to
    # hours) leave LU with partial pivoting ~1e-10 off, more than the 1e-10 compared
    x = x + np.linalg.solve(m.T, b - m.T @ x)
    fates = x @ q[:nt, nt:]
    # the generator's diagonal carries round-off of about eps * (fastest rate / slowest
    # exit), which moves the total mass of the fates by up to ~1e-10 on stiff random
    # bodies; circnet rescales to the exact mass, so the reference does too
    return fates * (b.sum() / fates.sum()), x


def dense_fate_matrix(model) -> np.ndarray:
    """``H = (-Q_TT)^-1 Q_TA`` by a dense solve."""
    q, nt = _blocks(model)
    return np.linalg.solve(-q[:nt, :nt], q[:nt, nt:])


def quantecon_solution(model, p0) -> tuple[np.ndarray, np.ndarray]:
    """``(fates, occupation)`` from the stationary law of a regenerative jump chain."""
    q, nt = _blocks(model)
    n = q.shape[0]
    p0 = np.asarray(p0, dtype=float)
    rates = -np.diag(q)[:nt]
    jump = np.zeros((n, n))
    jump[:nt] = q[:nt] / rates[:, None]
    jump[np.arange(nt), np.arange(nt)] = 0.0
    jump[nt:, :nt] = p0  # each fate starts the next life
    mc = qe.markov.MarkovChain(jump)
    (pi,) = mc.stationary_distributions  # one recurrent class: the states one life can visit
    per_life = pi / pi[nt:].sum()
    return per_life[nt:], per_life[:nt] / rates


def first_bed_lodging(model, p0) -> float:
    """Probability that a cell lodges in the first capillary bed it enters, on that visit.

    The first bed entered does not depend on the cell's size (only pools, ducts and lymph
    nodes lie before it); the lodging on that visit does. Dense, for small models.
    """
    q, nt = _blocks(model)
    labels = model.transient_states
    beds = [
        i for i, s in enumerate(labels) if s.startswith("transit:") and f"lodged:{s[8:]}" in labels
    ]
    other = [i for i in range(nt) if i not in beds]
    p0 = np.asarray(p0, dtype=float)
    # hit distribution over bed states, from p0, before entering any bed
    m = -q[np.ix_(other, other)]
    x = np.linalg.solve(m.T, p0[other]) if other else np.zeros(0)
    hit = p0[beds] + x @ q[np.ix_(other, beds)]
    lodge = np.array([q[b, model.index(f"lodged:{labels[b][8:]}")] / -q[b, b] for b in beds])
    return float(hit @ lodge)
