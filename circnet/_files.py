"""Files: atomic writes, package data, and the one checkpoint format.

Every file circnet writes goes through :func:`atomic_write` (a temporary file
``.NAME.xxxxxxxx.tmp`` beside the target, renamed over it only when complete), so an
interrupted write never leaves a half-written file. A process killed mid-write (``kill
-9``, a power cut) cannot remove its temporary file; the next write to the same target
removes such leftovers once they are older than :data:`STALE_TEMP_SECONDS` (younger ones
may belong to a write still running in another process). Package data (the sourced
tables in ``circnet/data``) is read through :func:`data_text` / :func:`read_data_csv`.

Checkpoints
-----------
Simulations, disease courses and ensembles checkpoint in one format: an ``.npz`` archive
(no pickle) holding named arrays plus a JSON ``header`` with

``format``       ``"circnet-checkpoint"``
``version``      :data:`CHECKPOINT_VERSION`
``kind``         what wrote it (``"simulate"``, ``"course"``, ...)
``fingerprint``  a digest of everything that defines the run (model, arguments, seed)
``digest``       a SHA-256 of the stored arrays, so an edited file is refused
``rng``          the generator's bit-generator state (or null)
``meta``         anything else the writer needs to resume

:func:`load_checkpoint` refuses, with a :class:`~circnet.CheckpointError` naming the file,
anything that is not such a file, was written by another kind of run, for other inputs,
or whose arrays do not match their digest.

Examples
--------
>>> import tempfile, pathlib, numpy as np
>>> from circnet._files import save_checkpoint, load_checkpoint, fingerprint
>>> path = pathlib.Path(tempfile.mkdtemp()) / "run.npz"
>>> fp = fingerprint("demo", [1, 2, 3])
>>> rng = np.random.default_rng(5)
>>> save_checkpoint(path, "demo", fp, {"counts": np.arange(3)}, rng=rng, meta={"step": 2})
>>> ck = load_checkpoint(path, "demo", fp)
>>> ck.arrays["counts"].tolist(), ck.meta["step"]
([0, 1, 2], 2)
>>> bool(ck.generator().integers(100) == rng.integers(100))
True
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import stat
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np

from .errors import CheckpointError, ParameterError

__all__ = [
    "atomic_write",
    "data_text",
    "read_data_csv",
    "fingerprint",
    "save_checkpoint",
    "load_checkpoint",
    "Checkpoint",
    "CHECKPOINT_VERSION",
    "STALE_TEMP_SECONDS",
    "remove_stale_temps",
]

CHECKPOINT_FORMAT = "circnet-checkpoint"
CHECKPOINT_VERSION = 2
#: Largest checkpoint header accepted (bytes): a header is small; a huge one is hostile.
_MAX_HEADER = 16 * 2**20
#: Temporary files of a target older than this (seconds) are left over from a crashed
#: write, and removed by the next write to that target.
STALE_TEMP_SECONDS = 30 * 60


# --------------------------------------------------------------------------- writing
@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[IO[Any]]:
    """Open a temporary file beside ``path``; on success rename it over ``path``.

    On any exception the temporary file is removed and ``path`` is left untouched.
    Temporary files of the same target left by a crashed write (older than
    :data:`STALE_TEMP_SECONDS`) are removed first.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
    >>> with atomic_write(target) as fh:
    ...     _ = fh.write("hello")
    >>> target.read_text()
    'hello'
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as err:
        raise ParameterError(
            f"cannot write {str(path)!r}: a parent of it is a file, not a folder"
        ) from err
    if path.is_dir():
        raise ParameterError(f"cannot write {str(path)!r}: it is a directory, not a file")
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates the file with mode 0600: give it the mode the old file had, or
        # the mode a plain open() would give a new file
        os.chmod(tmp, _file_mode(path))
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temps(path: str | os.PathLike[str], older_than: float | None = None) -> int:
    """Remove the temporary files of ``path`` left by crashed writes; return how many.

    Only names :func:`atomic_write` makes for this very target (``.NAME.`` + 8 characters
    + ``.tmp``) and only files older than ``older_than`` seconds (default
    :data:`STALE_TEMP_SECONDS`) are removed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / ".out.txt.abcd1234.tmp").write_text("half")
    >>> remove_stale_temps(folder / "out.txt", older_than=0)
    1
    """
    p = Path(path)
    limit = STALE_TEMP_SECONDS if older_than is None else older_than
    pattern = re.compile(rf"\.{re.escape(p.name)}\.[A-Za-z0-9_]{{8}}\.tmp")
    now = time.time()
    removed = 0
    try:
        entries = list(os.scandir(p.parent if str(p.parent) else "."))
    except OSError:
        return 0
    for entry in entries:
        if not pattern.fullmatch(entry.name):
            continue
        with contextlib.suppress(OSError):
            if entry.is_file(follow_symlinks=False) and now - entry.stat().st_mtime >= limit:
                os.unlink(entry.path)
                removed += 1
    return removed


def _file_mode(path: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


# --------------------------------------------------------------------------- package data
def data_text(name: str) -> str:
    """The text of a file in ``circnet/data`` (package data), UTF-8."""
    return (resources.files("circnet") / "data" / name).read_text(encoding="utf-8")


def read_data_csv(name: str) -> list[dict[str, str]]:
    """Rows of a CSV file in ``circnet/data``, as dicts of strings.

    Examples
    --------
    >>> rows = read_data_csv("capillaries.csv")
    >>> "organ" in rows[0]
    True
    """
    return list(csv.DictReader(data_text(name).splitlines()))


# --------------------------------------------------------------------------- checkpoints
def fingerprint(*parts: Any) -> str:
    """A SHA-256 hex digest of ``parts`` (arrays by bytes and dtype, the rest as JSON)."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            h.update(str(part.dtype).encode())
            h.update(str(part.shape).encode())
            h.update(np.ascontiguousarray(part).tobytes())
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


def _digest(arrays: Mapping[str, np.ndarray]) -> str:
    return fingerprint(*[x for k in sorted(arrays) for x in (k, np.asarray(arrays[k]))])


@dataclass(frozen=True)
class Checkpoint:
    """What :func:`load_checkpoint` read: arrays, metadata and the generator state."""

    path: Path
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    rng_state: dict[str, Any] | None = field(default=None, repr=False)

    def generator(self) -> np.random.Generator:
        """A Generator in the saved state."""
        if self.rng_state is None:
            raise CheckpointError(f"{str(self.path)!r}: the checkpoint holds no generator state")
        try:
            bg = getattr(np.random, self.rng_state["bit_generator"])()
            bg.state = self.rng_state
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"{str(self.path)!r}: bad generator state ({err})") from err
        return np.random.Generator(bg)


def save_checkpoint(
    path: str | os.PathLike[str],
    kind: str,
    fingerprint: str,
    arrays: Mapping[str, Any],
    *,
    rng: np.random.Generator | None = None,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write a checkpoint atomically (see the module docstring for the format)."""
    arrs = {str(k): np.asarray(v) for k, v in arrays.items()}
    for k, v in arrs.items():
        if v.dtype == object:
            raise CheckpointError(f"checkpoint array {k!r} has dtype object (cannot store)")
    header = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "kind": kind,
        "fingerprint": fingerprint,
        "digest": _digest(arrs),
        "rng": None if rng is None else rng.bit_generator.state,
        "meta": dict(meta or {}),
    }
    text = json.dumps(header, default=_json_default)
    with atomic_write(path, "wb") as fh:
        payload: dict[str, Any] = {"__header__": np.str_(text), **arrs}
        np.savez(fh, **payload)


def _json_default(x: Any) -> Any:
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    raise TypeError(f"cannot store {type(x).__name__} in a checkpoint header")


def load_checkpoint(
    path: str | os.PathLike[str], kind: str, fingerprint: str | None = None
) -> Checkpoint:
    """Read and check a checkpoint written by :func:`save_checkpoint`.

    Raises :class:`~circnet.CheckpointError` if the file is missing, unreadable, not a
    circnet checkpoint, of another ``kind``, written for another run (``fingerprint``
    differs, when given) or edited since it was written (array digest).
    """
    p = Path(path)
    where = repr(str(p))
    if not p.is_file():
        raise CheckpointError(f"checkpoint {where} does not exist or is not a file")
    try:
        with zipfile.ZipFile(p) as zf:
            names = zf.namelist()
            if "__header__.npy" not in names:
                raise CheckpointError(f"checkpoint {where} is not a circnet checkpoint")
            if zf.getinfo("__header__.npy").file_size > _MAX_HEADER:
                raise CheckpointError(f"checkpoint {where} has an oversized header")
            arrays: dict[str, np.ndarray] = {}
            header_text = ""
            for name in names:
                if not name.endswith(".npy"):
                    raise CheckpointError(f"checkpoint {where} holds an unexpected entry {name!r}")
                with zf.open(name) as fh:
                    arr = np.lib.format.read_array(io.BytesIO(fh.read()), allow_pickle=False)
                key = name[: -len(".npy")]
                if key == "__header__":
                    header_text = str(arr)
                else:
                    arrays[key] = arr
        header = json.loads(header_text)
    except CheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile) as err:
        raise CheckpointError(f"checkpoint {where} is unreadable ({err})") from err
    except RecursionError as err:
        raise CheckpointError(f"checkpoint {where} has a malformed header") from err
    if not isinstance(header, dict) or header.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(f"checkpoint {where} is not a circnet checkpoint")
    if header.get("version") != CHECKPOINT_VERSION:
        raise CheckpointError(
            f"checkpoint {where} has format version {header.get('version')!r}; this circnet "
            f"reads version {CHECKPOINT_VERSION}"
        )
    if header.get("kind") != kind:
        raise CheckpointError(
            f"checkpoint {where} was written by {header.get('kind')!r}, not by {kind!r}"
        )
    if fingerprint is not None and header.get("fingerprint") != fingerprint:
        raise CheckpointError(
            f"checkpoint {where} belongs to another run (its model, arguments or seed differ)"
        )
    if header.get("digest") != _digest(arrays):
        raise CheckpointError(f"checkpoint {where} was altered after it was written (digest)")
    meta = header.get("meta")
    rng_state = header.get("rng")
    if not isinstance(meta, dict) or not (rng_state is None or isinstance(rng_state, dict)):
        raise CheckpointError(f"checkpoint {where} has a malformed header")
    return Checkpoint(p, arrays, meta, rng_state)
