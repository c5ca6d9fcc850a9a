"""Sobol' bootstrap intervals: time against the base sample size (issue 15, item 3).

Usage::

    python benchmarks/bench_sobol.py             # 512 ... 65536 and a 1.3e6-member design
    python benchmarks/bench_sobol.py --quick     # 512 and 2048 only
    python benchmarks/bench_sobol.py --old-max 8192   # also time the old BCa up to 8192

Outputs are the Ishigami function (a = 7, b = 0.1; Ishigami & Homma 1990) on a Saltelli
layout of ``n (d + 2)`` members (d = 3), one outcome, computed directly with numpy (no
ensemble run). ``circnet`` times :func:`circnet._sobol.sobol_table` with
``n_resamples`` percentile-bootstrap resamples (point estimates included); ``old BCa``
times the previous method (``scipy.stats.bootstrap`` BCa over the base points, whose
jackknife is O(n^2)) for base sizes up to ``--old-max``. The load average is printed:
other jobs share the cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from circnet._sobol import sobol_table  # noqa: E402

D = 3


def ishigami_outputs(n: int, seed: int = 0) -> np.ndarray:
    """Outputs (1, n (D + 2)) in member order A, B, AB_1 .. AB_D."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(-np.pi, np.pi, size=(2, n, D))
    blocks = [a, b]
    for i in range(D):
        ab = a.copy()
        ab[:, i] = b[:, i]
        blocks.append(ab)
    x = np.concatenate(blocks)
    f = np.sin(x[:, 0]) + 7.0 * np.sin(x[:, 1]) ** 2 + 0.1 * x[:, 2] ** 4 * np.sin(x[:, 0])
    return f[None, :]


def old_bca(y: np.ndarray, n: int, n_resamples: int, seed: int) -> None:
    """The previous intervals: BCa over the base points (O(n^2) jackknife)."""
    f_a, f_b = y[:, :n], y[:, n : 2 * n]
    f_ab = np.stack([y[:, (2 + i) * n : (3 + i) * n] for i in range(D)])
    mean = np.mean([f_a, f_b], axis=(0, -1)).reshape(-1, 1)
    f_a, f_b, f_ab = f_a - mean, f_b - mean, f_ab - mean

    def indices(idx: np.ndarray) -> np.ndarray:
        fa, fb, fab = f_a[:, idx], f_b[:, idx], f_ab[..., idx]
        var = np.var([fa, fb], axis=(0, -1))
        first = np.mean(fb * (fab - fa), axis=-1) / var
        total = 0.5 * np.mean((fa - fab) ** 2, axis=-1) / var
        return np.concatenate([first.T.ravel(), total.T.ravel()])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stats.bootstrap(
            [np.arange(n)],
            indices,
            method="BCa",
            n_resamples=n_resamples,
            vectorized=False,
            rng=np.random.default_rng(seed),
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="base sizes 512 and 2048 only")
    ap.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    ap.add_argument("--old-max", type=int, default=2048, help="largest n for the old BCa")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    args = ap.parse_args(argv)
    sizes = [512, 2048] if args.quick else [512, 2048, 8192, 65536, 2**18]
    load0 = os.getloadavg()
    rows = []
    for n in sizes:
        y = ishigami_outputs(n)
        t = time.perf_counter()
        table = sobol_table(y, n, ["f"], ["x1", "x2", "x3"], n_resamples=args.resamples, rng=1)
        ours = time.perf_counter() - t
        again = sobol_table(y, n, ["f"], ["x1", "x2", "x3"], n_resamples=args.resamples, rng=1)
        same = table.equals(again)
        old = ""
        if n <= args.old_max:
            t = time.perf_counter()
            old_bca(y, n, args.resamples, 1)
            old = f"{time.perf_counter() - t:.2f}"
        width = (table["total_high"] - table["total_low"]).max()
        rows.append(
            f"| {n:,} | {y.shape[1]:,} | {ours:.2f} | {old or '-'} | {width:.3f} | "
            f"{'yes' if same else 'NO'} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    load1 = os.getloadavg()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    lines = [
        f"# Sobol' bootstrap intervals ({args.resamples} resamples, one outcome, d = {D})",
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, numpy {np.__version__}; load average {load0[0]:.1f} "
        f"before / {load1[0]:.1f} after; peak RSS {peak:.0f} MiB.",
        "",
        "| base n | members | circnet percentile (s) | old BCa (s) | widest total-index "
        "interval | same from same rng |",
        "|---:|---:|---:|---:|---:|---|",
        *rows,
        "",
        "Target: a 1e6-member design's intervals under 1 minute per outcome.",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
