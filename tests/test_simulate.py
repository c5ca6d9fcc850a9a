"""Tests for circnet.simulate: exact counts by multinomial splitting, release, paths.

Every statistical test uses fixed seeds and a tolerance derived from the exact sampling law,
never one fitted to a seed. The convention throughout: a test function makes ``k`` comparisons
and fails when any p-value is below ``ALPHA / k`` (Bonferroni), so its false-alarm rate is at
most ``ALPHA = 1e-4`` whatever the seeds. z-scores are turned into two-sided normal p-values;
sample variances into moment-matched chi-square p-values (see :func:`variance_pvalue`).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import scipy.linalg
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from scipy import stats

import circnet
import circnet._split as split
from circnet._files import load_checkpoint
from circnet.errors import CheckpointError, ParameterError, UnknownNameError
from circnet.simulate import (
    MAX_CELLS,
    SimulationResult,
    _Ell,
    counts_from,
    release_kernel,
    simulate_counts,
    split_counts,
)

#: Family-wise false-alarm rate of each statistical test function.
ALPHA = 1e-4
SOURCE = "colon_rectum"
#: Long enough for every cell to reach its fate: the transient mass left at T is 3.5e-13.
T_LONG = 288_000.0  # 200 days, minutes
REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ helpers
def z_pvalue(z: np.ndarray | float) -> np.ndarray:
    """Two-sided normal p-value of a z-score."""
    return 2.0 * stats.norm.sf(np.abs(z))


def variance_pvalue(s2: float, var: float, excess_kurtosis: float, r: int) -> float:
    """Two-sided p-value of a sample variance ``s2`` of ``r`` iid draws with variance ``var``.

    ``Var(s2) = var**2 * (2 / (r - 1) + excess_kurtosis / r)``; the statistic
    ``d * s2 / var`` with ``d = 2 / (2 / (r - 1) + excess_kurtosis / r)`` is referred to
    chi-square with ``d`` degrees of freedom (moment matching; exact for normal data).
    """
    d = 2.0 / (2.0 / (r - 1) + excess_kurtosis / r)
    x = d * s2 / var
    return float(2.0 * min(stats.chi2.cdf(x, d), stats.chi2.sf(x, d)))


def chi2_gof(observed: np.ndarray, expected: np.ndarray, min_expected: float = 5.0) -> tuple:
    """Pearson chi-square of counts against expected counts (same total), pooling every
    bin with expected count below ``min_expected`` into one. Returns (statistic, df, p)."""
    observed = np.asarray(observed, dtype=float)
    expected = np.asarray(expected, dtype=float)
    big = expected >= min_expected
    obs = np.append(observed[big], observed[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    if exp[-1] < min_expected:  # fold a small pooled bin into the smallest big one
        j = int(np.argmin(exp[:-1]))
        obs[j] += obs[-1]
        exp[j] += exp[-1]
        obs, exp = obs[:-1], exp[:-1]
    assert np.all(observed[expected == 0] == 0), "counts where the law puts none"
    stat = float(((obs - exp) ** 2 / exp).sum())
    df = len(obs) - 1
    return stat, df, float(stats.chi2.sf(stat, df))


def absorption_time_moments(model, source):
    """Exact mean and variance of the absorption time (minutes), by sparse solves:
    ``tau = M^-1 1``, ``E[T] = p0 tau``, ``E[T^2] = 2 p0 M^-1 tau`` with ``M = -Q_TT``."""
    nt = len(model.transient_states)
    m = (-model.generator[:nt, :nt]).tocsc()
    lu = spla.splu(m)
    tau = lu.solve(np.ones(nt))
    p0 = model.initial(source)
    mean = float(p0 @ tau)
    second = 2.0 * float(p0 @ lu.solve(tau))
    return mean, second - mean**2


@pytest.fixture(scope="module")
def model():
    return circnet.TransportModel(circnet.default_body())


@pytest.fixture(scope="module")
def p_long(model):
    """``P = expm(T_LONG Q)``: one step of 200 days."""
    return model.transition_matrix(T_LONG)


def _one_run(model, p_long, n, rng):
    """Exactly what ``model.simulate(SOURCE, n, [T_LONG], rng)`` does, with ``P`` computed once."""
    gen = np.random.default_rng(rng)
    nt = len(model.transient_states)
    p0 = model.initial(SOURCE)
    c0 = np.zeros(len(model.states), dtype=np.int64)
    c0[:nt] = gen.multinomial(n, p0 / p0.sum())
    res = simulate_counts(model.generator, model.states, c0, [T_LONG], rng=gen, transition=p_long)
    return res.counts[-1]


# ------------------------------------------------------------------ counts over many seeds
def test_replicate_helper_is_model_simulate(model, p_long):
    res = model.simulate(SOURCE, 10_000, [T_LONG], rng=3)
    np.testing.assert_array_equal(res.counts[-1], _one_run(model, p_long, 10_000, 3))


def test_final_counts_mean_and_variance_match_fates(model, p_long):
    """200 replicates of n = 1e5 cells absorbed by day 200.

    Mean: the sum over replicates of fate a is Binomial(R n, p_a) exactly; z-test.
    Variance: the sample variance against n p (1 - p) (moment-matched chi-square, binomial
    excess kurtosis (1 - 6 p q) / (n p q)). Fates with n p q >= 10 only; Bonferroni over all.
    """
    r, n = 200, 100_000
    x = np.array([_one_run(model, p_long, n, seed) for seed in range(r)])
    nt = len(model.transient_states)
    assert np.all(x[:, :nt] == 0)  # everything absorbed (transient mass at T: 3.5e-13)
    assert np.all(x.sum(axis=1) == n)
    p = model.fates(SOURCE).to_numpy()
    fx = x[:, nt:]
    npq = n * p * (1 - p)
    tested = np.flatnonzero(npq >= 10)
    assert len(tested) >= 5  # dead, liver, lung, mesenteric and para-aortic nodes
    k = 2 * len(tested)
    z = (fx[:, tested].sum(axis=0) - r * n * p[tested]) / np.sqrt(r * npq[tested])
    assert np.all(z_pvalue(z) > ALPHA / k), z
    for j in tested:
        q = p[j] * (1 - p[j])
        kurt = (1 - 6 * q) / (n * q)
        pv = variance_pvalue(fx[:, j].var(ddof=1), npq[j], kurt, r)
        assert pv > ALPHA / k, (model.fate_labels[j], fx[:, j].var(ddof=1), npq[j], pv)


def test_distribution_at_time_matches_propagate(model):
    """Counts at t are Multinomial(n, p(t)): chi-square goodness of fit at 3 times."""
    times = [1.0, 10.0, 60.0]
    n = 10**7
    res = model.simulate(SOURCE, n, times, rng=20240601)
    dist = model.propagate(SOURCE, times).to_numpy()
    for i in range(len(times)):
        stat, df, pv = chi2_gof(res.counts[i], n * dist[i])
        assert df >= 10
        assert pv > ALPHA / len(times), (times[i], stat, df, pv)


def test_dt_does_not_change_the_law_at_grid_times(model):
    """dt=None (one step per requested time) and dt=1 (60 steps) against each other:
    X - Y has mean 0 and variance 2 n p (1 - p) per state; z per state with n p >= 20."""
    times = [30.0, 60.0]
    n = 10**6
    a = model.simulate(SOURCE, n, times, rng=1)
    b = model.simulate(SOURCE, n, times, rng=2, dt=1.0)
    p = model.propagate(SOURCE, times).to_numpy()
    mask = n * p >= 20
    k = int(mask.sum())
    z = (a.counts - b.counts)[mask] / np.sqrt(2 * n * p[mask] * (1 - p[mask]))
    assert np.all(z_pvalue(z) > ALPHA / k), np.abs(z).max()


# ------------------------------------------------------------------ paths
def test_paths_are_consistent_and_match_fates_and_times(model):
    n = 20_000
    paths = model.trajectories(SOURCE, n, rng=11)
    nt = len(model.transient_states)
    codes = paths["state"].cat.codes.to_numpy()
    cell = paths["cell"].to_numpy()
    step = paths["step"].to_numpy()
    time = paths["time_min"].to_numpy()
    first = np.r_[True, cell[1:] != cell[:-1]]
    last = np.r_[cell[1:] != cell[:-1], True]
    assert np.array_equal(np.unique(cell), np.arange(n))
    assert np.all(step[first] == 0) and np.all(time[first] == 0.0)
    assert np.all(np.diff(step)[~first[1:]] == 1)
    assert np.all(np.diff(time)[~first[1:]] > 0)  # strictly increasing within a path
    assert np.all(codes[last] >= nt) and np.all(codes[~last] < nt)  # ends at its fate only
    # fates: Multinomial(n, p) -> chi-square; absorption time: z with the exact variance
    fate_counts = np.bincount(codes[last] - nt, minlength=len(model.fate_labels))
    p = model.fates(SOURCE).to_numpy()
    stat, df, pv_fate = chi2_gof(fate_counts, n * p)
    mean, var = absorption_time_moments(model, SOURCE)
    assert math.isclose(mean, model.expected_time(SOURCE), rel_tol=1e-9)
    z = (time[last].mean() - mean) / math.sqrt(var / n)
    assert pv_fate > ALPHA / 2, (stat, df, pv_fate)
    assert z_pvalue(z) > ALPHA / 2, z


# ------------------------------------------------------------------ conservation, overflow
def test_counts_are_conserved_integers_with_release(model):
    times = np.linspace(0.0, 600.0, 13)
    res = model.simulate(SOURCE, 1000, times, rng=5, dt=10.0, shed_rate=3.0)
    assert res.counts.dtype == np.int64 and res.released.dtype == np.int64
    assert np.all(res.counts >= 0)
    np.testing.assert_array_equal(res.counts.sum(axis=1), res.released)
    assert res.released[0] == 1000
    assert np.all(np.diff(res.released) >= 0) and res.released[-1] > 1000
    assert res.to_frame().shape == (13, len(model.states))
    assert len(res.to_frame(tidy=True)) == 13 * len(model.states)


@pytest.mark.slow
def test_a_trillion_cells_do_not_overflow(model):
    n = 10**12
    res = model.simulate(SOURCE, n, [0.0, 1.0, 60.0, 1440.0], rng=8, shed_rate=1e6, dt=60.0)
    assert res.counts.dtype == np.int64
    assert res.released[0] == n
    for row, total in zip(res.counts, res.released, strict=True):
        assert sum(int(v) for v in row) == int(total)  # exact, in Python integers
    # Poisson(1e6 * 1440) released on top of the burst: within 4.5 sd
    assert abs(int(res.released[-1]) - n - 1.44e9) < 4.5 * math.sqrt(1.44e9)


def test_more_than_2_53_cells_raise(model):
    with pytest.raises(ParameterError, match="n_cells"):
        model.simulate(SOURCE, MAX_CELLS + 1, [1.0], rng=0)
    with pytest.raises(ParameterError, match="cells can be counted exactly"):
        model.simulate(SOURCE, 10, [1e6], rng=0, shed_rate=1e10)


# ------------------------------------------------------------------ continuous release
@pytest.fixture(scope="module")
def release_long(model):
    p0 = np.zeros(len(model.states))
    p0[: len(model.transient_states)] = model.initial(SOURCE)
    return release_kernel(model.generator, p0, T_LONG)


def test_released_total_is_poisson(model, p_long, release_long):
    """200 seeds of ``model.simulate(SOURCE, 0, [T], shed_rate=lam)`` (with P and the release
    kernel computed once): the total is Poisson(lam T). Mean: the sum over seeds is
    Poisson(R lam T), z-test; variance: moment-matched chi-square, excess kurtosis 1/(lam T)."""
    lam, r = 500.0 / T_LONG, 200
    mu = lam * T_LONG
    zero = np.zeros(len(model.states), dtype=np.int64)
    tot = np.array(
        [
            simulate_counts(
                model.generator,
                model.states,
                zero,
                [T_LONG],
                rng=seed,
                transition=p_long,
                release=release_long,
                release_rate=lam,
            ).released[-1]
            for seed in range(r)
        ]
    )
    z = (tot.sum() - r * mu) / math.sqrt(r * mu)
    assert z_pvalue(z) > ALPHA / 2, z
    assert variance_pvalue(tot.var(ddof=1), mu, 1.0 / mu, r) > ALPHA / 2, tot.var(ddof=1)


def test_release_helper_is_model_simulate(model, p_long, release_long):
    a = model.simulate(SOURCE, 0, [T_LONG], rng=4, shed_rate=0.01)
    gen = np.random.default_rng(4)
    gen.multinomial(0, model.initial(SOURCE))  # model.simulate draws the (empty) burst first
    zero = np.zeros(len(model.states), dtype=np.int64)
    b = simulate_counts(
        model.generator,
        model.states,
        zero,
        [T_LONG],
        rng=gen,
        transition=p_long,
        release=release_long,
        release_rate=0.01,
    )
    np.testing.assert_array_equal(a.counts, b.counts)


@pytest.mark.parametrize("dt", [None, 1440.0])
def test_released_counts_per_state_match_integrated_propagation(model, dt):
    """Cells released at rate lam over [0, T]: the count in state j at T is Poisson with mean
    lam int_0^T p_j(u) du, independently over states (Poisson thinning). For T = 200 days
    (tail beyond T below 1e-4 cells) that is lam x_j for a transient state (x: expected
    occupation) and lam (T p_a - E[tau 1{a}]) for a fate a. Pearson chi-square over all
    states (sum of independent (X - mu)^2 / mu), bins with mu < 5 pooled."""
    lam = 1e4
    res = model.simulate(SOURCE, 0, [T_LONG], rng=99, shed_rate=lam, dt=dt)
    fr = model.fate_result(SOURCE)
    p = fr.probabilities.to_numpy()
    joint = np.nan_to_num(fr.conditional_times.to_numpy()) * p  # E[tau 1{fate}]
    mu = lam * np.concatenate([fr.occupation.to_numpy(), T_LONG * p - joint])
    x = res.counts[-1].astype(float)
    big = mu >= 5
    pooled_mu, pooled_x = mu[~big].sum(), x[~big].sum()
    stat = float(((x[big] - mu[big]) ** 2 / mu[big]).sum())
    df = int(big.sum())
    if pooled_mu >= 5:
        stat += (pooled_x - pooled_mu) ** 2 / pooled_mu
        df += 1
    pv = float(stats.chi2.sf(stat, df))
    assert pv > ALPHA, (stat, df, pv)


# ------------------------------------------------------------------ checkpoints
@pytest.mark.slow
def test_checkpoint_resume_is_bit_identical(model, tmp_path):
    kw = dict(times=[60.0, 600.0, 1440.0], dt=30.0, shed_rate=2.0, rng=7)
    full = model.simulate(SOURCE, 10**6, **kw)
    assert full.status == "finished" and full.finished
    ck = tmp_path / "run.npz"
    first = model.simulate(SOURCE, 10**6, **kw, checkpoint=ck, checkpoint_every=5, stop_after=11)
    assert isinstance(first, SimulationResult)
    assert first.status == "stopped" and not first.finished
    assert "step 11 of 48" in first.message and str(ck) in first.message
    # the times reached so far: 60 min (step 2) and 600 min (step 20) is not yet reached
    assert first.times.tolist() == [60.0]
    np.testing.assert_array_equal(first.counts, full.counts[:1])
    assert ck.exists()
    second = model.simulate(SOURCE, 10**6, **kw, checkpoint=ck, stop_after=11)
    assert second.status == "stopped" and second.times.tolist() == [60.0, 600.0]
    resumed = model.simulate(SOURCE, 10**6, **kw, checkpoint=ck, checkpoint_every=5)
    assert resumed.status == "finished"
    np.testing.assert_array_equal(resumed.counts, full.counts)
    np.testing.assert_array_equal(resumed.released, full.released)
    assert not ck.exists()  # removed when the run completes


def test_checkpoint_of_another_run_raises(model, tmp_path):
    ck = tmp_path / "run.npz"
    kw = dict(dt=60.0, checkpoint=ck)
    res = model.simulate(SOURCE, 1000, [600.0], rng=1, stop_after=2, **kw)
    assert res.status == "stopped"
    with pytest.raises(CheckpointError, match="another run"):
        model.simulate(SOURCE, 2000, [600.0], rng=1, **kw)
    with pytest.raises(CheckpointError, match="another run"):
        model.simulate(SOURCE, 1000, [600.0, 700.0], rng=1, **kw)
    with pytest.raises(CheckpointError, match="another run"):
        model.simulate(SOURCE, 1000, [600.0], rng=1, dt=30.0, checkpoint=ck)
    with pytest.raises(CheckpointError, match="another run"):
        model.simulate(SOURCE, 1000, [600.0], rng=1, shed_rate=1.0, **kw)
    with pytest.raises(CheckpointError, match="another run"):
        model.with_cells(diameter_um=20.0).simulate(SOURCE, 1000, [600.0], rng=1, **kw)


def test_checkpoint_of_another_seed_is_refused(model, tmp_path):
    """The fingerprint covers the seed: ``rng=2`` never resumes ``rng=1``'s checkpoint,
    even from a mapping source (no random burst to tell the runs apart)."""
    source = {"transit:portal_vein": 1000}
    for first, other in [(1, 2), (np.random.default_rng(1), np.random.default_rng(2))]:
        ck = tmp_path / "run.npz"
        kw = dict(times=[600.0], dt=60.0, checkpoint=ck)
        assert model.simulate(source, rng=first, stop_after=2, **kw).status == "stopped"
        with pytest.raises(CheckpointError, match="another run"):
            model.simulate(source, rng=other, **kw)
        ck.unlink()
    # a Generator in the same initial state is the same run: it resumes, bit-identical
    ck = tmp_path / "gen.npz"
    kw = dict(times=[300.0, 600.0], dt=60.0)
    # uninterrupted, with a checkpoint file of its own (a run with a file steps through the
    # grid; without one, cells in few states jump to the recorded times: other draws)
    full = model.simulate(
        source, rng=np.random.default_rng(5), checkpoint=tmp_path / "full.npz", **kw
    )
    part = model.simulate(source, rng=np.random.default_rng(5), checkpoint=ck, stop_after=3, **kw)
    assert part.status == "stopped"
    again = model.simulate(source, rng=np.random.default_rng(5), checkpoint=ck, **kw)
    np.testing.assert_array_equal(again.counts, full.counts)
    assert not ck.exists()
    # the seed 5 as an int is that same stream
    assert model.simulate(source, rng=5, checkpoint=ck, stop_after=3, **kw).status == "stopped"
    again = model.simulate(source, rng=5, checkpoint=ck, **kw)
    np.testing.assert_array_equal(again.counts, full.counts)


def test_simulate_counts_checkpoint_is_the_one_format(model, tmp_path):
    ck = tmp_path / "run.npz"
    c0 = np.zeros(len(model.states), dtype=np.int64)
    c0[model.index("transit:portal_vein")] = 100
    kw = dict(dt=10.0, rng=3, checkpoint=ck)
    res = simulate_counts(model.generator, model.states, c0, [100.0], stop_after=4, **kw)
    assert res.status == "stopped" and res.times.size == 0 and res.counts.shape == (0, len(c0))
    with pytest.raises(circnet.CircnetError, match="no requested time"):
        res.final()
    saved = load_checkpoint(ck, "simulate")
    assert saved.meta["step"] == 4 and saved.meta["steps"] == 10
    assert int(saved.arrays["counts"].sum()) == 100
    with pytest.raises(CheckpointError, match="not by 'course'"):
        load_checkpoint(ck, "course")
    done = simulate_counts(model.generator, model.states, c0, [100.0], **kw)
    assert done.status == "finished" and not ck.exists()


@pytest.mark.parametrize("damage", ["garbage", "truncated", "missing_array"])
def test_corrupted_checkpoint_raises(model, tmp_path, damage):
    ck = tmp_path / "run.npz"
    kw = dict(rng=1, dt=60.0, checkpoint=ck)
    assert model.simulate(SOURCE, 1000, [600.0], stop_after=2, **kw).status == "stopped"
    if damage == "garbage":
        ck.write_bytes(b"not a checkpoint at all")
    elif damage == "truncated":
        ck.write_bytes(ck.read_bytes()[:200])
    else:
        with zipfile.ZipFile(ck) as z:
            kept = {n: z.read(n) for n in z.namelist() if n != "counts.npy"}
        with zipfile.ZipFile(ck, "w") as z:
            for name, data in kept.items():
                z.writestr(name, data)
    with pytest.raises(CheckpointError, match="unreadable|altered"):
        model.simulate(SOURCE, 1000, [600.0], **kw)


def test_stop_after_needs_a_checkpoint(model):
    with pytest.raises(ParameterError, match="`stop_after` needs a `checkpoint`"):
        model.simulate(SOURCE, 1000, [600.0], rng=1, dt=60.0, stop_after=2)
    with pytest.raises(ParameterError, match="`stop_after`"):
        model.simulate(SOURCE, 1000, [600.0], rng=1, dt=60.0, stop_after=0, checkpoint="x.npz")


# ------------------------------------------------------------------ randomness
_DIGEST_CODE = """
import hashlib, numpy as np, circnet
m = circnet.TransportModel(circnet.default_body())
r = m.simulate("colon_rectum", 10**9, [5.0, 60.0], rng=123, dt=5.0, shed_rate=50.0)
p = m.trajectories("colon_rectum", 50, rng=123)
h = hashlib.sha256(r.counts.tobytes() + r.released.tobytes())
h.update(p["cell"].to_numpy().tobytes() + p["state"].cat.codes.to_numpy().tobytes())
h.update(p["time_min"].to_numpy().tobytes())
print(h.hexdigest())
"""


@pytest.mark.slow
def test_same_seed_is_bit_identical_across_processes():
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])
    )
    runs = [
        subprocess.run(
            [sys.executable, "-c", _DIGEST_CODE],
            capture_output=True,
            text=True,
            env=env,
            cwd=REPO,
            check=True,
        ).stdout.strip()
        for _ in range(2)
    ]
    namespace: dict = {}
    here = _capture_stdout(lambda: exec(_DIGEST_CODE, namespace))
    assert runs[0] == runs[1] == here


def _capture_stdout(fn) -> str:
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        fn()
    return buf.getvalue().strip()


def test_rng_accepts_int_generator_seedsequence_and_none(model):
    a = model.simulate(SOURCE, 10**6, [10.0], rng=42)
    b = model.simulate(SOURCE, 10**6, [10.0], rng=np.random.default_rng(42))
    c = model.simulate(SOURCE, 10**6, [10.0], rng=np.random.SeedSequence(42))
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.counts, c.counts)
    assert model.simulate(SOURCE, 10**6, [10.0], rng=None).counts.sum() == 10**6
    p1 = model.trajectories(SOURCE, 20, rng=42)
    p2 = model.trajectories(SOURCE, 20, rng=np.random.default_rng(42))
    assert p1.equals(p2)


@pytest.mark.parametrize("bad", ["seed", 1.5, -1, [1, 2]])
def test_bad_rng_raises(model, bad):
    with pytest.raises(ParameterError, match="`rng`"):
        model.simulate(SOURCE, 10, [1.0], rng=bad)
    with pytest.raises(ParameterError, match="`rng`"):
        model.trajectories(SOURCE, 10, rng=bad)


def test_spawned_streams_are_independent(model, p_long):
    """200 SeedSequence.spawn children, 1e4 cells each: all streams differ from the parent;
    the liver counts of consecutive children are uncorrelated (sqrt(R) r ~ N(0, 1)) and their
    mean is right (sum over children ~ Binomial(R n, p))."""
    r, n = 200, 10_000
    children = np.random.SeedSequence(2024).spawn(r)
    x = np.array([_one_run(model, p_long, n, np.random.default_rng(c)) for c in children])
    j = model.states.index("colony:liver")
    p = model.fates(SOURCE)["colony:liver"]
    liver = x[:, j].astype(float)
    corr = np.corrcoef(liver[:-1], liver[1:])[0, 1]
    z_corr = corr * math.sqrt(r - 1)
    z_mean = (liver.sum() - r * n * p) / math.sqrt(r * n * p * (1 - p))
    assert z_pvalue(z_corr) > ALPHA / 2, corr
    assert z_pvalue(z_mean) > ALPHA / 2, z_mean
    assert len({row.tobytes() for row in x}) > 1


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(source="nowhere"), UnknownNameError, "unknown primary site 'nowhere'"),
        (dict(source={"transit:nowhere": 3}, n_cells=0), UnknownNameError, "unknown state"),
        (dict(n_cells=-1), ParameterError, "`n_cells`"),
        (dict(n_cells=2.5), ParameterError, "`n_cells`"),
        (dict(times=[60.0, 1.0]), ParameterError, "`times`"),
        (dict(times=[-1.0]), ParameterError, "`times`"),
        (dict(times=[]), ParameterError, "`times`"),
        (dict(dt=-1.0), ParameterError, "`dt`"),
        (dict(dt=0.0), ParameterError, "`dt`"),
        (dict(shed_rate=-1.0), ParameterError, "`shed_rate`"),
        (dict(shed_rate=math.nan), ParameterError, "`shed_rate`"),
        (dict(times=[60.0, 60.0]), ParameterError, "`times` must be strictly increasing"),
        (dict(times=[1.0, 60.0, 60.0], dt=1.0), ParameterError, "strictly increasing"),
        (dict(n_cells=math.nan), ParameterError, "`n_cells`"),
        (dict(n_cells=math.inf), ParameterError, "`n_cells`"),
        (dict(n_cells=None), ParameterError, "`n_cells`"),
        (dict(n_cells="10"), ParameterError, "`n_cells`"),
        (dict(n_cells=True), ParameterError, "`n_cells`"),
        (dict(dt=math.nan), ParameterError, "`dt`"),
        (dict(dt="1"), ParameterError, "`dt`"),
        (dict(checkpoint_every=0), ParameterError, "`checkpoint_every` must be >= 1"),
        (dict(checkpoint_every=2.5), ParameterError, "`checkpoint_every`"),
        (dict(checkpoint=3), ParameterError, "`checkpoint`"),
        (dict(source={"transit:portal_vein": 3}, shed_rate=1.0), ParameterError, "`shed_rate`"),
        (dict(source={"transit:portal_vein": 3}), ParameterError, "`n_cells` goes with"),
    ],
)
def test_bad_simulate_input_raises(model, kwargs, error, match):
    args = dict(source=SOURCE, n_cells=10, times=[1.0], rng=0) | kwargs
    with pytest.raises(error, match=match):
        model.simulate(**args)


def test_bad_trajectories_input_raises(model):
    with pytest.raises(UnknownNameError, match="unknown primary site"):
        model.trajectories("nowhere", 10, rng=0)
    with pytest.raises(ParameterError, match="`n`"):
        model.trajectories(SOURCE, -1, rng=0)


def test_burst_from_a_mapping(model):
    res = model.simulate({"transit:portal_vein": 500, "tissue:liver": 7}, times=[0.0, 5.0], rng=0)
    assert res.counts[0, model.index("transit:portal_vein")] == 500
    assert res.counts[0, model.index("tissue:liver")] == 7
    assert res.released.tolist() == [507, 507]


# ------------------------------------------------------------------ split_counts
def _tiny_blocks(copies: int) -> sp.csr_array:
    """``copies`` independent copies of a 3-state discrete chain (block diagonal):
    0 -> 0, 1, 2 with 0.5, 0.3, 0.2; 1 -> 2, 0 with 0.9, 0.1; 2: empty row (stays put)."""
    tiny = sp.csr_array(np.array([[0.5, 0.3, 0.2], [0.1, 0.0, 0.9], [0.0, 0.0, 0.0]]))
    return sp.block_diag([tiny] * copies, format="csr")


def _exact_law(start: tuple[int, int, int]) -> dict[tuple[int, int, int], float]:
    """Law of the next counts: Multinomial(c0; .5,.3,.2) + Multinomial(c1; .1, 0, .9) + c2."""
    c0, c1, c2 = start
    law: dict[tuple[int, int, int], float] = {}
    for a0 in range(c0 + 1):
        for a1 in range(c0 - a0 + 1):
            pa = stats.multinomial.pmf([a0, a1, c0 - a0 - a1], c0, [0.5, 0.3, 0.2])
            for b0 in range(c1 + 1):
                pb = stats.binom.pmf(b0, c1, 0.1)
                key = (a0 + b0, a1, c0 - a0 - a1 + c1 - b0 + c2)
                law[key] = law.get(key, 0.0) + pa * pb
    return law


@pytest.mark.slow
@pytest.mark.parametrize("regime", ["threaded", "serial", "per_cell"])
@pytest.mark.parametrize("start", [(6, 0, 0), (4, 3, 2)])
def test_split_counts_has_the_exact_multinomial_law(start, regime, monkeypatch):
    """One call splits 20 000 independent copies; chi-square of the joint outcome (all
    reachable count vectors) against the exact law, small bins pooled. Each of the three
    ways of splitting (binomials in fixed threaded chunks, serial binomials, cell by cell)
    is forced in turn; Bonferroni over the 6 cases."""
    if regime == "serial":
        monkeypatch.setattr(split, "PARALLEL_MIN_ROWS", 10**9)
    if regime == "per_cell":
        monkeypatch.setattr(split, "PER_CELL_FACTOR", 100)
    copies = 20_000
    kernel = _Ell.from_matrix(_tiny_blocks(copies))
    counts = np.tile(np.array(start, dtype=np.int64), copies)
    out = split_counts(counts, kernel, np.random.default_rng(sum(start)))
    assert out.dtype == np.int64
    triples = out.reshape(copies, 3)
    assert np.all(triples.sum(axis=1) == sum(start))  # conserved in every copy
    law = _exact_law(start)
    keys = list(law)
    index = {k: i for i, k in enumerate(keys)}
    observed = np.zeros(len(keys))
    for row in map(tuple, triples.tolist()):
        observed[index[row]] += 1  # a KeyError would be an impossible outcome
    expected = copies * np.array([law[k] for k in keys])
    stat, df, pv = chi2_gof(observed, expected)
    assert df >= 5
    assert pv > ALPHA / 6, (stat, df, pv)


def test_split_counts_handles_huge_counts_and_absorbing_rows():
    kernel = _Ell.from_matrix(_tiny_blocks(1))
    counts = np.array([2**52, 2**51, 12345], dtype=np.int64)
    out = split_counts(counts, kernel, np.random.default_rng(0))
    assert out.dtype == np.int64 and int(out.sum()) == 2**52 + 2**51 + 12345
    assert out[2] >= 12345  # the empty row keeps its cells
    same = split_counts(counts, kernel, np.random.default_rng(0))
    np.testing.assert_array_equal(out, same)
    empty = split_counts(np.zeros(3, np.int64), kernel, np.random.default_rng(0))
    np.testing.assert_array_equal(empty, np.zeros(3))


def test_initial_counts_with_n_cells_is_refused():
    import circnet as _c

    model = _c.TransportModel(_c.default_body())
    with pytest.raises(_c.ParameterError, match="n_cells"):
        model.simulate({"transit:left_heart": 10}, 5, [1.0], rng=0)
    res = model.simulate({"transit:left_heart": 10}, times=[1.0], rng=0)
    assert int(res.counts[-1].sum()) == 10


def test_repeated_times_are_refused_not_a_row_of_zeros(model):
    # a repeated time used to give a silent row of zeros
    with pytest.raises(
        ParameterError, match=r"strictly increasing \(60 min is followed by 60 min\)"
    ):
        model.simulate(SOURCE, 100, [60, 60], rng=0)
    c0 = np.zeros(len(model.states), dtype=np.int64)
    with pytest.raises(ParameterError, match="strictly increasing"):
        simulate_counts(model.generator, model.states, c0, [0.0, 5.0, 5.0], rng=0)


def test_counts_from_warns_about_its_unused_arguments(model):
    nt = len(model.transient_states)
    burst = {"tissue:liver": 4}
    c = counts_from(burst, model.states, nt)
    assert c[model.index("tissue:liver")] == 4 and c.sum() == 4
    with pytest.warns(DeprecationWarning, match="never used"):
        old = counts_from(burst, model.states, nt, None, 0)
    np.testing.assert_array_equal(old, c)


def test_steps_and_result_size_are_bounded_before_allocating():
    from circnet.simulate import MAX_RESULT_ENTRIES, MAX_STEPS

    q = sp.csr_array([[-1.0, 1.0], [0.0, 0.0]])
    with pytest.raises(ParameterError, match=f"at most {MAX_STEPS:,} are allowed"):
        simulate_counts(q, ["a", "b"], [5, 0], [60.0], dt=1e-9, rng=1)
    with pytest.raises(ParameterError, match="at most .* steps"):
        simulate_counts(q, ["a", "b"], [5, 0], np.arange(1.0, MAX_STEPS + 2.0), rng=1)
    n = MAX_RESULT_ENTRIES // 1000 + 1  # states; with 1000 times the result is too large
    big = sp.csr_array((n, n))
    with pytest.raises(ParameterError, match="counts; at most"):
        simulate_counts(big, [str(i) for i in range(n)], np.zeros(n), np.arange(1000.0), rng=1)


@pytest.mark.parametrize("counts", [[2**62, 2**62], [math.nan, 0], [-1, 0], ["x", "y"], [1.5, 0]])
def test_initial_counts_are_checked(counts):
    q = sp.csr_array([[-1.0, 1.0], [0.0, 0.0]])
    with pytest.raises(ParameterError, match="initial_counts"):
        simulate_counts(q, ["a", "b"], counts, [1.0], rng=1)


# ------------------------------------------------------------------ one-step kernels
def _stiff_chain(n: int = 400, seed: int = 3) -> sp.csr_array:
    """A random absorbing generator with rates from 1e-3 to 1e3 per minute: 3 random
    out-edges per transient state, a slow exit into one of 5 absorbing states."""
    rng = np.random.default_rng(seed)
    nt = n - 5
    src = np.repeat(np.arange(nt), 3)
    dst = rng.integers(0, nt, size=src.size)
    rates = 10.0 ** rng.uniform(-3, 3, size=src.size)
    rows = np.concatenate([src, np.arange(nt)])
    cols = np.concatenate([dst, nt + rng.integers(0, 5, size=nt)])
    vals = np.concatenate([rates, np.full(nt, 1e-2)])
    off = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    off.setdiag(0.0)
    off.eliminate_zeros()
    return sp.csr_array(off - sp.diags_array(np.asarray(off.sum(axis=1)).ravel()))


@pytest.mark.parametrize("dt", [0.01, 1.0, 60.0])
@pytest.mark.parametrize("chain", ["default body", "stiff random 400"])
def test_uniformized_kernel_matches_dense_expm(model, chain, dt):
    """The build used above 3 000 states, forced on moderate chains: within 1e-12 of
    scipy.linalg.expm entrywise (5e-12 once ``L dt`` exceeds 1e4: the rounding drift of
    the squarings, see ``_uniformized_kernel``), rows summing to 1 within 1e-12, mass
    lost within its allowance."""
    import scipy.linalg

    from circnet._chain import KERNEL_TOL, transition_kernel

    q = model.generator if chain == "default body" else _stiff_chain()
    p, missing = transition_kernel(q, dt, method="uniformized")
    exact = scipy.linalg.expm(q.toarray() * dt)
    rate = float(np.abs(q.diagonal()).max())
    assert np.abs(p.toarray() - exact).max() < (1e-12 if rate * dt <= 1e4 else 5e-12)
    assert np.abs(p.sum(axis=1) - 1.0).max() < 1e-12
    assert p.data.min() > 0
    assert 0.0 <= missing <= KERNEL_TOL + 16 * rate * dt * np.finfo(float).eps


def test_uniformized_kernel_drops_small_entries_within_its_tolerance(model):
    """A looser ``tol`` drops more entries, never more mass than ``tol`` per row."""
    import scipy.linalg

    from circnet._chain import transition_kernel

    q = _stiff_chain()
    tight, _ = transition_kernel(q, 1.0, method="uniformized")
    loose, missing = transition_kernel(q, 1.0, method="uniformized", tol=1e-6)
    assert loose.nnz < tight.nnz and 0 < missing <= 1e-6
    exact = scipy.linalg.expm(q.toarray())
    assert np.abs(loose.toarray() - exact).sum(axis=1).max() <= 2e-6


def test_dense_kernel_is_the_transition_matrix_of_small_chains(model):
    """Up to 3 000 states simulation keeps the dense Pade ``P`` bit for bit."""
    from circnet._chain import transition_kernel

    p, missing = transition_kernel(model.generator, 30.0)
    ref = model.transition_matrix(30.0)
    assert missing == 0.0
    np.testing.assert_array_equal(p.toarray(), ref.toarray())


def test_simulation_on_the_uniformized_kernel_reports_its_loss(model, monkeypatch):
    """Above the dense limit (lowered here to 100 states) the run uses the uniformised
    kernel; the counts are conserved and the message gives the mass left out."""
    import circnet._chain as chain

    monkeypatch.setattr(chain, "DENSE_EXPM_MAX", 100)
    c0 = circnet.simulate.counts_from({model.states[0]: 10**9}, model.states, 1)
    res = simulate_counts(model.generator, model.states, c0, [1.0, 5.0], dt=1.0, rng=4)
    assert res.counts.sum(axis=1).tolist() == [10**9, 10**9]
    assert "uniformisation" in res.message and "renormalised" in res.message


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"dt": 0.0}, "`dt`"), ({"tol": 0.5}, "`tol`"), ({"method": "pade"}, "`method`")],
)
def test_bad_kernel_input_raises(model, kwargs, match):
    from circnet._chain import transition_kernel

    args = {"dt": 1.0, **kwargs}
    with pytest.raises(ParameterError, match=match):
        transition_kernel(model.generator, **args)


# ------------------------------------------------------------------------ jumps over steps
@pytest.mark.slow
def test_a_burst_jumps_to_the_recorded_times_with_the_stepping_law(model, monkeypatch, tmp_path):
    """From one state, cells jump from one recorded time to the next (no checkpoint); a run
    with a checkpoint file steps through the grid instead. Both have the law of the chain:
    mean final counts over 200 runs of 2 000 cells agree with the exact fates of
    ``expm(t Q)`` (z-test per state with non-negligible mass, Bonferroni)."""
    import circnet.simulate as sim

    calls = []
    real = sim.jump_counts
    monkeypatch.setattr(sim, "jump_counts", lambda *a: calls.append(len(a[1])) or real(*a))
    c0 = np.zeros(len(model.states), dtype=np.int64)
    c0[model.index("transit:portal_vein")] = 2000
    kw = dict(dt=10.0)
    res = simulate_counts(model.generator, model.states, c0, [50.0, 100.0], rng=1, **kw)
    assert calls == [5, 5] and res.counts.sum(axis=1).tolist() == [2000, 2000]
    calls.clear()
    ck = simulate_counts(
        model.generator, model.states, c0, [50.0, 100.0], rng=1, checkpoint=tmp_path / "c.npz", **kw
    )
    assert calls == [] and ck.counts.sum() == 4000
    runs = np.array(
        [
            simulate_counts(model.generator, model.states, c0, [100.0], rng=s, **kw).counts[-1]
            for s in range(200)
        ]
    )
    exact = scipy.linalg.expm(100.0 * model.generator.toarray())[model.index("transit:portal_vein")]
    seen = exact * 2000 > 5
    z = (runs.mean(axis=0) - 2000 * exact)[seen] / np.sqrt(2000 * exact * (1 - exact) / 200)[seen]
    assert (2 * stats.norm.sf(np.abs(z)) > 1e-4 / seen.sum()).all(), z
