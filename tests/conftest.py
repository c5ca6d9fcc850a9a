"""Shared fixtures: tiny hand-built bodies (see ``bodies.py``) and the default bodies.

pytest puts this directory on ``sys.path`` (rootdir-relative "prepend" import mode), so test
modules can also ``from bodies import tiny_body`` and ``import strategies``.
"""

from __future__ import annotations

import os

import pytest
from bodies import tiny_body as _tiny_body
from bodies import tiny_portal_body as _tiny_portal_body
from hypothesis import HealthCheck, settings

import circnet


@pytest.fixture
def tiny_body():
    """A fresh valid tiny body (3 pools, lung/kidney/muscle, one lymph node, one duct)."""
    return _tiny_body()


@pytest.fixture
def tiny_portal_body():
    """The tiny body plus a gut draining through a portal vein into a liver."""
    return _tiny_portal_body()


@pytest.fixture(scope="session")
def _male_body():
    return circnet.default_body("male")


@pytest.fixture(scope="session")
def _female_body():
    return circnet.default_body("female")


@pytest.fixture
def male_body(_male_body):
    """The default male body (a copy: tests may edit it)."""
    return _male_body.copy()


@pytest.fixture
def female_body(_female_body):
    """The default female body (a copy: tests may edit it)."""
    return _female_body.copy()


# Hypothesis profiles. "dev" (the default) keeps the suite fast: 50 examples, no deadline.
# "ci" (when $CI is set) is the same, derandomized so that a run is reproducible.
# HYPOTHESIS_PROFILE=thorough explores 2000 examples per property.
settings.register_profile(
    "dev", max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("ci", settings.get_profile("dev"), derandomize=True, print_blob=True)
settings.register_profile("thorough", settings.get_profile("dev"), max_examples=2000)
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev")
)


# Slow tests (statistical runs, packaging, long courses, examples in full) run in CI ($CI set)
# and with `pytest --slow`; the plain `pytest` a developer runs before each commit leaves them
# out (deselected, and said so in the header) so that it stays under two minutes.
def pytest_addoption(parser):
    parser.addoption(
        "--slow", action="store_true", default=False, help="also run tests marked slow"
    )


def _run_slow(config) -> bool:
    return bool(config.getoption("--slow") or os.environ.get("CI") or config.option.markexpr)


def pytest_report_header(config):
    if not _run_slow(config):
        return "slow tests deselected: run `pytest --slow` (CI runs them all)"
    return None


def pytest_collection_modifyitems(config, items):
    if _run_slow(config):
        return
    keep, slow = [], []
    for item in items:
        (slow if item.get_closest_marker("slow") else keep).append(item)
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = keep
