"""Parameter tables as data: read, check, default, replace and describe.

The parameters of :class:`~circnet.CellProfile` and :class:`~circnet.TumourParams` live
in ``circnet/data/cell_parameters.csv`` and ``circnet/data/tumour_parameters.csv``, one
row per parameter (see ``circnet/data/README.md``):

``name``                     the keyword of the dataclass
``default``                  the default value (exact: it parses to the float the class uses)
``unit``                     ``1`` for a dimensionless number
``low``, ``high``            the domain; empty = unbounded
``low_open``, ``high_open``  ``true`` for an open end
``per_site``                 ``organ`` or ``node`` for a parameter that can be set per site,
                             empty for a global one
``kind``                     ``measured``, ``derived``, ``calibrated`` or ``assumption``
``source``                   the citation (and what it says) or the modelling assumption
``derivation``               for a computed default: the formula and why
``formula``                  that formula as an expression (numbers, ``+ - * / **``,
                             ``log``, ``round`` and the names of other parameters, at their
                             defaults), which the tests evaluate against ``default``
``notes``                    anything else

:func:`load_table` reads one table into a :class:`ParamTable`, which checks values
against the domain (through :func:`circnet._validation.check_number`, so the message is
the one every entry point gives), checks keyword names, and builds the
:meth:`~ParamTable.describe` table. :class:`class_or_instance` lets ``describe`` be
called on the class (the defaults) or on an instance.

Examples
--------
>>> table = load_table("tumour_parameters.csv", what="tumour parameter")
>>> table["lambda1"].default, table["lambda1"].unit, table["lambda1"].domain
(0.192, '1/day', '(0, inf)')
>>> table["lambda1"].check(-1)
Traceback (most recent call last):
...
circnet.errors.ParameterError: `lambda1` must be > 0 1/day (got -1)
>>> table.check_names({"speed": 1.0})
Traceback (most recent call last):
...
circnet.errors.ParameterError: unknown tumour parameter 'speed'
"""

from __future__ import annotations

import ast
import difflib
import functools
import math
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import pandas as pd

from ._files import read_data_csv
from ._validation import check_number
from .errors import ParameterError

__all__ = [
    "Param",
    "ParamTable",
    "load_table",
    "evaluate",
    "checked_keywords",
    "class_or_instance",
    "KINDS",
]

#: How a default comes about.
KINDS = ("measured", "derived", "calibrated", "assumption")
#: Values of the ``per_site`` column ("" = a global parameter).
SITE_KINDS = ("", "organ", "node")
COLUMNS = (
    "name",
    "default",
    "unit",
    "low",
    "low_open",
    "high",
    "high_open",
    "per_site",
    "kind",
    "source",
    "derivation",
    "formula",
    "notes",
)
_BOOLS = {"true": True, "false": False}


@dataclass(frozen=True)
class Param:
    """One row of a parameter table."""

    name: str
    default: float
    unit: str
    low: float | None
    high: float | None
    low_open: bool
    high_open: bool
    per_site: str
    kind: str
    source: str
    derivation: str = ""
    formula: str = ""
    notes: str = ""

    @property
    def domain(self) -> str:
        """The domain in interval notation, e.g. ``[0, 1)`` or ``(0, inf)``."""
        lo = "-inf" if self.low is None else f"{self.low:g}"
        hi = "inf" if self.high is None else f"{self.high:g}"
        left = "(" if self.low is None or self.low_open else "["
        right = ")" if self.high is None or self.high_open else "]"
        return f"{left}{lo}, {hi}{right}"

    def check(self, value: Any, label: str | None = None) -> float:
        """``value`` as a float in the domain, else a :class:`~circnet.ParameterError`.

        ``label`` names the value in the message (default: the parameter's name).
        """
        return check_number(
            value,
            self.name if label is None else label,
            low=self.low,
            high=self.high,
            low_open=self.low_open,
            high_open=self.high_open,
            unit="" if self.unit == "1" else self.unit,
        )


class ParamTable(Mapping[str, Param]):
    """The rows of one parameter table by name, in file order (read-only).

    ``what`` names the parameters in messages (``"parameter"``, ``"tumour parameter"``).
    """

    def __init__(self, params: Iterable[Param], what: str = "parameter") -> None:
        self._params = {p.name: p for p in params}
        self.what = what
        self.defaults: Mapping[str, float] = types.MappingProxyType(
            {k: p.default for k, p in self._params.items()}
        )
        self.site_names: tuple[str, ...] = tuple(k for k, p in self._params.items() if p.per_site)

    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __repr__(self) -> str:
        return f"ParamTable({', '.join(self._params)})"

    def unknown(self, name: str) -> ParameterError:
        """The error for an unknown name, with the closest known one when there is one."""
        close = difflib.get_close_matches(name, list(self._params), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        return ParameterError(f"unknown {self.what} {name!r}{hint}")

    def check_names(self, names: Iterable[str], extra: Iterable[str] = ()) -> None:
        """Raise :class:`~circnet.ParameterError` for a name neither in the table nor ``extra``."""
        allowed = set(extra)
        for name in names:
            if name not in self._params and name not in allowed:
                raise self.unknown(str(name))

    def clean(self, obj: Any) -> None:
        """Check every field of the frozen dataclass ``obj`` named in the table and store it
        back as a float (for ``__post_init__``)."""
        for name, p in self._params.items():
            object.__setattr__(obj, name, p.check(getattr(obj, name)))

    def describe(
        self, obj: Any, sites: Mapping[str, Mapping[str, float]] | None = None
    ) -> pd.DataFrame:
        """Table of every parameter of ``obj``: value, unit, domain, kind, source, ...

        With ``sites`` (per-site overrides), also the columns ``per_site`` and
        ``overrides``.
        """
        rows = []
        for name, p in self._params.items():
            row: dict[str, Any] = {
                "parameter": name,
                "value": getattr(obj, name),
                "unit": p.unit,
                "domain": p.domain,
                "kind": p.kind,
            }
            if sites is not None:
                over = {s: v[name] for s, v in sites.items() if name in v}
                row["per_site"] = p.per_site
                row["overrides"] = over or ""
            row.update(source=p.source, derivation=p.derivation, notes=p.notes)
            rows.append(row)
        return pd.DataFrame(rows).set_index("parameter")

    def derived(self, name: str) -> float | None:
        """The value of the ``formula`` of ``name`` at the table's defaults (None if none)."""
        formula = self._params[name].formula
        return evaluate(formula, self.defaults) if formula else None


# ----------------------------------------------------------------------------- reading
def _number(text: str, where: str, column: str) -> float | None:
    if text.strip() == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise ParameterError(f"{where}: `{column}` must be a number (got {text!r})") from None


def _row(raw: Mapping[str, str | None], where: str) -> Param:
    missing = [c for c in COLUMNS if raw.get(c) is None]
    if missing:
        raise ParameterError(f"{where}: missing column(s) {', '.join(missing)}")
    r = {c: str(raw[c]).strip() for c in COLUMNS}
    for column in ("low_open", "high_open"):
        if r[column].lower() not in _BOOLS:
            raise ParameterError(f"{where}: `{column}` must be true or false (got {r[column]!r})")
    if r["kind"] not in KINDS:
        raise ParameterError(f"{where}: `kind` must be one of {', '.join(KINDS)}")
    if r["per_site"] not in SITE_KINDS:
        raise ParameterError(f"{where}: `per_site` must be organ, node or empty")
    for column in ("name", "unit", "source"):
        if not r[column]:
            raise ParameterError(f"{where}: `{column}` is empty")
    default = _number(r["default"], where, "default")
    if default is None:
        raise ParameterError(f"{where}: `default` is empty")
    param = Param(
        name=r["name"],
        default=default,
        unit=r["unit"],
        low=_number(r["low"], where, "low"),
        high=_number(r["high"], where, "high"),
        low_open=_BOOLS[r["low_open"].lower()],
        high_open=_BOOLS[r["high_open"].lower()],
        per_site=r["per_site"],
        kind=r["kind"],
        source=r["source"],
        derivation=r["derivation"],
        formula=r["formula"],
        notes=r["notes"],
    )
    param.check(default, f"{where}: default {param.name}")
    return param


@functools.cache
def load_table(filename: str, what: str = "parameter") -> ParamTable:
    """The parameter table in ``circnet/data/filename``, every row checked.

    Examples
    --------
    >>> cells = load_table("cell_parameters.csv")
    >>> cells["receptivity"].per_site, cells["receptivity"].kind
    ('organ', 'assumption')
    """
    params = []
    for i, raw in enumerate(read_data_csv(filename), start=2):  # line 1 is the header
        params.append(_row(raw, f"circnet/data/{filename} line {i}"))
    names = [p.name for p in params]
    if len(set(names)) != len(names):
        raise ParameterError(f"circnet/data/{filename}: a parameter name is repeated")
    return ParamTable(params, what)


# ----------------------------------------------------------------------------- formulas
_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"log": math.log, "round": round}


def evaluate(formula: str, names: Mapping[str, float]) -> float:
    """The value of a ``formula`` column: arithmetic on numbers and ``names``.

    Only numbers, ``+ - * / **``, unary minus, ``log(x)``, ``round(x, n)`` and the
    names in ``names`` are allowed; the operations run in Python's order, so the result
    is bit-for-bit that of the same expression in code.

    Examples
    --------
    >>> evaluate("0.05 / 1440.0 * (1.0 + 0.25) / 0.95", {}) == 0.05 / 1440.0 * (1.0 + 0.25) / 0.95
    True
    >>> evaluate("(b / d) ** 1.5", {"b": 4.0, "d": 1.0})
    8.0
    """

    def value(node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name) and node.id in names:
            return names[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -value(node.operand)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(value(a) for a in node.args))
        raise ParameterError(f"formula {formula!r}: {ast.dump(node)} is not allowed")

    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as err:
        raise ParameterError(f"formula {formula!r} is not an expression ({err.msg})") from None
    return float(value(tree.body))


# ----------------------------------------------------------------------------- classes
T = TypeVar("T")
R = TypeVar("R")
C = TypeVar("C", bound=type)


def checked_keywords(table: ParamTable, extra: Iterable[str] = ()) -> Callable[[C], C]:
    """Class decorator (put it above ``@dataclass``): an unknown keyword given to the
    class is a :class:`~circnet.ParameterError` naming it, not a ``TypeError``.

    The generated ``__init__`` is wrapped, so its signature (``help``, IDEs, mypy) is
    kept.

    Examples
    --------
    >>> from dataclasses import dataclass
    >>> @checked_keywords(load_table("tumour_parameters.csv", "tumour parameter"))
    ... @dataclass
    ... class Rates:
    ...     lambda1: float = 0.1
    >>> Rates(lamda1=0.2)
    Traceback (most recent call last):
    ...
    circnet.errors.ParameterError: unknown tumour parameter 'lamda1'; did you mean 'lambda1'?
    """
    allowed = tuple(extra)

    def decorate(cls: C) -> C:
        init: Callable[..., None] = vars(cls)["__init__"]  # the one @dataclass wrote

        @functools.wraps(init)
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            table.check_names(kwargs, allowed)
            init(self, *args, **kwargs)

        cls.__init__ = __init__  # type: ignore[misc]
        return cls

    return decorate


class class_or_instance(Generic[T, R]):
    """A method that, called on the class, runs on an instance with the defaults.

    ``CellProfile.describe()`` then describes the defaults and ``cells.describe()`` the
    values of ``cells``.

    Examples
    --------
    >>> class Box:
    ...     def __init__(self, size=1.0):
    ...         self.size = size
    ...     @class_or_instance
    ...     def show(self):
    ...         return self.size
    >>> Box.show(), Box(2.0).show()
    (1.0, 2.0)
    """

    def __init__(self, func: Callable[[T], R]) -> None:
        self.__func__ = func
        # doctest and help() find the method's docstring through these
        self.__doc__ = func.__doc__
        self.__module__ = func.__module__
        self.__name__ = getattr(func, "__name__", "method")
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)
        self.__wrapped__ = func

    def __get__(self, obj: T | None, objtype: type[T] | None = None) -> Callable[[], R]:
        if obj is None:
            if objtype is None:
                raise TypeError("class_or_instance needs an instance or a class")
            obj = objtype()
        return cast(Callable[[], R], types.MethodType(self.__func__, obj))
