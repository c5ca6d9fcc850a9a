"""Cell-steps per second: circnet's exact count splitting against per-cell simulators.

Usage::

    python benchmarks/bench_simulate.py            # full run (a few minutes)
    python benchmarks/bench_simulate.py --quick    # < 30 s
    python benchmarks/bench_simulate.py --out benchmarks/results/simulate.md
    python benchmarks/bench_simulate.py --kernels --out benchmarks/results/simulate_kernels.md

``--kernels`` runs only the before/after tables of the simulation kernels (issue 15 item 4):
seconds per step of the splitting, old path (conditional binomials on every row,
``split_counts(..., method="binomial")``, the streams of earlier versions) against the new
(``method="auto"``: numpy's multinomial for rows of 8 moves or more), and the build of the
one-step matrix above 3 000 states: the old sparse Pade ``expm`` (``propagate.transition_matrix``)
against the uniformised kernel (``circnet._chain.transition_kernel``), each in a subprocess
with a time limit.

Chains (discrete time, one step = one transition):

* ``default body``: ``P = model.transition_matrix(dt=1.0)`` of the default body (122 states,
  dense-ish rows: up to 100 moves).
* ``random 1e4``: a random sparse row-stochastic ``P`` on 10 000 states: 4 random out-edges
  per transient state with Exp(1) weights, plus a 1 % leak into one of 10 absorbing states.

Methods:

* ``circnet``: :func:`circnet.simulate.simulate_counts` with ``transition=P``, ``dt=1`` and
  ``times=[steps]`` (exact integer counts in every state; the build of the padded kernel is
  included in the time). Recorded at the end only, a burst from one state *jumps* over the
  steps (one multinomial over row ``s`` of ``P^steps``, exact in law; see
  :mod:`circnet.simulate`); the per-step splitting is timed in the ``--kernels`` table.
* ``quantecon``: ``MarkovChain(P).simulate(ts_length=steps, init=..., num_reps=cells)``
  (numba, one cell at a time, full paths; JIT warm-up excluded), in batches of 1e4 cells.
* ``pydtmc``: ``MarkovChain(P).simulate(steps, initial_state=...)``, one cell per call;
  default body only (building its ``MarkovChain`` on 1e4 states did not finish in 100 s).
* ``numpy per cell``: all cells vectorised, one inverse-CDF step per transition
  (``searchsorted`` of ``row + u`` in the cumulative rows of the CSR matrix).

Per-cell peers whose run would take over a minute are timed on fewer cells (or steps) and
extrapolated linearly in cell-steps; the table says so (``extrapolated``). The machine's
load (``os.getloadavg``) is printed with the table: other jobs share its two cores.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # dense expm: threads thrash under load

import argparse
import multiprocessing as mp
import platform
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _peers import peer_python, run_peer, try_import  # noqa: E402

import circnet  # noqa: E402
from circnet._chain import transition_kernel  # noqa: E402
from circnet._split import _Ell, split_counts  # noqa: E402
from circnet.propagate import transition_matrix  # noqa: E402
from circnet.simulate import simulate_counts  # noqa: E402

#: Time limit of one kernel build (s); --quick: 60 s.
BUILD_LIMIT_S = 300.0

#: Measure a per-cell peer directly only if it takes at most this long (--quick: 2 s).
BUDGET_S = 60.0


def random_chain(n: int = 10_000, out_degree: int = 4, n_absorbing: int = 10, seed: int = 0):
    """Random sparse row-stochastic P: ~4 out-edges per transient state, a few absorbing."""
    rng = np.random.default_rng(seed)
    nt = n - n_absorbing
    src = np.repeat(np.arange(nt), out_degree)
    dst = rng.integers(0, nt, size=src.size)
    w = rng.exponential(size=src.size)
    w *= 0.99 / np.bincount(src, weights=w, minlength=nt)[src]
    leak_src = np.arange(nt)
    leak_dst = nt + rng.integers(0, n_absorbing, size=nt)
    rows = np.concatenate([src, leak_src, np.arange(nt, n)])
    cols = np.concatenate([dst, leak_dst, np.arange(nt, n)])
    vals = np.concatenate([w, np.full(nt, 0.01), np.ones(n_absorbing)])
    p = sp.csr_array((vals, (rows, cols)), shape=(n, n))
    p.sum_duplicates()
    p = sp.csr_array(sp.diags_array(1.0 / p.sum(axis=1)) @ p)
    return p, 0  # start every cell in state 0


def default_chain():
    model = circnet.TransportModel(circnet.default_body())
    p = sp.csr_array(model.transition_matrix(dt=1.0))
    start = model.index("transit:portal_vein")
    return p, start, model


# ------------------------------------------------------------------ methods
def run_circnet(p, start, cells, steps, seed=0):
    n = p.shape[0]
    c0 = np.zeros(n, dtype=np.int64)
    c0[start] = cells
    labels = [str(i) for i in range(n)]
    t = time.perf_counter()
    res = simulate_counts(
        sp.csr_array((n, n)),
        labels,
        c0,
        [float(steps)],
        dt=1.0,
        rng=seed,
        transition=p,
        progress=False,
    )
    dt = time.perf_counter() - t
    assert int(res.counts[-1].sum()) == cells
    return dt


def run_quantecon(p, start, cells, steps, seed=0):
    qe, _ = try_import("quantecon")
    mc = qe.MarkovChain(p)
    mc.simulate(ts_length=10, init=start, num_reps=10, random_state=seed)  # JIT warm-up
    batch = min(cells, 10_000)
    t = time.perf_counter()
    done = 0
    while done < cells:
        k = min(batch, cells - done)
        mc.simulate(ts_length=steps + 1, init=start, num_reps=k, random_state=seed + done)
        done += k
    return time.perf_counter() - t


def run_pydtmc(p, start, cells, steps, seed=0):
    import warnings

    if peer_python():  # PyDTMC in its own venv (see benchmarks/README.md)
        arrays = {"p": p.toarray()}
        kw = {"cells": cells, "steps": steps, "start": int(start), "seed": seed}
        return run_peer("pydtmc-simulate", arrays, **kw)
    MarkovChain = try_import("pydtmc")[0].MarkovChain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mc = MarkovChain(p.toarray())
        t = time.perf_counter()
        for i in range(cells):
            mc.simulate(steps, initial_state=start, output_indices=True, seed=seed + i)
    return time.perf_counter() - t


def run_numpy(p, start, cells, steps, seed=0):
    rng = np.random.default_rng(seed)
    n = p.shape[0]
    lengths = np.diff(p.indptr)
    rows = np.repeat(np.arange(n), lengths)
    cum = np.cumsum(p.data)
    row_start = np.concatenate([[0.0], cum])[p.indptr[:-1]]
    key = rows + (cum - row_start[rows]) / np.maximum(p.sum(axis=1), 1e-300)[rows]
    key[p.indptr[1:][lengths > 0] - 1] = np.flatnonzero(lengths > 0) + 1.0
    state = np.full(cells, start, dtype=np.int64)
    t = time.perf_counter()
    for _ in range(steps):
        idx = np.searchsorted(key, state + rng.random(cells), side="right")
        state = p.indices[np.minimum(idx, p.indptr[state + 1] - 1)]
    return time.perf_counter() - t


def timed(fn, p, start, cells, steps, probe_cells, probe_steps):
    """Run ``fn`` directly, or on (probe_cells, probe_steps) and extrapolate when the
    full run would take more than BUDGET_S. Returns (cell-steps/s, seconds, extrapolated)."""
    probe = fn(p, start, probe_cells, probe_steps)
    rate = probe_cells * probe_steps / probe
    if cells * steps / rate <= BUDGET_S and (probe_cells, probe_steps) != (cells, steps):
        full = fn(p, start, cells, steps)
        return cells * steps / full, full, False
    if (probe_cells, probe_steps) == (cells, steps):
        return rate, probe, False
    return rate, cells * steps / rate, True


def fmt_time(s: float) -> str:
    if s < 1:
        return f"{s * 1e3:.0f} ms"
    if s < 120:
        return f"{s:.2f} s"
    if s < 7200:
        return f"{s / 60:.1f} min"
    if s < 3 * 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.0f} d"


# ------------------------------------------------------------------ kernels (before / after)
def split_per_step(kernel, counts, method, reps):
    """Seconds per call of ``split_counts`` on fixed counts (one warm-up call)."""
    rng = np.random.default_rng(0)
    split_counts(counts, kernel, rng, method)
    t = time.perf_counter()
    for _ in range(reps):
        split_counts(counts, kernel, rng, method)
    return (time.perf_counter() - t) / reps


def run_steps(p, start, cells, steps, method, seed=0):
    """``steps`` steps of ``cells`` cells from ``start`` (kernel build included), seconds."""
    c = np.zeros(p.shape[0], dtype=np.int64)
    c[start] = cells
    rng = np.random.default_rng(seed)
    t = time.perf_counter()
    kernel = _Ell.from_matrix(p)
    for _ in range(steps):
        c = split_counts(c, kernel, rng, method)
    assert int(c.sum()) == cells
    return time.perf_counter() - t


def _build(which, q, dt, out):
    t = time.perf_counter()
    if which == "old":
        p = transition_matrix(q, dt)
        missing = 0.0
    else:
        p, missing = transition_kernel(q, dt, method="uniformized")
    out.put((time.perf_counter() - t, p.nnz, missing))


def timed_build(which, q, dt, limit):
    """(seconds, nnz, lost mass) of one build in a subprocess, or None past ``limit``."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    proc = ctx.Process(target=_build, args=(which, q, dt, out))
    proc.start()
    try:
        return out.get(timeout=limit)
    except Exception:  # queue.Empty: past the limit
        return None
    finally:
        if proc.is_alive():
            proc.kill()
        proc.join()


def kernel_tables(quick: bool) -> list[str]:
    from synthetic import capillary_tree_body

    reps = 5 if quick else 30
    lines = [
        "## Splitting, seconds per step (old: conditional binomials on every row; new: "
        "numpy multinomial on rows of >= 8 moves)",
        "",
        "| chain | cells | old | new | speed-up |",
        "|---|---:|---:|---:|---:|",
    ]
    model = circnet.TransportModel(circnet.default_body())
    n = len(model.states)
    for dt in (1.0, 60.0):
        kernel = _Ell.from_matrix(model.transition_matrix(dt))
        for cells in (10**4, 10**6, 10**9):
            c = np.full(n, cells // n, dtype=np.int64)
            old = split_per_step(kernel, c, "binomial", reps)
            new = split_per_step(kernel, c, "auto", reps)
            lines.append(
                f"| default body ({n} states), P of dt = {dt:g} min, cells spread | "
                f"{cells:.0e} | {old * 1e3:.2f} ms | {new * 1e3:.2f} ms | {old / new:.1f}x |"
            )
    p, s = random_chain()
    steps = 100 if quick else 1000
    for cells in (10**4, 10**6, 10**9):
        runs = {m: run_steps(p, s, cells, steps, m) for m in ("binomial", "auto", "multinomial")}
        lines.append(
            f"| random 1e4 states (5 moves a row), {steps} steps from one state, whole run | "
            f"{cells:.0e} | {fmt_time(runs['binomial'])} | {fmt_time(runs['auto'])} "
            f"(all rows multinomial: {fmt_time(runs['multinomial'])}) | "
            f"{runs['binomial'] / runs['auto']:.1f}x |"
        )
        print(f"  split: random 1e4, {cells:.0e} cells done", file=sys.stderr)
        jump = run_circnet(p, s, cells, steps)  # recorded at the end: it jumps
        lines.append(
            f"| random 1e4 states, {steps} steps from one state, recorded at the end: "
            f"`simulate_counts(transition=P)` jumps (one multinomial over row s of P^{steps}) | "
            f"{cells:.0e} | stepping (auto, above): {fmt_time(runs['auto'])} | "
            f"{fmt_time(jump)} | {runs['auto'] / jump:.0f}x |"
        )
    limit = 60.0 if quick else BUILD_LIMIT_S
    lines += [
        "",
        "## One-step matrix P = expm(dt Q) above 3 000 states (capillary-tree bodies, "
        f"time limit {limit:.0f} s each)",
        "",
        "old: `propagate.transition_matrix` (dense Pade up to 3 000 states, sparse Pade "
        "`scipy.sparse.linalg.expm` above); uniformised: "
        "`_chain.transition_kernel(..., method='uniformized')` (uniformisation with scaling "
        "and squaring, rows within 1e-12 in total variation), which simulation uses above "
        "3 000 states (up to 3 000 it keeps the dense Pade matrix, bit for bit).",
        "",
        "| body | states | dt (min) | old | uniformised | non-zeros of its P | "
        "mass left out (before renormalising) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    sizes = (1000, 5009) if quick else (1000, 3000, 5009)
    for size in sizes:
        chain = capillary_tree_body(size)
        for dt in (0.01, 1.0):
            got = {w: timed_build(w, chain.generator, dt, limit) for w in ("old", "new")}
            cell = {
                w: (fmt_time(r[0]) if r else f"did not finish in {limit:.0f} s")
                for w, r in got.items()
            }
            new = got["new"]
            lines.append(
                f"| capillary_tree_body({size}) | {chain.n_states:,} | {dt:g} | {cell['old']} | "
                f"{cell['new']} | {f'{new[1]:,}' if new else '-'} | "
                f"{f'{new[2]:.1e}' if new else '-'} |"
            )
            print(f"  build: {size} dt={dt} done", file=sys.stderr)
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer steps and cells (< 30 s)")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    ap.add_argument(
        "--kernels", action="store_true", help="only the before/after tables of the kernels"
    )
    args = ap.parse_args(argv)
    if args.kernels:
        load0 = os.getloadavg()
        body = kernel_tables(args.quick)
        load1 = os.getloadavg()
        head = [
            f"# circnet simulation kernels, before / after ({'quick' if args.quick else 'full'})",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, numpy {np.__version__}; load average "
            f"{load0[0]:.1f} before / {load1[0]:.1f} after (other jobs share the cores).",
            "",
        ]
        text = "\n".join(head + body) + "\n"
        print(text)
        if args.out:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text)
        return 0
    global BUDGET_S
    if args.quick:
        BUDGET_S = 2.0
    steps = 100 if args.quick else 1000
    cell_counts = [10**4, 10**6, 10**9]
    load0 = os.getloadavg()
    p_body, s_body, model = default_chain()
    p_rand, s_rand = random_chain()
    # a missing or broken peer is skipped with a note (its reason goes in the table)
    skipped = {"quantecon": try_import("quantecon")[1]}
    if peer_python():
        try:
            run_pydtmc(p_body, s_body, 1, 2)
            skipped["pydtmc"] = ""
        except RuntimeError as err:
            skipped["pydtmc"] = str(err)
            print(f"note: skipping peer pydtmc: {err}", file=sys.stderr)
    else:
        skipped["pydtmc"] = try_import("pydtmc")[1]
    chains = [
        (f"default body ({p_body.shape[0]} states)", p_body, s_body),
        ("random 1e4 states", p_rand, s_rand),
    ]
    rows = []
    for name, p, start in chains:
        for cells in cell_counts:
            ours = run_circnet(p, start, cells, steps)
            entry = {"chain": name, "cells": cells, "circnet": (cells * steps / ours, ours, False)}
            small = 100 if args.quick else 1000
            if skipped["quantecon"]:
                entry["quantecon"] = skipped["quantecon"]
            else:
                entry["quantecon"] = timed(
                    run_quantecon, p, start, cells, steps, min(cells, 10_000), steps
                )
            entry["numpy per cell"] = timed(
                run_numpy,
                p,
                start,
                cells,
                steps,
                min(cells, 10**5 if args.quick else 10**6),
                steps,
            )
            if name.startswith("default") and skipped["pydtmc"]:
                entry["pydtmc"] = skipped["pydtmc"]
            elif name.startswith("default"):
                entry["pydtmc"] = timed(run_pydtmc, p, start, cells, steps, 3, small)
            rows.append(entry)
            print(f"  {name}, {cells:.0e} cells done", file=sys.stderr)
    # paths of 1e5 cells, each to its fate
    t = time.perf_counter()
    paths = model.trajectories("colon_rectum", 10**5, rng=0)
    t_paths = time.perf_counter() - t
    load1 = os.getloadavg()

    lines = [
        f"# circnet simulation benchmark ({'quick' if args.quick else 'full'} run, {steps} steps)",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}; load average "
        f"{load0[0]:.1f} before / {load1[0]:.1f} after (other jobs share the cores).",
        "circnet: `simulate_counts(..., transition=P, dt=1, times=[steps])` (exact integer "
        "counts; kernel build included). Per-cell peers marked * were timed on fewer cells "
        "(quantecon 1e4, numpy 1e6, PyDTMC 3 cells x "
        f"{100 if args.quick else 1000} steps) and extrapolated linearly.",
        "",
        "| chain | cells | method | cell-steps/s | time for all cells | circnet speed-up |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for e in rows:
        ours_rate = e["circnet"][0]
        for method in ("circnet", "quantecon", "numpy per cell", "pydtmc"):
            if method not in e:
                lines.append(
                    f"| {e['chain']} | {e['cells']:.0e} | {method} | n/a | not run: its "
                    "constructor did not finish in 100 s on 1e4 states (dense P) | |"
                )
                continue
            if isinstance(e[method], str):
                lines.append(
                    f"| {e['chain']} | {e['cells']:.0e} | {method} | n/a | skipped: {e[method]} | |"
                )
                continue
            rate, secs, extra = e[method]
            star = "*" if extra else ""
            ratio = "" if method == "circnet" else f"{ours_rate / rate:,.1f}x"
            lines.append(
                f"| {e['chain']} | {e['cells']:.0e} | {method} | {rate:.2e} | "
                f"{fmt_time(secs)}{star} | {ratio} |"
            )
    qe_small = {e["chain"]: e for e in rows if e["cells"] == 10**4}
    big = next(e for e in rows if e["chain"].startswith("random") and e["cells"] == 10**9)
    lines += [
        "",
        "Targets (2-core machine):",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        f"| 1e9 cells x {steps} steps, 1e4-state network, from one state, recorded at the "
        f"end (the cells jump over the steps): <= {steps / 1000:g} s | "
        f"{fmt_time(big['circnet'][1])} | {'yes' if big['circnet'][1] <= steps / 1000 else 'no'} |",
        "| the same, every step drawn (cells spread over all states, or a checkpoint file): "
        "see the splitting table, row 'random 1e4 states ... whole run', 1e9 cells | | no |",
    ]
    for name, e in qe_small.items():
        if isinstance(e["quantecon"], str):
            lines.append(f"| 1e4 cells, {name}: no slower than quantecon | quantecon skipped | - |")
            continue
        ok = e["circnet"][0] >= e["quantecon"][0]
        lines.append(
            f"| 1e4 cells, {name}: no slower than quantecon | "
            f"{e['circnet'][0]:.2e} vs {e['quantecon'][0]:.2e} cell-steps/s | "
            f"{'yes' if ok else 'no'} |"
        )
    lines.append(
        f"| paths of 1e5 cells to their fates (default body, colon_rectum): < 1 s | "
        f"{fmt_time(t_paths)} ({len(paths):,} rows) | {'yes' if t_paths < 1 else 'no'} |"
    )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
