"""Tests of circnet.export: SBML (read back with libsbml, simulated with libRoadRunner where
it installs), results on the body graph (GraphML, GEXF, Cytoscape JSON), Parquet tables."""

from __future__ import annotations

import json
import sys

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import circnet
from circnet.export import results_graph, to_sbml, write_graph, write_parquet, write_sbml

CELLS = 1e6


@pytest.fixture(scope="module")
def model():
    return circnet.TransportModel(circnet.default_body())


@pytest.fixture(scope="module")
def sbml_text(model):
    pytest.importorskip("libsbml", reason="python-libsbml (the `sbml` extra) is not installed")
    return to_sbml(model, "colon_rectum", cells=CELLS)


def read_back(text):
    """(species names, off-diagonal rate matrix, initial amounts) of an SBML text, by libsbml."""
    import libsbml

    doc = libsbml.readSBMLFromString(text)
    assert doc.getNumErrors(libsbml.LIBSBML_SEV_ERROR) == 0
    m = doc.getModel()
    names = [s.getName() for s in m.getListOfSpecies()]
    index = {s.getId(): i for i, s in enumerate(m.getListOfSpecies())}
    amounts = np.array([s.getInitialAmount() for s in m.getListOfSpecies()])
    rows, cols, vals = [], [], []
    for rx in m.getListOfReactions():
        (src,) = [r.getSpecies() for r in rx.getListOfReactants()]
        (dst,) = [r.getSpecies() for r in rx.getListOfProducts()]
        formula = libsbml.formulaToL3String(rx.getKineticLaw().getMath())
        k, s = (x.strip() for x in formula.split("*"))
        assert s == src  # mass action: k * [reactant]
        rows.append(index[src])
        cols.append(index[dst])
        vals.append(m.getParameter(k).getValue())
    n = len(names)
    return names, sp.csr_array((vals, (rows, cols)), shape=(n, n)), amounts, doc


def test_sbml_round_trip_rates_species_and_release(model, sbml_text):
    names, rates, amounts, doc = read_back(sbml_text)
    assert names == list(model.states)
    q = sp.csr_array(model.generator)
    off = (q - sp.diags_array(q.diagonal())).tocsr()
    off.eliminate_zeros()
    assert rates.nnz == off.nnz > 100
    assert set(zip(*rates.nonzero(), strict=True)) == set(zip(*off.nonzero(), strict=True))
    a, b = off.toarray(), rates.toarray()
    rel = np.abs(a - b)[a != 0] / a[a != 0]
    assert rel.max() < 1e-14  # libsbml writes 15 significant digits
    release = model.release("colon_rectum")
    expected = np.zeros(len(names))
    expected[: len(release)] = CELLS * release.to_numpy()
    np.testing.assert_array_equal(amounts, expected)
    assert doc.checkConsistency() == 0  # libsbml's full validation, units included
    m = doc.getModel()
    assert m.getTimeUnits() == "minute" and m.getSubstanceUnits() == "item"


@pytest.mark.slow
def test_sbml_simulated_by_roadrunner_matches_propagate(model, sbml_text):
    roadrunner = pytest.importorskip(
        "roadrunner", reason="libroadrunner has no wheel for this platform"
    )
    rr = roadrunner.RoadRunner(sbml_text)
    rr.integrator.relative_tolerance = 1e-10
    rr.integrator.absolute_tolerance = 1e-10
    *_, doc = read_back(sbml_text)
    ids = [sp_.getId() for sp_ in doc.getModel().getListOfSpecies()]  # in the model's order
    rr.timeCourseSelections = ["time", *ids]  # amounts (compartment of size 1)
    times = [0.0, 1.0, 10.0, 60.0, 600.0, 1440.0]
    sim = np.asarray(rr.simulate(times=times))[:, 1:]
    expected = CELLS * model.propagate("colon_rectum", times).to_numpy()
    big = expected > 1.0  # states holding more than one cell
    rel = np.abs(sim - expected)[big] / expected[big]
    assert rel.max() < 1e-6, rel.max()
    assert np.abs(sim - expected).max() < 1e-3  # cells, out of a million
    np.testing.assert_allclose(sim.sum(axis=1), CELLS, rtol=1e-8)


def test_sbml_options_and_errors(model, tmp_path):
    pytest.importorskip("libsbml")
    names, _, amounts, _ = read_back(to_sbml(model))
    assert not amounts.any()  # no release: the chain alone
    _, _, amounts, _ = read_back(to_sbml(model, initial={"transit:liver_bed": 1.0}, cells=5))
    assert amounts[names.index("transit:liver_bed")] == 5 and amounts.sum() == 5
    path = write_sbml(model, tmp_path / "chain.xml", "lung", cells=10)
    assert read_back(path.read_text(encoding="utf-8"))[2].sum() == pytest.approx(10)
    with pytest.raises(circnet.ParameterError, match="`path` .* must end in one of .xml, .sbml"):
        write_sbml(model, tmp_path / "chain.txt", "lung")
    with pytest.raises(circnet.ParameterError, match="`cells` must be >= 0"):
        to_sbml(model, "lung", cells=-1)
    with pytest.raises(circnet.ParameterError, match="`primary` or `initial`, not both"):
        to_sbml(model, "lung", initial={"transit:liver_bed": 1.0})
    with pytest.raises(circnet.ParameterError, match="`model_id` must be an SBML identifier"):
        to_sbml(model, "lung", model_id="1 model")
    with pytest.raises(circnet.UnknownNameError):
        to_sbml(model, "no_such_organ")


def test_missing_optional_dependencies_are_named(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "libsbml", None)  # import libsbml now raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(circnet.OptionalDependencyError, match=r"pip install 'circnet\[sbml\]'"):
        to_sbml(model, "lung")
    with pytest.raises(circnet.OptionalDependencyError, match=r"circnet\[parquet\]"):
        write_parquet(pd.DataFrame({"a": [1]}), tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


# --------------------------------------------------------------------------- graphs
def test_results_graph_puts_values_on_nodes(model):
    body = model.body
    fates = model.fates("breast" if "breast" in circnet.organs(body) else "colon_rectum")
    where = model.propagate("lung", [60.0, 1440.0])
    g = results_graph(body, {"p": fates, "cells": where, "x": {"liver": 2, "colony:liver": 1}})
    assert set(g.graph["results"]) == {"p", "cells_60", "cells_1440", "x"}
    assert g.nodes["liver"]["x"] == 3.0 and g.nodes["lung"]["x"] == 0.0
    assert g.nodes["liver"]["p"] == pytest.approx(fates["colony:liver"])
    # every value but death falls on a node; the propagation's rows on their own attributes
    total = sum(d["p"] for _, d in g.nodes(data=True))
    assert total == pytest.approx(1 - fates["dead"])
    for t in (60, 1440):
        row = where.loc[float(t)]
        assert sum(d[f"cells_{t}"] for _, d in g.nodes(data=True)) == pytest.approx(1 - row["dead"])
    assert "p" not in body.nodes["liver"]  # the body is not changed
    assert all(d["kind"] == body.nodes[n]["kind"] for n, d in g.nodes(data=True))


def test_results_graph_errors(model):
    with pytest.raises(circnet.UnknownNameError, match="result 'v': unknown overlay label 'x:y'"):
        results_graph(model.body, {"v": {"x:y": 1.0}})
    with pytest.raises(circnet.ParameterError, match="already a node attribute"):
        results_graph(model.body, {"kind": {"liver": 1.0}})
    with pytest.raises(circnet.ParameterError, match="the value of 'liver' must be a number"):
        results_graph(model.body, {"v": {"liver": "a lot"}})
    with pytest.raises(circnet.ParameterError, match="non-empty mapping"):
        results_graph(model.body, {})


@pytest.fixture(scope="module")
def annotated(model):
    return results_graph(model.body, {"p_colon": model.fates("colon_rectum")})


def test_graphml_round_trip(annotated, tmp_path):
    path = write_graph(annotated, tmp_path / "fates.graphml")
    back = circnet.read_body(path)  # a valid body, its results as node attributes
    assert nx.get_node_attributes(back, "p_colon") == nx.get_node_attributes(annotated, "p_colon")


def test_gexf_for_gephi(annotated, tmp_path):
    path = write_graph(annotated, tmp_path / "fates.gexf")
    back = nx.read_gexf(path)
    assert set(back.nodes) == {str(n) for n in annotated.nodes}
    assert back.number_of_edges() == annotated.number_of_edges()
    for n, d in annotated.nodes(data=True):
        assert back.nodes[str(n)]["p_colon"] == pytest.approx(d["p_colon"], rel=1e-12)
    u, v, d = next(iter(annotated.edges(data=True)))
    assert back.edges[str(u), str(v)]["flow"] == pytest.approx(d["flow"])


def test_cytoscape_json(annotated, tmp_path):
    path = write_graph(annotated, tmp_path / "fates.cyjs")
    data = json.loads(path.read_text(encoding="utf-8"))
    back = nx.cytoscape_graph(data)
    assert back.is_directed() and set(back.nodes) == set(annotated.nodes)
    assert back.nodes["liver"]["p_colon"] == annotated.nodes["liver"]["p_colon"]
    with pytest.raises(circnet.ParameterError, match=r"must end in one of .graphml, .gexf, .cyjs"):
        write_graph(annotated, tmp_path / "fates.dot")


# --------------------------------------------------------------------------- tables
def test_parquet_round_trip(model, tmp_path):
    pytest.importorskip("pyarrow", reason="pyarrow (the `parquet` extra) is not installed")
    table = model.fate_table(["lung", "liver", "colon_rectum"])
    path = write_parquet(table, tmp_path / "fates.parquet")
    back = pd.read_parquet(path)
    pd.testing.assert_frame_equal(back, table, check_names=False, check_column_type=False)
    series = model.fates("lung")
    back = pd.read_parquet(write_parquet(series, tmp_path / "lung.parquet"))
    np.testing.assert_array_equal(back.iloc[:, 0].to_numpy(), series.to_numpy())
    with pytest.raises(circnet.ParameterError, match="must end in one of .parquet"):
        write_parquet(table, tmp_path / "fates.csv")
    with pytest.raises(circnet.ParameterError, match="folder .* does not exist"):
        write_parquet(table, tmp_path / "none" / "fates.parquet")


def test_readme_interoperability_block_runs(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    (block,) = [b for b in blocks if "circnet.export" in b]
    monkeypatch.chdir(tmp_path)
    pytest.importorskip("libsbml")
    pytest.importorskip("pyarrow")
    exec(compile(block, str(readme), "exec"), {"circnet": circnet})  # noqa: S102 - our README
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "breast_chain.xml", "fates.graphml", "fates.parquet"
    ]  # fmt: skip
