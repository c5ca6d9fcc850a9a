"""Tests of the ``circnet`` command (circnet/cli.py): every subcommand, JSON output, exit
codes 0/1/2, one-line errors without a traceback, help with examples."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pandas as pd
import pytest
from bodies import tiny_body

import circnet
from circnet.cli import build_parser, main, resolve_site

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = ("body", "fates", "simulate", "course", "render", "validate", "ensemble")


def run(argv, capsys):
    """main(argv) in-process: (exit status, stdout, stderr)."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv, cwd=None):
    """The command in a subprocess (``python -m circnet.cli``), as a user runs it."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run(
        [sys.executable, "-m", "circnet.cli", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


def assert_one_line_error(err, match):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("circnet: error: ")
    assert match in lines[0]
    assert "Traceback" not in err


@pytest.fixture
def tiny_yaml(tmp_path):
    path = tmp_path / "tiny.yaml"
    circnet.write_body(tiny_body(), path)
    return path


# --------------------------------------------------------------------------- help, usage
def test_entry_point_is_declared():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'circnet = "circnet.cli:main"' in text


def test_help_has_examples(capsys):
    code, out, _ = run(["--help"], capsys)
    assert code == 0
    assert "examples:" in out
    for cmd in COMMANDS:
        assert f"circnet {cmd}" in out
    assert "Exit status: 0 ok" in out


@pytest.mark.parametrize("cmd", COMMANDS)
def test_subcommand_help_has_examples(cmd, capsys):
    code, out, _ = run([cmd, "--help"], capsys)
    assert code == 0
    assert "examples:" in out and f"circnet {cmd}" in out


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and circnet.__version__ in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["nonsense"],
        ["fates"],  # --primary is required
        ["body", "--sex", "other"],
        ["simulate", "--primary", "lung", "--times", "a,b"],
        ["simulate", "--primary", "lung", "--cells", "-1"],
        ["simulate", "--primary", "lung", "--cells", "1.5"],
        ["course", "--primary", "lung", "--years", "0"],
        ["course", "--primary", "lung", "--seed", "-3"],
        ["render", "x.yaml"],  # --out is required
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2
    assert "usage: circnet" in err


# --------------------------------------------------------------------------- body
def test_body_summary(capsys):
    code, out, _ = run(["body", "--sex", "female"], capsys)
    assert code == 0
    assert "adult female" in out and "\nbreast " in out and "arterial total" in out


def test_body_out_html_and_body_file(tmp_path, capsys):
    code, _, err = run(["body", "--out", str(tmp_path / "body.html")], capsys)
    assert code == 0 and "wrote" in err
    assert "new vis.Network" in (tmp_path / "body.html").read_text(encoding="utf-8")
    code, _, _ = run(["body", "--sex", "female", "--out", str(tmp_path / "b.yaml")], capsys)
    assert code == 0
    back = circnet.read_body(tmp_path / "b.yaml")
    assert set(back.nodes) == set(circnet.default_body("female").nodes)


def test_body_out_bad_suffix(tmp_path, capsys):
    code, _, err = run(["body", "--out", str(tmp_path / "body.txt")], capsys)
    assert code == 1
    assert_one_line_error(err, "needs a name ending in .html, .htm, .graphml, .json, .yaml or .yml")
    assert not (tmp_path / "body.txt").exists()


# --------------------------------------------------------------------------- fates
def test_fates_table(capsys):
    code, out, err = run(["fates", "--primary", "colon_rectum", "--primary", "lung"], capsys)
    assert code == 0, err
    assert "colon_rectum" in out and "lung" in out
    assert "colony:liver" in out and "dead" in out and "expected time to fate" in out


def test_fates_json(capsys):
    code, out, _ = run(["fates", "--primary", "breast", "--sex", "female", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    probs = data["primaries"]["breast"]["probabilities"]
    assert abs(sum(probs.values()) - 1) < 1e-12
    assert probs == pytest.approx(
        circnet.TransportModel(circnet.default_body("female")).fates("breast").to_dict()
    )
    assert data["primaries"]["breast"]["expected_time_min"] > 0


def test_fates_alias_and_custom_body(tiny_yaml, tmp_path, capsys):
    code, out, err = run(["fates", "--primary", "colon", "--json"], capsys)
    assert code == 0
    assert "'colon' taken as 'colon_rectum'" in err
    assert "colon_rectum" in json.loads(out)["primaries"]
    plot = tmp_path / "fates.png"
    code, out, err = run(
        ["fates", "--primary", "kidney", "--body", str(tiny_yaml), "--plot", str(plot)], capsys
    )
    assert code == 0, err
    assert "node:node" in out
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_fates_unknown_organ_lists_names(capsys):
    code, _, err = run(["fates", "--primary", "pancreatic_duct_x"], capsys)
    assert code == 1
    assert_one_line_error(err, "unknown site 'pancreatic_duct_x'")
    assert "organs: lung, liver" in err and "lymph-node groups:" in err


def test_fates_organ_of_the_other_sex(capsys):
    code, _, err = run(["fates", "--primary", "breast"], capsys)
    assert code == 1
    assert_one_line_error(err, "use --sex female")


def test_fates_ambiguous_name(capsys):
    code, _, err = run(["fates", "--primary", "nodes"], capsys)
    assert code == 1
    assert_one_line_error(err, "is ambiguous")


def test_resolve_site():
    body = circnet.default_body()
    assert resolve_site(body, "colon_rectum") == "colon_rectum"
    assert resolve_site(body, "colon") == "colon_rectum"
    assert resolve_site(body, "Small intestine") == "small_intestine"
    assert resolve_site(body, "axillary") == "axillary_nodes"
    with pytest.raises(circnet.UnknownNameError, match="ambiguous"):
        resolve_site(body, "nodes")
    with pytest.raises(circnet.UnknownNameError, match="unknown site ''"):
        resolve_site(body, "")


# --------------------------------------------------------------------------- simulate
def test_simulate_json_is_exact_and_reproducible(capsys):
    argv = ["simulate", "--primary", "lung", "--cells", "1e9", "--times", "60,1440"]
    code, out, _ = run([*argv, "--seed", "5", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["times_min"] == [60.0, 1440.0]
    assert data["released"] == [10**9, 10**9]
    for i in range(2):
        assert sum(v[i] for v in data["counts"].values()) == 10**9
        assert sum(v[i] for v in data["groups"].values()) == 10**9
    again = json.loads(run([*argv, "--seed", "5", "--json"], capsys)[1])
    assert again == data


def test_simulate_table_checkpoint_and_plot(tmp_path, capsys):
    ck = tmp_path / "run.npz"
    plot = tmp_path / "sim.svg"
    code, out, err = run(
        ["simulate", "--primary", "colon", "--cells", "1000", "--times", "30,120",
         "--dt", "30", "--seed", "1", "--checkpoint", str(ck), "--plot", str(plot),
         "--no-progress"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "1,000 cells released from colon_rectum" in out
    assert "lodged" in out and "largest states at 120 min" in out
    assert b"<svg" in plot.read_bytes()[:500]


# --------------------------------------------------------------------------- course
def test_course_json(capsys):
    code, out, err = run(
        ["course", "--laws", "mechanistic", "--primary", "colon", "--years", "0.5", "--seed", "2",
         "--json"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    data = json.loads(out)
    assert data["primary"] == "colon_rectum" and data["conserved"] is True


@pytest.mark.slow
def test_course_table_and_report(tmp_path, capsys):
    (tmp_path / "out").mkdir()
    report = tmp_path / "out" / "report.html"
    code, out, err = run(
        ["course", "--laws", "mechanistic", "--primary", "breast", "--sex", "female", "--years",
         "1", "--seed", "1", "--out", str(report), "--no-progress"],
        capsys,
    )  # fmt: skip
    assert code == 0, err
    assert "Disease course from a primary in breast" in out and "cells_shed" in out
    assert "open it in a browser" in err
    text = report.read_text(encoding="utf-8")
    assert "<script src=" not in text and "http://" not in text.split("</head>")[0]
    assert text.count("data:image/svg+xml;base64,") == 3  # course, fates, propagation
    assert "Command: circnet course --laws mechanistic --primary breast --years 1" in text
    assert "--seed 1" in text and "Sites at the end of the course" in text


def test_course_checkpoint_resumes(tmp_path, capsys):
    ck = tmp_path / "course.npz"
    argv = ["course", "--laws", "mechanistic", "--primary", "lung", "--years", "0.5", "--seed",
            "4", "--json"]  # fmt: skip
    code, first, _ = run([*argv, "--checkpoint", str(ck)], capsys)
    assert code == 0 and ck.exists()
    code, again, err = run([*argv, "--checkpoint", str(ck)], capsys)
    assert code == 0 and "resuming from" in err
    assert json.loads(again) == json.loads(first)
    # without --seed: the course stored in the checkpoint, its seed not known here
    argv = [a for a in argv if a not in ("--seed", "4")]
    code, again, err = run([*argv, "--checkpoint", str(ck)], capsys)
    assert code == 0 and "with the seed and arguments stored in it" in err
    assert json.loads(again) == {**json.loads(first), "seed": None}
    # another seed with this checkpoint is refused, not resumed under a wrong seed
    code, _, err = run([*argv, "--seed", "5", "--checkpoint", str(ck)], capsys)
    assert code == 1 and "circnet: error:" in err


def test_course_bad_input(capsys):
    argv = ["course", "--laws", "mechanistic", "--primary", "lung", "--surgery-day", "-5"]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert_one_line_error(err, "`--surgery-day` must be >= 0")


# --------------------------------------------------------------------------- course: laws, cohort
def test_course_mechanistic_is_todays_course(capsys):
    # --laws mechanistic runs circnet.simulate_course exactly as before the clinical laws
    argv = ["course", "--laws", "mechanistic", "--primary", "lung", "--years", "0.3",
            "--seed", "5", "--surgery-day", "40", "--json"]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    res = circnet.simulate_course(circnet.default_body(), "lung", 0.3, rng=5, surgery_day=40)
    data = json.loads(out)
    assert data["seed"] == 5 and data["cells_shed"] == int(res.summary["cells_shed"])
    assert data["days"] == float(res.summary["days"])


def test_course_clinical_is_the_default(capsys, tmp_path):
    pytest.importorskip("circnet.patient", reason="the clinical patient course (H2) is not in")
    report = tmp_path / "report.html"
    argv = ["course", "--primary", "breast", "--sex", "female", "--years", "2", "--seed", "1",
            "--out", str(report), "--no-plots", "--no-progress"]  # fmt: skip
    code, out, err = run(argv, capsys)
    assert code == 0, err
    assert out.startswith("Clinical course of patient 0 with a primary in breast (surgery, 2 ")
    assert "seed 1" in out.splitlines()[0]
    text = report.read_text(encoding="utf-8")
    assert "<script src=" not in text and "--seed 1" in text
    code, again, err = run(
        [*argv[:-4], "--json", "--scenario", "natural", "--patient", "3"], capsys
    )
    assert code == 0, err
    data = json.loads(again)
    assert (data["seed"], data["patient"], data["scenario"]) == (1, 3, "natural")


def test_course_cohort_report_table_and_json(tmp_path, capsys):
    report, patients = tmp_path / "cohort.html", tmp_path / "patients.csv"
    argv = ["course", "--primary", "colon", "--cohort", "20", "--years", "3", "--seed", "7",
            "--no-progress", "--no-plots"]  # fmt: skip
    code, out, err = run([*argv, "--out", str(report), "--table", str(patients), "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert (data["primary"], data["patients"], data["seed"]) == ("colon_rectum", 20, 7)
    assert data["scenario"] == "surgery" and data["years"] == 3
    # the figures are those of circnet.simulate_cohort with the same seed
    res = circnet.simulate_cohort(circnet.default_body(), "colon_rectum", 20, rng=7, years=3)
    fig = res.figures()
    assert list(data["figures"]) == list(fig.index)
    sync = data["figures"]["synchronous distant metastases"]
    assert sync["value"] == pytest.approx(fig.loc["synchronous distant metastases", "value"])
    assert sync["n"] == 20 and sync["unit"] == "% of patients"
    table = patients.read_text(encoding="utf-8").splitlines()
    assert len(table) == 21 and table[0].startswith("patient,")
    page = report.read_text(encoding="utf-8")
    assert "Metastasis-free survival after surgery" in page and "Number at risk" in page
    assert "circnet course --primary colon_rectum --years 3 --seed 7 --cohort 20" in page
    assert "wrote" in err and "patients.csv" in err
    # the text table: one row per figure, natural history on request
    argv[argv.index("20")] = "5"
    code, out, err = run([*argv, "--scenario", "natural"], capsys)
    assert code == 0, err
    assert out.startswith("Virtual cohort of 5 patients with a primary in colon_rectum (natural")
    assert "synchronous distant metastases" in out and "95 % interval" in out


def test_course_history_years(capsys):
    common = ["course", "--primary", "lung", "--years", "1", "--seed", "1", "--patient", "12",
              "--no-progress", "--json"]  # fmt: skip
    code, out, err = run([*common, "--history-years", "2"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert data["history_from_day"] == data["diagnosis_day"] - 731  # ceil(2 * 365.25)
    code, out, err = run([*common, "--history-years", "all"], capsys)
    assert code == 0, err
    assert json.loads(out)["history_from_day"] == 0


def test_course_patient_k_is_row_k_of_the_cohort(tmp_path, capsys):
    common = ["course", "--primary", "colon", "--years", "3", "--seed", "2", "--no-progress"]
    patients = tmp_path / "patients.csv"
    code, _, err = run([*common, "--cohort", "3", "--table", str(patients)], capsys)
    assert code == 0, err
    row = pd.read_csv(patients).set_index("patient").loc[2]
    code, out, err = run([*common, "--patient", "2", "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    # the same patient: the same draws, diagnosis and state at diagnosis
    assert data["patient"] == 2 and data["diagnosis_day"] == row["diagnosis_day"]
    assert data["vdt_days"] == pytest.approx(row["vdt_days"], rel=1e-9)
    assert data["synchronous"] == bool(row["synchronous"])
    assert data["node_positive"] == bool(row["node_positive"])


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--surgery-day", "30"], "argument --surgery-day: only with --laws mechanistic"),
        (["--inhibitor-from-day", "5"], "argument --inhibitor-from-day: only with --laws mech"),
        (["--checkpoint", "c.npz"], "argument --checkpoint: only with --laws mechanistic"),
        (["--checkpoint-every", "9"], "argument --checkpoint-every: only with --laws mechanis"),
        (["--laws", "mechanistic", "--scenario", "natural"],
         "argument --scenario: only with --laws clinical"),
        (["--laws", "mechanistic", "--cohort", "5"], "argument --cohort: only with --laws clin"),
        (["--laws", "mechanistic", "--patient", "2"], "argument --patient: only with --laws cli"),
        (["--cohort", "5", "--patient", "2"], "argument --patient: not with --cohort"),
        (["--table", "p.csv"], "argument --table: only with --cohort N"),
        (["--cohort", "0"], "argument --cohort: must be a whole number >= 1 (got '0')"),
        (["--cohort", "-4"], "argument --cohort: must be a whole number >= 1 (got '-4')"),
        (["--cohort", "2.5"], "argument --cohort: must be a whole number >= 1 (got '2.5')"),
        (["--cohort", "many"], "argument --cohort: must be a whole number >= 1 (got 'many')"),
        (["--laws", "hahnfeldt"], "argument --laws: invalid choice: 'hahnfeldt'"),
        (["--scenario", "chemo"], "argument --scenario: invalid choice: 'chemo'"),
        (["--laws", "mechanistic", "--history-years", "5"],
         "argument --history-years: only with --laws clinical"),
        (["--cohort", "5", "--history-years", "5"], "argument --history-years: not with --cohort"),
        (["--history-years", "0"], "argument --history-years: must be a positive number"),
        (["--history-years", "many"], "argument --history-years: not a number: 'many'"),
    ],
)  # fmt: skip
def test_course_refuses_options_of_the_other_laws(argv, match, capsys, no_work):
    code, out, err = run(["course", "--primary", "lung", *argv], capsys)
    assert code == 2 and out == ""
    assert "usage: circnet course" in err and match in err and "Traceback" not in err


def test_course_conflict_is_checked_in_the_parser():
    from circnet._cli_parser import SCENARIOS, course_conflict

    assert SCENARIOS == circnet.cohort.SCENARIOS
    parse = build_parser().parse_args
    assert course_conflict(parse(["course", "--primary", "lung"])) is None
    argv = ["course", "--primary", "lung", "--laws", "mechanistic", "--surgery-day", "3"]
    assert course_conflict(parse(argv)) is None
    with pytest.raises(SystemExit):
        parse(["course", "--primary", "lung", "--surgery-day", "3"])


def _readme_course_commands():
    """The ``circnet course`` commands of the README (set-up block and CLI table)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.findall(r"(?:&& |`)(circnet course [^`\n]*)", text)
    return [shlex.split(c.replace("[", "").replace("]", ""))[1:] for c in found]


def test_readme_course_commands_parse():
    commands = _readme_course_commands()
    assert len(commands) >= 4  # the main command and the table's rows
    main_argv = commands[0]
    assert main_argv[:3] == ["course", "--primary", "breast"] and "--laws" not in main_argv
    for argv in commands:
        build_parser().parse_args(argv)  # a usage error would exit


@pytest.mark.slow
def test_readme_main_command_writes_the_clinical_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    code, out, err = run([*_readme_course_commands()[0], "--no-progress"], capsys)
    assert code == 0, err
    assert out.startswith("Clinical course of patient 0 with a primary in breast (surgery, 5 ")
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<script src=" not in page and "dormant disseminated cells" in page


# --------------------------------------------------------------------------- render, validate
def test_render(tiny_yaml, tmp_path, capsys):
    out = tmp_path / "tiny.html"
    code, _, err = run(["render", str(tiny_yaml), "--out", str(out), "--title", "<T>"], capsys)
    assert code == 0, err
    text = out.read_text(encoding="utf-8")
    assert "&lt;T&gt;" in text and "<T>" not in text


def test_validate_ok(tiny_yaml, capsys):
    code, out, _ = run(["validate", str(tiny_yaml)], capsys)
    assert code == 0
    assert out.startswith("OK: ") and "11 nodes" in out


def test_validate_lists_every_problem(tmp_path, capsys):
    g = tiny_body()
    g.edges["left_heart", "kidney_bed"]["flow"] = 70.0
    g.nodes["duct"]["kind"] = "mystery"
    path = tmp_path / "broken.json"
    circnet.write_body(g, path)
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 1
    assert "problems:" in out
    assert "'left_heart'" in out and "'kidney_bed'" in out and "mystery" in out
    assert out.count("\n  - ") == len(circnet.problems(g))


def test_validate_malformed_and_missing_files(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [\n", encoding="utf-8")
    code, _, err = run(["validate", str(bad)], capsys)
    assert code == 1
    assert_one_line_error(err, "malformed YAML at line")
    code, _, err = run(["validate", str(tmp_path / "none.yaml")], capsys)
    assert code == 1
    assert_one_line_error(err, "cannot read the file")
    code, _, err = run(["validate", str(tmp_path / "body.txt")], capsys)
    assert code == 1
    assert_one_line_error(err, "unknown body file format")


def test_invalid_body_file_is_one_line(tmp_path, capsys):
    g = tiny_body()
    g.edges["left_heart", "kidney_bed"]["flow"] = 70.0
    path = tmp_path / "broken.yaml"
    circnet.write_body(g, path)
    code, _, err = run(["fates", "--primary", "kidney", "--body", str(path)], capsys)
    assert code == 1
    assert_one_line_error(err, "invalid body")


# --------------------------------------------------------------------------- as a process
@pytest.mark.slow
def test_process_exit_codes_and_no_traceback(tmp_path):
    ok = run_process("fates", "--primary", "lung", "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["primaries"]["lung"]
    unknown = run_process("fates", "--primary", "spleen_x")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert_one_line_error(unknown.stderr, "unknown site 'spleen_x'")
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><graph", encoding="utf-8")
    malformed = run_process("render", str(bad), "--out", str(tmp_path / "x.html"))
    assert malformed.returncode == 1
    assert_one_line_error(malformed.stderr, "malformed GraphML")
    usage = run_process("simulate")
    assert usage.returncode == 2 and "the following arguments are required" in usage.stderr


def test_parser_lists_every_command():
    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.dest == "command"]
    assert tuple(sub.choices) == COMMANDS


def test_ensemble_config_with_sensitivity(tmp_path, capsys):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(
        "task: fates\nfixed: {primary: colon_rectum}\n"
        "design: {kind: saltelli, n: 8, parameters: {diameter_um: [10, 20], "
        "deformability: [0.0, 0.4]}}\nseed: 1\n"
        f"out: {tmp_path / 'members.csv'}\n"
    )
    code, out, _ = run(["ensemble", "--config", str(cfg), "--sensitivity", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["members"] == 8 * 4 and data["ok"] == 32
    assert "P(colony:liver) | diameter_um" in data["sensitivity"]
    assert (tmp_path / "members.csv").exists()


def test_ensemble_bad_config_is_one_line_error(tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("task: fates\n")
    code, out, err = run(["ensemble", "--config", str(cfg)], capsys)
    assert code == 1
    assert err.startswith("circnet: error:") and "design" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- any node names
def test_commands_on_a_body_with_other_node_names(tmp_path, capsys):
    """The commands find nodes by kind and organ, not by the default body's names."""
    names = {"left_heart": "aorta", "right_heart": "pulmonary_trunk", "venous_return": "cavae",
             "kidney_bed": "glomeruli", "lung_bed": "alveoli", "kidney": "renal_tissue",
             "node": "hilum", "duct": "thoracic"}  # fmt: skip
    body = nx.relabel_nodes(tiny_body(), names)
    path = tmp_path / "renamed.yaml"
    circnet.write_body(body, path)
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 0 and out.startswith("OK: ")
    code, out, err = run(["fates", "--primary", "kidney", "--body", str(path), "--json"], capsys)
    assert code == 0, err
    probs = json.loads(out)["primaries"]["kidney"]["probabilities"]
    assert probs == pytest.approx(circnet.TransportModel(body).fates("kidney").to_dict())
    argv = ["simulate", "--primary", "hilum", "--body", str(path), "--cells", "1000"]
    code, out, err = run([*argv, "--times", "1,10", "--seed", "1", "--json"], capsys)
    assert code == 0, err
    assert sum(v[-1] for v in json.loads(out)["groups"].values()) == 1000
    argv = ["course", "--laws", "mechanistic", "--primary", "kidney", "--body", str(path),
            "--years", "0.05"]  # fmt: skip
    code, out, err = run([*argv, "--seed", "1", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["conserved"] is True
    argv = ["course", "--primary", "kidney", "--body", str(path), "--cohort", "5", "--seed", "1"]
    code, out, err = run([*argv, "--years", "1", "--json"], capsys)
    assert code == 0, err
    assert json.loads(out)["figures"]["synchronous distant metastases"]["n"] == 5


# --------------------------------------------------------------------------- lazy dispatch
def test_version_and_help_do_not_load_the_commands():
    """`circnet --version` answers before the commands (and the models they load) are imported."""
    code = (
        "import sys\n"
        "from circnet.cli import main\n"
        "for argv in (['--version'], ['--help']):\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('circnet._cli_commands' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip().splitlines()[-1] == "False"


def test_top_and_days_are_checked_with_option_names(capsys):
    code, _, err = run(["fates", "--primary", "lung", "--top", "0"], capsys)
    assert code == 1
    assert_one_line_error(err, "`--top` must be >= 1 (got 0)")
    argv = ["course", "--laws", "mechanistic", "--primary", "lung", "--inhibitor-from-day", "nan"]
    code, _, err = run(argv, capsys)
    assert code == 1
    assert_one_line_error(err, "`--inhibitor-from-day` must be finite")


# --------------------------------------------------------------------------- outputs checked first
@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if a command starts its work (the outputs must be checked before)."""
    import circnet._cli_commands as commands

    def boom(*args, **kwargs):
        raise AssertionError("the work started before the output path was checked")

    names = ("simulate_course", "TransportModel", "read_body", "default_body", "patient_course",
             "cohort_course")  # fmt: skip
    for name in names:
        monkeypatch.setattr(commands, name, boom)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["course", "--primary", "lung", "--out", "{tmp}"], "is a directory; give a file name"),
        (["course", "--primary", "lung", "--out", "{tmp}/a_file.yaml/report.html"],
         "a_file.yaml' is not a directory"),
        (["course", "--primary", "lung", "--out", "{tmp}/no_such_dir/report.html"],
         "no_such_dir' does not exist"),
        (["course", "--primary", "lung", "--out", "{tmp}/report.png"],
         "needs a name ending in .html or .htm (got '.png')"),
        (["course", "--laws", "mechanistic", "--primary", "lung", "--checkpoint", "{tmp}/ck.json"],
         "`--checkpoint` '{tmp}/ck.json': a checkpoint needs a name ending in .npz"),
        (["course", "--laws", "mechanistic", "--primary", "lung", "--out", "{tmp}/r.png"],
         "needs a name ending in .html or .htm (got '.png')"),
        (["course", "--primary", "lung", "--cohort", "5", "--table", "{tmp}/p.txt"],
         "`--table` '{tmp}/p.txt': the per-patient table (CSV) needs a name ending in .csv"),
        (["course", "--primary", "lung", "--cohort", "5", "--out", "{tmp}/none/c.html"],
         "none' does not exist"),
        (["simulate", "--primary", "lung", "--plot", "{tmp}/counts.jpg"],
         "`--plot` '{tmp}/counts.jpg': the figure needs a name ending in .png or .svg"),
        (["simulate", "--primary", "lung", "--checkpoint", "{tmp}"], "is a directory"),
        (["fates", "--primary", "lung", "--plot", "{tmp}/none/f.png"], "does not exist"),
        (["body", "--out", "{tmp}/body.txt"], "needs a name ending in .html, .htm, .graphml"),
        (["render", "x.yaml", "--out", "{tmp}/none/v.html"], "none' does not exist"),
    ],
)  # fmt: skip
def test_outputs_are_checked_before_any_work(argv, match, tmp_path, capsys, no_work):
    (tmp_path / "a_file.yaml").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    code, out, err = run(argv, capsys)
    assert code == 1, err
    assert_one_line_error(err, match.replace("{tmp}", str(tmp_path)))
    assert out == ""
    # the user's path is named, and no folder or file was created
    assert str(tmp_path) in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file.yaml"]


def test_output_without_suffix_gets_one_with_a_note(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["body", "--out", "view"], capsys)
    assert code == 0, err
    assert "note: --out 'view' has no suffix; writing 'view.html'" in err
    assert "new vis.Network" in (tmp_path / "view.html").read_text(encoding="utf-8")
    code, _, err = run(["render", str(ROOT / "examples/data/tiny_body.yaml"), "--out", "v"], capsys)
    assert code == 0, err
    assert "note: --out 'v' has no suffix; writing 'v.html'" in err
    assert (tmp_path / "v.html").is_file() and not (tmp_path / "v").exists()


def test_every_run_prints_its_seed_and_the_seed_repeats_it(capsys):
    argv = ["simulate", "--primary", "lung", "--cells", "1000", "--times", "60", "--json"]
    code, out, err = run(argv, capsys)
    assert code == 0, err
    seed = json.loads(out)["seed"]
    assert isinstance(seed, int) and seed > 2**32  # fresh entropy (128 bits), not None
    assert f"circnet: seed {seed} (no --seed given; repeat this run with --seed {seed})" in err
    code, again, err = run([*argv, "--seed", str(seed)], capsys)
    assert code == 0 and "no --seed given" not in err
    assert json.loads(again) == json.loads(out)
    code, out, err = run(["simulate", "--primary", "lung", "--cells", "10", "--times", "1"], capsys)
    assert code == 0
    (line,) = [x for x in err.splitlines() if x.startswith("circnet: seed ")]
    drawn = line.split()[2]
    assert f"10 cells released from lung (seed {drawn}):" in out


def test_course_prints_its_seed(capsys):
    argv = ["course", "--laws", "mechanistic", "--primary", "lung", "--years", "0.05"]
    code, out, err = run([*argv, "--json"], capsys)
    assert code == 0, err
    data = json.loads(out)
    assert f"repeat this run with --seed {data['seed']}" in err
    code, out, err = run([*argv, "--seed", "3"], capsys)
    assert code == 0 and out.splitlines()[0].endswith(" days, seed 3):")


@pytest.mark.slow
def test_course_json_lists_detectable_sites(capsys):
    argv = ["course", "--laws", "mechanistic", "--primary", "breast", "--sex", "female",
            "--years", "8", "--seed", "1"]  # fmt: skip
    code, out, err = run([*argv, "--json"], capsys)
    assert code == 0, err
    sites = json.loads(out)["detectable_metastatic_sites"]
    assert isinstance(sites, list) and sites and all(isinstance(s, str) for s in sites)
    assert all("," not in s for s in sites)


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["--cells", "1e30"], "argument --cells: at most 2**53"),
        (["--times", "-60,1440"], "argument --times: minutes after the release must be finite "
                                  "and >= 0 (got -60 in '-60,1440')"),
        (["--times", "60,-1"], "argument --times: minutes after the release"),
        (["--times", "60,inf"], "argument --times: minutes after the release"),
    ],
)  # fmt: skip
def test_messages_use_option_names(argv, match, capsys):
    code, _, err = run(["simulate", "--primary", "lung", *argv], capsys)
    assert code == 2
    assert match in err and "expected one argument" not in err and "n_cells" not in err


def test_negative_values_reach_the_option():
    from circnet._cli_parser import join_negative_values

    parser = build_parser()
    assert join_negative_values(parser, ["course", "--surgery-day", "-5", "--json"]) == [
        "course", "--surgery-day=-5", "--json"
    ]  # fmt: skip
    # a flag (no value) is left alone, so is an option's own value
    assert join_negative_values(parser, ["fates", "--json", "-5"]) == ["fates", "--json", "-5"]
    assert join_negative_values(parser, ["x", "--times", "60"]) == ["x", "--times", "60"]


@pytest.mark.parametrize("option", ["--surgery-day", "--inhibitor-from-day", "--seed"])
def test_course_options_have_help(option):
    (course,) = [a for a in build_parser()._actions if a.dest == "command"]
    action = next(a for a in course.choices["course"]._actions if option in a.option_strings)
    assert action.help and len(action.help) > 20


def test_validate_prints_flows_rounded(tmp_path, capsys):
    g = tiny_body()
    g.edges["left_heart", "kidney_bed"]["flow"] += 0.1 + 0.2  # 0.30000000000000004
    path = tmp_path / "noisy.yaml"
    circnet.write_body(g, path)
    code, out, _ = run(["validate", str(path)], capsys)
    assert code == 1
    assert "flows do not balance" in out and "0000000" not in out and "9999999" not in out
    assert "mL/min" in out and ".3 mL/min" in out


def test_ensemble_job_array_chunks_then_merge(tmp_path, capsys):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(
        "task: fates\nfixed: {primary: lung}\n"
        "design: {kind: grid, parameters: {diameter_um: [10, 12, 14, 16, 18]}}\nseed: 1\n"
        f"checkpoint: {tmp_path / 'ck'}\nout: {tmp_path / 'members.csv'}\n"
    )
    code, out, _ = run(["ensemble", "--config", str(cfg), "--chunk", "1/2"], capsys)
    assert code == 0 and out.startswith("part 1/2: members 2 to 4: 3 ok, 0 failed")
    code, out, err = run(["ensemble", "--config", str(cfg), "--merge"], capsys)
    assert code == 1 and "cannot merge yet: members 0-1 missing" in err
    code, out, _ = run(["ensemble", "--config", str(cfg), "--chunk", "0/2", "--json"], capsys)
    assert code == 0 and json.loads(out)["members"] == [0, 1]
    code, out, _ = run(["ensemble", "--config", str(cfg), "--merge"], capsys)
    assert code == 0 and out.startswith("5 members: 5 ok, 0 failed")
    assert len((tmp_path / "members.csv").read_text().splitlines()) == 6
    code, _, err = run(["ensemble", "--config", str(cfg), "--chunk", "2/2"], capsys)
    assert code == 1 and "`part` must be 'i/N'" in err


@pytest.mark.parametrize("population", ["default", "calibrated"])
def test_fates_population_option(population, capsys):
    argv = ["fates", "--primary", "breast", "--sex", "female", "--json"]
    code, out, _ = run([*argv, "--population", population], capsys)
    assert code == 0
    probs = json.loads(out)["primaries"]["breast"]["probabilities"]
    assert abs(sum(probs.values()) - 1) < 1e-12
    body = circnet.default_body("female")
    if population == "default":
        cells = circnet.CellPopulation.default(body)
    else:
        from circnet.sitemodel import calibrated_population

        cells = calibrated_population("disibio2008", body)
    expected = circnet.TransportModel(body, cells).fates("breast").to_dict()
    assert probs == pytest.approx(expected, rel=1e-9)
    single = circnet.TransportModel(body).fates("breast")
    assert probs["colony:lung"] != pytest.approx(single["colony:lung"])


def test_population_option_rejects_unknown(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["fates", "--primary", "lung", "--population", "mouse"])
    assert "invalid choice" in capsys.readouterr().err
