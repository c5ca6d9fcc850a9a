"""Helpers and hypothesis strategies for the bad-input corpus (tests/test_fuzz.py).

``circnet_or_value(fn)`` calls ``fn`` and lets through only a return or a
:class:`~circnet.CircnetError` with a message; ``time_limit(seconds)`` interrupts a call
that runs too long (SIGALRM), so that a hang fails the test instead of blocking it.
"""

from __future__ import annotations

import contextlib
import math
import signal
import string
from collections.abc import Callable, Iterator
from typing import Any

import networkx as nx
import numpy as np
from hypothesis import strategies as st

import circnet

__all__ = [
    "Hang",
    "time_limit",
    "circnet_or_value",
    "anything",
    "numbers",
    "texts",
    "attr_values",
    "node_ids",
    "random_graphs",
    "same_value",
    "assert_same_graph",
]


class Hang(AssertionError):
    """A call ran longer than its time limit."""


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail with :class:`Hang` if the block runs longer than ``seconds`` (main thread)."""

    def ring(signum: int, frame: Any) -> None:
        raise Hang(f"the call ran longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def circnet_or_value(fn: Callable[[], Any], seconds: float = 10.0) -> tuple[bool, Any]:
    """``(True, fn())``, or ``(False, err)`` if ``fn`` raised a CircnetError with a message.

    Any other exception, or a call longer than ``seconds``, fails the test.
    """
    with time_limit(seconds):
        try:
            return True, fn()
        except circnet.CircnetError as err:
            assert str(err).strip(), f"{type(err).__name__} without a message"
            return False, err


# --------------------------------------------------------------------------- values
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 2**53, 2**63, 1e308, -1e308, 5e-324, 1e-12, math.pi]),
)
texts = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=string.printable, max_size=12),
    st.sampled_from(["", "json:", "json:[1]", "\r", "a\r\nb", "\x00", "\x01b", "\ufffe", "\ud800"]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, texts)
anything = st.recursive(
    st.one_of(scalars, st.just(object()), st.just(np.float64(2.5)), st.just(np.arange(3))),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner, inner),
        st.dictionaries(st.one_of(texts, st.integers()), inner, max_size=3),
    ),
    max_leaves=8,
)
#: Attribute values a body may carry (what JSON-like formats can hold, plus tuples).
attr_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.tuples(inner),
        st.dictionaries(texts, inner, max_size=3),
    ),
    max_leaves=6,
)
node_ids = st.one_of(
    texts,
    st.integers(min_value=-(2**64), max_value=2**64),
    st.booleans(),
    st.tuples(st.integers(0, 3), st.integers(0, 3)),
    st.floats(allow_nan=False),
)


@st.composite
def random_graphs(draw: Any, ids: Any = node_ids) -> nx.DiGraph:
    """Small directed graphs with random node ids, attribute names and values."""
    g = nx.DiGraph()
    nodes = draw(st.lists(ids, min_size=1, max_size=4, unique_by=repr))
    keys = st.one_of(texts, st.sampled_from(["id", "source", "target", "node_default"]))
    for n in nodes:
        with contextlib.suppress(TypeError):  # unhashable ids cannot even be added
            attrs = draw(st.dictionaries(keys, attr_values, max_size=2))
            g.add_node(n, **attrs)
    for _ in range(draw(st.integers(0, 4))):
        u, v = draw(st.sampled_from(list(g))), draw(st.sampled_from(list(g)))
        g.add_edge(u, v, **draw(st.dictionaries(keys, attr_values, max_size=2)))
    g.graph.update(draw(st.dictionaries(keys, attr_values, max_size=2)))
    return g


# --------------------------------------------------------------------------- comparing
def same_value(a: Any, b: Any) -> bool:
    """Equal after a round trip: same types (tuples and arrays as lists, numpy scalars as
    Python), floats bit for bit, NaN equal to NaN."""
    if isinstance(a, np.ndarray):
        a = a.tolist()
    if isinstance(a, np.generic):
        a = a.item()
    if isinstance(a, float):
        return isinstance(b, float) and (a.hex() == b.hex() or (math.isnan(a) and math.isnan(b)))
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return isinstance(b, list) and len(a) == len(b) and all(map(same_value, a, b))
    return type(a) is type(b) and a == b


def assert_same_graph(g: nx.DiGraph, h: nx.DiGraph) -> None:
    assert same_value(dict(g.graph), dict(h.graph)), (g.graph, h.graph)
    assert [(type(n), n) for n in g.nodes] == [(type(n), n) for n in h.nodes]
    assert list(g.edges) == list(h.edges)
    for n, d in g.nodes(data=True):
        assert same_value(d, h.nodes[n]), (n, d, h.nodes[n])
    for u, v, d in g.edges(data=True):
        assert same_value(d, h.edges[u, v]), (u, v, d, h.edges[u, v])
