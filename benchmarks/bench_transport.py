"""Transport benchmark: circnet against its peers on the same chains, one table.

Run ``python benchmarks/bench_transport.py`` (full, tens of minutes) or with ``--quick``
(a smoke run under ~30 s). Every measurement runs in its own subprocess, with a time
limit, and reports wall time and the peak resident memory of that process
(``resource.getrusage(...).ru_maxrss``: interpreter, imports and the chain included, so
an upper bound on what the solve needs). Chains are generated in the subprocess before
the clock starts. Peers, as a user would call them:

* dense numpy: ``np.linalg.solve`` on the dense ``M = -Q_TT`` (skipped above 15 000
  transient states: the dense matrix alone is 1.8 GB there);
* PyDTMC: ``MarkovChain(P).absorption_probabilities()`` on the (dense) jump chain;
* scipy ``splu(M)`` (default options) and ``gmres(M^T, p0)`` (default tolerance, no
  preconditioner; its residual is reported, as it is not asked for 1e-10).

Sections: (a) default body, all primaries, TransportModel build included; (b) one
source's fates + expected time on refined capillary-tree bodies and random 4-out
networks, and whole fate matrices; (c) propagation of 1e6 states over 1000
uniformisation steps against the memory bandwidth measured in the same run (a triad
``a = b + s * c`` over 3 x 80 MB float64 arrays, numpy, one process per core run at
once and their rates added).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

DENSE_MAX = 15_000


# ============================================================================ workers
def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _chain(kind: str, n: int, fates: int | None):
    from synthetic import capillary_tree_body, random_network

    if kind == "tree":
        return capillary_tree_body(n, n_fates=fates, rng=7)
    return random_network(n, n_fates=fates or 10, rng=7)


def work_default(solver: str) -> dict:
    import numpy as np

    import circnet

    body = circnet.default_body()
    if solver != "pydtmc":
        _start()
    if solver == "circnet":
        times = []
        for _ in range(20):
            t = time.perf_counter()
            model = circnet.TransportModel(body)
            table = model.fate_table()
            times.append(time.perf_counter() - t)
        err = float(abs(table.sum(axis=1) - 1).max())
        return {"time": float(np.median(times)), "check": f"sum-1 {err:.0e}"}
    model = circnet.TransportModel(body)
    q = model.generator
    nt = len(model.transient_states)
    p0 = np.column_stack([model.initial(o) for o in model.organs])
    m = (-q[:nt, :nt]).toarray()
    r = q[:nt, nt:].toarray()
    if solver == "numpy":
        times = []
        for _ in range(20):
            t = time.perf_counter()
            x = np.linalg.solve(m.T, p0)
            out = r.T @ x
            times.append(time.perf_counter() - t)
        return {"time": float(np.median(times)), "check": f"sum-1 {abs(out.sum(0) - 1).max():.0e}"}
    if solver == "pydtmc":
        return _pydtmc(q, nt)
    raise ValueError(solver)


def _jump_chain(q, nt):
    import numpy as np

    qd = q.toarray()
    n = qd.shape[0]
    rate = -np.diag(qd)[:nt]
    p = np.zeros((n, n))
    p[:nt] = qd[:nt] / rate[:, None]
    p[np.arange(nt), np.arange(nt)] = 0.0
    p[np.arange(nt, n), np.arange(nt, n)] = 1.0
    return p


def _pydtmc(q, nt) -> dict:
    import warnings

    from _peers import peer_python, run_peer, try_import

    if peer_python():  # PyDTMC in its own venv (see benchmarks/README.md)
        p = _jump_chain(q, nt)
        _start()
        try:
            el = run_peer("pydtmc-absorption", {"p": p})
        except RuntimeError as err:
            return {"skipped": f"skipped: {str(err)[:80]}"}
        return {"time": el, "check": "peer venv"}
    pydtmc, reason = try_import("pydtmc")
    if pydtmc is None:  # missing or broken (e.g. built for NumPy 1): skip with a note
        return {"skipped": f"skipped: {reason}"}
    warnings.filterwarnings("ignore")
    p = _jump_chain(q, nt)
    _start()
    t = time.perf_counter()
    mc = pydtmc.MarkovChain(p)
    h = mc.absorption_probabilities()
    el = time.perf_counter() - t
    return {"time": el, "check": f"shape {tuple(h.shape)}"}


def work_source(kind: str, n: int, solver: str) -> dict:
    import numpy as np
    import scipy.sparse.linalg as spla

    ch = _chain(kind, n, None)
    q, nt, p0 = ch.generator, ch.n_transient, ch.source
    out = {"states": int(ch.n_states), "degree": round(ch.mean_out_degree, 2)}
    import circnet

    # ``import circnet`` is lazy: its first attribute access imports the solver
    # modules (pandas, scipy.stats, ...; about 1-2 s), so resolve it outside the clock
    circnet.AbsorbingChain  # noqa: B018

    base = _peak_mib()
    if solver != "pydtmc":
        _start()
    t = time.perf_counter()
    if solver == "circnet":
        chain = circnet.AbsorbingChain(q, ch.labels, nt)
        x = chain.occupation(p0)
        probs = x @ q[:nt, nt:]
        total = float(x.sum())
        out["method"] = chain.method
    elif solver == "numpy":
        m = (-q[:nt, :nt]).toarray()
        x = np.linalg.solve(m.T, p0)
        probs, total = x @ q[:nt, nt:], float(x.sum())
    elif solver == "splu":
        m = (-q[:nt, :nt]).tocsc()
        x = spla.splu(m).solve(p0, trans="T")
        probs, total = x @ q[:nt, nt:], float(x.sum())
    elif solver == "gmres":
        m = (-q[:nt, :nt]).T.tocsr()
        x, info = spla.gmres(m, p0)
        probs, total = x @ q[:nt, nt:], float(x.sum())
        out["info"] = int(info)
    elif solver == "pydtmc":
        r = _pydtmc(q, nt)
        r.update(out)
        r["peak_mib"] = _peak_mib()
        return r
    else:
        raise ValueError(solver)
    out["time"] = time.perf_counter() - t
    m = (-q[:nt, :nt]).T.tocsr()
    res = float(np.abs(m @ x - p0).max())
    out["check"] = f"res {res:.0e}, sum-1 {abs(probs.sum() - 1):.0e}"
    out["total"] = total
    out["peak_mib"] = _peak_mib()
    out["base_mib"] = base
    return out


def work_fatematrix(kind: str, n: int, fates: int, solver: str) -> dict:
    import numpy as np
    import scipy.sparse.linalg as spla

    ch = _chain(kind, n, fates)
    q, nt = ch.generator, ch.n_transient
    out = {"states": int(ch.n_states), "fates": int(ch.n_fates)}
    import circnet

    # ``import circnet`` is lazy: its first attribute access imports the solver
    # modules (pandas, scipy.stats, ...; about 1-2 s), so resolve it outside the clock
    circnet.AbsorbingChain  # noqa: B018

    if solver != "pydtmc":
        _start()
    t = time.perf_counter()
    if solver == "circnet":
        chain = circnet.AbsorbingChain(q, ch.labels, nt)
        h = chain.fate_matrix
        out["method"] = chain.method
    elif solver == "numpy":
        m = (-q[:nt, :nt]).toarray()
        h = np.linalg.solve(m, q[:nt, nt:].toarray())
    elif solver == "splu":
        h = spla.splu((-q[:nt, :nt]).tocsc()).solve(q[:nt, nt:].toarray())
    elif solver == "gmres":
        m = (-q[:nt, :nt]).tocsr()
        r = q[:nt, nt:].toarray()
        h = np.column_stack([spla.gmres(m, r[:, j])[0] for j in range(r.shape[1])])
    elif solver == "pydtmc":
        r = _pydtmc(q, nt)
        r.update(out)
        r["peak_mib"] = _peak_mib()
        return r
    else:
        raise ValueError(solver)
    out["time"] = time.perf_counter() - t
    out["check"] = f"rowsum-1 {abs(h.sum(axis=1) - 1).max():.0e}"
    out["peak_mib"] = _peak_mib()
    return out


def _triad(n: int, reps: int, start: float) -> float:
    import numpy as np

    a, b, c = np.zeros(n), np.ones(n), np.full(n, 2.0)
    while time.time() < start:
        pass
    t = time.perf_counter()
    for _ in range(reps):
        np.multiply(c, 3.0, out=a)  # read c, write a
        np.add(a, b, out=a)  # read a, b, write a
    el = time.perf_counter() - t
    return 5 * 8 * n * reps / el  # bytes moved as STREAM counts them (no write-allocate)


def work_triad(n: int, reps: int, start: float) -> dict:
    _start()
    return {"bw": _triad(n, reps, start)}


def work_propagate(kind: str, n: int, steps: int, solver: str, order: str) -> dict:
    import numpy as np
    import scipy.sparse as sp
    from scipy.sparse.csgraph import reverse_cuthill_mckee

    ch = _chain(kind, n, None)
    q = ch.generator
    if order == "rcm":
        sym = sp.csr_matrix(abs(q) + abs(q).T)
        perm = reverse_cuthill_mckee(sym, symmetric_mode=True)
        q = sp.csr_array(q[perm][:, perm])
    nn = q.shape[0]
    lam = float(np.abs(q.diagonal()).max()) * 1.0000001
    p0 = np.zeros(nn)
    p0[int(np.flatnonzero(np.abs(q.diagonal()) > 0)[0])] = 1.0
    pt = sp.csr_array((sp.eye_array(nn, format="csr") + q / lam).T)
    pt.sort_indices()
    nbytes = pt.nnz * (pt.data.itemsize + pt.indices.itemsize) + pt.indptr.nbytes + 2 * 8 * nn
    out = {"states": int(nn), "nnz": int(pt.nnz), "bytes": int(nbytes)}
    _start()
    if solver == "scipy":  # a user's loop: v <- P^T v
        v = p0.copy()
        t = time.perf_counter()
        for _ in range(steps):
            v = pt @ v
        el = time.perf_counter() - t
    elif solver == "circnet":
        from scipy import stats

        from circnet.propagate import uniformization

        # the time whose Poisson truncation needs `steps` terms at tol 1e-12
        mu = float(steps)
        while int(stats.poisson.isf(0.5e-12, mu)) + 1 > steps:
            mu *= 0.98
        t = time.perf_counter()
        v, bound = uniformization(q, p0, mu / lam, tol=1e-12)
        el = time.perf_counter() - t
        out["sum-1"] = abs(v.sum() - 1)
    else:
        raise ValueError(solver)
    out["time"] = el
    out["per_step"] = el / steps
    out["bw"] = nbytes / (el / steps)
    return out


WORKERS = {
    "default": work_default,
    "source": work_source,
    "fatematrix": work_fatematrix,
    "triad": work_triad,
    "propagate": work_propagate,
}


# ============================================================================ driver
def run(task: str, *args, timeout: float = 600.0) -> dict:
    """Run one worker; ``timeout`` counts from the moment its clock starts."""
    cmd = [sys.executable, __file__, "--worker", json.dumps([task, *args])]
    env = dict(os.environ, OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"))
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines = []
    for ln in proc.stdout:  # set-up (imports, the chain) is not limited
        if ln.startswith("START"):
            break
        lines.append(ln)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        return {"timeout": timeout}
    lines += out.splitlines()
    lines = [ln for ln in lines if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        last = (err.strip().splitlines() or ["?"])[-1]
        return {"error": last[:80]}
    return json.loads(lines[-1])


def _start() -> None:
    print("START", flush=True)


def fmt_time(r: dict) -> str:
    if "timeout" in r:
        return f"did not finish in {r['timeout']:.0f} s"
    if "error" in r:
        return f"failed: {r['error']}"
    if "skipped" in r:
        return r["skipped"]
    t = r["time"]
    return f"{t * 1e3:.1f} ms" if t < 1 else f"{t:.2f} s"


def ratio(peer: dict, ours: dict) -> str:
    if "time" not in peer or "time" not in ours:
        if "timeout" in peer and "time" in ours:
            return f"> {peer['timeout'] / ours['time']:.0f}x"
        return "-"
    return f"{peer['time'] / ours['time']:.1f}x"


def mem(r: dict) -> str:
    return f"{r['peak_mib']:.0f} MiB" if "peak_mib" in r else ""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (< ~30 s)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--out", help="also write the table (markdown) to this file")
    a = ap.parse_args()
    if a.worker:
        task, *args = json.loads(a.worker)
        print(json.dumps(WORKERS[task](*args)))
        return

    quick = a.quick
    sizes = [2_000] if quick else [1_000, 10_000, 100_000, 1_000_000]
    fm = [(2_000, 40)] if quick else [(10_000, 100), (100_000, 1000)]
    prop_n, steps = (100_000, 50) if quick else (1_000_000, 1000)
    lim_pydtmc = 3.0 if quick else 60.0
    lim_peer = 3.0 if quick else 120.0
    rows: list[list[str]] = []
    hdr = ["case", "circnet", "peer", "peer time", "peer / circnet", "notes"]

    def row(case, ours, peer_name, peer, notes=""):
        rows.append([case, fmt_time(ours), peer_name, fmt_time(peer), ratio(peer, ours), notes])
        print(" | ".join(rows[-1]), flush=True)

    load0 = os.getloadavg()
    # ---- (a)
    ours = run("default", "circnet")
    for peer in ("numpy", "pydtmc"):
        r = run("default", peer, timeout=lim_pydtmc if peer == "pydtmc" else lim_peer)
        row(
            "(a) default body, all 21 primaries, build incl. (target < 20 ms)",
            ours,
            {"numpy": "dense numpy", "pydtmc": "PyDTMC"}[peer],
            r,
            ours.get("check", ""),
        )
    # ---- (b) one source
    for kind in ("tree", "random"):
        for n in sizes:
            ours = run("source", kind, n, "circnet")
            label = f"(b) {'tree body' if kind == 'tree' else 'random 4-out'} {n:.0e}, one source"
            if n == 1_000_000:
                label += " (target <= 2 s, < 2 GiB)"
            note = (
                f"{ours.get('method', '')}, {ours.get('check', '')}, peak {mem(ours)}, "
                f"out-degree {ours.get('degree', '')}"
            )
            for peer in ("numpy", "splu", "gmres", "pydtmc"):
                if peer == "numpy" and n > DENSE_MAX:
                    r = {"skipped": f"skipped (n > {DENSE_MAX:,})"}
                elif peer == "pydtmc" and n > 10_000:
                    r = {"skipped": "skipped (dense; did not finish at 1e4)"}
                elif peer == "splu" and kind == "random" and n > 10_000:
                    r = {"skipped": "skipped (fill-in; see 1e4)"}
                else:
                    lim = lim_pydtmc if peer == "pydtmc" else lim_peer
                    r = run("source", kind, n, peer, timeout=lim)
                extra = ""
                if "check" in r and peer == "gmres":
                    extra = f"gmres {r['check']}"
                row(label, ours, peer, r, note if peer == "numpy" else extra)
    # ---- (b) fate matrices
    for kind in ("tree", "random"):
        for n, f in fm:
            ours = run("fatematrix", kind, n, f, "circnet", timeout=300)
            tgt = {10_000: " (target <= 0.3 s)", 100_000: " (target <= 30 s)"}.get(n, "")
            name = "tree body" if kind == "tree" else "random 4-out"
            label = f"(b) {name} {n:.0e}, fate matrix {f} fates{tgt}"
            note = f"{ours.get('method', '')}, {ours.get('check', '')}, peak {mem(ours)}"
            for peer in ("numpy", "splu", "gmres", "pydtmc"):
                if peer == "numpy" and n > DENSE_MAX:
                    r = {"skipped": f"skipped (n > {DENSE_MAX:,})"}
                elif peer == "pydtmc" and n > 1_000:
                    r = {"skipped": "skipped (did not finish at 1e4)"}
                elif peer == "splu" and kind == "random" and n > 10_000:
                    r = {"skipped": "skipped (fill-in)"}
                else:
                    lim = lim_pydtmc if peer == "pydtmc" else lim_peer
                    r = run("fatematrix", kind, n, f, peer, timeout=lim)
                row(label, ours, peer, r, note if peer == "numpy" else "")
    # ---- (c) bandwidth and propagation
    narr, reps = (4_000_000, 3) if quick else (10_000_000, 20)
    one = run("triad", narr, reps, time.time() + 0.5)["bw"]
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--worker", json.dumps(["triad", narr, reps, start])],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    both = sum(json.loads(p.communicate()[0].strip().splitlines()[-1])["bw"] for p in procs)
    bw = max(both, one)
    print(f"triad: 1 process {one / 1e9:.1f} GB/s, 2 processes {both / 1e9:.1f} GB/s", flush=True)
    prop = {}
    for kind, order in (("tree", "rcm"), ("tree", "natural"), ("random", "natural")):
        for solver in ("circnet", "scipy"):
            prop[kind, order, solver] = run(
                "propagate", kind, prop_n, steps, solver, order, timeout=900
            )
        ours, peer = prop[kind, order, "circnet"], prop[kind, order, "scipy"]
        name = (
            {"rcm": "tree body, RCM order", "natural": "tree body, natural order"}[order]
            if kind == "tree"
            else "random 4-out"
        )
        tgt = (
            " (target >= 40 % of bandwidth)"
            if order == "rcm"
            else (" (target >= 2x scipy CSR)" if kind == "random" else "")
        )
        shares = []
        for who, r in (("circnet", ours), ("scipy", peer)):
            if "bw" in r:
                shares.append(f"{who} {r['bw'] / 1e9:.1f} GB/s = {100 * r['bw'] / bw:.0f} %")
        row(
            f"(c) propagation {prop_n:.0e} states x {steps} steps, {name}{tgt}",
            ours,
            "scipy CSR loop",
            peer,
            "; ".join(shares),
        )

    load1 = os.getloadavg()
    lines = [
        "| " + " | ".join(hdr) + " |",
        "|" + "---|" * len(hdr),
        *["| " + " | ".join(r) + " |" for r in rows],
    ]
    foot = [
        "",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; "
        f"memory bandwidth (numpy triad, STREAM byte count): {one / 1e9:.1f} GB/s one process, "
        f"{both / 1e9:.1f} GB/s two processes at once; shares are of {bw / 1e9:.1f} GB/s. "
        f"Bytes per SpMV counted as data + indices + indptr + x + y. "
        f"Load average at start {load0[0]:.1f}, at end {load1[0]:.1f} "
        f"({'quick' if quick else 'full'} run).",
    ]
    text = "\n".join(lines + foot)
    print()
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
