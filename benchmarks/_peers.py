"""Optional peer libraries of the benchmarks: import them safely, or run them in another venv.

A peer (quantecon, PyDTMC) that is missing *or broken* (any exception at import, e.g. a
wheel built for another NumPy) is skipped with a printed note; the benchmark goes on.

PyDTMC pins an old matplotlib built for NumPy 1, so it is not in the ``bench`` extra: install
it in its own venv and point ``CIRCNET_PEER_PYTHON`` at that venv's interpreter::

    python -m venv /tmp/peers && /tmp/peers/bin/pip install pydtmc
    CIRCNET_PEER_PYTHON=/tmp/peers/bin/python python benchmarks/bench_simulate.py --quick

The peer then runs in a subprocess of that interpreter (this file, run as a script; it
needs only numpy and the peer there), on a matrix passed through a temporary ``.npz`` file.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

__all__ = ["PEER_PYTHON_ENV", "peer_python", "try_import", "run_peer"]

#: Environment variable naming the interpreter of an isolated venv holding the peers.
PEER_PYTHON_ENV = "CIRCNET_PEER_PYTHON"

_NOTED: set[str] = set()


def peer_python() -> str | None:
    """The interpreter of the peers' venv, or None (then peers are imported in-process)."""
    return os.environ.get(PEER_PYTHON_ENV) or None


def try_import(name: str) -> tuple[ModuleType | None, str]:
    """Import peer ``name``, or return (None, a one-line reason) and print a note once."""
    try:
        return importlib.import_module(name), ""
    except Exception as err:  # a broken peer (ImportError, ABI errors, ...) must not stop the run
        first = (str(err).strip().splitlines() or [""])[0]
        reason = f"{name} unavailable ({type(err).__name__}: {first[:80]})"
        if name not in _NOTED:
            _NOTED.add(name)
            print(
                f"note: skipping peer {reason}; install it in a separate venv and set "
                f"{PEER_PYTHON_ENV} (see benchmarks/README.md)",
                file=sys.stderr,
            )
        return None, reason


def run_peer(job: str, arrays: dict[str, np.ndarray], **kwargs: Any) -> float:
    """Run ``job`` of this file in the peers' interpreter; return its measured seconds.

    Raises RuntimeError (with the peer's last error line) if the subprocess fails.
    """
    exe = peer_python()
    if exe is None:
        raise RuntimeError(f"{PEER_PYTHON_ENV} is not set")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "arrays.npz"
        np.savez(path, **arrays)
        try:
            proc = subprocess.run(
                [exe, __file__, job, str(path), json.dumps(kwargs)],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as err:  # e.g. no such interpreter
            raise RuntimeError(f"cannot run {PEER_PYTHON_ENV}={exe!r}: {err}") from err
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        raise RuntimeError(f"peer job {job!r} failed in {exe}: {last[:120]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["time"])


# ---------------------------------------------------------------- jobs run in the peer venv
def _pydtmc_simulate(arrays: Any, cells: int, steps: int, start: int, seed: int) -> float:
    import warnings

    from pydtmc import MarkovChain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mc = MarkovChain(arrays["p"])
        t = time.perf_counter()
        for i in range(cells):
            mc.simulate(steps, initial_state=start, output_indices=True, seed=seed + i)
    return time.perf_counter() - t


def _pydtmc_absorption(arrays: Any) -> float:
    import warnings

    from pydtmc import MarkovChain

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = time.perf_counter()
        mc = MarkovChain(arrays["p"])
        mc.absorption_probabilities()
    return time.perf_counter() - t


_JOBS = {"pydtmc-simulate": _pydtmc_simulate, "pydtmc-absorption": _pydtmc_absorption}


if __name__ == "__main__":
    job, npz, kw = sys.argv[1:4]
    with np.load(npz) as data:
        seconds = _JOBS[job](data, **json.loads(kw))
    print(json.dumps({"time": seconds}))
